//! The money ledger: each checkout path writes exactly its rows (kinds, amounts, actors,
//! in order, with the order's correlation id); the table refuses UPDATE, DELETE and
//! TRUNCATE; the consistency check compares it with payments and refunds; `admin audit`
//! tells an order's story.

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;
use sqlx::{Connection, PgConnection};

use crate::fixtures::{DS, DS_1M, WEB, WEB_1M};
use crate::helpers::TestApp;
use crate::shop::{Shop, gateway_order_id};
use checkout::admin::check::{Limits, check};

const T: Duration = Duration::from_secs(30);

#[derive(Debug, sqlx::FromRow)]
struct Row {
    kind: String,
    aggregate_type: String,
    amount_minor: i64,
    actor_type: String,
    actor: String,
    correlation_id: Option<String>,
    before: Option<Value>,
    after: Option<Value>,
}

async fn rows(shop: &Shop, order: &str) -> Vec<Row> {
    sqlx::query_as(
        "select l.kind, l.aggregate_type, l.amount_minor, l.actor_type, l.actor,
                l.correlation_id, l.before, l.after
           from ledger l join orders o on o.id = l.order_id
          where o.order_token = $1 order by l.id",
    )
    .bind(order)
    .fetch_all(&shop.app.pool)
    .await
    .unwrap()
}

fn kinds(rows: &[Row]) -> Vec<&str> {
    rows.iter().map(|r| r.kind.as_str()).collect()
}

/// The order statuses the `order_status_changed` rows move to, in order.
fn statuses(rows: &[Row]) -> Vec<&str> {
    rows.iter()
        .filter(|r| r.kind == "order_status_changed")
        .map(|r| r.after.as_ref().unwrap()["status"].as_str().unwrap())
        .collect()
}

/// Waits until the order's ledger has a row of `kind`; returns all its rows.
async fn wait_kind(shop: &Shop, order: &str, kind: &str) -> Vec<Row> {
    let found = crate::helpers::eventually(T, || async {
        let all = rows(shop, order).await;
        all.iter().any(|r| r.kind == kind).then_some(all)
    })
    .await;
    match found {
        Some(all) => all,
        None => panic!("no {kind} row in {:?}", kinds(&rows(shop, order).await)),
    }
}

/// Every row carries the order's correlation id; jobs are named by queue, id and key.
async fn assert_actors(shop: &Shop, order: &str, rows: &[Row]) {
    let (user_id, correlation): (uuid::Uuid, String) =
        sqlx::query_as("select user_id, correlation_id from orders where order_token = $1")
            .bind(order)
            .fetch_one(&shop.app.pool)
            .await
            .unwrap();
    for r in rows {
        assert_eq!(
            r.correlation_id.as_deref(),
            Some(correlation.as_str()),
            "{r:?}"
        );
        match r.actor_type.as_str() {
            "system" => assert!(r.actor.starts_with("checkout."), "{r:?}"),
            // the stored event that woke the job, then the job
            "webhook" => assert!(
                r.actor.starts_with("webhook_events ") && r.actor.contains(" via checkout."),
                "{r:?}"
            ),
            _ => {}
        }
        assert!(
            !r.actor.contains("Bearer") && !r.actor.contains("eyJ"),
            "{r:?}"
        );
    }
    let created = &rows[0];
    assert_eq!(created.kind, "order_created");
    assert_eq!(
        (created.actor_type.as_str(), created.actor.as_str()),
        ("api", format!("user:{user_id}").as_str())
    );
}

async fn violations(shop: &Shop) -> Vec<(&'static str, String)> {
    let mut conn = PgConnection::connect(&shop.app.db.url).await.unwrap();
    let limits = Limits {
        grace_secs: 60,
        refund_alert_secs: 3600,
    };
    let report = check(&mut conn, limits).await.unwrap();
    report
        .violations
        .into_iter()
        .map(|f| (f.kind, f.subject))
        .collect()
}

/// A full checkout with a coupon: created by the API caller, then each saga step's
/// change by its job, the capture the only money; the check agrees, and a row planted
/// by hand is reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_checkout_writes_each_change_once_in_order() {
    let shop = Shop::start(true, |_| {}).await;
    let token = shop.student(1).await;
    let cart = shop
        .cart(&token, &[(WEB, WEB_1M), (DS, DS_1M)], Some("SAVE10"))
        .await;
    let (order, o) = shop
        .ordered_with_session(&token, &cart, Some("razorpay"))
        .await;
    shop.pay(&gateway_order_id(&o), "captured").await;
    let enrolled = shop.wait_status(&token, &order, &["enrolled"], T).await;
    let total = enrolled["total"].as_i64().unwrap();

    let rows = rows(&shop, &order).await;
    assert_eq!(
        kinds(&rows),
        [
            "order_created",
            "price_frozen",
            "coupon_redeemed",
            "payment_session_created",
            "order_status_changed",
            "payment_captured",
            "order_status_changed",
            "order_status_changed",
        ],
        "{rows:#?}"
    );
    assert_eq!(statuses(&rows), ["awaiting_payment", "paid", "enrolled"]);
    let amounts: Vec<i64> = rows.iter().map(|r| r.amount_minor).collect();
    assert_eq!(amounts, [0, 0, 0, 0, 0, total, 0, 0]);
    assert_eq!(rows[1].after.as_ref().unwrap()["total"], total);
    assert_eq!(rows[2].aggregate_type, "coupon");
    assert_eq!(rows[5].aggregate_type, "payment");
    assert_eq!(rows[4].before.as_ref().unwrap()["status"], "pending");
    assert_actors(&shop, &order, &rows).await;
    let step = |i: usize, actor_type: &str, step: &str| {
        let r: &Row = &rows[i];
        assert_eq!(r.actor_type, actor_type, "{r:?}");
        assert!(r.actor.contains("checkout.steps job "), "{r:?}");
        assert!(r.actor.contains(&format!(":{step}")), "{r:?}");
    };
    step(1, "system", "price");
    step(2, "system", "reserve");
    step(3, "system", "payment_session");
    // the gateway's webhook woke `confirm`: its changes are that webhook's
    step(5, "webhook", "confirm:wh:");
    step(6, "webhook", "confirm:wh:");
    step(7, "system", "enroll");
    let webhook = rows[5].actor["webhook_events ".len()..]
        .split(' ')
        .next()
        .unwrap();
    let stored: i64 = sqlx::query_scalar(
        "select count(*) from webhook_events where id = $1::uuid and status = 'processed'",
    )
    .bind(webhook)
    .fetch_one(&shop.app.pool)
    .await
    .unwrap();
    assert_eq!(stored, 1, "{:?}", rows[5]);

    // honest data: the ledger agrees with payments and refunds
    let found = violations(&shop).await;
    assert!(
        !found.iter().any(|(k, _)| *k == "ledger_mismatch"),
        "{found:?}"
    );
    // a row written by hand (not through a change) is reported against its order
    let order_id = shop.order_id(&order).await;
    sqlx::query(
        "insert into ledger (aggregate_type, aggregate_id, order_id, kind, amount_minor,
                             actor_type, actor)
         values ('order', $1::text, $1, 'payment_captured', 100, 'system', 'tamper')",
    )
    .bind(order_id)
    .execute(&shop.app.pool)
    .await
    .unwrap();
    let found = violations(&shop).await;
    assert!(
        found.contains(&("ledger_mismatch", order_id.to_string())),
        "{found:?}"
    );
}

/// A declined payment is a state row and no money; cancelling through the API is the
/// student's change, and compensation closes the session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_payment_records_no_money_and_a_cancel_is_the_callers() {
    let shop = Shop::start(true, |_| {}).await;
    let token = shop.student(1).await;
    let cart = shop.cart(&token, &[(WEB, WEB_1M)], None).await;
    let (order, o) = shop
        .ordered_with_session(&token, &cart, Some("razorpay"))
        .await;
    shop.pay(&gateway_order_id(&o), "failed").await;
    let rows = wait_kind(&shop, &order, "payment_failed").await;
    assert_eq!(
        kinds(&rows),
        [
            "order_created",
            "price_frozen",
            "payment_session_created",
            "order_status_changed",
            "payment_failed",
        ]
    );
    assert!(rows.iter().all(|r| r.amount_minor == 0), "{rows:#?}");
    assert_eq!(rows[4].aggregate_type, "payment");
    assert_eq!(rows[4].actor_type, "webhook", "{:?}", rows[4]);
    assert!(rows[4].actor.contains(":confirm:wh:"), "{:?}", rows[4]);

    let (status, body) = shop
        .call(
            Method::POST,
            &format!("/api/v1/order/{order}/cancel"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let rows = wait_kind(&shop, &order, "payment_session_closed").await;
    assert_eq!(
        kinds(&rows)[5..],
        ["order_status_changed", "payment_session_closed"]
    );
    assert_eq!(statuses(&rows), ["awaiting_payment", "cancelled"]);
    let user_id: uuid::Uuid =
        sqlx::query_scalar("select user_id from orders where order_token = $1")
            .bind(&order)
            .fetch_one(&shop.app.pool)
            .await
            .unwrap();
    assert_eq!(rows[5].actor_type, "api");
    assert_eq!(rows[5].actor, format!("user:{user_id}"));
    assert_eq!(rows[6].after.as_ref().unwrap()["status"], "cancelled");
    assert!(rows[6].actor.contains(":compensate"), "{:?}", rows[6]);
    assert_actors(&shop, &order, &rows).await;
    assert_eq!(rows.iter().map(|r| r.amount_minor).sum::<i64>(), 0);
}

/// Paid, then the seat is gone: captured (+), refunded (-), the order `refunded`
/// (the enrollment that failed wrote nothing: its transaction rolled back).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_after_an_impossible_enrollment_moves_the_money_back() {
    let shop = Shop::start(true, |_| {}).await;
    let token = shop.student(1).await;
    let cart = shop.cart(&token, &[(WEB, WEB_1M)], None).await;
    let (order, o) = shop
        .ordered_with_session(&token, &cart, Some("razorpay"))
        .await;
    for sql in [
        "update seat_holds set status = 'released' where status = 'held'",
        "update cohorts set seats_held = 0, seats_taken = capacity where id = '00000000-0000-4000-8000-000000000021'",
    ] {
        sqlx::query(sql).execute(&shop.app.pool).await.unwrap();
    }
    shop.pay(&gateway_order_id(&o), "captured").await;
    let refunded = shop.wait_status(&token, &order, &["refunded"], T).await;
    let total = refunded["total"].as_i64().unwrap();
    let rows = wait_kind(&shop, &order, "refund_processed").await;
    let settled: Vec<&Row> = rows.iter().filter(|r| r.kind != "refund_pending").collect();
    let settled_kinds: Vec<&str> = settled.iter().map(|r| r.kind.as_str()).collect();
    assert_eq!(
        settled_kinds,
        [
            "order_created",
            "price_frozen",
            "payment_session_created",
            "order_status_changed",
            "payment_captured",
            "order_status_changed",
            "order_status_changed",
            "refund_requested",
            "refund_processed",
        ],
        "{rows:#?}"
    );
    assert!(rows.iter().filter(|r| r.kind == "refund_pending").count() <= 1);
    assert_eq!(statuses(&rows), ["awaiting_payment", "paid", "refunded"]);
    let refunded_row = rows
        .iter()
        .find(|r| r.after.as_ref().is_some_and(|a| a["status"] == "refunded"))
        .unwrap();
    assert_eq!(refunded_row.after.as_ref().unwrap()["failure_code"], 7004);
    let money: Vec<(&str, i64)> = rows
        .iter()
        .filter(|r| r.amount_minor != 0)
        .map(|r| (r.kind.as_str(), r.amount_minor))
        .collect();
    assert_eq!(
        money,
        [("payment_captured", total), ("refund_processed", -total)]
    );
    let processed = rows.iter().find(|r| r.kind == "refund_processed").unwrap();
    assert!(
        processed.actor.starts_with("checkout.refunds job "),
        "{processed:?}"
    );
    assert_actors(&shop, &order, &rows).await;
    let found = violations(&shop).await;
    assert!(
        !found.iter().any(|(k, _)| *k == "ledger_mismatch"),
        "{found:?}"
    );
}

/// An operator's refund: the command in `admin_audit`, the money in the ledger with
/// the operator as actor; `admin audit` tells the whole story in time order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_refund_is_the_operators_in_both_records() {
    let shop = Shop::start(true, |_| {}).await;
    let token = shop.student(1).await;
    let cart = shop.cart(&token, &[(WEB, WEB_1M)], None).await;
    let (order, o) = shop
        .ordered_with_session(&token, &cart, Some("razorpay"))
        .await;
    shop.pay(&gateway_order_id(&o), "captured").await;
    let enrolled = shop.wait_status(&token, &order, &["enrolled"], T).await;
    let total = enrolled["total"].as_i64().unwrap();

    let out = crate::helpers::admin(
        &shop.app.db,
        &[
            "--actor", "alice", "orders", "refund", &order, "--amount", "1000",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = wait_kind(&shop, &order, "refund_processed").await;
    let after_enrolled: Vec<&Row> = rows
        .iter()
        .skip(7)
        .filter(|r| r.kind != "refund_pending")
        .collect();
    let kinds_after: Vec<&str> = after_enrolled.iter().map(|r| r.kind.as_str()).collect();
    assert_eq!(
        kinds_after,
        ["refund_requested", "refund_processed"],
        "{rows:#?}"
    );
    let requested = after_enrolled[0];
    assert_eq!(
        (requested.actor_type.as_str(), requested.actor.as_str()),
        ("admin", "alice")
    );
    assert_eq!(requested.after.as_ref().unwrap()["amount"], 1000);
    assert_eq!(after_enrolled[1].amount_minor, -1000);
    assert_eq!(
        rows.iter().map(|r| r.amount_minor).sum::<i64>(),
        total - 1000
    );
    let audited: Vec<(String, String)> =
        sqlx::query_as("select actor, action from admin_audit where target = $1")
            .bind(&order)
            .fetch_all(&shop.app.pool)
            .await
            .unwrap();
    assert_eq!(audited, [("alice".to_owned(), "orders.refund".to_owned())]);
    let found = violations(&shop).await;
    assert!(
        !found.iter().any(|(k, _)| *k == "ledger_mismatch"),
        "{found:?}"
    );

    let out = crate::helpers::admin(&shop.app.db, &["--json", "audit", &order, "--events"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let story: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(story["order"], order.as_str());
    assert_eq!(story["balance_minor"], total - 1000);
    let lines = story["lines"].as_array().unwrap();
    let times: Vec<chrono::DateTime<chrono::Utc>> = lines
        .iter()
        .map(|l| l["at"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{story:#}");
    let of = |source: &str| lines.iter().filter(|l| l["source"] == source).count();
    assert_eq!(of("ledger"), rows.len());
    assert_eq!(of("admin"), 1);
    assert!(of("event") > 0);
    // the command comes before the refund it decided
    let position = |source: &str, kind: &str| {
        lines
            .iter()
            .position(|l| l["source"] == source && l["kind"] == kind)
            .unwrap()
    };
    assert!(position("admin", "orders.refund") < position("ledger", "refund_requested"));
    assert!(position("ledger", "refund_requested") < position("ledger", "refund_processed"));

    let text = crate::helpers::admin(&shop.app.db, &["audit", &order]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("refund_processed") && text.contains("alice"),
        "{text}"
    );
    let unknown = crate::helpers::admin(&shop.app.db, &["audit", "no-such-order"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no order with token"));
}

/// The table keeps what was written: UPDATE, DELETE and TRUNCATE are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ledger_refuses_update_delete_and_truncate() {
    let app = TestApp::spawn().await;
    sqlx::query(
        "insert into ledger (aggregate_type, aggregate_id, kind, actor_type, actor)
         values ('coupon', 'X', 'coupon_changed', 'admin', 'tester')",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    for sql in [
        "update ledger set amount_minor = 5",
        "delete from ledger",
        "truncate ledger",
    ] {
        let err = sqlx::query(sql).execute(&app.pool).await.unwrap_err();
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    let n: i64 = sqlx::query_scalar("select count(*) from ledger where amount_minor = 0")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(n, 1);
}

/// Catalog prices and coupon definitions: a new or changed one is a row (an import run
/// again writes none), by whoever ran the command.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_prices_and_coupons_changed_by_import_or_admin_are_recorded() {
    let app = TestApp::spawn().await;
    crate::fixtures::load_catalog(&app).await;
    let count = |kind: &'static str| {
        let pool = app.pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>("select count(*) from ledger where kind = $1")
                .bind(kind)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    // every plan and coupon of the file is new
    assert_eq!(count("price_changed").await, 5);
    assert_eq!(count("coupon_changed").await, 7);
    crate::fixtures::load_catalog(&app).await;
    assert_eq!(count("price_changed").await, 5, "an unchanged import");
    assert_eq!(count("coupon_changed").await, 7, "an unchanged import");

    let mut file = crate::fixtures::catalog();
    file["programs"][0]["plans"][1]["price_minor"] = 549_900.into();
    let path = std::env::temp_dir().join(format!("ledger-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&path, file.to_string()).unwrap();
    let out = crate::helpers::admin(
        &app.db,
        &[
            "--actor",
            "bob",
            "catalog",
            "import",
            path.to_str().unwrap(),
        ],
    );
    let _ = std::fs::remove_file(&path);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = crate::helpers::admin(&app.db, &["--actor", "bob", "coupons", "disable", "save10"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let changed: Vec<(String, String, String, Value, Value, String, String)> = sqlx::query_as(
        "select kind, aggregate_type, aggregate_id, before, after, actor_type, actor
           from ledger where actor_type = 'admin' order by id",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(changed.len(), 2, "{changed:#?}");
    let (kind, aggregate, id, before, after, actor_type, actor) = &changed[0];
    assert_eq!(
        (kind.as_str(), aggregate.as_str(), id.as_str()),
        ("price_changed", "plan", WEB_1M)
    );
    assert_eq!(
        (
            before["price_minor"].as_i64(),
            after["price_minor"].as_i64()
        ),
        (Some(499_900), Some(549_900))
    );
    assert_eq!((actor_type.as_str(), actor.as_str()), ("admin", "bob"));
    let (kind, aggregate, id, before, after, _, actor) = &changed[1];
    assert_eq!(
        (kind.as_str(), aggregate.as_str(), id.as_str()),
        ("coupon_changed", "coupon", "SAVE10")
    );
    assert_eq!(
        (before["active"].as_bool(), after["active"].as_bool()),
        (Some(true), Some(false))
    );
    assert_eq!(actor, "bob");
}
