//! Webhook subscriptions (docs/events.md, "Webhook subscriptions"): endpoints added
//! with `checkout admin subscriptions`, receiving real checkout events signed per
//! Standard Webhooks from the in-process worker, retried after failures, dead after the
//! schedule, replayed by an operator, refused for internal addresses. Receivers are
//! local HTTP servers on 127.0.0.1, so the apps allow loopback unless a test says not.

use std::collections::{BTreeSet, VecDeque};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use checkout::config::Settings;
use checkout::health::Dependency;
use checkout::store::outbox;
use checkout::webhooks_out::sign;
use serde_json::Value;

use crate::helpers::{TestApp, TestDb, eventually};
use crate::relay::{broker, checkouts, delete_topology, events_settings, spawn_relay};
use crate::shop::Shop;

const T: Duration = Duration::from_secs(30);

/// One request a receiver got.
#[derive(Debug, Clone)]
struct Got {
    id: String,
    timestamp: String,
    signature: String,
    content_type: String,
    body: Bytes,
}

impl Got {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    /// Verifies the Standard Webhooks signature with `secret`, as a receiver does: one
    /// of the space-separated `v1,` signatures is that of `{id}.{timestamp}.{body}`.
    fn signed_with(&self, secret: &str) -> bool {
        let ts: i64 = self.timestamp.parse().unwrap();
        let expected = sign::signature(secret, &self.id, ts, &self.body).unwrap();
        self.signature.split(' ').any(|s| s == expected)
    }
}

#[derive(Default)]
struct Script {
    /// Answers for the next requests, then `default`.
    next: VecDeque<u16>,
    default: u16,
    got: Vec<Got>,
}

/// A webhook receiver on 127.0.0.1 answering as scripted.
struct Receiver {
    url: String,
    script: Arc<Mutex<Script>>,
}

impl Receiver {
    async fn start(first: &[u16], default: u16) -> Receiver {
        let script = Arc::new(Mutex::new(Script {
            next: first.iter().copied().collect(),
            default,
            got: Vec::new(),
        }));
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { url, script }
    }

    fn got(&self) -> Vec<Got> {
        self.script.lock().unwrap().got.clone()
    }

    fn answer(&self, status: u16) {
        self.script.lock().unwrap().default = status;
    }
}

async fn receive(
    State(script): State<Arc<Mutex<Script>>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let header = |k: &str| {
        headers
            .get(k)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let mut s = script.lock().unwrap();
    s.got.push(Got {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        content_type: header("content-type"),
        body,
    });
    let status = s.next.pop_front().unwrap_or(s.default);
    // a long answer: only a prefix is kept
    (StatusCode::from_u16(status).unwrap(), "x".repeat(1_000))
}

/// Retries after 1 s, 1 s: dead at the third failure.
fn fast_retries(s: &mut Settings) {
    s.subscriptions.allow_loopback = true;
    s.subscriptions.retry_schedule_secs = vec![1, 1];
}

/// `checkout admin --json ARGS` with loopback endpoints allowed or not.
fn admin(db: &TestDb, allow_loopback: bool, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_checkout"))
        .arg("admin")
        .arg("--json")
        .args(args)
        .env("DATABASE_URL", &db.url)
        .env("CHECKOUT__LOG__LEVEL", "warn")
        .env(
            "CHECKOUT__SUBSCRIPTIONS__ALLOW_LOOPBACK",
            allow_loopback.to_string(),
        )
        .env("USER", "tester")
        .output()
        .unwrap()
}

fn ok_json(out: Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn refused(out: Output) -> String {
    assert!(!out.status.success(), "should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Adds a subscription (loopback allowed); returns its id and secret.
fn add(db: &TestDb, url: &str, filter: &[&str]) -> (String, String) {
    let mut args = vec!["subscriptions", "add", url];
    args.extend_from_slice(filter);
    let out = ok_json(admin(db, true, &args));
    let secret = out["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    (out["id"].as_str().unwrap().to_owned(), secret)
}

/// What the relay does after the broker confirmed, without the broker: the deliveries
/// and their jobs of every unpublished event, and the events marked published.
async fn publish_without_broker(shop: &Shop) {
    let mut tx = shop.app.pool.begin().await.unwrap();
    let events = outbox::claim(&mut tx, 10_000).await.unwrap();
    let ids: Vec<i64> = events.iter().map(|e| e.id).collect();
    checkout::relay::deliver(&mut tx, &events, &ids)
        .await
        .unwrap();
    outbox::mark_published(&mut tx, &ids).await.unwrap();
    tx.commit().await.unwrap();
}

async fn wait_count(shop: &Shop, sql: &str, n: i64) {
    let found = eventually(T, || async { (shop.count(sql).await == n).then_some(()) }).await;
    if found.is_none() {
        panic!("`{sql}` never became {n}: {}", shop.count(sql).await);
    }
}

#[tokio::test]
async fn a_failed_delivery_is_retried_and_signed_via_the_relay() {
    let shop = Shop::start(true, fast_retries).await;
    let hook = Receiver::start(&[500], 200).await;
    let (_, secret) = add(
        &shop.app.db,
        &hook.url,
        &["--types", "order.paid,order.enrolled"],
    );
    let s = events_settings(&shop);
    let stop = spawn_relay(&shop, &s, &Dependency::new("broker"));
    checkouts(&shop, 1, 1).await;
    wait_count(
        &shop,
        "select count(*) from webhook_deliveries where status = 'succeeded'",
        2,
    )
    .await;

    let got = hook.got();
    assert_eq!(got.len(), 3, "one answered 500, then retried: {got:?}");
    let types: BTreeSet<String> = got
        .iter()
        .map(|g| g.json()["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        types,
        BTreeSet::from(["order.enrolled".into(), "order.paid".into()]),
        "only the subscribed types"
    );
    assert_eq!(got[0].id, got[2].id, "the retry is the same message");
    let now = chrono::Utc::now().timestamp();
    for g in &got {
        assert!(g.signed_with(&secret), "signature of {g:?}");
        assert_eq!(g.content_type, "application/json");
        assert_eq!(g.json()["id"].as_str(), Some(g.id.as_str()));
        assert!((now - g.timestamp.parse::<i64>().unwrap()).abs() < 120);
        let mut tampered = g.clone();
        tampered.body = Bytes::from(g.body.iter().rev().copied().collect::<Vec<u8>>());
        assert!(!tampered.signed_with(&secret));
    }
    let attempts: Vec<(i32, Option<i32>)> = sqlx::query_as(
        "select attempts, last_status_code from webhook_deliveries order by attempts",
    )
    .fetch_all(&shop.app.pool)
    .await
    .unwrap();
    assert_eq!(attempts, [(1, Some(200)), (2, Some(200))]);
    stop.cancel();
    let (_conn, channel) = broker().await;
    delete_topology(&channel, &s).await;
}

#[tokio::test]
async fn a_dead_delivery_disables_its_endpoint_and_is_redelivered_after_the_fix() {
    let shop = Shop::start(true, |s| {
        fast_retries(s);
        s.subscriptions.disable_after_failures = 3;
    })
    .await;
    let db = &shop.app.db;
    let hook = Receiver::start(&[], 503).await;
    let (id, secret) = add(db, &hook.url, &["--types", "order.paid"]);
    let since = (chrono::Utc::now() - chrono::Duration::seconds(5)).to_rfc3339();
    checkouts(&shop, 1, 1).await;
    publish_without_broker(&shop).await;
    wait_count(
        &shop,
        "select count(*) from webhook_deliveries where status = 'dead'",
        1,
    )
    .await;

    assert_eq!(hook.got().len(), 3, "the first attempt and two retries");
    let deliveries = ok_json(admin(
        db,
        true,
        &["subscriptions", "deliveries", "--subscription", &id],
    ));
    let d = &deliveries[0];
    assert_eq!(d["status"], "dead");
    assert_eq!(d["attempts"], 3);
    assert_eq!(d["last_status_code"], 503);
    assert_eq!(d["last_error"], "HTTP 503");
    assert_eq!(d["last_response"].as_str().unwrap().len(), 256);
    assert!(d["next_attempt_at"].is_null());
    let list = ok_json(admin(db, true, &["subscriptions", "list"]));
    assert_eq!(list[0]["status"], "disabled");
    let reason = list[0]["disabled_reason"].as_str().unwrap();
    assert!(
        reason.contains("3 consecutive failed delivery attempts"),
        "{reason}"
    );

    let replay = [
        "subscriptions",
        "redeliver",
        "--since",
        &since,
        "--subscription",
        &id,
    ];
    let err = refused(admin(db, true, &replay));
    assert!(err.contains("is disabled; enable it first"), "{err}");
    ok_json(admin(db, true, &["subscriptions", "enable", &id]));
    hook.answer(200);
    let out = ok_json(admin(db, true, &replay));
    assert_eq!(out["redelivered"].as_array().unwrap().len(), 1);
    wait_count(
        &shop,
        "select count(*) from webhook_deliveries where status = 'succeeded' and attempts = 4",
        1,
    )
    .await;
    let got = hook.got();
    assert_eq!(got.len(), 4);
    assert!(
        got.iter()
            .all(|g| g.id == got[0].id && g.signed_with(&secret))
    );
    // succeeded: --since leaves it alone
    let out = ok_json(admin(db, true, &replay));
    assert_eq!(out["redelivered"].as_array().unwrap().len(), 0);
    let unknown = uuid::Uuid::new_v4().to_string();
    let err = refused(admin(db, true, &["subscriptions", "redeliver", &unknown]));
    assert!(err.contains("no delivery with id"), "{err}");
    let audited = shop
        .count("select count(*) from admin_audit where action like 'subscriptions.%'")
        .await;
    assert_eq!(audited, 4, "add, enable, two redelivers");
}

#[tokio::test]
async fn every_type_a_disabled_endpoint_none_and_a_rotated_secret_signs_twice() {
    let shop = Shop::start(true, fast_retries).await;
    let db = &shop.app.db;
    let all = Receiver::start(&[], 200).await;
    let off = Receiver::start(&[], 200).await;
    let (all_id, old_secret) = add(db, &all.url, &["--all"]);
    let (off_id, _) = add(db, &off.url, &["--types", "order.paid"]);
    ok_json(admin(db, true, &["subscriptions", "disable", &off_id]));
    let rotated = ok_json(admin(
        db,
        true,
        &["subscriptions", "rotate-secret", &all_id],
    ));
    let new_secret = rotated["secret"].as_str().unwrap();
    assert_ne!(new_secret, old_secret);

    checkouts(&shop, 1, 1).await;
    publish_without_broker(&shop).await;
    let events = shop.count("select count(*) from outbox_events").await;
    wait_count(
        &shop,
        "select count(*) from webhook_deliveries where status = 'succeeded'",
        events,
    )
    .await;
    let got = all.got();
    let types: BTreeSet<String> = got
        .iter()
        .map(|g| g.json()["type"].as_str().unwrap().to_owned())
        .collect();
    let published: Vec<String> =
        sqlx::query_scalar("select distinct event_type from outbox_events")
            .fetch_all(&shop.app.pool)
            .await
            .unwrap();
    assert_eq!(types, published.into_iter().collect::<BTreeSet<_>>());
    for g in &got {
        assert_eq!(g.signature.split(' ').count(), 2, "{}", g.signature);
        assert!(g.signed_with(new_secret) && g.signed_with(&old_secret));
    }
    assert!(off.got().is_empty(), "a disabled endpoint gets nothing");
    let list = ok_json(admin(db, true, &["subscriptions", "list"]));
    let off_row = list
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == off_id.as_str())
        .unwrap();
    assert_eq!(off_row["status"], "disabled");
    assert_eq!(off_row["disabled_reason"], "disabled by tester");
    assert!(off_row.get("secret").is_none(), "list never shows secrets");
}

/// An endpoint added while loopback was allowed, sent to by a worker that does not
/// allow it: the check after DNS resolution refuses it before any request.
#[tokio::test]
async fn the_address_is_checked_again_at_send_time() {
    let shop = Shop::start(true, |s| {
        s.subscriptions.allow_loopback = false;
        s.subscriptions.retry_schedule_secs = vec![];
    })
    .await;
    let hook = Receiver::start(&[], 200).await;
    let url = hook.url.replace("127.0.0.1", "localhost");
    add(&shop.app.db, &url, &["--types", "order.paid"]);
    checkouts(&shop, 1, 1).await;
    publish_without_broker(&shop).await;
    wait_count(
        &shop,
        "select count(*) from webhook_deliveries where status = 'dead'",
        1,
    )
    .await;
    let error: String = sqlx::query_scalar("select last_error from webhook_deliveries")
        .fetch_one(&shop.app.pool)
        .await
        .unwrap();
    assert!(error.contains("loopback address"), "{error}");
    assert!(hook.got().is_empty());
}

#[tokio::test]
async fn internal_targets_and_bad_input_are_refused_at_add() {
    let app = TestApp::spawn().await;
    let db = &app.db;
    let add = |url: &str, filter: &[&str]| {
        let mut args = vec!["subscriptions", "add", url];
        args.extend_from_slice(filter);
        refused(admin(db, false, &args))
    };
    let err = add("https://10.0.0.1/hook", &["--all"]);
    assert!(err.contains("10.0.0.1 is a private address"), "{err}");
    let err = add("https://localhost/hook", &["--all"]);
    assert!(err.contains("is a loopback address"), "{err}");
    let err = add("https://169.254.169.254/latest", &["--all"]);
    assert!(err.contains("link-local"), "{err}");
    let err = add("http://93.184.215.14/hook", &["--all"]);
    assert!(err.contains("must be https"), "{err}");
    let err = add("https://93.184.215.14/hook", &["--types", "order.payed"]);
    assert!(err.contains("unknown event type `order.payed`"), "{err}");
    let err = add("https://93.184.215.14/hook", &[]);
    assert!(err.contains("--types"), "{err}");
    let unknown = uuid::Uuid::new_v4().to_string();
    for command in ["disable", "enable", "rotate-secret"] {
        let err = refused(admin(db, false, &["subscriptions", command, &unknown]));
        assert!(err.contains("no subscription with id"), "{command}: {err}");
    }
    let err = refused(admin(db, false, &["subscriptions", "disable", "nope"]));
    assert!(err.contains("invalid value"), "{err}");
    let n: i64 = sqlx::query_scalar("select count(*) from webhook_subscriptions")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(n, 0);
}

/// The types a subscription may name are the catalog's: one schema each in docs/events.
#[test]
fn the_subscribable_types_are_the_catalogs() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/events");
    let documented: BTreeSet<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|n| n.strip_suffix(".schema.json").map(str::to_owned))
        .filter(|n| n != "envelope")
        .collect();
    let code: BTreeSet<String> = outbox::TYPES.iter().map(|t| t.to_string()).collect();
    assert_eq!(code, documented);
}
