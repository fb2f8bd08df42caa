//! The metric catalog (docs/operations.md): every metric present right after start,
//! label sets that stay closed after a real checkout, and the business counters moving
//! by exactly one per checkout.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use checkout::workers::{EnqueueOptions, enqueue};
use checkout::workflows::jobs::{Job, QUEUES, enqueue_ping};
use reqwest::Method;
use serde_json::json;

use crate::fixtures::{DS, DS_1M, WEB, WEB_1M, WEB_COHORT};
use crate::helpers::{Proc, TestApp, TestDb, eventually};
use crate::shop::Shop;

const T: Duration = Duration::from_secs(20);

/// One sample of the exposition text: family name, labels, value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').unwrap();
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split("\",")
                .filter(|p| !p.is_empty())
                .map(|pair| {
                    let (k, v) = pair.split_once('=').unwrap();
                    (k.to_owned(), v.trim_matches('"').to_owned())
                })
                .collect();
            Sample {
                name: name.to_owned(),
                labels,
                value: value.parse().unwrap(),
            }
        })
        .collect()
}

/// The family a sample belongs to (a histogram's `_bucket`, `_sum`, `_count` are one).
fn family(name: &str) -> &str {
    ["_bucket", "_sum", "_count"]
        .iter()
        .find_map(|s| name.strip_suffix(s))
        .unwrap_or(name)
}

/// The value of the series `name` with exactly `labels`; 0 when it does not exist.
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let want: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    parse(text)
        .into_iter()
        .find(|s| s.name == name && s.labels == want)
        .map_or(0.0, |s| s.value)
}

/// This process's metrics (the in-process API and workers of a [`Shop`]).
fn own() -> String {
    checkout::telemetry::metrics_handle().render()
}

async fn scrape(addr: &str) -> String {
    reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

fn is_uuid(v: &str) -> bool {
    let hex = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_hexdigit());
    let parts: Vec<&str> = v.split('-').collect();
    (v.len() == 36 && parts.len() == 5 && parts.iter().all(|p| hex(p))) || (v.len() == 32 && hex(v))
}

/// An id, a token, an email, or something else that would make series per customer.
fn looks_personal(v: &str) -> bool {
    let token = |s: &str| {
        s.len() >= 16
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && s.chars().any(|c| c.is_ascii_digit())
    };
    v.contains('@') || v.len() > 64 || v.split('/').any(|seg| is_uuid(seg) || token(seg))
}

/// Every label key of the catalog (`le` of histogram buckets).
const LABEL_KEYS: &[&str] = &[
    "route", "method", "status", "gateway", "reason", "kind", "queue", "job", "outcome", "step",
    "result", "state", "group", "schedule", "op", "le",
];

/// Label keys, label values and series per family are those of a closed catalog.
fn assert_closed(text: &str, source: &str) {
    let samples = parse(text);
    assert!(!samples.is_empty(), "{source}: no metrics");
    let mut series: BTreeMap<&str, BTreeSet<Vec<(String, String)>>> = BTreeMap::new();
    for s in &samples {
        for (k, v) in &s.labels {
            assert!(
                LABEL_KEYS.contains(&k.as_str()),
                "{source}: label `{k}` of {} is not in the catalog",
                s.name
            );
            assert!(
                !looks_personal(v),
                "{source}: {}{{{k}=\"{v}\"}} looks like an id, a token or an email",
                s.name
            );
        }
        let set = s
            .labels
            .iter()
            .filter(|(k, _)| *k != "le")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        series.entry(family(&s.name)).or_default().insert(set);
    }
    for (name, sets) in series {
        assert!(
            sets.len() <= 100,
            "{source}: {name} has {} series: {sets:?}",
            sets.len()
        );
    }
}

/// A checkout through API, worker process and sandbox leaves only closed label sets, in
/// the API's metrics and in the worker's.
#[tokio::test]
async fn a_checkout_leaves_only_closed_label_sets() {
    let shop = Shop::start(false, |_| {}).await;
    let worker = shop.spawn_worker(&[]);
    let token = shop.student(1).await;
    let cart = shop
        .cart(&token, &[(WEB, WEB_1M), (DS, DS_1M)], Some("SAVE10"))
        .await;
    let (status, body) = shop.order(&token, &cart, None).await;
    assert!(status == 201 || status == 202, "{status} {body}");
    let order = body["data"]["order_token"].as_str().unwrap().to_owned();
    let o = shop.wait_session(&token, &order).await;
    let gateway_order = o["payment"]["gateway_order_id"]
        .as_str()
        .unwrap()
        .to_owned();
    shop.pay(&gateway_order, "captured").await;
    shop.wait_status(&token, &order, &["enrolled"], T).await;
    // a request naming an unknown token: its route is the template, not the token
    shop.call(
        Method::GET,
        "/api/v1/order/not-a-real-order-token-0123456789",
        Some(&token),
        None,
    )
    .await;

    let api = own();
    assert!(api.contains("http_requests_total{"), "{api}");
    assert_closed(&api, "api");
    let worker_addr = worker.addr.unwrap().to_string();
    // recorded just after the enrollment's commit, which the API may show first
    let worker_text = eventually(T, || async {
        let text = scrape(&worker_addr).await;
        (value(&text, "enrollments_total", &[]) == 1.0).then_some(text)
    })
    .await
    .unwrap_or_else(|| panic!("enrollments_total never 1"));
    assert_closed(&worker_text, "worker");
}

/// Every metric of the catalog is on `checkout dev`'s `/metrics` right after start
/// (with its zero series), before any checkout.
#[tokio::test]
async fn dev_exports_the_whole_catalog_at_start() {
    let db = TestDb::create().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let metrics_addr = format!("127.0.0.1:{port}");
    let dev = Proc::spawn(
        &["dev", "--port", "0"],
        &db.url,
        &[("CHECKOUT__HTTP__METRICS_ADDR", metrics_addr.as_str())],
    );
    // the one request the http_* series need (their status is known only by then)
    reqwest::get(format!("http://{}/healthz", dev.addr.unwrap()))
        .await
        .unwrap();
    let missing = |text: &str| -> Vec<&str> {
        let names: BTreeSet<String> = parse(text).into_iter().map(|s| s.name).collect();
        CATALOG
            .iter()
            .filter(|m| !names.iter().any(|n| family(n) == **m))
            .copied()
            .collect()
    };
    let text = eventually(T, || async {
        let text = reqwest::get(format!("http://{metrics_addr}/metrics"))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        missing(&text).is_empty().then_some(text)
    })
    .await;
    let Some(text) = text else {
        let text = scrape(&metrics_addr).await;
        panic!("missing from /metrics: {:?}\n{text}", missing(&text));
    };
    assert_closed(&text, "dev");
    // zero series of known label values, before any event
    for (name, labels) in [
        ("payments_succeeded_total", vec![("gateway", "stripe")]),
        (
            "payments_failed_total",
            vec![("gateway", "razorpay"), ("reason", "amount_mismatch")],
        ),
        (
            "webhooks_failed_total",
            vec![("gateway", "stripe"), ("kind", "unknown")],
        ),
        (
            "jobs_run_total",
            vec![
                ("queue", "checkout.steps"),
                ("job", "enroll"),
                ("outcome", "panic"),
            ],
        ),
        ("compensations_total", vec![("reason", "refunded")]),
        ("session_cache_lookups_total", vec![("result", "miss")]),
    ] {
        let rendered = labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{v}\""))
            .collect::<Vec<_>>();
        assert!(
            parse(&text).iter().any(|s| s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))),
            "{name}{{{}}} not registered:\n{text}",
            rendered.join(",")
        );
    }
}

/// The catalog of docs/operations.md, but `gateway_requests_total` and
/// `gateway_request_seconds`: their series appear with the first gateway call.
const CATALOG: &[&str] = &[
    "http_requests_total",
    "http_request_duration_seconds",
    "carts_created_total",
    "carts_converted_total",
    "orders_created_total",
    "enrollments_total",
    "payments_succeeded_total",
    "payments_failed_total",
    "webhooks_received_total",
    "webhooks_rejected_total",
    "webhooks_unmatched_total",
    "webhooks_processed_total",
    "webhooks_failed_total",
    "webhook_processing_seconds",
    "jobs_ready",
    "jobs_oldest_ready_seconds",
    "jobs_run_total",
    "job_duration_seconds",
    "job_fetches_total",
    "worker_restarts_total",
    "saga_step_retries_total",
    "compensations_total",
    "refunds_requested_total",
    "refunds_processed_total",
    "refunds_failed_total",
    "reconciliation_recovered_total",
    "gateway_circuit_open",
    "gateway_circuit_rejected_total",
    "idempotency_replays_total",
    "ratelimit_rejected_total",
    "ratelimit_backend_errors_total",
    "session_cache_lookups_total",
    "db_pool_connections",
    "db_pool_max_connections",
    "db_pool_waiters",
    "db_pool_acquire_seconds",
    "outbox_unpublished",
    "outbox_oldest_unpublished_seconds",
    "events_published_total",
    "webhook_deliveries_total",
    "cron_ticks_total",
    "scheduler_is_leader",
];

/// One checkout moves each business counter by exactly one, and an order request
/// repeated with its Idempotency-Key is replayed (counted) and makes no second order.
#[tokio::test]
async fn one_checkout_counts_once() {
    let shop = Shop::start(true, |_| {}).await;
    let before = own();
    let token = shop.student(1).await;
    let cart = shop
        .cart(&token, &[(WEB, WEB_1M), (DS, DS_1M)], Some("SAVE10"))
        .await;
    let order_request = || {
        shop.app
            .client
            .post(shop.app.url("/api/v1/order"))
            .bearer_auth(&token)
            .header("idempotency-key", "metrics-order-1")
            .json(&json!({"cart_token": cart,
                "billing_address": {"country": "IN", "state": "MH", "postal_code": "400001"}}))
    };
    let first = order_request().send().await.unwrap();
    assert!(first.status().is_success(), "{}", first.status());
    let body: serde_json::Value = first.json().await.unwrap();
    let order = body["data"]["order_token"].as_str().unwrap().to_owned();
    let again = order_request().send().await.unwrap();
    assert_eq!(
        again
            .headers()
            .get("idempotent-replayed")
            .map(|v| v.to_str().unwrap()),
        Some("true")
    );
    let o = shop.wait_session(&token, &order).await;
    let gateway_order = o["payment"]["gateway_order_id"]
        .as_str()
        .unwrap()
        .to_owned();
    shop.pay(&gateway_order, "captured").await;
    shop.wait_status(&token, &order, &["enrolled"], T).await;
    shop.wait_count("select count(*) from sagas where state = 'completed'", 1)
        .await;

    let razorpay = [("gateway", "razorpay")];
    let once: [(&str, &[(&str, &str)]); 7] = [
        ("carts_created_total", &[][..]),
        ("carts_converted_total", &[][..]),
        ("orders_created_total", &[][..]),
        ("enrollments_total", &[][..]),
        ("idempotency_replays_total", &[][..]),
        ("payments_succeeded_total", &razorpay[..]),
        (
            "webhooks_processed_total",
            &[("gateway", "razorpay"), ("kind", "payment_captured")][..],
        ),
    ];
    let delta = |after: &str, name: &str, labels: &[(&str, &str)]| {
        value(after, name, labels) - value(&before, name, labels)
    };
    // counts are recorded just after their commits, and the sandbox's webhooks may
    // still be on their way when the order shows enrolled: wait until all are in
    eventually(T, || async {
        let after = own();
        once.iter()
            .all(|(name, labels)| delta(&after, name, labels) >= 1.0)
            .then_some(())
    })
    .await;
    // and give a second count, if one were coming, the time to arrive
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = own();
    let moved = |name: &str, labels: &[(&str, &str)]| delta(&after, name, labels);
    for (name, labels) in once {
        assert_eq!(moved(name, labels), 1.0, "{name}{labels:?}\n{after}");
    }
    assert_eq!(
        moved("payments_succeeded_total", &[("gateway", "stripe")]),
        0.0
    );
    assert_eq!(moved("compensations_total", &[("reason", "failed")]), 0.0);
    assert_eq!(moved("reconciliation_recovered_total", &razorpay), 0.0);
    for step in ["price", "reserve", "payment_session", "enroll", "complete"] {
        assert!(
            moved(
                "jobs_run_total",
                &[
                    ("queue", "checkout.steps"),
                    ("job", step),
                    ("outcome", "ok")
                ]
            ) >= 1.0,
            "{step}\n{after}"
        );
    }
}

/// `jobs_ready` counts the jobs due and not taken, per queue; a job scheduled for later
/// is not due yet.
#[tokio::test]
async fn jobs_ready_counts_due_jobs_not_yet_taken() {
    // no workers: what is enqueued stays there
    let app = TestApp::spawn().await;
    for _ in 0..3 {
        enqueue_ping(&app.pool, 0).await.unwrap();
    }
    let mut tx = app.pool.begin().await.unwrap();
    let later = Job::Ping {
        id: uuid::Uuid::new_v4(),
        hold_ms: 0,
    };
    let options = EnqueueOptions {
        run_at: Some(std::time::SystemTime::now() + Duration::from_secs(3600)),
        ..Default::default()
    };
    enqueue(&mut tx, &later, options).await.unwrap();
    tx.commit().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;

    checkout::workers::depth::once(&app.pool, QUEUES)
        .await
        .unwrap();
    let text = own();
    assert_eq!(
        value(&text, "jobs_ready", &[("queue", "system.ping")]),
        3.0,
        "{text}"
    );
    assert_eq!(
        value(&text, "jobs_ready", &[("queue", "checkout.steps")]),
        0.0
    );
    let oldest = value(
        &text,
        "jobs_oldest_ready_seconds",
        &[("queue", "system.ping")],
    );
    assert!(oldest > 0.0 && oldest < 60.0, "{oldest}\n{text}");
    assert_eq!(
        value(
            &text,
            "jobs_oldest_ready_seconds",
            &[("queue", "checkout.steps")]
        ),
        0.0
    );
}

/// A student's order: the cart of one web program, ordered, with its payment session;
/// returns (access token, order token, the session's gateway order id).
async fn ordered(shop: &Shop) -> (String, String, String) {
    let token = shop.student(1).await;
    let cart = shop.cart(&token, &[(WEB, WEB_1M)], None).await;
    let (status, body) = shop.order(&token, &cart, None).await;
    assert!(status == 201 || status == 202, "{status} {body}");
    let order = body["data"]["order_token"].as_str().unwrap().to_owned();
    let o = shop.wait_session(&token, &order).await;
    let session = o["payment"]["gateway_order_id"]
        .as_str()
        .unwrap()
        .to_owned();
    (token, order, session)
}

/// A series (name, labels) and by how much it should move.
type Moved<'a> = (&'a str, &'a [(&'a str, &'a str)], f64);

/// Waits until each of `want` (name, labels, by how much) moved by at least its amount
/// since `before`, lets a late duplicate arrive, then asserts each moved by exactly that.
async fn assert_moved(before: &str, want: &[Moved<'_>]) {
    let delta = |after: &str, name: &str, labels: &[(&str, &str)]| {
        value(after, name, labels) - value(before, name, labels)
    };
    eventually(T, || async {
        let after = own();
        want.iter()
            .all(|(name, labels, n)| delta(&after, name, labels) >= *n)
            .then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = own();
    for (name, labels, n) in want {
        assert_eq!(delta(&after, name, labels), *n, "{name}{labels:?}\n{after}");
    }
}

/// A payment that came after the seat went to someone else: paid, not enrolled,
/// compensated as refunded, refunded for a full cohort.
#[tokio::test]
async fn a_refused_enrollment_counts_its_compensation_and_refund() {
    let shop = Shop::start(true, |_| {}).await;
    let (token, order, session) = ordered(&shop).await;
    let before = own();
    for sql in [
        "update seat_holds set status = 'released' where status = 'held'",
        &format!(
            "update cohorts set seats_held = 0, seats_taken = capacity where id = '{WEB_COHORT}'"
        ),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&shop.app.pool)
            .await
            .unwrap();
    }
    shop.pay(&session, "captured").await;
    shop.wait_status(&token, &order, &["refunded"], T).await;
    let razorpay: &[(&str, &str)] = &[("gateway", "razorpay")];
    assert_moved(
        &before,
        &[
            ("payments_succeeded_total", razorpay, 1.0),
            ("enrollments_total", &[], 0.0),
            ("compensations_total", &[("reason", "refunded")], 1.0),
            (
                "refunds_requested_total",
                &[("gateway", "razorpay"), ("reason", "cohort_full")],
                1.0,
            ),
            ("refunds_processed_total", razorpay, 1.0),
            ("refunds_failed_total", razorpay, 0.0),
        ],
    )
    .await;
}

/// A student cancels an order awaiting payment: one compensation, one payment that
/// will not come.
#[tokio::test]
async fn a_cancel_counts_its_compensation_and_the_cancelled_payment() {
    let shop = Shop::start(true, |_| {}).await;
    let (token, order, _) = ordered(&shop).await;
    let before = own();
    let (status, body) = shop
        .call(
            Method::POST,
            &format!("/api/v1/order/{order}/cancel"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    shop.wait_count("select count(*) from sagas where state = 'compensated'", 1)
        .await;
    assert_moved(
        &before,
        &[
            ("compensations_total", &[("reason", "cancelled")], 1.0),
            (
                "payments_failed_total",
                &[("gateway", "razorpay"), ("reason", "cancelled")],
                1.0,
            ),
            (
                "refunds_requested_total",
                &[("gateway", "razorpay"), ("reason", "cancelled")],
                0.0,
            ),
        ],
    )
    .await;
}

/// A payment whose webhooks never came, found by reconciliation: counted as recovered.
#[tokio::test]
async fn reconciliation_counts_a_payment_no_webhook_reported() {
    let shop = Shop::start(true, |s| s.checkout.reconcile_after_secs = 0).await;
    shop.control(
        Method::PUT,
        "/faults/razorpay",
        Some(json!({"webhook_drop_rate": 1.0})),
    )
    .await;
    let (token, order, session) = ordered(&shop).await;
    let before = own();
    shop.pay(&session, "captured").await;
    let woken = checkout::workflows::checkout::reconcile::sweep(
        &shop.app.pool,
        Duration::ZERO,
        Duration::from_secs(60),
        100,
    )
    .await
    .unwrap();
    assert_eq!(woken, 1);
    shop.wait_status(&token, &order, &["enrolled"], T).await;
    assert_moved(
        &before,
        &[
            (
                "reconciliation_recovered_total",
                &[("gateway", "razorpay")],
                1.0,
            ),
            ("payments_succeeded_total", &[("gateway", "razorpay")], 1.0),
            ("enrollments_total", &[], 1.0),
        ],
    )
    .await;
}
