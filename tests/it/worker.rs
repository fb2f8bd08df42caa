//! The job runtime with real `checkout worker` processes.

use std::time::Duration;

use checkout::workers::EnqueueOptions;
use checkout::workflows::jobs::Job;
use checkout::workflows::jobs::{PING_QUEUE, enqueue_ping};
use sqlx::{Connection, PgConnection, PgPool};
use uuid::Uuid;

use crate::helpers::{Proc, TestApp, eventually, server_url};

#[derive(Debug, sqlx::FromRow)]
struct Ping {
    runs: i32,
    finished: bool,
    ran_by: Option<String>,
}

async fn ping(pool: &PgPool, id: Uuid) -> Ping {
    sqlx::query_as(
        "select runs, finished_at is not null as finished, ran_by from system_pings where id = $1",
    )
    .bind(id)
    .fetch_one(pool)
    .await
    .unwrap()
}

async fn finished(pool: &PgPool, id: Uuid, within: Duration) -> Option<Ping> {
    eventually(within, || async {
        let p = ping(pool, id).await;
        p.finished.then_some(p)
    })
    .await
}

#[tokio::test]
async fn a_worker_process_runs_a_job_enqueued_by_another_process() {
    let app = TestApp::spawn().await;
    let _worker = app.spawn_worker();
    // let the worker register and go idle, so the job must wake it
    tokio::time::sleep(Duration::from_millis(500)).await;
    let id = enqueue_ping(&app.pool, 0).await.unwrap();
    let p = finished(&app.pool, id, Duration::from_secs(10))
        .await
        .expect("ping ran");
    assert_eq!(p.runs, 1);
    // picked up through LISTEN/NOTIFY, far below the 30 s heartbeat
    let pickup_ms: f64 = sqlx::query_scalar(
        "select extract(epoch from started_at - enqueued_at)::float8 * 1000 from system_pings where id = $1",
    )
    .bind(id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(pickup_ms < 2_000.0, "pickup took {pickup_ms} ms");
}

/// A worker's fetches from its queue, as its health port's `/metrics` counts them.
async fn fetches(worker: &Proc, queue: &str) -> u64 {
    let text = reqwest::get(format!("http://{}/metrics", worker.addr.unwrap()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let label = format!("queue=\"{queue}\"");
    text.lines()
        .filter(|l| l.starts_with("job_fetches_total{") && l.contains(&label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// A worker process whose fallback timer (60 s) is out of the way, once it has
/// registered and made its first fetch; with its ping-queue fetches so far.
async fn idle_worker(app: &TestApp, env: &[(&str, &str)]) -> (Proc, u64) {
    let mut env = env.to_vec();
    env.push(("CHECKOUT__WORKER__WAKE_INTERVAL_MS", "60000"));
    let worker = Proc::spawn(&["worker"], &app.db.url, &env);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = fetches(&worker, PING_QUEUE).await;
    (worker, before)
}

/// With its timer out of the way (60 s), a worker fetches once per notification: not
/// again when the job finishes, when its ack is written or when the batch runs out, as
/// apalis on its own does (3-4 fetches per job, most of them empty).
#[tokio::test]
async fn a_worker_fetches_once_per_job_woken_by_its_notification() {
    let app = TestApp::spawn().await;
    let (worker, before) = idle_worker(&app, &[]).await;
    assert!(before >= 1, "a worker fetches once when it starts");
    for _ in 0..10 {
        let id = enqueue_ping(&app.pool, 0).await.unwrap();
        finished(&app.pool, id, Duration::from_secs(10))
            .await
            .expect("woken by the notification, not the 60 s timer");
    }
    // let the last ack land; an ack must not cause a fetch either
    tokio::time::sleep(Duration::from_millis(300)).await;
    let used = fetches(&worker, PING_QUEUE).await - before;
    assert!(
        (10..=11).contains(&used),
        "{used} fetches for 10 jobs, one notification each"
    );
}

/// A fetch that fills its batch owes another: a backlog larger than the batch drains
/// without waiting for the timer.
#[tokio::test]
async fn a_full_batch_is_followed_by_another_fetch_without_a_wake_up() {
    let app = TestApp::spawn().await;
    let (worker, before) = idle_worker(&app, &[("CHECKOUT__WORKER__BATCH_SIZE", "2")]).await;
    // ten jobs in one transaction: their notifications arrive together, one wake-up
    let mut ids = Vec::new();
    let mut tx = app.pool.begin().await.unwrap();
    for _ in 0..10 {
        let id = Uuid::new_v4();
        checkout::store::pings::create(&mut *tx, id).await.unwrap();
        checkout::workers::enqueue(
            &mut tx,
            &Job::Ping { id, hold_ms: 0 },
            EnqueueOptions::default(),
        )
        .await
        .unwrap();
        ids.push(id);
    }
    tx.commit().await.unwrap();
    for id in ids {
        let p = finished(&app.pool, id, Duration::from_secs(10))
            .await
            .expect("drained batch by batch, not by the 60 s timer");
        assert_eq!(p.runs, 1);
    }
    // five full batches of two, then one that finds nothing (and one more if some of
    // the notifications came in after the first fetch had started)
    let used = fetches(&worker, PING_QUEUE).await - before;
    assert!(
        (6..=8).contains(&used),
        "{used} fetches for 10 jobs in batches of 2"
    );
}

/// apalis acks a job by (worker, id); a done job that kept its worker made every later
/// ack of that worker walk it (migration 20261127006000).
#[tokio::test]
async fn a_finished_job_forgets_its_worker() {
    let app = TestApp::spawn().await;
    let _worker = app.spawn_worker();
    let id = enqueue_ping(&app.pool, 0).await.unwrap();
    finished(&app.pool, id, Duration::from_secs(10))
        .await
        .expect("ping ran");
    // the ack is written after the handler returns
    let workers: Vec<Option<String>> = eventually(Duration::from_secs(10), || async {
        let rows: Vec<(String, Option<String>)> = sqlx::query_as(
            "select status, lock_by from apalis.jobs where job_type = 'system.ping'",
        )
        .fetch_all(&app.pool)
        .await
        .unwrap();
        let done = !rows.is_empty() && rows.iter().all(|(status, _)| status == "Done");
        done.then(|| rows.into_iter().map(|(_, w)| w).collect())
    })
    .await
    .expect("the ping job acked");
    assert_eq!(workers, vec![None]);
    let lock_by_indexes: Vec<String> = sqlx::query_scalar(
        "select indexdef from pg_indexes
          where schemaname = 'apalis' and tablename = 'jobs' and indexdef like '%(lock_by)%'",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(lock_by_indexes.len(), 1, "{lock_by_indexes:?}");
    assert!(lock_by_indexes[0].contains("WHERE"), "{lock_by_indexes:?}");
}

#[tokio::test]
async fn a_job_whose_worker_is_killed_mid_run_is_run_again_by_another() {
    let app = TestApp::spawn().await;
    let mut first = app.spawn_worker();
    let id = enqueue_ping(&app.pool, 3_000).await.unwrap();
    let started = eventually(Duration::from_secs(10), || async {
        (ping(&app.pool, id).await.runs == 1).then_some(())
    })
    .await;
    assert!(started.is_some(), "first worker started the job");
    first.kill9();
    assert!(!ping(&app.pool, id).await.finished);

    let _second = app.spawn_worker();
    // orphan timeout is heartbeat (1 s) x missed heartbeats (2) in tests
    let p = finished(&app.pool, id, Duration::from_secs(20))
        .await
        .expect("second worker finished the orphaned job");
    assert_eq!(p.runs, 2);
    assert!(p.ran_by.is_some());
}

#[tokio::test]
async fn a_worker_survives_losing_its_database_connections() {
    let app = TestApp::spawn().await;
    let mut worker = app.spawn_worker();
    let id = enqueue_ping(&app.pool, 0).await.unwrap();
    finished(&app.pool, id, Duration::from_secs(10))
        .await
        .expect("first ping");

    // Refuse new connections to this database and cut every existing one (the worker's
    // pool and its LISTEN connection), as a Postgres restart would.
    // Done from the maintenance database: this database refuses connections meanwhile.
    let db = &app.db.name;
    let mut admin = PgConnection::connect(&format!("{}/postgres", server_url()))
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "alter database {db} allow_connections false"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
    sqlx::query("select pg_terminate_backend(pid) from pg_stat_activity where datname = $1")
        .bind(db)
        .execute(&mut admin)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        worker.child.try_wait().unwrap().is_none(),
        "worker exited during the outage"
    );
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "alter database {db} allow_connections true"
    )))
    .execute(&mut admin)
    .await
    .unwrap();

    let id = enqueue_ping(&app.pool, 0).await.unwrap();
    finished(&app.pool, id, Duration::from_secs(20))
        .await
        .expect("worker recovered and ran the next ping");
    assert!(
        worker.child.try_wait().unwrap().is_none(),
        "worker still running"
    );
    let status = worker.terminate();
    assert!(
        status.success(),
        "worker stops cleanly on SIGTERM: {status:?}"
    );
}

#[tokio::test]
async fn worker_health_port_answers() {
    let app = TestApp::spawn().await;
    let worker = app.spawn_worker();
    let addr = worker.addr.unwrap();
    let resp = reqwest::get(format!("http://{addr}/readyz")).await.unwrap();
    assert_eq!(resp.status(), 200);
    let resp = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn enqueue_with_the_same_idempotency_key_is_a_no_op() {
    use checkout::workers::enqueue;
    let app = TestApp::spawn().await;
    let job = Job::Ping {
        id: Uuid::new_v4(),
        hold_ms: 0,
    };
    let opts = EnqueueOptions {
        idempotency_key: Some("same-key".into()),
        ..Default::default()
    };
    let mut tx = app.pool.begin().await.unwrap();
    assert!(enqueue(&mut tx, &job, opts.clone()).await.unwrap());
    assert!(!enqueue(&mut tx, &job, opts).await.unwrap());
    // the duplicate did not abort the surrounding transaction
    sqlx::query("select 1").execute(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
    let count: i64 =
        sqlx::query_scalar("select count(*) from apalis.jobs where idempotency_key = 'same-key'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(count, 1);
}

/// Pickup latency (commit -> job start) over 1,000 jobs at ~200 jobs/s with one idle
/// worker process. A measurement, not a pass/fail timing check (machines are noisy):
/// run with `scripts/test --run-ignored only -E 'test(pickup_latency)' --no-capture`.
#[tokio::test]
#[ignore]
async fn pickup_latency() {
    let app = TestApp::spawn().await;
    let _worker = app.spawn_worker();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut ids = Vec::new();
    for _ in 0..1000 {
        ids.push(enqueue_ping(&app.pool, 0).await.unwrap());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let done = eventually(Duration::from_secs(60), || async {
        let n: i64 =
            sqlx::query_scalar("select count(*) from system_pings where finished_at is not null")
                .fetch_one(&app.pool)
                .await
                .unwrap();
        (n == 1000).then_some(())
    })
    .await;
    assert!(done.is_some(), "all pings ran");
    let row: (f64, f64, f64) = sqlx::query_as(
        "select percentile_cont(0.5) within group (order by ms), percentile_cont(0.99) within group (order by ms), max(ms)
         from (select extract(epoch from started_at - enqueued_at)::float8 * 1000 as ms from system_pings) t",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    println!(
        "pickup latency over 1000 jobs: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        row.0, row.1, row.2
    );
}

/// `apalis.get_jobs` is ours since migration 20261202010000 (PL/pgSQL, so its plan is
/// kept per connection): it must still claim exactly what apalis's claimed.
#[tokio::test]
async fn get_jobs_claims_due_jobs_by_priority_then_age_each_once() {
    let app = TestApp::spawn().await;
    let language: String = sqlx::query_scalar(
        "select l.lanname::text from pg_proc p join pg_language l on l.oid = p.prolang
          where p.oid = 'apalis.get_jobs(text, text, integer)'::regprocedure",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(language, "plpgsql");
    sqlx::query(
        "insert into apalis.workers (id, worker_type, storage_name, layers, last_seen)
         values ('claimer', 'q.test', 'test', '', now())",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    // id, queue, status, attempts, max_attempts, run_at offset (s), priority
    let jobs: [(&str, &str, &str, i32, i32, i32, i32); 8] = [
        ("old", "q.test", "Pending", 0, 3, -20, 0),
        ("new", "q.test", "Pending", 0, 3, -10, 0),
        ("urgent", "q.test", "Pending", 0, 3, -5, 9),
        ("retryable", "q.test", "Failed", 1, 3, -15, 0),
        ("spent", "q.test", "Failed", 3, 3, -30, 0),
        ("later", "q.test", "Pending", 0, 3, 60, 0),
        ("done", "q.test", "Done", 1, 3, -40, 0),
        ("elsewhere", "q.other", "Pending", 0, 3, -50, 0),
    ];
    for (id, queue, status, attempts, max, offset, priority) in jobs {
        sqlx::query(
            "insert into apalis.jobs (id, job_type, job, status, attempts, max_attempts, run_at, priority)
             values ($1, $2, '\\x00', $3, $4, $5, now() + make_interval(secs => $6), $7)",
        )
        .bind(id)
        .bind(queue)
        .bind(status)
        .bind(attempts)
        .bind(max)
        .bind(f64::from(offset))
        .bind(priority)
        .execute(&app.pool)
        .await
        .unwrap();
    }
    let claim = |count: i32| {
        sqlx::query_as::<_, (String, String, Option<String>)>(
            "select id, status, lock_by from apalis.get_jobs('claimer', 'q.test', $1)",
        )
        .bind(count)
        .fetch_all(&app.pool)
    };
    // which three: by priority, then oldest run_at (rows come back in no set order)
    let first = claim(3).await.unwrap();
    let mut ids: Vec<&str> = first.iter().map(|(id, _, _)| id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["old", "retryable", "urgent"]);
    assert!(
        first
            .iter()
            .all(|(_, status, by)| status == "Queued" && by.as_deref() == Some("claimer")),
        "{first:?}"
    );
    let rest = claim(10).await.unwrap();
    let ids: Vec<&str> = rest.iter().map(|(id, _, _)| id.as_str()).collect();
    assert_eq!(ids, ["new"], "claimed jobs are not claimed again");
    assert!(claim(10).await.unwrap().is_empty());
}

/// The pool pings a connection before handing it out only when it sat idle for a
/// while (`store::PING_IF_IDLE`); such a connection that the server dropped
/// meanwhile (a restart, an administrator) is replaced, not handed out broken.
#[tokio::test]
async fn a_pool_connection_cut_while_idle_is_replaced_before_use() {
    let app = TestApp::spawn().await;
    // a pool of its own: the app's background tasks would find the cut connections first
    let pool = checkout::store::pool(&app.db.url, &app.settings.database).unwrap();
    let one: i32 = sqlx::query_scalar("select 1")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(one, 1);
    // back in the pool once its release ping is done
    eventually(Duration::from_secs(5), || async {
        (pool.num_idle() == 1).then_some(())
    })
    .await
    .expect("the connection went back to the pool");
    let mut admin = PgConnection::connect(&format!("{}/postgres", server_url()))
        .await
        .unwrap();
    let cut: Vec<bool> = sqlx::query_scalar(
        "select pg_terminate_backend(pid) from pg_stat_activity
          where datname = $1 and application_name = 'checkout'",
    )
    .bind(&app.db.name)
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert!(!cut.is_empty() && cut.iter().all(|c| *c), "{cut:?}");
    tokio::time::sleep(checkout::store::PING_IF_IDLE + Duration::from_millis(200)).await;
    assert_eq!(pool.num_idle(), 1, "the cut connection is still pooled");
    let one: i32 = sqlx::query_scalar("select 1")
        .fetch_one(&pool)
        .await
        .expect("an idle connection the server cut is replaced");
    assert_eq!(one, 1);
}

/// Whether an order's `confirm` is due and unstarted (asked by every webhook) reads that
/// order's few jobs, whatever the backlog. With thousands of due jobs and statistics
/// older than them (a table that grew since it was last analyzed, as in a load run),
/// the plan a connection cached once read every due job instead.
#[tokio::test]
async fn the_due_confirm_check_reads_only_its_orders_jobs_whatever_the_backlog() {
    use checkout::store::jobs::DUE_UNSTARTED;
    use checkout::workflows::jobs::STEP_QUEUE;
    let db = crate::helpers::TestDb::create().await;
    let pool = PgPool::connect(&db.url).await.unwrap();
    checkout::store::migrate(&pool).await.unwrap();
    let mut conn = pool.acquire().await.unwrap();
    let insert = "insert into apalis.jobs (id, job_type, job, status, attempts, max_attempts,
                                           run_at, priority, idempotency_key)
                  select gen_random_uuid()::text, $1, '\\x00'::bytea, 'Pending', 0, 3,
                         now() - interval '1 minute', 0, $2 || n
                    from generate_series(1, $3) n";
    sqlx::query(insert)
        .bind(STEP_QUEUE)
        .bind(format!("{}:reserve:", Uuid::now_v7()))
        .bind(3_000)
        .execute(&mut *conn)
        .await
        .unwrap();
    let order = Uuid::now_v7();
    sqlx::query(insert)
        .bind(STEP_QUEUE)
        .bind(format!("{order}:confirm:wh:"))
        .bind(1)
        .execute(&mut *conn)
        .await
        .unwrap();
    // the generic plan, as a connection caches it after five runs
    sqlx::raw_sql("set plan_cache_mode = force_generic_plan")
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "prepare due(text, text) as {DUE_UNSTARTED}"
    )))
    .execute(&mut *conn)
    .await
    .unwrap();
    for (prefix, due) in [
        (format!("{order}:confirm:"), true),
        (format!("{}:confirm:", Uuid::now_v7()), false),
    ] {
        let args = format!("'{STEP_QUEUE}', '{prefix}'");
        let plan: serde_json::Value = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "explain (analyze, buffers, format json) execute due({args})"
        )))
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        let node = &plan[0]["Plan"];
        let pages = node["Shared Hit Blocks"].as_i64().unwrap()
            + node["Shared Read Blocks"].as_i64().unwrap();
        assert!(pages < 10, "{pages} pages read: {plan:#}");
        let answer: bool = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("execute due({args})")))
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        assert_eq!(answer, due, "{prefix}");
    }
}

/// A LISTEN connection is held for the life of the process, so it is the listener's
/// own, not one of the work pool's (`database.max_connections` counts working
/// connections only): with the listener connected and hearing, the pool has lent
/// nothing.
#[tokio::test]
async fn a_listener_takes_no_connection_from_the_work_pool() {
    let app = TestApp::spawn().await;
    let settings = checkout::config::DatabaseSettings {
        max_connections: 2,
        ..Default::default()
    };
    let pool = checkout::store::pool(&app.db.url, &settings).unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(checkout::store::listen::listen(
        pool.clone(),
        "test_listener_pool",
        stop.clone(),
        move |heard| {
            let _ = tx.send(match heard {
                checkout::store::listen::Heard::Payload(p) => p.to_owned(),
                checkout::store::listen::Heard::Reconnected => "(connected)".to_owned(),
            });
        },
    ));
    let first = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await;
    assert_eq!(first.unwrap().as_deref(), Some("(connected)"));
    sqlx::query("select pg_notify('test_listener_pool', 'hello')")
        .execute(&app.pool)
        .await
        .unwrap();
    let heard = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await;
    assert_eq!(heard.unwrap().as_deref(), Some("hello"));
    assert_eq!(pool.size(), 0, "the listener took a pool connection");
    stop.cancel();
}

/// A memory fed by notifications hears them while it lives, and dropping it ends its
/// listener (the guard it keeps cancels the task, which holds only a weak reference):
/// the LISTEN connection goes away.
#[tokio::test]
async fn a_listener_for_an_owner_ends_when_the_owner_is_dropped() {
    use checkout::store::listen::{Heard, listen_for};
    use std::sync::{Arc, Mutex, OnceLock};
    #[derive(Default)]
    struct Memory {
        heard: Mutex<Vec<String>>,
        listener: OnceLock<tokio_util::sync::DropGuard>,
    }
    let app = TestApp::spawn().await;
    let owner = Arc::new(Memory::default());
    let guard = listen_for(&app.pool, "test_listen_for", &owner, |owner, heard| {
        if let Heard::Payload(p) = heard {
            owner.heard.lock().unwrap().push(p.to_owned());
        }
    })
    .expect("inside a runtime, a listener runs");
    assert!(owner.listener.set(guard).is_ok());
    let listeners = || async {
        sqlx::query_scalar::<_, i64>(
            "select count(*) from pg_stat_activity
             where datname = current_database() and query = 'LISTEN \"test_listen_for\"'",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap()
    };
    eventually(Duration::from_secs(10), || async {
        (listeners().await == 1).then_some(())
    })
    .await
    .expect("the listener connects");
    sqlx::query("select pg_notify('test_listen_for', 'hello')")
        .execute(&app.pool)
        .await
        .unwrap();
    eventually(Duration::from_secs(10), || async {
        (!owner.heard.lock().unwrap().is_empty()).then_some(())
    })
    .await
    .expect("heard while the owner lives");
    drop(owner);
    eventually(Duration::from_secs(10), || async {
        (listeners().await == 0).then_some(())
    })
    .await
    .expect("the LISTEN connection outlived its owner");
}
