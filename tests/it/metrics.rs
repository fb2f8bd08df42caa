//! The metric catalog (docs/operations.md): every metric present right after start and
//! label sets that stay closed after a real checkout; the exposition-text helpers the
//! counting tests (`metric_counts`) share.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use reqwest::Method;

use crate::fixtures::{DS, DS_1M, WEB, WEB_1M};
use crate::helpers::{Proc, TestDb, eventually};
use crate::shop::Shop;

pub const T: Duration = Duration::from_secs(20);

/// One sample of the exposition text: family name, labels, value.
#[derive(Debug)]
pub struct Sample {
    pub name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

pub fn parse(text: &str) -> Vec<Sample> {
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
pub fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
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
pub fn own() -> String {
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
    "route",
    "method",
    "status",
    "gateway",
    "reason",
    "kind",
    "queue",
    "job",
    "outcome",
    "step",
    "result",
    "state",
    "group",
    "schedule",
    "op",
    "pool",
    "supply_type",
    "le",
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
    "db_reads_routed_total",
];
