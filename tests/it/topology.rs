//! The separate-process set-up of docs/operations.md ("Every role in its own process"),
//! run as written: the test reads the doc's `sh` block, gives every port in it a free
//! one (the same one wherever the doc repeats it), and runs its commands with exactly
//! its settings on a fresh database, so the doc cannot drift from what works.

use std::collections::HashMap;
use std::net::TcpListener;

use sqlx::{Connection, PgConnection};

use crate::helpers::{Proc, TestDb, exact_command};

const OPERATIONS: &str = include_str!("../../docs/operations.md");
const HEADING: &str = "### Every role in its own process";
/// Where a port follows in the block: an address, `--port N`, `..._PORT=N`.
const PORT_PREFIXES: [&str; 3] = ["127.0.0.1:", "--port ", "_PORT="];
/// The database server's port stays: the test's database lives there.
const POSTGRES_PORT: &str = "5432";

/// The first `sh` block after the heading.
fn documented_block() -> &'static str {
    let (_, section) = OPERATIONS
        .split_once(HEADING)
        .expect("docs/operations.md has the separate-process section");
    let (_, block) = section
        .split_once("```sh\n")
        .expect("the section has an sh block");
    block.split_once("```").expect("the sh block is closed").0
}

/// `text` with every port after [`PORT_PREFIXES`] (but Postgres's) replaced by a free
/// one; returns the text and how many ports were replaced.
fn with_free_ports(text: &str) -> (String, usize) {
    let mut ports: HashMap<String, String> = HashMap::new();
    // held until all are chosen, so no two ports are the same
    let mut held = Vec::new();
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = PORT_PREFIXES
        .iter()
        .filter_map(|p| rest.find(p).map(|i| i + p.len()))
        .min()
    {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let port = &rest[..digits];
        if digits > 0 && port != POSTGRES_PORT {
            let free = ports.entry(port.to_owned()).or_insert_with(|| {
                let listener = TcpListener::bind("127.0.0.1:0").unwrap();
                let free = listener.local_addr().unwrap().port().to_string();
                held.push(listener);
                free
            });
            out.push_str(free);
        } else {
            out.push_str(port);
        }
        rest = &rest[digits..];
    }
    out.push_str(rest);
    (out, ports.len())
}

/// One `checkout` command of the block: its own `KEY=VALUE` prefixes, its arguments,
/// and whether it runs in the background (`&`: a long-running role).
struct Command {
    env: Vec<(String, String)>,
    args: Vec<String>,
    background: bool,
}

/// The block: the `export`ed settings, whether it creates the database, its commands.
struct Setup {
    env: Vec<(String, String)>,
    creates_database: bool,
    commands: Vec<Command>,
}

/// `KEY=VALUE` (the value unquoted) when `word` is a shell assignment.
fn assignment(word: &str) -> Option<(String, String)> {
    let (key, value) = word.split_once('=')?;
    let is_name = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    let value = value
        .strip_prefix('\'')
        .and_then(|v| v.strip_suffix('\''))
        .unwrap_or(value);
    is_name.then(|| (key.to_owned(), value.to_owned()))
}

/// Reads the block line by line; a line it does not know fails the test, so the doc
/// cannot grow a step the test skips.
fn parse(block: &str) -> Setup {
    let mut setup = Setup {
        env: Vec::new(),
        creates_database: false,
        commands: Vec::new(),
    };
    for line in block.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(export) = line.strip_prefix("export ") {
            let pair = assignment(export).unwrap_or_else(|| panic!("not KEY=VALUE: {line}"));
            setup.env.push(pair);
            continue;
        }
        if line.starts_with("createdb ") {
            assert!(
                setup.commands.is_empty(),
                "the database comes first: {line}"
            );
            setup.creates_database = true;
            continue;
        }
        let (line, background) = match line.strip_suffix('&') {
            Some(line) => (line.trim_end(), true),
            None => (line, false),
        };
        let mut command = Command {
            env: Vec::new(),
            args: Vec::new(),
            background,
        };
        for word in line.split_whitespace() {
            match assignment(word) {
                Some(pair) if command.args.is_empty() => command.env.push(pair),
                _ => command.args.push(word.to_owned()),
            }
        }
        assert_eq!(
            command.args.first().map(String::as_str),
            Some("checkout"),
            "a line the test does not know how to run: {line}"
        );
        command.args.remove(0);
        setup.commands.push(command);
    }
    setup
}

#[tokio::test(flavor = "multi_thread")]
async fn the_documented_separate_processes_enroll_every_checkout() {
    let (block, ports) = with_free_ports(documented_block());
    // the API, its metrics, the sandbox, two workers' and the scheduler's health
    assert_eq!(ports, 6, "each process has its own ports:\n{block}");
    let setup = parse(&block);
    assert!(setup.creates_database, "the block creates its database");
    let roles: Vec<&str> = setup.commands.iter().map(|c| c.args[0].as_str()).collect();
    assert_eq!(
        roles,
        [
            "migrate",
            "sandbox",
            "serve",
            "worker",
            "worker",
            "scheduler",
            "loadtest"
        ]
    );

    let db = TestDb::create().await;
    let mut env = setup.env.clone();
    let database = env
        .iter_mut()
        .find(|(k, _)| k == "DATABASE_URL")
        .expect("the block exports DATABASE_URL");
    database.1 = db.url.clone();
    // not a setting of the set-up: keeps the test's output to what went wrong
    env.push(("CHECKOUT__LOG__LEVEL".into(), "warn".into()));

    // dropped (killed) when the test ends, however it ends
    let mut running: Vec<Proc> = Vec::new();
    let mut report = serde_json::Value::Null;
    for command in &setup.commands {
        let mut env = env.clone();
        env.extend(command.env.iter().cloned());
        let mut args: Vec<&str> = command.args.iter().map(String::as_str).collect();
        if command.background {
            running.push(Proc::spawn_env(&args, &env));
            continue;
        }
        let loadtest = args[0] == "loadtest";
        if loadtest {
            args.push("--json");
        }
        let out = tokio::task::spawn_blocking({
            let env = env.clone();
            let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
            move || exact_command(&env).args(&args).output().unwrap()
        })
        .await
        .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "checkout {args:?} failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        if loadtest {
            report = serde_json::from_str(&stdout).unwrap();
        }
    }

    let scheduled = report["scheduled"].as_u64().unwrap();
    assert!(scheduled >= 5, "{report:#}");
    assert_eq!(
        report["terminal"]["enrolled"].as_u64(),
        Some(scheduled),
        "{report:#}"
    );
    assert_eq!(report["errors"], serde_json::json!({}), "{report:#}");
    assert_eq!(report["check"]["ok"], true, "{report:#}");
    assert_eq!(
        report["check"]["orders"].as_u64(),
        Some(scheduled),
        "{report:#}"
    );

    // the sandbox's webhooks reached the API and passed its signature check
    let mut conn = PgConnection::connect(&db.url).await.unwrap();
    let (processed, rejected): (i64, i64) = sqlx::query_as(
        "select count(*) filter (where status = 'processed'),
                count(*) filter (where status = 'rejected')
         from webhook_events",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert!(processed > 0, "no webhook from the sandbox was processed");
    assert_eq!(rejected, 0, "webhooks rejected: the secrets differ");
    let _ = conn.close().await;
    drop(running);
}
