//! The scheduler: cron jobs against real data, bounded batches on a large backlog, and
//! several scheduler processes running each tick once with leader handover.

use std::collections::HashMap;
use std::time::Duration;

use checkout::config::SchedulerSettings;
use checkout::workflows::cron;
use chrono::Utc;
use sqlx::PgPool;
use uuid::Uuid;

use crate::fixtures::{DS_COHORT, WEB_COHORT, load_catalog};
use crate::helpers::{Proc, TestApp, eventually};
use crate::ops_fixtures as fx;

fn settings(batch: i64) -> SchedulerSettings {
    SchedulerSettings {
        batch_size: batch,
        ..Default::default()
    }
}

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn cart_cleanup_expires_100k_carts_in_bounded_batches() {
    let app = TestApp::spawn().await;
    sqlx::query(
        "insert into carts (id, token, status, expires_at)
         select gen_random_uuid(), 'bulk' || md5(i::text), 'active', now() - interval '1 hour'
         from generate_series(1, 100000) i",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let stats = cron::carts::cleanup(&app.pool, &settings(1_000))
        .await
        .unwrap();
    assert_eq!(
        count(
            &app.pool,
            "select count(*) from carts where status = 'expired'"
        )
        .await,
        100_000
    );
    assert_eq!(
        count(
            &app.pool,
            "select count(*) from carts where status = 'active'"
        )
        .await,
        0
    );
    assert!(stats.max_rows <= 1_000, "{stats:?}");
    assert!(
        stats.statements >= 100,
        "100,000 rows in batches of 1,000: {stats:?}"
    );
    assert_eq!(
        stats.rows, 100_000,
        "just expired, none old enough to delete: {stats:?}"
    );
    // again: nothing left to do
    let again = cron::carts::cleanup(&app.pool, &settings(1_000))
        .await
        .unwrap();
    assert_eq!(again.rows, 0);
}

#[tokio::test]
async fn cart_cleanup_deletes_only_old_finished_carts() {
    let app = TestApp::spawn().await;
    load_catalog(&app).await;
    let insert = |token: &'static str,
                  status: &'static str,
                  days_old: i32,
                  merged_into: Option<&'static str>| {
        let pool = app.pool.clone();
        async move {
            sqlx::query(
                "insert into carts (id, token, status, expires_at, updated_at, merged_into)
                 values (gen_random_uuid(), $1, $2, now() - make_interval(days => $3),
                         now() - make_interval(days => $3),
                         (select id from carts where token = $4))",
            )
            .bind(token)
            .bind(status)
            .bind(days_old)
            .bind(merged_into)
            .execute(&pool)
            .await
            .unwrap();
        }
    };
    insert("old-expired-cart-0000000000", "expired", 40, None).await;
    insert("old-merged-target-00000000000", "expired", 40, None).await;
    insert(
        "old-merged-cart-00000000000",
        "merged",
        40,
        Some("old-merged-target-00000000000"),
    )
    .await;
    insert("new-merged-target-00000000000", "expired", 40, None).await;
    insert(
        "new-merged-cart-00000000000",
        "merged",
        1,
        Some("new-merged-target-00000000000"),
    )
    .await;
    insert("old-converted-cart-000000000", "converted", 40, None).await;
    insert("recent-expired-cart-00000000", "expired", 1, None).await;
    sqlx::query(
        "insert into cart_items (id, cart_id, program_id, plan_id, quantity)
         select gen_random_uuid(), c.id, $1::uuid, $2::uuid, 1 from carts c where c.token = 'old-expired-cart-0000000000'",
    )
    .bind(crate::fixtures::WEB)
    .bind(crate::fixtures::WEB_1M)
    .execute(&app.pool)
    .await
    .unwrap();

    let stats = cron::carts::cleanup(&app.pool, &settings(2)).await.unwrap();
    assert!(stats.max_rows <= 2, "{stats:?}");
    let left: Vec<String> = sqlx::query_scalar("select token from carts order by token")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        left,
        [
            "new-merged-cart-00000000000",
            "new-merged-target-00000000000",
            "old-converted-cart-000000000",
            "recent-expired-cart-00000000",
        ],
        "old expired and merged carts go (items cascade), a target of a newer merged cart waits"
    );
    assert_eq!(count(&app.pool, "select count(*) from cart_items").await, 0);
}

#[tokio::test]
async fn expiry_sweep_releases_orphaned_holds_and_wakes_expired_sessions() {
    let app = TestApp::spawn().await;
    load_catalog(&app).await;
    let past = Utc::now() - chrono::Duration::minutes(5);
    let future = Utc::now() + chrono::Duration::minutes(30);
    let web: Uuid = WEB_COHORT.parse().unwrap();
    let ds: Uuid = DS_COHORT.parse().unwrap();
    // a failed order still holding an expired seat: released
    let (failed, _) = fx::order(&app.pool, "failed", "reserve", "compensated", 1000).await;
    fx::hold(&app.pool, failed, web, past).await;
    // a paid order's expired hold is enroll's to convert: kept
    let (paid, _) = fx::order(&app.pool, "paid", "enroll", "running", 1000).await;
    fx::hold(&app.pool, paid, ds, past).await;
    // awaiting payment, every session expired: confirm woken
    let (lapsed, _) = fx::order(&app.pool, "awaiting_payment", "confirm", "waiting", 1000).await;
    fx::payment(&app.pool, lapsed, "created", 1000, 0, past).await;
    // awaiting payment with a live session: left alone
    let (open, _) = fx::order(&app.pool, "awaiting_payment", "confirm", "waiting", 1000).await;
    fx::payment(&app.pool, open, "created", 1000, 0, future).await;

    let stats = cron::expiry::sweep(&app.pool, 1, 42).await.unwrap();
    assert_eq!(stats.rows, 2, "{stats:?}");
    let held = |order: Uuid| {
        let pool = app.pool.clone();
        async move {
            sqlx::query_scalar::<_, String>("select status from seat_holds where order_id = $1")
                .bind(order)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    assert_eq!(held(failed).await, "released");
    assert_eq!(held(paid).await, "held");
    // the release says the hold had run out, with its cohort
    let expired: Vec<serde_json::Value> = sqlx::query_scalar(
        "select payload from outbox_events
          where aggregate_id = $1 and event_type = 'seat_hold.expired'",
    )
    .bind(failed)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0]["cohort_id"], WEB_COHORT);
    crate::events::assert_valid(&app.pool).await;
    assert_eq!(
        count(
            &app.pool,
            &format!("select seats_held::bigint from cohorts where id = '{WEB_COHORT}'")
        )
        .await,
        0,
        "the counter moved with the hold"
    );
    assert_eq!(
        fx::step_jobs(&app.pool, lapsed, "expiry-sweep").await,
        [format!("{lapsed}:confirm:expiry-sweep:42")]
    );
    assert!(
        fx::step_jobs(&app.pool, open, "expiry-sweep")
            .await
            .is_empty()
    );

    // the same tick again changes nothing
    let again = cron::expiry::sweep(&app.pool, 1, 42).await.unwrap();
    assert_eq!(again.rows, 0, "{again:?}");
}

#[tokio::test]
async fn stuck_sweep_requeues_sagas_without_a_live_job() {
    let app = TestApp::spawn().await;
    let old = chrono::Duration::minutes(10);
    let (stuck, _) = fx::order(&app.pool, "pending", "reserve", "running", 1000).await;
    fx::age_saga(&app.pool, stuck, old).await;
    // same age, but its step job is still pending: not stuck
    let (queued, _) = fx::order(&app.pool, "pending", "reserve", "running", 1000).await;
    fx::job(
        &app.pool,
        &checkout::workflows::jobs::Job::Step {
            order_id: queued,
            step: checkout::domain::order::Step::Reserve,
            reconciling: false,
        },
        &format!("{queued}:reserve"),
    )
    .await;
    fx::age_saga(&app.pool, queued, old).await;
    // compensating with no job: its compensation is enqueued again
    let (comp, _) = fx::order(&app.pool, "failed", "reserve", "compensating", 1000).await;
    fx::age_saga(&app.pool, comp, old).await;
    // recent: not yet stuck
    let (fresh, _) = fx::order(&app.pool, "pending", "price", "running", 1000).await;

    let stats = cron::stuck::sweep(&app.pool, 300, 1, 7).await.unwrap();
    assert_eq!(stats.rows, 2, "{stats:?}");
    assert_eq!(
        fx::step_jobs(&app.pool, stuck, "stuck").await,
        [format!("{stuck}:reserve:stuck:7")]
    );
    assert!(fx::step_jobs(&app.pool, queued, "stuck").await.is_empty());
    assert_eq!(
        fx::step_jobs(&app.pool, comp, "stuck").await,
        [format!("{comp}:compensate:stuck:7")]
    );
    assert!(fx::step_jobs(&app.pool, fresh, "stuck").await.is_empty());
    // next tick: the re-enqueued jobs are live, nothing is stuck
    let again = cron::stuck::sweep(&app.pool, 300, 1, 8).await.unwrap();
    assert_eq!(again.rows, 0);
}

#[tokio::test]
async fn reconcile_tick_wakes_each_due_order_once() {
    let app = TestApp::spawn().await;
    let mut due = Vec::new();
    for _ in 0..3 {
        let (id, _) = fx::order(&app.pool, "awaiting_payment", "confirm", "waiting", 1000).await;
        due.push(id);
    }
    sqlx::query("alter table orders disable trigger orders_updated_at")
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query("update orders set updated_at = now() - interval '1 hour'")
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query("alter table orders enable trigger orders_updated_at")
        .execute(&app.pool)
        .await
        .unwrap();
    let (recent, _) = fx::order(&app.pool, "awaiting_payment", "confirm", "waiting", 1000).await;

    let stats = checkout::workflows::checkout::reconcile::sweep_tick(&app.pool, 600, 99, 2)
        .await
        .unwrap();
    assert_eq!(stats.rows, 3, "{stats:?}");
    assert!(stats.max_rows <= 2);
    for id in due {
        assert_eq!(fx::step_jobs(&app.pool, id, "rc:99").await.len(), 1);
    }
    assert!(fx::step_jobs(&app.pool, recent, "rc:").await.is_empty());
    let again = checkout::workflows::checkout::reconcile::sweep_tick(&app.pool, 600, 99, 2)
        .await
        .unwrap();
    assert_eq!(again.rows, 0);
}

#[tokio::test]
async fn prune_deletes_what_is_past_retention() {
    let app = TestApp::spawn().await;
    let user = fx::user(&app.pool).await;
    for sql in [
        // two old done jobs, one recent done job, one old failed job
        "insert into apalis.jobs (job, id, job_type, status, done_at)
         values (convert_to('{}', 'UTF8'), 'old-done-1', 'system.ping', 'Done', now() - interval '8 days'),
                (convert_to('{}', 'UTF8'), 'old-done-2', 'system.ping', 'Done', now() - interval '8 days'),
                (convert_to('{}', 'UTF8'), 'new-done', 'system.ping', 'Done', now() - interval '1 day'),
                (convert_to('{}', 'UTF8'), 'old-failed', 'system.ping', 'Failed', now() - interval '8 days')",
        "insert into webhook_events (id, gateway, event_id, status, received_at)
         values (gen_random_uuid(), 'razorpay', 'old', 'processed', now() - interval '100 days'),
                (gen_random_uuid(), 'razorpay', 'new', 'processed', now())",
        "insert into idempotency_keys (scope, key, method, path, body_sha256, state, lock_id, expires_at)
         values ('s', 'expired', 'POST', '/x', 'h', 'in_progress', gen_random_uuid(), now() - interval '1 minute'),
                ('s', 'live', 'POST', '/x', 'h', 'in_progress', gen_random_uuid(), now() + interval '1 hour')",
        "insert into login_attempts (account, address, attempted_at)
         values ('a', '10.0.0.1', now() - interval '2 days'), ('a', '10.0.0.1', now())",
    ] {
        sqlx::query(sql).execute(&app.pool).await.unwrap();
    }
    sqlx::query(
        "insert into auth_sessions (id, user_id, expires_at) values ($1, $2, now() + interval '1 day');
         ",
    )
    .bind(user)
    .bind(user)
    .execute(&app.pool)
    .await
    .unwrap();
    sqlx::query(
        "insert into refresh_tokens (token_hash, session_id, used_at)
         values (sha256('old'), $1, now() - interval '31 days'), (sha256('new'), $1, now()),
                (sha256('current'), $1, null)",
    )
    .bind(user)
    .execute(&app.pool)
    .await
    .unwrap();

    // outbox: an old published event goes; an old unpublished one and a recent
    // published one stay
    let (order, _) = fx::order(&app.pool, "awaiting_payment", "confirm", "waiting", 1000).await;
    sqlx::query(
        "insert into outbox_events (aggregate_type, aggregate_id, event_type, payload, created_at, published_at)
         values ('order', $1, 'order.created', '{}', now() - interval '8 days', now() - interval '8 days'),
                ('order', $1, 'order.priced', '{}', now() - interval '8 days', null),
                ('order', $1, 'order.reserved', '{}', now(), now())",
    )
    .bind(order)
    .execute(&app.pool)
    .await
    .unwrap();

    // deliveries: an old succeeded one and an old dead one go; an old failing one and a
    // recent succeeded one stay
    sqlx::query(
        "with s as (insert into webhook_subscriptions (id, url, secret)
                    values (gen_random_uuid(), 'https://example.com/hook', 'whsec_x') returning id)
         insert into webhook_deliveries (id, subscription_id, event_id, event_type, payload, status, created_at)
         select gen_random_uuid(), s.id, gen_random_uuid(), 'order.paid', '{}', v.status, now() - v.age
           from s, (values ('succeeded', interval '31 days'), ('dead', interval '31 days'),
                           ('failed', interval '31 days'), ('succeeded', interval '0')) v(status, age)",
    )
    .execute(&app.pool)
    .await
    .unwrap();

    let stats = cron::prune::prune(&app.pool, &settings(1)).await.unwrap();
    assert_eq!(stats.rows, 2 + 1 + 1 + 1 + 1 + 1 + 2, "{stats:?}");
    let deliveries: Vec<(String, bool)> = sqlx::query_as(
        "select status, created_at > now() - interval '1 day' from webhook_deliveries order by status",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        deliveries,
        [("failed".to_owned(), false), ("succeeded".to_owned(), true)]
    );
    let outbox: Vec<String> =
        sqlx::query_scalar("select event_type from outbox_events order by sequence")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(outbox, ["order.priced", "order.reserved"]);
    assert_eq!(stats.max_rows, 1);
    let jobs: Vec<String> = sqlx::query_scalar("select id from apalis.jobs order by id")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(jobs, ["new-done", "old-failed"]);
    assert_eq!(
        count(
            &app.pool,
            "select count(*) from webhook_events where event_id = 'new'"
        )
        .await,
        1
    );
    assert_eq!(
        count(&app.pool, "select count(*) from webhook_events").await,
        1
    );
    assert_eq!(
        count(
            &app.pool,
            "select count(*) from idempotency_keys where key = 'live'"
        )
        .await,
        1
    );
    assert_eq!(
        count(&app.pool, "select count(*) from idempotency_keys").await,
        1
    );
    assert_eq!(
        count(&app.pool, "select count(*) from login_attempts").await,
        1
    );
    assert_eq!(
        count(&app.pool, "select count(*) from refresh_tokens").await,
        2
    );
}

/// Every `system.cron` job as (schedule, tick, status).
async fn cron_jobs(pool: &PgPool) -> Vec<(String, i64, String, Option<String>)> {
    sqlx::query_as(
        "select convert_from(job, 'UTF8')::jsonb ->> 'schedule',
                (convert_from(job, 'UTF8')::jsonb ->> 'tick')::bigint, status, idempotency_key
         from apalis.jobs where job_type = 'system.cron'",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn two_schedulers_run_each_tick_once_and_hand_over() {
    let app = TestApp::spawn().await;
    let every_second = "* * * * * *";
    let env = [
        ("CHECKOUT__SCHEDULER__LEADER_POLL_MS", "200"),
        ("CHECKOUT__SCHEDULER__CART_CLEANUP", every_second),
        ("CHECKOUT__SCHEDULER__STUCK_SWEEP", every_second),
        ("CHECKOUT__SCHEDULER__EXPIRY_SWEEP", "off"),
        ("CHECKOUT__SCHEDULER__RECONCILE", "off"),
        ("CHECKOUT__SCHEDULER__PRUNE", "off"),
    ];
    let mut a = Proc::spawn(&["scheduler"], &app.db.url, &env);
    // a leads before b starts (the test kills a to force a handover)
    let led = eventually(Duration::from_secs(10), || async {
        let n = cron_jobs(&app.pool).await.len();
        (n > 0).then_some(n)
    })
    .await;
    assert!(
        led.is_some(),
        "the first scheduler leads and enqueues ticks"
    );
    let mut b = Proc::spawn(&["scheduler"], &app.db.url, &env);
    let _worker = app.spawn_worker();
    // an expired cart the ticks clean up (through the worker)
    sqlx::query(
        "insert into carts (id, token, status, expires_at)
         values (gen_random_uuid(), 'expired-by-the-cron-000000', 'active', now() - interval '1 minute')",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;

    a.kill9();
    let killed_at = Utc::now().timestamp();
    let resumed = eventually(Duration::from_secs(10), || async {
        let ticks = cron_jobs(&app.pool).await;
        ticks
            .iter()
            .any(|(s, t, _, _)| s == "cart_cleanup" && *t > killed_at + 1)
            .then_some(())
    })
    .await;
    assert!(
        resumed.is_some(),
        "the other scheduler took over and ticks continue"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(b.terminate().success());

    let jobs = cron_jobs(&app.pool).await;
    let mut per_tick: HashMap<(String, i64), usize> = HashMap::new();
    for (schedule, tick, _, key) in &jobs {
        assert_eq!(
            key.as_deref(),
            Some(checkout::workflows::keys::cron_tick(schedule, *tick).as_str())
        );
        *per_tick.entry((schedule.clone(), *tick)).or_default() += 1;
    }
    assert!(
        per_tick.values().all(|n| *n == 1),
        "each tick enqueued once: {per_tick:?}"
    );
    assert!(
        jobs.iter()
            .all(|(s, ..)| s == "cart_cleanup" || s == "stuck_sweep"),
        "switched-off schedules never tick"
    );
    for schedule in ["cart_cleanup", "stuck_sweep"] {
        let mut ticks: Vec<i64> = jobs
            .iter()
            .filter(|j| j.0 == schedule)
            .map(|j| j.1)
            .collect();
        ticks.sort();
        assert!(ticks.len() >= 6, "{schedule}: {ticks:?}");
        let gaps: Vec<i64> = ticks.windows(2).map(|w| w[1] - w[0]).collect();
        // the handover may skip nothing: the new leader enqueues the latest due tick
        assert!(gaps.iter().all(|g| *g <= 3), "{schedule}: ticks {ticks:?}");
    }
    let done = eventually(Duration::from_secs(10), || async {
        let jobs = cron_jobs(&app.pool).await;
        jobs.iter().all(|j| j.2 == "Done").then_some(())
    })
    .await;
    assert!(
        done.is_some(),
        "the worker ran every tick: {:?}",
        cron_jobs(&app.pool).await
    );
    assert_eq!(
        count(&app.pool, "select count(*) from carts where token = 'expired-by-the-cron-000000' and status = 'expired'").await,
        1
    );
}
