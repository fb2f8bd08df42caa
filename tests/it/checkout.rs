//! The durable checkout workflow end to end: real Postgres, the sandbox gateway over
//! real sockets, workers in-process or as real processes.

use std::time::Duration;

use futures::{StreamExt, stream};
use reqwest::Method;
use serde_json::{Value, json};

use crate::fixtures::{DS, DS_1M, WEB, WEB_1M, WEB_COHORT};
use crate::shop::{Shop, gateway_order_id};

const T: Duration = Duration::from_secs(20);

/// A student with a two-program cart and SAVE10, ordered; returns (access token, order
/// token, order with its payment session).
async fn ordered(shop: &Shop, n: usize, gateway: Option<&str>) -> (String, String, Value) {
    let token = shop.student(n).await;
    let cart = shop
        .cart(&token, &[(WEB, WEB_1M), (DS, DS_1M)], Some("SAVE10"))
        .await;
    let (order, with_session) = shop.ordered_with_session(&token, &cart, gateway).await;
    (token, order, with_session)
}

#[tokio::test]
async fn razorpay_happy_path_ends_enrolled_with_one_capture() {
    let shop = Shop::start(true, |_| {}).await;
    let (token, order, o) = ordered(&shop, 1, None).await;
    assert_eq!(o["payment"]["gateway"], "razorpay");
    assert_eq!(o["status"], "awaiting_payment");
    // the frozen price: two lines, 10 % coupon, IGST for Maharashtra from Karnataka
    assert_eq!(o["price"]["lines"].as_array().unwrap().len(), 2);
    assert_eq!(o["price"]["lines"][0]["tax_components"][0]["kind"], "igst");
    assert_eq!(o["total"], o["payment"]["amount"]);

    shop.pay(&gateway_order_id(&o), "captured").await;
    let done = shop.wait_status(&token, &order, &["enrolled"], T).await;
    assert_eq!(done["enrollments"].as_array().unwrap().len(), 2);
    shop.wait_count("select count(*) from sagas where state = 'completed'", 1)
        .await;
    let done = shop.get_order(&token, &order).await;
    let mut steps: Vec<&str> = done["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["outcome"] == "succeeded" || s["outcome"] == "waiting")
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    steps.dedup();
    assert_eq!(
        steps,
        [
            "price",
            "reserve",
            "payment_session",
            "confirm",
            "enroll",
            "complete"
        ]
    );
    // exactly one capture at the gateway, none refunded; coupon used once; seats taken
    let payments = shop.control(Method::GET, "/payments", None).await;
    assert_eq!(payments["razorpay"].as_array().unwrap().len(), 1);
    assert_eq!(payments["razorpay"][0]["amount_refunded"], 0);
    shop.assert_count("select count(*) from refunds", 0).await;
    shop.assert_count(
        "select used_count::bigint from coupons where code = 'SAVE10'",
        1,
    )
    .await;
    shop.assert_count("select sum(seats_taken)::bigint from cohorts", 2)
        .await;
    shop.assert_count("select sum(seats_held)::bigint from cohorts", 0)
        .await;
    assert!(
        shop.count("select count(*) from outbox_events where event_type = 'order.enrolled'")
            .await
            == 1
    );
}

#[tokio::test]
async fn stripe_happy_path_when_the_buyer_prefers_stripe() {
    let shop = Shop::start(true, |_| {}).await;
    let (token, order, o) = ordered(&shop, 1, Some("stripe")).await;
    assert_eq!(o["payment"]["gateway"], "stripe");
    assert!(
        o["payment"]["checkout_url"]
            .as_str()
            .unwrap()
            .contains("/sandbox/pay/")
    );
    shop.pay(&gateway_order_id(&o), "captured").await;
    shop.wait_status(&token, &order, &["enrolled"], T).await;
    let payments = shop.control(Method::GET, "/payments", None).await;
    assert_eq!(payments["stripe"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn signed_client_callback_confirms_without_webhooks_and_bad_signatures_are_refused() {
    let shop = Shop::start(true, |_| {}).await;
    shop.control(
        Method::PUT,
        "/faults/razorpay",
        Some(json!({"webhook_drop_rate": 1.0})),
    )
    .await;
    let (token, order, o) = ordered(&shop, 1, None).await;
    let paid = shop.pay(&gateway_order_id(&o), "captured").await;
    let payment_id = paid["payment_id"].as_str().unwrap().to_owned();
    let verify = format!(
        "/api/v1/payments/{}/verify",
        o["payment"]["payment_token"].as_str().unwrap()
    );

    // signed over a different order id: refused, nothing happens
    let forged = checkout::gateways::signature::hmac_sha256_hex(
        b"sandbox_razorpay_key_secret",
        &[b"order_other", b"|", payment_id.as_bytes()],
    );
    let (status, body) = shop
        .call(
            Method::POST,
            &verify,
            None,
            Some(json!({"razorpay_payment_id": payment_id,
            "razorpay_order_id": "order_other", "razorpay_signature": forged})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_u64()),
        (400, Some(3004)),
        "{body}"
    );

    let signature = checkout::gateways::signature::hmac_sha256_hex(
        b"sandbox_razorpay_key_secret",
        &[gateway_order_id(&o).as_bytes(), b"|", payment_id.as_bytes()],
    );
    let (status, body) = shop
        .call(
            Method::POST,
            &verify,
            None,
            Some(json!({"razorpay_payment_id": payment_id,
            "razorpay_order_id": gateway_order_id(&o), "razorpay_signature": signature})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    shop.wait_status(&token, &order, &["enrolled"], T).await;
    assert_eq!(
        shop.count("select count(*) from webhook_events").await,
        0,
        "webhooks were dropped"
    );
}

#[tokio::test]
async fn webhooks_and_callback_together_duplicated_and_reordered_make_one_transition() {
    let shop = Shop::start(true, |_| {}).await;
    shop.control(
        Method::PUT,
        "/faults/razorpay",
        Some(json!({"webhook_duplicate": true, "webhook_out_of_order": true})),
    )
    .await;
    let (token, order, o) = ordered(&shop, 1, None).await;
    let paid = shop.pay(&gateway_order_id(&o), "captured").await;
    let payment_id = paid["payment_id"].as_str().unwrap().to_owned();
    let signature = checkout::gateways::signature::hmac_sha256_hex(
        b"sandbox_razorpay_key_secret",
        &[gateway_order_id(&o).as_bytes(), b"|", payment_id.as_bytes()],
    );
    let verify = format!(
        "/api/v1/payments/{}/verify",
        o["payment"]["payment_token"].as_str().unwrap()
    );
    let body = json!({"razorpay_payment_id": payment_id, "razorpay_order_id": gateway_order_id(&o), "razorpay_signature": signature});
    let calls = (0..5).map(|_| shop.call(Method::POST, &verify, None, Some(body.clone())));
    for (status, b) in futures::future::join_all(calls).await {
        assert_eq!(status, 200, "{b}");
    }
    shop.wait_status(&token, &order, &["enrolled"], T).await;
    // let every duplicate delivery land, then check nothing happened twice
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let o = shop.get_order(&token, &order).await;
    assert_eq!(o["status"], "enrolled");
    assert_eq!(o["enrollments"].as_array().unwrap().len(), 2);
    shop.assert_count("select count(*) from refunds", 0).await;
    shop.assert_count("select count(*) from payments where status = 'captured'", 1)
        .await;
    let transitions = shop
        .count("select count(*) from outbox_events where event_type = 'payment.captured'")
        .await;
    assert_eq!(transitions, 1);
    let dup = shop
        .count("select count(*) from webhook_events where status = 'processed'")
        .await;
    let distinct = shop.count("select count(distinct (gateway, event_id)) from webhook_events where status = 'processed'").await;
    assert_eq!(dup, distinct, "each event stored once");
}

#[tokio::test]
async fn fifty_concurrent_orders_for_one_cart_make_one_order() {
    let shop = Shop::start(true, |_| {}).await;
    let token = shop.student(1).await;
    let cart = shop.cart(&token, &[(WEB, WEB_1M)], None).await;
    let attempts = (0..50).map(|_| shop.order(&token, &cart, None));
    let results = futures::future::join_all(attempts).await;
    let mut tokens = std::collections::HashSet::new();
    for (status, body) in &results {
        assert!([200, 201, 202].contains(status), "{status} {body}");
        tokens.insert(body["data"]["order_token"].as_str().unwrap().to_owned());
    }
    assert_eq!(tokens.len(), 1);
    shop.assert_count("select count(*) from orders", 1).await;
}

#[tokio::test]
async fn a_hundred_buyers_for_ten_seats_enroll_ten() {
    let shop = &Shop::start(true, |s| s.database.max_connections = 16).await;
    sqlx::query("update cohorts set capacity = 10 where id = $1::uuid")
        .bind(WEB_COHORT)
        .execute(&shop.app.pool)
        .await
        .unwrap();
    let buyers: Vec<(String, String)> = stream::iter(0..100)
        .map(|n| async move {
            let token = shop.student(n).await;
            let cart = shop.cart(&token, &[(WEB, WEB_1M)], None).await;
            let (status, body) = shop.order(&token, &cart, None).await;
            assert!([201, 202].contains(&status), "{status} {body}");
            (
                token,
                body["data"]["order_token"].as_str().unwrap().to_owned(),
            )
        })
        .buffer_unordered(16)
        .collect()
        .await;
    // pay every order that got a session; the rest failed at `reserve`
    let ended: Vec<Value> = stream::iter(buyers.iter())
        .map(|(token, order)| async move {
            let o = shop
                .wait_status(token, order, &["awaiting_payment", "failed"], T)
                .await;
            if o["status"] == "awaiting_payment" {
                shop.pay(&gateway_order_id(&o), "captured").await;
                shop.wait_status(token, order, &["enrolled", "refunded"], T)
                    .await
            } else {
                o
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let enrolled = ended.iter().filter(|o| o["status"] == "enrolled").count();
    let failed: Vec<&Value> = ended.iter().filter(|o| o["status"] == "failed").collect();
    assert_eq!(enrolled, 10);
    assert_eq!(failed.len(), 90);
    assert!(
        failed.iter().all(|o| o["failure"]["code"] == 7002),
        "cohort full"
    );
    shop.assert_count(
        "select seats_taken::bigint from cohorts where id = '00000000-0000-4000-8000-000000000021'",
        10,
    )
    .await;
    shop.assert_count(
        "select seats_held::bigint from cohorts where id = '00000000-0000-4000-8000-000000000021'",
        0,
    )
    .await;
    shop.assert_count("select count(*) from enrollments", 10)
        .await;
}

#[tokio::test]
async fn a_coupon_limited_to_one_use_is_used_once_by_a_hundred_orders() {
    let shop = &Shop::start(true, |s| s.database.max_connections = 16).await;
    let buyers: Vec<(String, String)> = stream::iter(0..100)
        .map(|n| async move {
            let token = shop.student(n).await;
            let cart = shop.cart(&token, &[(DS, DS_1M)], Some("ONCE")).await;
            (token, cart)
        })
        .buffer_unordered(16)
        .collect()
        .await;
    // 100 orders at once, each cart carrying the one-use coupon
    let results = futures::future::join_all(buyers.iter().map(|(token, cart)| async move {
        let (status, body) = shop.order(token, cart, None).await;
        if status == 422 {
            // refused up front: the last use was taken while this request priced the cart
            assert_eq!(body["error"]["code"], 2044, "{body}");
            return None;
        }
        assert!([201, 202].contains(&status), "{status} {body}");
        let order = body["data"]["order_token"].as_str().unwrap().to_owned();
        Some(
            shop.wait_status(token, &order, &["awaiting_payment", "failed"], T)
                .await,
        )
    }))
    .await;
    let placed: Vec<&Value> = results.iter().flatten().collect();
    let waiting = placed
        .iter()
        .filter(|o| o["status"] == "awaiting_payment")
        .count();
    assert_eq!(waiting, 1);
    // the last use went to one order; the others were refused when their price was
    // frozen (2044, usage limit reached) or when `reserve` took the use (7003)
    assert!(
        placed
            .iter()
            .filter(|o| o["status"] == "failed")
            .all(|o| o["failure"]["code"] == 7003 || o["failure"]["code"] == 2044)
    );
    shop.assert_count(
        "select used_count::bigint from coupons where code = 'ONCE'",
        1,
    )
    .await;
    shop.assert_count(
        "select count(*) from coupon_redemptions where status = 'used'",
        1,
    )
    .await;
}

#[tokio::test]
async fn gateway_down_fails_over_and_both_down_fails_with_compensation() {
    let shop = Shop::start(true, |s| s.checkout.step_max_attempts = 3).await;
    shop.control(Method::PUT, "/faults/razorpay", Some(json!({"down": true})))
        .await;
    let (token, order, o) = ordered(&shop, 1, None).await;
    assert_eq!(o["payment"]["gateway"], "stripe", "failed over");
    shop.pay(&gateway_order_id(&o), "captured").await;
    shop.wait_status(&token, &order, &["enrolled"], T).await;

    shop.control(Method::PUT, "/faults/stripe", Some(json!({"down": true})))
        .await;
    let token = shop.student(2).await;
    let cart = shop.cart(&token, &[(WEB, WEB_1M)], Some("SAVE10")).await;
    let (_, body) = shop.order(&token, &cart, None).await;
    let order = body["data"]["order_token"].as_str().unwrap().to_owned();
    let failed = shop.wait_status(&token, &order, &["failed"], T).await;
    assert_eq!(failed["failure"]["code"], 7008, "{failed}");
    let retries: Vec<_> = failed["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["outcome"] == "retrying")
        .map(|s| s["attempt"].as_i64().unwrap())
        .collect();
    assert_eq!(
        retries,
        [1, 2, 3],
        "each retry line numbers its own attempt"
    );
    // compensation: seat and coupon given back, cart open again
    shop.wait_count("select count(*) from sagas where state = 'compensated'", 1)
        .await;
    shop.assert_count("select count(*) from seat_holds where status = 'held'", 0)
        .await;
    assert_eq!(
        shop.count("select used_count::bigint from coupons where code = 'SAVE10'")
            .await,
        1,
        "only the first order's use"
    );
    let (status, cart_now) = shop
        .call(
            Method::GET,
            &format!("/api/v1/cart/{cart}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(
        (status, cart_now["data"]["status"].as_str()),
        (200, Some("active")),
        "{cart_now}"
    );
}

#[tokio::test]
async fn reconciliation_confirms_an_order_whose_webhook_never_arrived() {
    let shop = Shop::start(true, |s| s.checkout.reconcile_after_secs = 0).await;
    shop.control(
        Method::PUT,
        "/faults/razorpay",
        Some(json!({"webhook_drop_rate": 1.0})),
    )
    .await;
    let (token, order, o) = ordered(&shop, 1, None).await;
    shop.pay(&gateway_order_id(&o), "captured").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        shop.get_order(&token, &order).await["status"],
        "awaiting_payment"
    );
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
}

#[tokio::test]
async fn a_failed_payment_shows_its_reason_and_paying_again_enrolls() {
    let shop = Shop::start(true, |_| {}).await;
    let (token, order, o) = ordered(&shop, 1, None).await;
    shop.pay(&gateway_order_id(&o), "failed").await;
    let reason = crate::helpers::eventually(T, || async {
        let o = shop.get_order(&token, &order).await;
        o["last_payment_error"].as_str().map(str::to_owned)
    })
    .await
    .expect("the failure reason is shown");
    assert!(!reason.is_empty());
    assert_eq!(
        shop.get_order(&token, &order).await["status"],
        "awaiting_payment"
    );
    shop.pay(&gateway_order_id(&o), "captured").await;
    shop.wait_status(&token, &order, &["enrolled"], T).await;
}

#[tokio::test]
async fn enrollment_impossible_after_payment_refunds_the_payment() {
    let shop = Shop::start(true, |_| {}).await;
    let token = shop.student(1).await;
    let cart = shop.cart(&token, &[(WEB, WEB_1M)], None).await;
    let (_, body) = shop.order(&token, &cart, None).await;
    let order = body["data"]["order_token"].as_str().unwrap().to_owned();
    let o = shop.wait_session(&token, &order).await;
    // the hold expired and the seat went to someone else before the payment came
    for sql in [
        "update seat_holds set status = 'released' where status = 'held'",
        "update cohorts set seats_held = 0, seats_taken = capacity where id = '00000000-0000-4000-8000-000000000021'",
    ] {
        sqlx::query(sql).execute(&shop.app.pool).await.unwrap();
    }
    shop.pay(&gateway_order_id(&o), "captured").await;
    let refunded = shop.wait_status(&token, &order, &["refunded"], T).await;
    assert_eq!(refunded["failure"]["code"], 7004);
    shop.wait_count("select count(*) from refunds where status = 'processed'", 1)
        .await;
    let payments = shop.control(Method::GET, "/payments", None).await;
    assert_eq!(
        payments["razorpay"][0]["amount_refunded"],
        payments["razorpay"][0]["amount"]
    );
    shop.assert_count("select count(*) from enrollments", 0)
        .await;
}

#[tokio::test]
async fn cancel_gives_everything_back_and_a_paid_order_cannot_be_cancelled() {
    let shop = Shop::start(true, |_| {}).await;
    let (token, order, _) = ordered(&shop, 1, None).await;
    let (status, body) = shop
        .call(
            Method::POST,
            &format!("/api/v1/order/{order}/cancel"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(
        (status, body["data"]["status"].as_str()),
        (200, Some("cancelled")),
        "{body}"
    );
    shop.wait_count("select count(*) from sagas where state = 'compensated'", 1)
        .await;
    shop.assert_count("select sum(seats_held)::bigint from cohorts", 0)
        .await;
    shop.assert_count(
        "select used_count::bigint from coupons where code = 'SAVE10'",
        0,
    )
    .await;
    shop.assert_count("select count(*) from payments where status = 'created'", 0)
        .await;

    let (token2, order2, o2) = ordered(&shop, 2, None).await;
    shop.pay(&gateway_order_id(&o2), "captured").await;
    shop.wait_status(&token2, &order2, &["enrolled"], T).await;
    let (status, body) = shop
        .call(
            Method::POST,
            &format!("/api/v1/order/{order2}/cancel"),
            Some(&token2),
            None,
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_u64()),
        (409, Some(7007)),
        "{body}"
    );
}

#[tokio::test]
async fn orders_are_private_and_redirects_are_checked() {
    let shop = Shop::start(true, |_| {}).await;
    let (_, order, _) = ordered(&shop, 1, None).await;
    let other = shop.student(2).await;
    let (status, body) = shop
        .call(
            Method::GET,
            &format!("/api/v1/order/{order}"),
            Some(&other),
            None,
        )
        .await;
    assert_eq!((status, body["error"]["code"].as_u64()), (404, Some(7001)));
    let (status, _) = shop
        .call(Method::GET, &format!("/api/v1/order/{order}"), None, None)
        .await;
    assert_eq!(status, 401);

    let cart = shop.cart(&other, &[(WEB, WEB_1M)], None).await;
    let (status, body) = shop
        .call(Method::POST, "/api/v1/order", Some(&other), Some(json!({"cart_token": cart,
            "billing_address": {"country": "IN", "state": "KA"}, "return_url": "https://evil.example/steal"})))
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]["validation_messages"][0]
            .as_str()
            .unwrap()
            .contains("return_url")
    );
    let (status, body) = shop
        .call(
            Method::POST,
            "/api/v1/order",
            Some(&other),
            Some(json!({"cart_token": cart,
            "billing_address": {"country": "IN", "state": "KA"}, "total": 1})),
        )
        .await;
    assert_eq!(status, 422, "a client cannot send a total: {body}");
}

#[tokio::test]
async fn webhooks_with_bad_signatures_are_rejected_and_kept_for_audit() {
    let shop = Shop::start(true, |_| {}).await;
    let resp = shop
        .app
        .client
        .post(shop.app.url("/api/v1/webhooks/razorpay"))
        .header("x-razorpay-signature", "00")
        .header("x-razorpay-event-id", "evt_1")
        .body(r#"{"event":"payment.captured","payload":{}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], 3005);
    shop.assert_count(
        "select count(*) from webhook_events where status = 'rejected'",
        1,
    )
    .await;
    shop.assert_count(
        "select count(*) from apalis.jobs where job_type = 'checkout.steps'",
        0,
    )
    .await;
}

/// SIGKILL a worker process right after each step's side effect and before its job is
/// acknowledged (the worker pauses there: `checkout.pause_after_side_effect_ms`); a new
/// worker takes over each time. The checkout still ends enrolled with exactly one
/// gateway order, one capture and one enrollment per program.
#[tokio::test]
async fn killing_workers_after_each_side_effect_still_enrolls_exactly_once() {
    let shop = Shop::start(false, |_| {}).await;
    // one job at a time, so nothing else runs while a worker sits in its pause
    let pause = [
        ("CHECKOUT__CHECKOUT__PAUSE_AFTER_SIDE_EFFECT_MS", "1500"),
        ("CHECKOUT__WORKER__CONCURRENCY", "1"),
    ];
    let mut worker = shop.spawn_worker(&pause);
    let token = shop.student(1).await;
    let cart = shop
        .cart(&token, &[(WEB, WEB_1M), (DS, DS_1M)], Some("SAVE10"))
        .await;
    let (status, body) = shop.order(&token, &cart, None).await;
    assert!([201, 202].contains(&status), "{body}");
    let order = body["data"]["order_token"].as_str().unwrap().to_owned();
    let step_done = |step: &'static str| {
        format!(
            "select count(*) from saga_steps where step = '{step}' and outcome in ('succeeded', 'waiting')"
        )
    };
    let wait_for = |sql: String| {
        let shop = &shop;
        async move {
            crate::helpers::eventually(T, || {
                let sql = sql.clone();
                async move { (shop.count(&sql).await > 0).then_some(()) }
            })
            .await
            .unwrap_or_else(|| panic!("never true: {sql}"));
        }
    };
    let mut kills = 0;
    // price and reserve: committed, not acknowledged
    for step in ["price", "reserve"] {
        wait_for(step_done(step)).await;
        worker.kill9();
        kills += 1;
        worker = shop.spawn_worker(&pause);
    }
    // payment_session: the gateway session exists, our record of it does not yet
    let sessions = || async {
        shop.control(Method::GET, "/sessions", None).await["razorpay"]
            .as_array()
            .map_or(0, Vec::len)
    };
    crate::helpers::eventually(T, || async { (sessions().await > 0).then_some(()) })
        .await
        .expect("gateway session created");
    assert_eq!(
        shop.count("select count(*) from payments").await,
        0,
        "killed before recording"
    );
    worker.kill9();
    kills += 1;
    worker = shop.spawn_worker(&pause);
    let o = shop.wait_session(&token, &order).await;
    shop.pay(&gateway_order_id(&o), "captured").await;
    // confirm (order paid) and enroll (order enrolled): committed, not acknowledged
    for sql in [
        "select count(*) from orders where status in ('paid', 'enrolled')".to_owned(),
        "select count(*) from orders where status = 'enrolled'".to_owned(),
    ] {
        wait_for(sql).await;
        worker.kill9();
        kills += 1;
        worker = shop.spawn_worker(&pause);
    }
    let done = shop
        .wait_status(&token, &order, &["enrolled"], Duration::from_secs(30))
        .await;
    wait_for("select count(*) from sagas where state = 'completed'".to_owned()).await;
    assert_eq!(kills, 5);
    assert_eq!(sessions().await, 1, "exactly one gateway order");
    let payments = shop.control(Method::GET, "/payments", None).await;
    let captured = payments["razorpay"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["captured"] == true)
        .count();
    assert_eq!(captured, 1, "exactly one capture");
    assert_eq!(done["enrollments"].as_array().unwrap().len(), 2);
    shop.assert_count("select count(*) from enrollments", 2)
        .await;
    shop.assert_count("select count(*) from refunds", 0).await;
    shop.assert_count(
        "select used_count::bigint from coupons where code = 'SAVE10'",
        1,
    )
    .await;
    shop.assert_count("select sum(seats_taken)::bigint from cohorts", 2)
        .await;
    drop(worker);
}

/// Webhook receipt -> `enrolled` latency over 500 checkouts with one in-process worker.
/// A measurement, not a timing assertion: run with
/// `scripts/test --run-ignored only -E 'test(webhook_to_enrolled)' --no-capture`.
#[tokio::test]
#[ignore]
async fn webhook_to_enrolled_latency() {
    let shop = &Shop::start(true, |s| {
        s.database.max_connections = 16;
        s.worker.concurrency = 32;
    })
    .await;
    sqlx::query("update cohorts set capacity = 100000")
        .execute(&shop.app.pool)
        .await
        .unwrap();
    let n = 500;
    // one student per checkout: an enrollment is unique per student and cohort
    stream::iter(0..n)
        .map(|i| async move {
            let token = shop.student(i).await;
            let cart = shop.cart(&token, &[(WEB, WEB_1M)], None).await;
            let (_, body) = shop.order(&token, &cart, None).await;
            let order = body["data"]["order_token"].as_str().unwrap().to_owned();
            let o = shop.wait_session(&token, &order).await;
            shop.pay(&gateway_order_id(&o), "captured").await;
            shop.wait_status(&token, &order, &["enrolled"], Duration::from_secs(60))
                .await
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    let row: (f64, f64, f64, i64) = sqlx::query_as(
        "with l as (
           select o.id, (extract(epoch from (e.created_at - w.first)) * 1000)::float8 as ms
           from orders o
           join outbox_events e on e.aggregate_type = 'order' and e.aggregate_id = o.id
                                and e.event_type = 'order.enrolled'
           join (select order_id, min(received_at) as first from webhook_events
                 where status = 'processed' group by order_id) w on w.order_id = o.id)
         select percentile_cont(0.5) within group (order by ms),
                percentile_cont(0.99) within group (order by ms), max(ms), count(*) from l",
    )
    .fetch_one(&shop.app.pool)
    .await
    .unwrap();
    println!(
        "webhook receipt -> enrolled over {} checkouts: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        row.3, row.0, row.1, row.2
    );
    assert_eq!(row.3, n as i64);
}

#[tokio::test]
async fn get_order_long_polls_until_the_status_changes() {
    let shop = Shop::start(true, |_| {}).await;
    let (token, order, o) = ordered(&shop, 1, None).await;
    assert_eq!(o["status"], "awaiting_payment");
    let path = format!("/api/v1/order/{order}");
    let get = |query: String| {
        let (shop, token, path) = (&shop, &token, &path);
        async move {
            let t = std::time::Instant::now();
            let (status, body) = shop
                .call(Method::GET, &format!("{path}?{query}"), Some(token), None)
                .await;
            (status, body, t.elapsed())
        }
    };
    // the client saw another status: answered at once
    let (status, body, took) = get("wait_ms=10000&status=pending".into()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["status"], "awaiting_payment");
    assert!(took < Duration::from_secs(5), "{took:?}");
    // nothing changes: the wait runs out and the order comes back as it is
    let (status, body, took) = get("wait_ms=300".into()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["status"], "awaiting_payment");
    assert!(took >= Duration::from_millis(300), "{took:?}");
    // too long a wait is refused
    let (status, body, _) = get("wait_ms=10001".into()).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], 9002, "{body}");
    // paid while the client waits: answered with the next status
    let ((status, body, took), _) =
        tokio::join!(get("wait_ms=10000&status=awaiting_payment".into()), async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            shop.pay(&gateway_order_id(&o), "captured").await
        });
    assert_eq!(status, 200, "{body}");
    assert_ne!(body["data"]["status"], "awaiting_payment", "{body}");
    assert!(took < Duration::from_secs(9), "{took:?}");
}

/// The triggers notify at commit and the listener wakes only that order's waiters,
/// well before the fallback re-read period would, telling them the order's status.
#[tokio::test]
async fn order_changes_are_notified_at_commit() {
    use checkout::workflows::checkout::changes::{Heard, OrderChanges};
    let shop = Shop::start(true, |_| {}).await;
    let (_, order, _) = ordered(&shop, 1, None).await;
    let id = shop.order_id(&order).await;
    let changes = OrderChanges::start(&shop.app.pool);
    // let the listener connect (connecting wakes every waiter once)
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut mine = changes.watch(id);
    let mut other = changes.watch(uuid::Uuid::now_v7());
    mine.seen();
    other.seen();
    sqlx::query("update orders set last_payment_error = 'declined' where id = $1")
        .bind(id)
        .execute(&shop.app.pool)
        .await
        .unwrap();
    let t = std::time::Instant::now();
    let heard = mine.changed(Duration::from_secs(10)).await;
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    let status: String = sqlx::query_scalar("select status from orders where id = $1")
        .bind(id)
        .fetch_one(&shop.app.pool)
        .await
        .unwrap();
    assert_eq!(heard, Some(Heard::Status(status)));
    let t = std::time::Instant::now();
    other.changed(Duration::from_millis(300)).await;
    assert!(t.elapsed() >= Duration::from_millis(300));
}

/// A waiter that starts from a status read before it watched re-reads it soon, since a
/// change committed in between was not notified to it; this one hears nothing at all
/// (no listener), so only that re-read can end its wait early.
#[tokio::test]
async fn a_wait_from_a_status_read_before_watching_re_reads_it_within_a_second() {
    use checkout::workflows::checkout::changes::{FALLBACK, FALLBACK_UNWATCHED, OrderChanges};
    use checkout::workflows::checkout::orders::wait_while;
    let shop = Shop::start(true, |_| {}).await;
    let (_, order, _) = ordered(&shop, 1, None).await;
    let id = shop.order_id(&order).await;
    let mut state =
        checkout::api::AppState::new(shop.app.pool.clone(), shop.app.settings.clone()).unwrap();
    state.order_changes = OrderChanges::default();
    assert!(FALLBACK_UNWATCHED < FALLBACK);
    // the caller read `pending`; the order has moved on since
    let t = std::time::Instant::now();
    let view = wait_while(
        &state.pool,
        &state.order_changes,
        id,
        "pending",
        Some("pending".into()),
        FALLBACK * 2,
    )
    .await
    .unwrap();
    let took = t.elapsed();
    assert_eq!(view.status, "awaiting_payment");
    assert!(took >= FALLBACK_UNWATCHED, "{took:?}");
    assert!(took < FALLBACK, "{took:?}");
}

/// A long poll answers before the request timeout would cut it off.
#[tokio::test]
async fn a_long_poll_ends_inside_the_request_timeout() {
    let shop = Shop::start(true, |s| s.http.request_timeout_ms = 1_500).await;
    let (token, order, _) = ordered(&shop, 1, None).await;
    let t = std::time::Instant::now();
    let (status, body) = shop
        .call(
            Method::GET,
            &format!("/api/v1/order/{order}?wait_ms=10000"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["status"], "awaiting_payment");
    // waited the 80 % of the timeout, and answered (not 504) within it
    assert!(
        t.elapsed() >= Duration::from_millis(1_200),
        "{:?}",
        t.elapsed()
    );
}

#[tokio::test]
async fn webhooks_for_an_order_share_one_unstarted_confirm() {
    let shop = Shop::start(false, |_| {}).await;
    let mut worker = shop.spawn_worker(&[]);
    let (token, order, o) = ordered(&shop, 1, None).await;
    // no worker while the webhooks arrive: the first one's `confirm` stays unstarted
    worker.kill9();
    // a declined attempt, then a captured one: two facts that act on the order. The
    // second arrives after the first is stored, as gateways send them (two webhooks in
    // flight at once may each find no confirm committed yet; confirm is idempotent, so
    // that costs a run, not a fact).
    shop.pay(&gateway_order_id(&o), "failed").await;
    shop.wait_count(
        "select count(*) from webhook_events where status = 'processed'",
        1,
    )
    .await;
    shop.pay(&gateway_order_id(&o), "captured").await;
    // failed, authorized and captured are processed (order.paid repeats captured); all
    // share the one unstarted confirm
    shop.wait_count(
        "select count(*) from webhook_events where status = 'processed'",
        3,
    )
    .await;
    shop.assert_count(
        "select count(*) from webhook_events
         where event_type = 'payment.authorized' and status = 'processed'",
        1,
    )
    .await;
    shop.assert_count(
        "select count(*) from apalis.jobs where idempotency_key like '%:confirm:wh:%'",
        1,
    )
    .await;
    let _worker = shop.spawn_worker(&[]);
    shop.wait_status(&token, &order, &["enrolled"], T).await;
    shop.assert_count("select count(*) from payments where status = 'captured'", 1)
        .await;
}

/// A verified webhook is matched to our order by the gateway session we stored, else by
/// the order token the gateway echoes (`receipt`), and stored with its status: processed
/// (and `confirm` woken), unmatched, or ignored for kinds that move no order.
#[tokio::test]
async fn verified_webhooks_match_by_session_then_by_echoed_order_token() {
    use secrecy::ExposeSecret;
    let shop = Shop::start(true, |_| {}).await;
    let (_, order, _) = ordered(&shop, 1, None).await;
    let order_id = shop.order_id(&order).await;
    let secrets = shop.app.settings.razorpay.webhook_secrets();
    let secret = secrets[0].expose_secret().as_bytes().to_vec();
    let send = |event_id: &'static str, body: Value| {
        let body = body.to_string();
        let signature = checkout::gateways::signature::hmac_sha256_hex(&secret, &[body.as_bytes()]);
        let request = shop
            .app
            .client
            .post(shop.app.url("/api/v1/webhooks/razorpay"))
            .header("x-razorpay-signature", signature)
            .header("x-razorpay-event-id", event_id)
            .body(body);
        async move { request.send().await.unwrap().status() }
    };
    let entity = |id: &str, receipt: Option<&str>| {
        json!({"event": "order.paid", "payload": {"order": {"entity":
            {"id": id, "receipt": receipt, "amount": 100, "currency": "INR", "status": "paid"}}}})
    };
    // a session we never recorded, but our order token as its receipt
    assert_eq!(
        send("evt_ref", entity("order_unseen", Some(&order))).await,
        200
    );
    assert_eq!(send("evt_none", entity("order_unseen2", None)).await, 200);
    let other = json!({"event": "payment.dispute.created", "payload": {}});
    assert_eq!(send("evt_ignored", other).await, 200);
    // the same event again is a duplicate: stored once
    assert_eq!(
        send("evt_ref", entity("order_unseen", Some(&order))).await,
        200
    );
    let rows: Vec<(String, String, Option<uuid::Uuid>, bool)> = sqlx::query_as(
        "select event_id, status, order_id, processed_at is not null from webhook_events
         order by event_id",
    )
    .fetch_all(&shop.app.pool)
    .await
    .unwrap();
    assert_eq!(
        rows,
        vec![
            ("evt_ignored".into(), "ignored".into(), None, true),
            ("evt_none".into(), "unmatched".into(), None, false),
            ("evt_ref".into(), "processed".into(), Some(order_id), true),
        ]
    );
    shop.assert_count(
        "select count(*) from apalis.jobs where idempotency_key like '%:confirm:wh:%'",
        1,
    )
    .await;
}

/// A coupon that covers the whole total makes a free order: the estimate says no payment
/// is needed, the order is enrolled without a payment session or any gateway call, the
/// seat is taken and the coupon used once.
#[tokio::test]
async fn a_free_order_enrolls_without_a_gateway() {
    let shop = Shop::start(true, |_| {}).await;
    sqlx::query("insert into coupons (code, kind, percent) values ('FULL100', 'percent', 100)")
        .execute(&shop.app.pool)
        .await
        .unwrap();
    let token = shop.student(1).await;
    let cart = shop.cart(&token, &[(WEB, WEB_1M)], Some("FULL100")).await;
    let (status, estimate) = shop
        .call(
            reqwest::Method::POST,
            "/api/v1/cart/estimate",
            Some(&token),
            Some(json!({"cart_token": cart,
                "billing_address": {"country": "IN", "state": "MH"}})),
        )
        .await;
    assert_eq!(status, 200, "{estimate}");
    assert_eq!(estimate["data"]["pricing"]["totals"]["total"], 0);
    assert_eq!(estimate["data"]["payment_required"], false);

    let (status, body) = shop.order(&token, &cart, None).await;
    assert!(status == 201 || status == 202, "{status} {body}");
    assert_eq!(body["data"]["payment_required"], false);
    let order = body["data"]["order_token"].as_str().unwrap().to_owned();
    let o = shop.wait_status(&token, &order, &["enrolled"], T).await;
    assert_eq!(o["total"], 0);
    assert!(o["payment"].is_null(), "{o}");
    assert_eq!(o["payments"].as_array().unwrap().len(), 0, "{o}");
    assert_eq!(o["enrollments"].as_array().unwrap().len(), 1, "{o}");
    shop.assert_count("select count(*) from payments", 0).await;
    shop.assert_count(
        "select count(*) from coupons where code = 'FULL100' and used_count = 1",
        1,
    )
    .await;
    shop.assert_count(
        "select count(*) from seat_holds where status = 'converted'",
        1,
    )
    .await;
}

/// A Stripe session expired early (from the dashboard or Stripe's API, long before the
/// expiry we recorded) expires the order within seconds: its `checkout.session.expired`
/// webhook wakes `confirm`, which believes the gateway's status over our own clock and
/// compensates, releasing the seats.
#[tokio::test]
async fn a_session_the_gateway_expired_early_expires_the_order_and_frees_its_seats() {
    let shop = Shop::start(true, |_| {}).await;
    let (token, order, o) = ordered(&shop, 1, Some("stripe")).await;
    assert_eq!(o["payment"]["gateway"], "stripe");
    shop.assert_count("select count(*) from seat_holds where status = 'held'", 2)
        .await;
    let session = gateway_order_id(&o);
    shop.control(Method::POST, &format!("/sessions/{session}/expire"), None)
        .await;
    let o = shop
        .wait_status(&token, &order, &["expired"], Duration::from_secs(10))
        .await;
    assert_eq!(o["failure"]["code"], 3006, "{o}");
    shop.wait_count("select count(*) from seat_holds where status = 'held'", 0)
        .await;
    shop.assert_count("select count(*) from enrollments", 0)
        .await;
}
