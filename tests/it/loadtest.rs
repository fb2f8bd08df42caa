//! The load harness and the consistency checker, kept from rotting: a short smoke run
//! (5 checkouts/s for 3 s) against a child `checkout dev` on a fresh database, then the
//! checker, clean; and every kind of violation planted with SQL and reported.

use checkout::admin::check::{CheckReport, Limits, check};
use checkout::cli::{Cli, Command as Role};
use checkout::loadtest::{self, LoadtestArgs};
use clap::Parser;
use sqlx::{Connection, PgConnection};

use crate::helpers::{Proc, TestDb};

/// One client address drives every checkout: lift the quotas.
const NO_RATE_LIMITS: &[(&str, &str)] = &[
    ("CHECKOUT__RATELIMIT__ADDRESS_PER_MINUTE", "1000000"),
    ("CHECKOUT__RATELIMIT__ADDRESS_BURST", "10000"),
    ("CHECKOUT__RATELIMIT__AUTH_PER_MINUTE", "1000000"),
    ("CHECKOUT__RATELIMIT__AUTH_BURST", "10000"),
    ("CHECKOUT__RATELIMIT__CART_WRITE_PER_MINUTE", "1000000"),
    ("CHECKOUT__RATELIMIT__CART_WRITE_BURST", "10000"),
    ("CHECKOUT__RATELIMIT__ORDER_PER_MINUTE", "1000000"),
    ("CHECKOUT__RATELIMIT__ORDER_BURST", "10000"),
    ("CHECKOUT__RATELIMIT__DEFAULT_PER_MINUTE", "1000000"),
    ("CHECKOUT__RATELIMIT__DEFAULT_BURST", "10000"),
];

pub fn loadtest_args(extra: &[&str]) -> LoadtestArgs {
    let mut argv = vec!["checkout", "loadtest"];
    argv.extend_from_slice(extra);
    match Cli::parse_from(argv).command {
        Role::Loadtest(args) => *args,
        other => panic!("parsed as {other:?}"),
    }
}

/// A `checkout dev` on a fresh database, after `rate * duration` load-test checkouts.
async fn dev_after_load(
    rate: &str,
    duration: &str,
    extra: &[&str],
) -> (TestDb, Proc, loadtest::report::Report) {
    let db = TestDb::create().await;
    let dev = Proc::spawn(&["dev", "--port", "0"], &db.url, NO_RATE_LIMITS);
    let base = format!("http://{}", dev.addr.unwrap());
    let pid = dev.child.id().to_string();
    let mut args = vec![
        "--base-url",
        &base,
        "--pid",
        &pid,
        "--rate",
        rate,
        "--duration",
        duration,
        "--check",
        "--settle",
        "1",
        "--checkout-timeout",
        "30",
    ];
    args.extend_from_slice(extra);
    let report = loadtest::execute(&loadtest_args(&args), Some(&db.url))
        .await
        .unwrap();
    (db, dev, report)
}

fn admin_check(db: &TestDb) -> (bool, serde_json::Value) {
    let out = crate::helpers::admin(db, &["check", "--json"]);
    let json = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out.status.success(), json)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smoke_run_enrolls_every_checkout_and_the_check_is_clean() {
    let (db, mut dev, report) = dev_after_load("5", "3", &[]).await;
    assert_eq!(report.scheduled, 15);
    assert_eq!(report.terminal.get("enrolled"), Some(&15), "{report:#?}");
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(report.achieved_checkouts_per_s > 2.0, "{report:#?}");
    let db_view = report.database.as_ref().unwrap();
    assert!(
        db_view.events_written > 0 && db_view.events_published > 0,
        "{db_view:#?}"
    );
    for endpoint in [
        "cart",
        "cart_items",
        "cart_coupon",
        "estimate",
        "register",
        "order",
        "sandbox_pay",
    ] {
        let p = report
            .latency
            .iter()
            .find(|p| p.name == endpoint)
            .unwrap_or_else(|| panic!("no {endpoint}"));
        assert_eq!(p.count, 15, "{p:?}");
        assert!(
            p.p50_ms > 0.0 && p.p50_ms <= p.p99_ms && p.p99_ms <= p.max_ms,
            "{p:?}"
        );
    }
    let database = report.database.as_ref().unwrap();
    assert_eq!(database.webhook_to_enrolled.count, 15);
    assert_eq!(database.orders_by_status.get("enrolled"), Some(&15));
    for step in ["reserve", "payment_session", "enroll"] {
        assert!(
            database
                .step_pickup
                .iter()
                .any(|p| p.name == step && p.count == 15),
            "{database:?}"
        );
    }
    assert!(report.per_checkout.as_ref().unwrap().transactions > 0.0);
    // CPU: the server, Postgres (with the backends its pools opened during the run),
    // the generator, and the whole machine, which holds all three
    let cpu = report.cpu.as_ref().unwrap();
    assert!(
        cpu.checkout_processes_s > 0.0 && cpu.postgres_all_s > 0.0 && cpu.generator_s > 0.0,
        "{cpu:?}"
    );
    let parts = cpu.checkout_processes_s + cpu.postgres_all_s + cpu.generator_s;
    assert!(cpu.machine_busy_s >= parts * 0.9 - 0.05, "{cpu:?}");
    assert!(cpu.machine_per_checkout_s > 0.0, "{cpu:?}");
    let check = report.check.as_ref().unwrap();
    assert!(check.ok, "{check:#?}");
    assert_eq!(check.orders, 15);

    // the human report renders, and the JSON has the documented keys
    let text = loadtest::report::render(&report);
    assert!(
        text.contains("webhook received -> enrolled") && text.contains("OK"),
        "{text}"
    );
    let json = serde_json::to_value(&report).unwrap();
    for key in [
        "achieved_checkouts_per_s",
        "latency",
        "errors",
        "terminal_share",
        "database",
        "cpu",
        "check",
    ] {
        assert!(json.get(key).is_some(), "{key} missing");
    }

    // the checker alone, as an operator runs it
    let (ok, json) = admin_check(&db);
    assert!(ok, "{json}");
    assert_eq!(json["ok"], true);
    dev.terminate();
}

/// No grace for activity; a refund unsettled for an hour is overdue.
const NOW: Limits = Limits {
    grace_secs: 0,
    refund_alert_secs: 3600,
};

/// Plants one violation in a transaction, checks inside it, rolls back.
async fn planted(conn: &mut PgConnection, sql: &str) -> CheckReport {
    let mut tx = conn.begin().await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut *tx)
        .await
        .unwrap();
    let report = check(&mut tx, NOW).await.unwrap();
    tx.rollback().await.unwrap();
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checker_reports_each_planted_violation() {
    // returning students this time: signed up before the run, signed in throughout
    let (db, mut dev, report) = dev_after_load("5", "1", &["--signed-in"]).await;
    assert_eq!(report.mode, "checkouts-signed-in");
    assert_eq!(report.terminal.get("enrolled"), Some(&5), "{report:#?}");
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(
        report.latency.iter().all(|p| p.name != "register"),
        "{report:#?}"
    );
    let mut conn = PgConnection::connect(&db.url).await.unwrap();
    // dev's relay publishes every event (RabbitMQ on 127.0.0.1:5672)
    let published = crate::helpers::eventually(std::time::Duration::from_secs(20), || async {
        let mut conn = PgConnection::connect(&db.url).await.unwrap();
        let left: i64 =
            sqlx::query_scalar("select count(*) from outbox_events where published_at is null")
                .fetch_one(&mut conn)
                .await
                .unwrap();
        (left == 0).then_some(())
    })
    .await;
    assert!(published.is_some(), "dev's relay left events unpublished");
    dev.terminate();
    let owned_from_the_start: i64 = sqlx::query_scalar(
        "select count(*) from orders o join carts c on c.token = o.cart_token
          join users u on u.id = o.user_id
         where c.user_id = o.user_id and u.created_at < c.created_at",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(owned_from_the_start, 5);
    let clean = check(&mut conn, NOW).await.unwrap();
    assert!(clean.ok, "{clean:#?}");

    // the first enrolled order, its cohort and its payment
    let order = "(select order_id from enrollments order by order_id limit 1)";
    let other = "(select order_id from enrollments order by order_id desc limit 1)";
    let cohort = format!("(select cohort_id from enrollments where order_id = {order} limit 1)");
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        (
            "order left pending with no job",
            format!(
                "set local session_replication_role = replica;
                 update orders set status = 'pending', updated_at = now() - interval '1 hour' where id = {order};
                 update sagas set state = 'running', step = 'reserve', updated_at = now() - interval '1 hour'
                  where order_id = {order};"
            ),
            vec!["order_stuck"],
        ),
        (
            "compensation with no job",
            format!(
                "set local session_replication_role = replica;
                 update sagas set state = 'compensating', updated_at = now() - interval '1 hour' where order_id = {order};"
            ),
            vec!["compensation_stuck"],
        ),
        (
            "a second enrollment of the same user in the same cohort",
            format!(
                "alter table enrollments drop constraint enrollments_user_id_cohort_id_key;
                 insert into enrollments (id, user_id, cohort_id, program_id, order_id)
                   select gen_random_uuid(), user_id, cohort_id, program_id, order_id from enrollments where order_id = {order};
                 update cohorts set seats_taken = seats_taken + 1 where id = {cohort};"
            ),
            vec!["double_enrollment"],
        ),
        (
            "capacity below the seats in use",
            format!(
                "alter table cohorts drop constraint cohorts_seats_within_capacity;
                 update cohorts set capacity = seats_taken + seats_held - 1 where id = {cohort};"
            ),
            vec!["seats_oversold"],
        ),
        (
            "seats_taken off by one",
            format!("update cohorts set seats_taken = seats_taken + 1 where id = {cohort};"),
            vec!["seats_taken_mismatch"],
        ),
        (
            "seats_held off by one",
            format!("update cohorts set seats_held = seats_held + 1 where id = {cohort};"),
            vec!["seats_held_mismatch"],
        ),
        (
            "coupon counter off by one",
            "update coupons set used_count = used_count + 1 where code = 'LOADTEST10';".to_owned(),
            vec!["coupon_count_mismatch"],
        ),
        (
            "per-user coupon counter without a redemption",
            "insert into coupon_user_uses (code, user_id, used_count) values ('LOADTEST10', gen_random_uuid(), 1);"
                .to_owned(),
            vec!["coupon_user_count_mismatch"],
        ),
        (
            "captured more than the order total",
            format!("update payments set captured_amount = captured_amount + 100 where order_id = {order};"),
            // written behind the store's back: the ledger does not know that money either
            vec!["ledger_mismatch", "money_mismatch"],
        ),
        (
            "enrolled but refunded",
            format!(
                "insert into refunds (id, order_id, payment_id, gateway, gateway_payment_id, amount, currency, reason, idempotency_key, status)
                   select gen_random_uuid(), order_id, id, gateway, gateway_payment_id, captured_amount, currency, 'planted', 'planted', 'processed'
                     from payments where order_id = {order};"
            ),
            vec!["ledger_mismatch", "money_mismatch"],
        ),
        (
            "a refund the gateway failed, not retried",
            format!(
                "update orders set status = 'refunded' where id = {order};
                 insert into refunds (id, order_id, payment_id, gateway, gateway_payment_id, amount, currency, reason, idempotency_key, status)
                   select gen_random_uuid(), order_id, id, gateway, gateway_payment_id, captured_amount, currency, 'planted', 'planted', 'failed'
                     from payments where order_id = {order};"
            ),
            // the student still has not got the money back
            vec!["money_mismatch", "refund_failed"],
        ),
        (
            "a refund pending for two hours",
            format!(
                "update orders set status = 'refunded' where id = {order};
                 insert into refunds (id, order_id, payment_id, gateway, gateway_payment_id, amount, currency, reason, idempotency_key, status, created_at)
                   select gen_random_uuid(), order_id, id, gateway, gateway_payment_id, captured_amount, currency, 'planted', 'planted', 'pending',
                          now() - interval '2 hours'
                     from payments where order_id = {order};"
            ),
            vec!["refund_overdue"],
        ),
        (
            "one captured gateway payment on two orders",
            format!(
                "insert into payments (id, payment_token, order_id, gateway, gateway_order_id, amount, currency, status,
                                       gateway_payment_id, captured_amount, expires_at)
                   select gen_random_uuid(), 'planted-token', {other}, gateway, 'order_planted', amount, currency, 'captured',
                          gateway_payment_id, captured_amount, now()
                     from payments where order_id = {order};"
            ),
            // the second order also holds money it should not
            vec!["ledger_mismatch", "money_mismatch", "payment_shared"],
        ),
        (
            "a ledger row written by hand",
            format!(
                "insert into ledger (aggregate_type, aggregate_id, order_id, kind, amount_minor,
                                     actor_type, actor)
                   values ('order', {order}::text, {order}, 'refund_processed', -100, 'system', 'planted');"
            ),
            vec!["ledger_mismatch"],
        ),
        (
            "an event the relay never published",
            format!(
                "update outbox_events set published_at = null, created_at = now() - interval '1 hour'
                  where aggregate_type = 'order' and aggregate_id = {order} and sequence = 1;"
            ),
            vec!["event_unpublished"],
        ),
        (
            "one webhook event stored twice",
            "drop index webhook_events_once; drop index webhook_events_fact_once;
             insert into webhook_events (id, gateway, event_id, event_type, gateway_order_id, gateway_payment_id,
                                         payment_status, order_id, status, payload, received_at, processed_at)
               select gen_random_uuid(), gateway, event_id, event_type, gateway_order_id, gateway_payment_id,
                      payment_status, order_id, status, payload, received_at, processed_at
                 from webhook_events where status = 'processed' limit 1;"
                .to_owned(),
            vec!["webhook_duplicate"],
        ),
        (
            "a verified webhook never processed",
            "insert into webhook_events (id, gateway, event_id, status, received_at)
               values (gen_random_uuid(), 'razorpay', 'evt_planted', 'received', now() - interval '1 hour');"
                .to_owned(),
            vec!["webhook_stuck"],
        ),
    ];
    for (what, sql, expected) in &cases {
        let report = planted(&mut conn, sql).await;
        let mut kinds = report.kinds();
        kinds.sort_unstable();
        kinds.dedup();
        assert_eq!(&kinds, expected, "{what}: {report:#?}");
        assert!(!report.ok, "{what}");
    }

    // a refund still being processed is waiting, not a violation
    let pending = planted(
        &mut conn,
        &format!(
            "update orders set status = 'refunded' where id = {order};
             insert into refunds (id, order_id, payment_id, gateway, gateway_payment_id, amount, currency, reason, idempotency_key)
               select gen_random_uuid(), order_id, id, gateway, gateway_payment_id, captured_amount, currency, 'planted', 'planted'
                 from payments where order_id = {order};"
        ),
    )
    .await;
    assert!(pending.ok, "{pending:#?}");
    assert!(
        pending.waiting.iter().any(|w| w.kind == "refund_pending"),
        "{pending:#?}"
    );

    // and the command exits non-zero, listing it
    sqlx::query(
        "insert into webhook_events (id, gateway, event_id, status, received_at)
         values (gen_random_uuid(), 'razorpay', 'evt_planted', 'received', now() - interval '1 hour')",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let (ok, json) = admin_check(&db);
    assert!(!ok, "{json}");
    assert_eq!(json["ok"], false);
    assert_eq!(json["violations"][0]["kind"], "webhook_stuck", "{json}");
}
