//! `checkout admin jobs|orders|webhooks|coupons|fx|users` as a process against a real
//! database: human and `--json` output, state changes with their audit rows, refusals.

use std::process::Output;

use chrono::{Duration, Utc};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::TestApp;
use crate::ops_fixtures as fx;
use checkout::workflows::jobs::Job;

fn admin(app: &TestApp, args: &[&str]) -> Output {
    crate::helpers::admin(&app.db, args)
}

/// Runs and expects success; returns stdout.
#[track_caller]
fn ok(app: &TestApp, args: &[&str]) -> String {
    let out = admin(app, args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[track_caller]
fn json(app: &TestApp, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let text = ok(app, &all);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: {e}: {text}"))
}

/// Runs and expects a refusal; returns stderr.
#[track_caller]
fn refused(app: &TestApp, args: &[&str]) -> String {
    crate::helpers::admin_refused(&app.db, args)
}

/// The cells of every row of the tables in `text` (headers included), in order.
fn table(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .filter(|l| l.starts_with('|'))
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_owned())
                .collect()
        })
        .collect()
}

async fn audits(
    pool: &PgPool,
    action: &str,
) -> Vec<(String, String, Option<Value>, Option<Value>)> {
    sqlx::query_as(
        "select actor, target, before, after from admin_audit where action = $1 order by id",
    )
    .bind(action)
    .fetch_all(pool)
    .await
    .unwrap()
}

async fn set_job(pool: &PgPool, id: &str, status: &str, attempts: i32) {
    sqlx::query("update apalis.jobs set status = $2, attempts = $3 where id = $1")
        .bind(id)
        .bind(status)
        .bind(attempts)
        .execute(pool)
        .await
        .unwrap();
}

async fn job_status(pool: &PgPool, id: &str) -> (String, i32) {
    sqlx::query_as("select status, attempts from apalis.jobs where id = $1")
        .bind(id)
        .fetch_one(pool)
        .await
        .unwrap()
}

fn ping() -> Job {
    Job::Ping {
        id: Uuid::new_v4(),
        hold_ms: 0,
    }
}

#[tokio::test]
async fn jobs_list_show_retry_cancel_stats() {
    let app = TestApp::spawn().await;
    let p = &app.pool;
    let done = fx::job(p, &ping(), "k-done").await;
    let failed = fx::job(p, &ping(), "k-failed").await;
    let failed2 = fx::job(p, &ping(), "k-failed2").await;
    let running = fx::job(p, &ping(), "k-running").await;
    let pending = fx::job(p, &ping(), "k-pending").await;
    set_job(p, &done, "Done", 1).await;
    set_job(p, &failed, "Failed", 5).await;
    set_job(p, &failed2, "Failed", 5).await;
    // Running, claimed by a worker that stopped heartbeating long ago
    sqlx::query("insert into apalis.workers (id, worker_type, storage_name, last_seen) values ('dead', 'system.ping', 'x', now() - interval '1 hour')")
        .execute(p).await.unwrap();
    sqlx::query("update apalis.jobs set status = 'Running', lock_by = 'dead', lock_at = now() where id = $1")
        .bind(&running).execute(p).await.unwrap();

    let all = json(&app, &["jobs", "list"]);
    assert_eq!(all.as_array().unwrap().len(), 5, "{all}");
    let text = ok(&app, &["jobs", "list", "--status", "Failed"]);
    let rows = table(&text);
    assert_eq!(rows[0][..3], ["id", "queue", "status"], "a header: {text}");
    let mut ids: Vec<&str> = rows[1..].iter().map(|r| r[0].as_str()).collect();
    ids.sort();
    let mut expected = [failed.as_str(), failed2.as_str()];
    expected.sort();
    assert_eq!(ids, expected, "{text}");
    assert!(rows[1..].iter().all(|r| r[2] == "Failed"), "{text}");
    let stuck = json(&app, &["jobs", "list", "--stuck"]);
    assert_eq!(stuck[0]["id"], running.as_str(), "{stuck}");
    assert_eq!(stuck.as_array().unwrap().len(), 1);
    assert!(
        json(&app, &["jobs", "list", "--older-than", "1h"])
            .as_array()
            .unwrap()
            .is_empty()
    );

    let shown = json(&app, &["jobs", "show", &failed]);
    assert_eq!(shown["status"], "Failed");
    assert_eq!(shown["job"]["type"], "ping");
    assert!(ok(&app, &["jobs", "show", &failed]).contains("system.ping"));
    assert!(
        refused(&app, &["jobs", "show", "no-such-job"]).contains("no job with id `no-such-job`")
    );

    // refusals, with the reason
    assert!(refused(&app, &["jobs", "retry", &done]).contains("is Done"));
    assert!(refused(&app, &["jobs", "retry", &running]).contains("is Running"));
    assert!(refused(&app, &["jobs", "cancel", &done]).contains("is Done"));
    assert!(refused(&app, &["jobs", "cancel", &running]).contains("Running"));
    assert!(refused(&app, &["jobs", "retry", "nope"]).contains("no job"));

    // retry one: Pending, attempts reset, audited
    let retried = json(&app, &["--actor", "ops-alice", "jobs", "retry", &failed]);
    assert_eq!(retried["status"], "Pending");
    assert_eq!(job_status(p, &failed).await, ("Pending".into(), 0));
    let rows = audits(p, "jobs.retry").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0, "ops-alice");
    assert_eq!(rows[0].2.as_ref().unwrap()["status"], "Failed");
    // again: already pending, nothing changes
    ok(&app, &["jobs", "retry", &failed]);
    assert_eq!(audits(p, "jobs.retry").await.len(), 1);

    // bulk: dry run changes nothing, then the real run
    let out = admin(&app, &["jobs", "retry", "--all-failed", "--dry-run"]);
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("[1/1]"),
        "progress on stderr"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("would retry 1 job(s)"));
    assert_eq!(job_status(p, &failed2).await.0, "Failed");
    let bulk = json(&app, &["jobs", "retry", "--all-failed", "--limit", "10"]);
    assert_eq!(bulk["retried"], 1);
    assert_eq!(job_status(p, &failed2).await.0, "Pending");

    // cancel
    let cancelled = json(&app, &["jobs", "cancel", &pending]);
    assert_eq!(cancelled["status"], "Killed");
    assert_eq!(audits(p, "jobs.cancel").await.len(), 1);

    let stats = json(&app, &["jobs", "stats"]);
    let q = &stats[0];
    assert_eq!(q["queue"], "system.ping");
    assert_eq!(q["finished"], 2, "{stats}"); // Done + Killed
    assert_eq!(q["failure_rate"], 0.5);
    let text = ok(&app, &["jobs", "stats"]);
    let rates = table(&text);
    let header = rates
        .iter()
        .position(|r| r.contains(&"failure rate".to_owned()));
    let row = header.and_then(|h| rates.get(h + 1));
    assert_eq!(
        row.map(|r| r.as_slice()),
        Some(
            ["system.ping", "2", "1", "50.0%"]
                .map(String::from)
                .as_slice()
        ),
        "{text}"
    );

    // a job scheduled an hour ahead has no age yet: it is due in an hour
    sqlx::query(
        "update apalis.jobs set run_at = now() + interval '1 hour' where status = 'Pending'",
    )
    .execute(p)
    .await
    .unwrap();
    let stats = json(&app, &["jobs", "stats"]);
    let pending = stats[0]["statuses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["status"] == "Pending")
        .unwrap()
        .clone();
    assert_eq!(pending["oldest_age_secs"], Value::Null, "{pending}");
    let due_in = pending["next_due_in_secs"].as_i64().unwrap();
    assert!((3_590..=3_600).contains(&due_in), "{pending}");
    let text = ok(&app, &["jobs", "stats"]);
    assert!(!text.contains(" -3"), "a negative age:\n{text}");
}

#[tokio::test]
async fn orders_show_retry_cancel_reconcile() {
    let app = TestApp::spawn().await;
    let p = &app.pool;
    let (awaiting, awaiting_token) =
        fx::order(p, "awaiting_payment", "confirm", "waiting", 1000).await;
    fx::payment(
        p,
        awaiting,
        "created",
        1000,
        0,
        Utc::now() + Duration::minutes(30),
    )
    .await;
    sqlx::query("insert into saga_steps (order_id, step, attempt, outcome, error, started_at) values ($1, 'price', 1, 'retrying', 'db down', now())")
        .bind(awaiting).execute(p).await.unwrap();

    let shown = json(&app, &["orders", "show", &awaiting_token]);
    assert_eq!(shown["status"], "awaiting_payment");
    assert_eq!(shown["total"], 1000);
    assert_eq!(shown["payments"].as_array().unwrap().len(), 1);
    assert_eq!(shown["timeline"][0]["error"], "db down");
    let text = ok(&app, &["orders", "show", &awaiting_token]);
    assert!(
        text.contains("awaiting_payment") && text.contains("timeline") && text.contains("db down"),
        "{text}"
    );
    assert!(refused(&app, &["orders", "show", "nope"]).contains("no order with token `nope`"));

    // reconcile: one order, then all pending as a dry run
    json(&app, &["orders", "reconcile", &awaiting_token]);
    assert_eq!(fx::step_jobs(p, awaiting, "admin-rc").await.len(), 1);
    let dry = json(&app, &["orders", "reconcile", "--all-pending", "--dry-run"]);
    assert_eq!(dry["orders"][0], awaiting_token.as_str());
    assert_eq!(
        fx::step_jobs(p, awaiting, "admin-rc").await.len(),
        1,
        "a dry run enqueues nothing"
    );

    // retry a stuck running saga: attempts reset, step enqueued afresh
    let (stuck, stuck_token) = fx::order(p, "pending", "reserve", "running", 1000).await;
    sqlx::query("update sagas set attempts = 3, last_error = 'boom' where order_id = $1")
        .bind(stuck)
        .execute(p)
        .await
        .unwrap();
    ok(&app, &["orders", "retry", &stuck_token]);
    let (state, attempts): (String, i32) =
        sqlx::query_as("select state, attempts from sagas where order_id = $1")
            .bind(stuck)
            .fetch_one(p)
            .await
            .unwrap();
    assert_eq!((state.as_str(), attempts), ("running", 0));
    assert_eq!(fx::step_jobs(p, stuck, ":reserve:admin:").await.len(), 1);
    assert_eq!(
        audits(p, "orders.retry").await[0].2.as_ref().unwrap()["attempts"],
        3
    );
    let (_, done_token) = fx::order(p, "enrolled", "complete", "completed", 1000).await;
    assert!(refused(&app, &["orders", "retry", &done_token]).contains("nothing to resume"));

    // cancel: allowed while payment is possible, compensation enqueued, audited
    let out = json(&app, &["orders", "cancel", &awaiting_token]);
    assert_eq!(out["status"], "cancelled");
    let status: String = sqlx::query_scalar("select status from orders where id = $1")
        .bind(awaiting)
        .fetch_one(p)
        .await
        .unwrap();
    assert_eq!(status, "cancelled");
    assert_eq!(fx::step_jobs(p, awaiting, ":compensate").await.len(), 1);
    assert_eq!(audits(p, "orders.cancel").await.len(), 1);
    // again: already cancelled, nothing changes
    assert_eq!(
        json(&app, &["orders", "cancel", &awaiting_token])["changed"],
        false
    );
    assert_eq!(audits(p, "orders.cancel").await.len(), 1);
    assert!(refused(&app, &["orders", "cancel", &done_token]).contains("is enrolled"));
    assert!(refused(&app, &["orders", "reconcile", &done_token]).contains("awaiting payment"));
}

#[tokio::test]
async fn orders_refund_is_bounded_and_idempotent() {
    let app = TestApp::spawn().await;
    let p = &app.pool;
    let (id, token) = fx::order(p, "enrolled", "complete", "completed", 1000).await;
    fx::payment(p, id, "captured", 1000, 1000, Utc::now()).await;
    let refunds = || async {
        sqlx::query_as::<_, (i64, String)>(
            "select amount, status from refunds where order_id = $1 order by created_at",
        )
        .bind(id)
        .fetch_all(p)
        .await
        .unwrap()
    };

    let err = refused(&app, &["orders", "refund", &token, "--amount", "2000"]);
    assert!(err.contains("above the refundable amount 1000"), "{err}");
    assert!(refused(&app, &["orders", "refund", &token, "--amount", "0"]).contains("positive"));
    assert!(refunds().await.is_empty());

    let first = json(&app, &["orders", "refund", &token, "--amount", "400"]);
    assert_eq!(first["new"], true);
    assert_eq!(refunds().await, [(400, "requested".to_owned())]);
    let refund_jobs: i64 =
        sqlx::query_scalar("select count(*) from apalis.jobs where job_type = 'checkout.refunds'")
            .fetch_one(p)
            .await
            .unwrap();
    assert_eq!(refund_jobs, 1);
    // the same command again: nothing new
    let again = json(&app, &["orders", "refund", &token, "--amount", "400"]);
    assert_eq!(again["new"], false);
    assert_eq!(refunds().await.len(), 1);
    assert_eq!(audits(p, "orders.refund").await.len(), 1);
    // 400 more on purpose needs another key; then the rest, and nothing is left
    json(
        &app,
        &[
            "orders", "refund", &token, "--amount", "400", "--key", "second",
        ],
    );
    let text = ok(&app, &["orders", "refund", &token]);
    assert!(text.contains("refund") && text.contains("of 200"), "{text}");
    assert_eq!(refunds().await.iter().map(|r| r.0).sum::<i64>(), 1000);
    assert!(
        refused(
            &app,
            &["orders", "refund", &token, "--amount", "1", "--key", "x"]
        )
        .contains("above the refundable amount 0")
    );

    let (_, unpaid) = fx::order(p, "awaiting_payment", "confirm", "waiting", 1000).await;
    assert!(refused(&app, &["orders", "refund", &unpaid]).contains("no captured payment"));
    assert!(refused(&app, &["orders", "refund", "nope"]).contains("no order"));
}

#[tokio::test]
async fn webhooks_list_and_replay() {
    let app = TestApp::spawn().await;
    let p = &app.pool;
    let (order, _) = fx::order(p, "awaiting_payment", "confirm", "waiting", 1000).await;
    sqlx::query(
        "insert into webhook_events (id, gateway, event_id, event_type, order_id, status)
         values (gen_random_uuid(), 'razorpay', 'evt_1', 'payment.captured', $1, 'processed'),
                (gen_random_uuid(), 'stripe', 'evt_2', 'checkout.session.completed', null, 'unmatched')",
    )
    .bind(order).execute(p).await.unwrap();

    assert_eq!(
        json(&app, &["webhooks", "list"]).as_array().unwrap().len(),
        2
    );
    let razorpay = json(&app, &["webhooks", "list", "--gateway", "razorpay"]);
    assert_eq!(razorpay.as_array().unwrap().len(), 1);
    assert_eq!(razorpay[0]["event_id"], "evt_1");
    let text = ok(&app, &["webhooks", "list", "--status", "unmatched"]);
    assert!(text.contains("evt_2") && !text.contains("evt_1"), "{text}");

    ok(&app, &["webhooks", "replay", "evt_1"]);
    ok(&app, &["webhooks", "replay", "evt_1"]);
    assert_eq!(
        fx::step_jobs(p, order, "webhook-replay").await.len(),
        2,
        "a fresh key each replay"
    );
    assert_eq!(audits(p, "webhooks.replay").await.len(), 2);
    assert!(refused(&app, &["webhooks", "replay", "evt_2"]).contains("matched no order"));
    assert!(refused(&app, &["webhooks", "replay", "evt_404"]).contains("no webhook event"));
}

#[tokio::test]
async fn coupons_fx_and_users() {
    let app = TestApp::spawn().await;
    let p = &app.pool;
    let created = json(
        &app,
        &[
            "coupons",
            "create",
            "test10",
            "--percent",
            "10",
            "--global-limit",
            "5",
        ],
    );
    assert_eq!(created["code"], "TEST10");
    ok(
        &app,
        &[
            "coupons",
            "create",
            "TEST10",
            "--percent",
            "10",
            "--global-limit",
            "5",
        ],
    );
    assert!(
        refused(&app, &["coupons", "create", "TEST10", "--percent", "20"]).contains("other terms")
    );
    assert!(refused(&app, &["coupons", "create", "BAD", "--percent", "120"]).contains("(0, 100]"));
    let text = ok(&app, &["coupons", "list"]);
    assert!(text.contains("TEST10") && text.contains("10%"), "{text}");
    let disabled = json(&app, &["coupons", "disable", "test10"]);
    assert_eq!(disabled["active"], false);
    ok(&app, &["coupons", "disable", "TEST10"]);
    assert_eq!(audits(p, "coupons.create").await.len(), 1);
    assert_eq!(
        audits(p, "coupons.disable").await.len(),
        1,
        "disabling twice is one change"
    );
    assert!(refused(&app, &["coupons", "disable", "NOPE"]).contains("no coupon"));

    ok(
        &app,
        &[
            "fx",
            "set",
            "USD",
            "0.012",
            "--as-of",
            "2026-11-01T00:00:00Z",
        ],
    );
    let rates = json(&app, &["fx", "list"]);
    assert_eq!(rates[0]["quote"], "USD");
    assert_eq!(rates[0]["rate"], "0.012");
    assert!(ok(&app, &["fx", "list"]).contains("USD"));
    assert!(refused(&app, &["fx", "set", "INR", "1"]).contains("base currency"));
    assert!(refused(&app, &["fx", "set", "USD", "0"]).contains("positive"));
    assert_eq!(audits(p, "fx.set").await.len(), 1);

    let user = fx::user(p).await;
    let email: String = sqlx::query_scalar("select email from users where id = $1")
        .bind(user)
        .fetch_one(p)
        .await
        .unwrap();
    let users = json(&app, &["users", "list"]);
    assert_eq!(users[0]["id"], user.to_string());
    let shown = json(&app, &["users", "show", &email]);
    assert_eq!(shown["id"], user.to_string());
    assert_eq!(shown["live_sessions"], 0);
    assert!(ok(&app, &["users", "show", &user.to_string()]).contains(&email));
    assert!(refused(&app, &["users", "show", "nobody@example.com"]).contains("no user"));
}
