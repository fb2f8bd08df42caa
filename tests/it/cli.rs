//! The binary's roles as processes: help, bad config, start/ready/stop, leadership.

use std::process::Command;
use std::time::Duration;

use crate::helpers::{Proc, TestDb, eventually};

fn checkout() -> Command {
    Command::new(env!("CARGO_BIN_EXE_checkout"))
}

#[test]
fn help_lists_roles_and_options() {
    let out = checkout().arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for role in ["serve", "worker", "scheduler", "migrate", "dev"] {
        assert!(text.contains(role), "{role} missing from --help:\n{text}");
    }
    let out = checkout().args(["serve", "--help"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("--port") && text.contains("--database-url"),
        "{text}"
    );
}

#[test]
fn bad_config_stops_start_up_naming_the_key() {
    let out = checkout()
        .arg("migrate")
        .env(
            "DATABASE_URL",
            "postgres://postgres@127.0.0.1:5432/postgres",
        )
        .env("CHECKOUT__WORKER__BATCHSIZE", "5")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("worker.batchsize") && err.contains("unknown key"),
        "{err}"
    );

    let out = checkout()
        .arg("migrate")
        .env(
            "DATABASE_URL",
            "postgres://postgres@127.0.0.1:5432/postgres",
        )
        .env("CHECKOUT__HTTP__PORT", "not-a-port")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("http.port") && err.contains("CHECKOUT__HTTP__PORT"),
        "{err}"
    );

    let out = checkout()
        .arg("migrate")
        .env("DATABASE_URL", "mysql://nope")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("database.url"));
}

#[tokio::test]
async fn serve_migrates_reports_ready_and_stops_on_sigterm() {
    let db = TestDb::create().await;
    let mut serve = Proc::spawn(&["serve", "--port", "0"], &db.url, &[]);
    let addr = serve.addr.unwrap();
    let resp = reqwest::get(format!("http://{addr}/readyz")).await.unwrap();
    assert_eq!(resp.status(), 200);
    let status = serve.terminate();
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn migrate_is_idempotent() {
    let db = TestDb::create().await;
    for _ in 0..2 {
        let out = checkout()
            .arg("migrate")
            .env("DATABASE_URL", &db.url)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

async fn leader_pid(db: &TestDb) -> Option<i32> {
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let pid: Option<i32> = sqlx::query_scalar(
        "select pid from pg_locks where locktype = 'advisory' and granted and database = (select oid from pg_database where datname = current_database())",
    )
    .fetch_optional(&pool)
    .await
    .unwrap();
    pool.close().await;
    pid
}

#[tokio::test]
async fn one_scheduler_leads_and_another_takes_over_when_it_dies() {
    let db = TestDb::create().await;
    let out = checkout()
        .arg("migrate")
        .env("DATABASE_URL", &db.url)
        .output()
        .unwrap();
    assert!(out.status.success());
    let env = [("CHECKOUT__SCHEDULER__LEADER_POLL_MS", "200")];
    let mut a = Proc::spawn(&["scheduler"], &db.url, &env);
    let first = eventually(Duration::from_secs(10), || leader_pid(&db)).await;
    assert!(first.is_some(), "a leader was elected");
    let mut b = Proc::spawn(&["scheduler"], &db.url, &env);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(leader_pid(&db).await, first, "still exactly one leader");

    a.kill9();
    let second = eventually(Duration::from_secs(10), || async {
        leader_pid(&db).await.filter(|p| Some(*p) != first)
    })
    .await;
    assert!(second.is_some(), "the other scheduler took over");
    assert!(b.terminate().success());
}

#[tokio::test]
async fn dev_provisions_a_private_cluster_when_no_server_answers() {
    if !std::path::Path::new("/usr/lib/postgresql").exists() {
        eprintln!("skipped: no PostgreSQL binaries installed");
        return;
    }
    let dir = std::env::temp_dir().join(format!("checkout-dev-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_checkout"));
    cmd.args(["dev", "--port", "0"])
        .current_dir(&dir)
        .env_remove("DATABASE_URL")
        .env("CHECKOUT_DEV_SERVER", "postgres://postgres@127.0.0.1:1")
        .env("CHECKOUT__LOG__LEVEL", "warn")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
    let addr = tokio::time::timeout(Duration::from_secs(60), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(a) = line.split("listening on http://").nth(1) {
                return Some(a.trim().to_owned());
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
    .expect("dev reported ready");
    let resp = reqwest::get(format!("http://{addr}/readyz")).await.unwrap();
    assert_eq!(resp.status(), 200);
    let _ = child.kill().await;
    // the cluster outlives `dev` (reused next time); stop it and clean up
    let data = dir.join(".dev/pg");
    assert!(
        data.join("PG_VERSION").exists(),
        "cluster initialised under .dev/pg"
    );
    let pg_ctl = std::fs::read_dir("/usr/lib/postgresql")
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("bin/pg_ctl"))
        .find(|p| p.exists())
        .unwrap();
    let mut stop = if nix::unistd::Uid::effective().is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(&pg_ctl);
        c
    } else {
        Command::new(&pg_ctl)
    };
    let _ = stop
        .arg("-D")
        .arg(&data)
        .args(["-m", "immediate", "stop"])
        .output();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs `checkout args` with `env`; returns (success, stderr).
fn run_with(args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let mut cmd = checkout();
    cmd.args(args)
        .env_remove("DATABASE_URL")
        .env(
            "CHECKOUT__AUTH__JWT_SECRET",
            crate::helpers::TEST_JWT_SECRET,
        )
        .env("CHECKOUT__HTTP__METRICS_ADDR", "127.0.0.1:0")
        .env("CHECKOUT__WORKER__HEALTH_PORT", "0")
        .env("CHECKOUT__LOG__LEVEL", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The failure is said once, as one sentence with its cause and fix, and the process
/// exits non-zero.
fn assert_one_sentence(args: &[&str], env: &[(&str, &str)], expected: &[&str]) {
    let (ok, err) = run_with(args, env);
    assert!(!ok, "{args:?} succeeded: {err}");
    for part in expected {
        assert_eq!(
            err.matches(part).count(),
            1,
            "{args:?}: `{part}` not said once:\n{err}"
        );
    }
    assert_eq!(
        err.trim().lines().count(),
        1,
        "{args:?}: more than one line:\n{err}"
    );
}

#[tokio::test]
async fn each_start_up_failure_says_its_cause_and_fix_once() {
    let server = crate::helpers::server_url();
    let refused = [("DATABASE_URL", "postgres://postgres@127.0.0.1:1/checkout")];
    for role in [
        &["worker"][..],
        &["scheduler"],
        &["serve", "--port", "0"],
        &["migrate"],
        &["admin", "jobs", "stats"],
    ] {
        assert_one_sentence(
            role,
            &refused,
            &[
                "cannot reach Postgres at 127.0.0.1:1: connection refused; start Postgres there or fix the database URL",
            ],
        );
    }
    let no_role = format!("{}/postgres", server.replace("postgres@", "nosuchrole@"));
    assert_one_sentence(
        &["admin", "jobs", "stats"],
        &[("DATABASE_URL", &no_role)],
        &[
            "refused user `nosuchrole`",
            "fix the user or password in the database URL",
        ],
    );
    let no_db = format!("{server}/checkout_no_such_database");
    assert_one_sentence(
        &["worker"],
        &[("DATABASE_URL", &no_db)],
        &[
            "database `checkout_no_such_database` does not exist on Postgres at",
            "run `checkout dev` without a database URL, which creates and migrates `checkout_dev`",
        ],
    );
    let db = TestDb::create().await;
    assert_one_sentence(
        &["admin", "jobs", "stats"],
        &[("DATABASE_URL", &db.url)],
        &["is not migrated: run `checkout migrate`"],
    );
    let url = [("DATABASE_URL", db.url.as_str())];
    assert_one_sentence(
        &["migrate"],
        &[url[0], ("CHECKOUT__HTTP__PROT", "1")],
        &[
            "unknown key `http.prot` from environment variable CHECKOUT__HTTP__PROT: remove it or correct its name",
        ],
    );
    let file =
        std::env::temp_dir().join(format!("checkout-{}.toml", uuid::Uuid::new_v4().simple()));
    std::fs::write(&file, "[http]\nprot = 1\n").unwrap();
    assert_one_sentence(
        &["migrate", "--config", file.to_str().unwrap()],
        &url,
        &[&format!("unknown key `http.prot` in {}", file.display())],
    );
    let _ = std::fs::remove_file(&file);
    assert_one_sentence(
        &["migrate"],
        &[url[0], ("CHECKOUT__HTTP__PORT", "eighty")],
        &["bad value for `http.port` from environment variable CHECKOUT__HTTP__PORT"],
    );
}
