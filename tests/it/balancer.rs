//! An API process SIGKILLed behind a real HAProxy in the middle of a load run: the
//! balancer's health checks on `/readyz` take it out, in-flight requests fail with 502
//! or a broken connection, and the clients send them again with the same
//! `Idempotency-Key` (`loadtest --retries`): every checkout still enrolls, no cart gets
//! two orders, no payment is lost, and the consistency check is clean. Skips (saying
//! why) when `haproxy` is not installed; `bench/topology` installs it.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use checkout::loadtest;

use crate::loadtest::loadtest_args;
use crate::scaleout::Fleet;

/// HAProxy in the foreground, killed on drop.
struct Haproxy {
    child: Child,
    cfg: std::path::PathBuf,
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.cfg);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The same shape as bench/topology's haproxy.cfg: round robin, `/readyz` checks,
/// `option forwardfor`, redispatch on a failed connect.
fn haproxy(port: u16, servers: &[std::net::SocketAddr]) -> Haproxy {
    let mut cfg = format!(
        "defaults\n  mode http\n  option forwardfor\n  option redispatch\n  retries 2\n\
         \x20 timeout connect 1s\n  timeout client 30s\n  timeout server 30s\n\n\
         frontend api\n  bind 127.0.0.1:{port}\n  default_backend all\n\n\
         backend all\n  balance roundrobin\n  option httpchk GET /readyz\n"
    );
    for (i, addr) in servers.iter().enumerate() {
        cfg.push_str(&format!(
            "  server api{i} {addr} check inter 500ms fall 1 rise 2\n"
        ));
    }
    let path = std::env::temp_dir().join(format!("haproxy-{}.cfg", uuid::Uuid::new_v4().simple()));
    std::fs::write(&path, cfg).unwrap();
    let child = Command::new("haproxy")
        .arg("-db")
        .arg("-f")
        .arg(&path)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    Haproxy { child, cfg: path }
}

#[tokio::test(flavor = "multi_thread")]
async fn killing_an_api_process_behind_haproxy_loses_and_doubles_nothing() {
    if Command::new("haproxy").arg("-v").output().is_err() {
        eprintln!("skipped: haproxy is not installed (apt-get install haproxy)");
        return;
    }
    let fleet = Fleet::start(
        2,
        &[
            ("CHECKOUT__RATELIMIT__TRUSTED_PROXIES", "[\"127.0.0.1\"]"),
            // a claim of the killed process is taken over after 5 s; a live request
            // ends (or times out) before that
            ("CHECKOUT__IDEMPOTENCY__LOCK_TIMEOUT_SECS", "5"),
            ("CHECKOUT__HTTP__REQUEST_TIMEOUT_MS", "4000"),
        ],
    )
    .await;
    let _worker = fleet.shop.spawn_worker(&[]);
    let port = free_port();
    let servers: Vec<_> = fleet.apis.iter().map(|p| p.addr.unwrap()).collect();
    let _lb = haproxy(port, &servers);
    let base = format!("http://127.0.0.1:{port}");
    let ready = crate::helpers::eventually(Duration::from_secs(10), || {
        let url = format!("{base}/readyz");
        async move { reqwest::get(url).await.ok().filter(|r| r.status() == 200) }
    })
    .await;
    assert!(ready.is_some(), "HAProxy did not come up on {base}");

    let args = loadtest_args(&[
        "--base-url",
        &base,
        "--sandbox-url",
        &fleet.shop.sandbox_base,
        "--rate",
        "5",
        "--duration",
        "8",
        "--retries",
        "40",
        "--forwarded-for",
        "--check",
        "--settle",
        "2",
        "--checkout-timeout",
        "45",
    ]);
    let db = fleet.shop.app.db.url.clone();
    let run = tokio::spawn(async move { loadtest::execute(&args, Some(&db)).await });
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut fleet = fleet;
    // Frozen first, so that requests are certainly in flight on it when it dies: a
    // kill between two of its requests is redispatched by HAProxy and never seen.
    // Frozen, it fails its health checks and the requests already sent to it hang
    // until the kill breaks them.
    fleet.apis[0].freeze();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    fleet.apis[0].kill9();
    let report = run.await.unwrap().unwrap();
    let json = serde_json::to_string_pretty(&report).unwrap();

    assert_eq!(report.scheduled, 40, "{json}");
    assert_eq!(report.terminal.get("enrolled"), Some(&40), "{json}");
    assert!(report.errors.is_empty(), "{json}");
    let check = report.check.as_ref().unwrap();
    assert!(check.ok, "{json}");
    fleet
        .shop
        .assert_count(
            "select count(*) from (select cart_token from orders group by 1 having count(*) > 1) d",
            0,
        )
        .await;
    fleet
        .shop
        .assert_count("select count(*) from orders", 40)
        .await;
    // the run did cross the kill: requests in flight on the killed process were sent again
    assert!(!report.retried.is_empty(), "{json}");
}
