//! Money as the real gateways move it, end to end through the API, workers and the
//! sandbox: authorizations captured (once, a worker killed after the capture included)
//! or released when the order cannot take them; refunds that stay pending and then
//! fail, retried by themselves or raised to an operator and reported by the check.

use std::process::Output;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};

use crate::fixtures::{WEB, WEB_1M};
use crate::helpers::eventually;
use crate::shop::{Shop, gateway_order_id};
use checkout::admin::check::{Limits, check};
use checkout::config::CaptureMethod;

const T: Duration = Duration::from_secs(30);

/// A student with one program in the cart, ordered on `gateway`; returns (access
/// token, order token, order with its payment session).
async fn ordered(shop: &Shop, gateway: &str) -> (String, String, Value) {
    let token = shop.student(1).await;
    let cart = shop.cart(&token, &[(WEB, WEB_1M)], None).await;
    let (order, with_session) = shop
        .ordered_with_session(&token, &cart, Some(gateway))
        .await;
    assert_eq!(with_session["payment"]["gateway"], gateway);
    (token, order, with_session)
}

async fn set_account(shop: &Shop, manual: bool, authorization_ttl_ms: u64, refund_pending_ms: u64) {
    shop.control(
        Method::PUT,
        "/account",
        Some(json!({"razorpay_manual_capture": manual,
                    "authorization_ttl_ms": authorization_ttl_ms,
                    "refund_pending_ms": refund_pending_ms})),
    )
    .await;
}

/// The seat the order holds went to someone else (its hold expired and the cohort
/// filled up) before the payment came.
pub(crate) async fn lose_the_seat(shop: &Shop) {
    for sql in [
        "update seat_holds set status = 'released' where status = 'held'",
        "update cohorts set seats_held = 0, capacity = seats_taken where id = '00000000-0000-4000-8000-000000000021'",
    ] {
        sqlx::query(sql).execute(&shop.app.pool).await.unwrap();
    }
}

/// The sandbox's only payment of `gateway` (Razorpay payment or Stripe PaymentIntent).
async fn gateway_payment(shop: &Shop, gateway: &str) -> Value {
    let all = shop.control(Method::GET, "/payments", None).await;
    let list = all[gateway].as_array().unwrap();
    assert_eq!(list.len(), 1, "{all}");
    list[0].clone()
}

async fn wait_gateway_status(shop: &Shop, gateway: &str, status: &str) -> Value {
    eventually(T, || async {
        let p = gateway_payment(shop, gateway).await;
        (p["status"] == status).then_some(p)
    })
    .await
    .unwrap_or_else(|| panic!("the {gateway} payment never became {status}"))
}

/// How many events of `event_type` the sandbox raised.
async fn sandbox_events(shop: &Shop, event_type: &str) -> usize {
    let events = shop.control(Method::GET, "/events", None).await;
    events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event_type"] == event_type)
        .count()
}

fn admin(shop: &Shop, args: &[&str]) -> Output {
    crate::helpers::admin(&shop.app.db, args)
}

/// The consistency check's violations, with refunds overdue after `refund_alert_secs`.
async fn violations(shop: &Shop, refund_alert_secs: u64) -> Vec<&'static str> {
    let mut conn = PgConnection::connect(&shop.app.db.url).await.unwrap();
    let limits = Limits {
        grace_secs: 60,
        refund_alert_secs,
    };
    let mut kinds = check(&mut conn, limits).await.unwrap().kinds();
    kinds.sort_unstable();
    kinds.dedup();
    kinds
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_capture_account_enrolls_once_though_the_worker_dies_after_capturing() {
    let shop = Shop::start(false, |_| {}).await;
    set_account(&shop, true, 600_000, 0).await;
    // one job at a time, pausing after each side effect (the capture included)
    let pause = [
        ("CHECKOUT__CHECKOUT__PAUSE_AFTER_SIDE_EFFECT_MS", "3000"),
        ("CHECKOUT__WORKER__CONCURRENCY", "1"),
    ];
    let mut worker = shop.spawn_worker(&pause);
    let (token, order, o) = ordered(&shop, "razorpay").await;
    shop.pay(&gateway_order_id(&o), "captured").await;
    // the payment stops at `authorized`; confirm captures it, then pauses before its
    // commit: kill the worker there
    let captured = wait_gateway_status(&shop, "razorpay", "captured").await;
    assert_eq!(
        shop.count("select count(*) from payments where status = 'captured'")
            .await,
        0,
        "killed before recording the capture"
    );
    worker.kill9();
    assert_eq!(
        Some(captured["amount"].as_i64().unwrap()),
        o["total"].as_i64()
    );
    let _worker = shop.spawn_worker(&[]);
    let done = shop.wait_status(&token, &order, &["enrolled"], T).await;
    assert_eq!(done["enrollments"].as_array().unwrap().len(), 1);
    // one capture at the gateway (each raises payment.captured), nothing refunded
    assert_eq!(sandbox_events(&shop, "payment.captured").await, 1);
    let p = gateway_payment(&shop, "razorpay").await;
    assert_eq!(
        (p["captured"].clone(), p["amount_refunded"].clone()),
        (json!(true), json!(0))
    );
    shop.assert_count("select count(*) from refunds", 0).await;
    shop.assert_count("select count(*) from authorization_releases", 0)
        .await;
    assert!(violations(&shop, 3600).await.is_empty());
    crate::events::assert_valid(&shop.app.pool).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_with_manual_capture_captures_the_orders_amount_and_enrolls() {
    let shop = Shop::start(true, |s| s.stripe.capture_method = CaptureMethod::Manual).await;
    let (token, order, o) = ordered(&shop, "stripe").await;
    shop.pay(&gateway_order_id(&o), "captured").await;
    shop.wait_status(&token, &order, &["enrolled"], T).await;
    let intent = gateway_payment(&shop, "stripe").await;
    assert_eq!(intent["capture_method"], "manual");
    assert_eq!(intent["status"], "succeeded");
    assert_eq!(intent["amount_received"], o["total"]);
    shop.assert_count("select count(*) from payments where status = 'captured'", 1)
        .await;
    crate::events::assert_valid(&shop.app.pool).await;
}

/// Razorpay cannot cancel an order, so a student can still pay one we cancelled. On a
/// manual-capture account that payment is only authorized: we do not capture it, and
/// the gateway gives the money back when the authorization lapses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authorization_for_a_cancelled_order_is_left_to_lapse() {
    let shop = Shop::start(true, |_| {}).await;
    set_account(&shop, true, 2_000, 0).await;
    let (token, order, o) = ordered(&shop, "razorpay").await;
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
    shop.pay(&gateway_order_id(&o), "captured").await;
    shop.wait_count(
        "select count(*) from authorization_releases where outcome = 'left_to_lapse'",
        1,
    )
    .await;
    let p = gateway_payment(&shop, "razorpay").await;
    assert_eq!(p["captured"], false, "{p}");
    let show = admin(&shop, &["--json", "orders", "show", &order]);
    let shown: Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(
        shown["authorization_releases"][0]["outcome"], "left_to_lapse",
        "{shown}"
    );
    // the gateway returns the money by itself when the authorization lapses
    let lapsed = wait_gateway_status(&shop, "razorpay", "refunded").await;
    assert_eq!(lapsed["captured"], false);
    assert_eq!(shop.get_order(&token, &order).await["status"], "cancelled");
    shop.assert_count("select count(*) from refunds", 0).await;
    shop.assert_count("select count(*) from enrollments", 0)
        .await;
    shop.assert_count(
        "select count(*) from outbox_events where event_type = 'payment.voided'",
        1,
    )
    .await;
    crate::events::assert_valid(&shop.app.pool).await;
}

/// The seat went to someone else before a Stripe manual-capture payment: the
/// authorization is cancelled, never captured, and the order fails with 7004.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authorization_for_a_full_cohort_is_voided_not_captured() {
    let shop = Shop::start(true, |s| s.stripe.capture_method = CaptureMethod::Manual).await;
    let (token, order, o) = ordered(&shop, "stripe").await;
    lose_the_seat(&shop).await;
    shop.pay(&gateway_order_id(&o), "captured").await;
    let failed = shop.wait_status(&token, &order, &["failed"], T).await;
    assert_eq!(failed["failure"]["code"], 7004, "{failed}");
    let intent = gateway_payment(&shop, "stripe").await;
    assert_eq!(intent["status"], "canceled", "{intent}");
    assert_eq!(intent["amount_received"], 0);
    shop.assert_count(
        "select count(*) from authorization_releases where outcome = 'voided'",
        1,
    )
    .await;
    shop.assert_count("select count(*) from refunds", 0).await;
    shop.assert_count("select count(*) from enrollments", 0)
        .await;
    shop.wait_count("select count(*) from sagas where state = 'compensated'", 1)
        .await;
    assert!(violations(&shop, 3600).await.is_empty());
    crate::events::assert_valid(&shop.app.pool).await;
}

/// A Razorpay refund stays pending, then fails; Razorpay allows a new refund, so the
/// refund job makes one (a new idempotency key), which is processed. The refund webhooks
/// drive it: reads on our own schedule would come only after a minute. The check
/// reports the refund until it settles.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_refund_that_fails_is_refunded_again_and_reported_until_settled() {
    let shop = Shop::start(true, |_| {}).await;
    set_account(&shop, false, 600_000, 1_500).await;
    shop.control(
        Method::PUT,
        "/faults/razorpay",
        Some(json!({"refund_fail_next": 1})),
    )
    .await;
    let (token, order, o) = ordered(&shop, "razorpay").await;
    lose_the_seat(&shop).await;
    shop.pay(&gateway_order_id(&o), "captured").await;
    let refunded = shop.wait_status(&token, &order, &["refunded"], T).await;
    assert_eq!(refunded["failure"]["code"], 7004);
    shop.wait_count("select count(*) from refunds where status = 'pending'", 1)
        .await;
    assert_eq!(violations(&shop, 0).await, ["refund_overdue"]);
    // one scheduled read at a time, however many runs woke
    assert!(
        shop.count(
            "select count(*) from apalis.jobs where idempotency_key like '%:refund:check:%'
                and status = 'Pending'"
        )
        .await
            <= 1
    );
    shop.assert_count("select count(*) from payments where refunded_amount > 0", 0)
        .await;

    shop.wait_count(
        "select count(*) from refunds where status = 'processed' and generation = 1",
        1,
    )
    .await;
    let at_gateway = shop.control(Method::GET, "/refunds", None).await;
    let mut statuses: Vec<&str> = at_gateway["razorpay"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    statuses.sort_unstable();
    assert_eq!(statuses, ["failed", "processed"], "{at_gateway}");
    shop.assert_count(
        "select count(*) from payments where refunded_amount = captured_amount and status = 'refunded'",
        1,
    )
    .await;
    shop.assert_count(
        "select count(*) from refunds where failure_reason is not null",
        1,
    )
    .await;
    assert!(violations(&shop, 0).await.is_empty());
    crate::events::assert_valid(&shop.app.pool).await;
}

/// A Stripe refund fails for good (a closed card): it is raised, not retried; the
/// check reports it, `admin orders show` lists it, and `admin orders refund --retry`
/// refunds again. Webhooks are dropped once the refund is made, so our own reads with
/// backoff are what notice it settle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_that_fails_for_good_is_raised_and_an_operator_retries_it() {
    let shop = Shop::start(true, |s| {
        s.refunds.poll_initial_ms = 200;
        s.refunds.poll_max_ms = 800;
    })
    .await;
    set_account(&shop, false, 600_000, 1_000).await;
    shop.control(
        Method::PUT,
        "/faults/stripe",
        Some(json!({"refund_fail_next": 1})),
    )
    .await;
    let (token, order, o) = ordered(&shop, "stripe").await;
    lose_the_seat(&shop).await;
    shop.pay(&gateway_order_id(&o), "captured").await;
    shop.wait_status(&token, &order, &["refunded"], T).await;
    shop.wait_count("select count(*) from refunds where status = 'pending'", 1)
        .await;
    shop.control(
        Method::PUT,
        "/faults/stripe",
        Some(json!({"webhook_drop_rate": 1.0})),
    )
    .await;

    shop.wait_count("select count(*) from refunds where status = 'failed'", 1)
        .await;
    let polls: i64 = shop.count("select polls::bigint from refunds").await;
    assert!(polls >= 1, "read by our own schedule");
    let kinds = violations(&shop, 3600).await;
    assert!(kinds.contains(&"refund_failed"), "{kinds:?}");
    let show = admin(&shop, &["--json", "orders", "show", &order]);
    assert!(
        show.status.success(),
        "{}",
        String::from_utf8_lossy(&show.stderr)
    );
    let shown: Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(shown["refunds"][0]["status"], "failed", "{shown}");
    assert_eq!(
        shown["refunds"][0]["failure_reason"],
        "expired_or_canceled_card"
    );
    // no second refund was tried at the gateway
    let at_gateway = shop.control(Method::GET, "/refunds", None).await;
    assert_eq!(at_gateway["stripe"].as_array().unwrap().len(), 1);

    let retried = admin(&shop, &["orders", "refund", &order, "--retry"]);
    assert!(
        retried.status.success(),
        "{}",
        String::from_utf8_lossy(&retried.stderr)
    );
    shop.wait_count(
        "select count(*) from refunds where status = 'processed' and generation = 1",
        1,
    )
    .await;
    assert!(violations(&shop, 0).await.is_empty());
    // the ledger: failed by the gateway, retried by the operator, then the money back
    let refund_rows: Vec<(String, String, String, i64)> = sqlx::query_as(
        "select kind, actor_type, actor, amount_minor from ledger
          where aggregate_type = 'refund' and kind <> 'refund_pending' order by id",
    )
    .fetch_all(&shop.app.pool)
    .await
    .unwrap();
    let kinds: Vec<&str> = refund_rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "refund_requested",
            "refund_failed",
            "refund_retried",
            "refund_processed"
        ]
    );
    assert_eq!(
        (refund_rows[2].1.as_str(), refund_rows[2].2.as_str()),
        ("admin", "tester")
    );
    assert!(refund_rows[3].3 < 0, "{refund_rows:?}");
    // nothing failed is left to retry
    let again = admin(&shop, &["orders", "refund", &order, "--retry"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("no failed refund"));
    crate::events::assert_valid(&shop.app.pool).await;
}
