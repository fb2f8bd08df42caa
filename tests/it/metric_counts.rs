//! The business counters of the metric catalog move by exactly one per event, under
//! at-least-once jobs (counted at commit), and the queue-depth gauge counts due jobs.

use std::time::Duration;

use checkout::workers::{EnqueueOptions, enqueue};
use checkout::workflows::jobs::{Job, QUEUES, enqueue_ping};
use reqwest::Method;
use serde_json::json;

use crate::fixtures::{DS, DS_1M, WEB, WEB_1M, WEB_COHORT};
use crate::helpers::{TestApp, eventually};
use crate::metrics::{T, own, value};
use crate::shop::{Shop, gateway_order_id};

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

    let razorpay: &[(&str, &str)] = &[("gateway", "razorpay")];
    let step_ok = |step| {
        [
            ("queue", "checkout.steps"),
            ("job", step),
            ("outcome", "ok"),
        ]
    };
    let (price, enroll) = (step_ok("price"), step_ok("enroll"));
    assert_moved(
        &before,
        &[
            ("carts_created_total", &[], 1.0),
            ("carts_converted_total", &[], 1.0),
            ("orders_created_total", &[], 1.0),
            ("enrollments_total", &[], 1.0),
            ("idempotency_replays_total", &[], 1.0),
            ("payments_succeeded_total", razorpay, 1.0),
            (
                "webhooks_processed_total",
                &[("gateway", "razorpay"), ("kind", "payment_captured")],
                1.0,
            ),
            ("payments_succeeded_total", &[("gateway", "stripe")], 0.0),
            ("compensations_total", &[("reason", "failed")], 0.0),
            ("reconciliation_recovered_total", razorpay, 0.0),
            ("jobs_run_total", &price, 1.0),
            ("jobs_run_total", &enroll, 1.0),
        ],
    )
    .await; // the student's requests after the first read their session from the cache
    let lookups =
        |text: &str, result| value(text, "session_cache_lookups_total", &[("result", result)]);
    let after = own();
    assert!(lookups(&after, "hit") > lookups(&before, "hit"), "{after}");
    assert!(
        lookups(&after, "miss") > lookups(&before, "miss"),
        "{after}"
    );
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
    let (order, o) = shop.ordered_with_session(&token, &cart, None).await;
    (token, order, gateway_order_id(&o))
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
