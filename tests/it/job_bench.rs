//! `checkout loadtest jobs`: each scenario run end to end on a database of its own, its
//! jobs enqueued through `workers::enqueue` and run by the `checkout worker` processes
//! it starts; its report agrees with what the job table holds.

use std::process::Command;

use serde_json::Value;
use sqlx::PgPool;

use crate::helpers::TestDb;

/// Runs `checkout loadtest jobs ARGS` against `db` (blocking, off the runtime's threads)
/// and returns its JSON report.
async fn jobs(db: &TestDb, args: &[&str]) -> Value {
    let url = db.url.clone();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_checkout"))
            .args(["loadtest", "jobs"])
            .args(&args)
            .env("DATABASE_URL", &url)
            .env("CHECKOUT__LOG__LEVEL", "warn")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "loadtest jobs failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `(seq, then)` of every finished bench job, in order.
async fn done(db: &TestDb) -> Vec<(i64, i64)> {
    let pool = PgPool::connect(&db.url).await.unwrap();
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "select (j ->> 'seq')::bigint, coalesce((j ->> 'then')::bigint, 0)
           from (select convert_from(job, 'UTF8')::jsonb as j from apalis.jobs
                  where job_type = 'system.ping' and status = 'Done') d
          where j ->> 'type' = 'bench'
          order by 1, 2 desc",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    rows
}

#[tokio::test(flavor = "multi_thread")]
async fn noop_runs_every_enqueued_job_once_with_two_worker_processes() {
    let db = TestDb::create().await;
    let report = jobs(
        &db,
        &[
            "--scenario",
            "noop",
            "--jobs",
            "300",
            "--batch",
            "100",
            "--workers",
            "2",
        ],
    )
    .await;
    assert_eq!(report["drained"], true, "{report}");
    assert_eq!(report["completed"], 300, "{report}");
    assert!(report["jobs_per_s"].as_f64().unwrap() > 0.0, "{report}");
    let done = done(&db).await;
    assert_eq!(done, (1..=300).map(|s| (s, 0)).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread")]
async fn chain_steps_each_enqueue_the_next_until_three_ran() {
    let db = TestDb::create().await;
    let report = jobs(&db, &["--scenario", "chain", "--chains", "30"]).await;
    assert_eq!(report["drained"], true, "{report}");
    assert_eq!(report["completed"], 90, "{report}");
    assert!(report["chains_per_s"].as_f64().unwrap() > 0.0, "{report}");
    let want: Vec<(i64, i64)> = (1..=30).flat_map(|s| [(s, 2), (s, 1), (s, 0)]).collect();
    assert_eq!(done(&db).await, want);
}

#[tokio::test(flavor = "multi_thread")]
async fn latency_measures_every_job_from_its_commit_to_its_start() {
    let db = TestDb::create().await;
    let report = jobs(
        &db,
        &["--scenario", "latency", "--rate", "50", "--seconds", "1"],
    )
    .await;
    assert_eq!(report["drained"], true, "{report}");
    let latency = &report["latency"];
    assert_eq!(latency["count"], 50, "{report}");
    let (p50, p99) = (
        latency["p50_ms"].as_f64().unwrap(),
        latency["p99_ms"].as_f64().unwrap(),
    );
    assert!(p50 <= p99, "{report}");
    // woken by its notification, not by apalis's 30 s heartbeat (bound loose for a
    // loaded test machine)
    assert!(p99 < 2_000.0, "{report}");
    let pool = PgPool::connect(&db.url).await.unwrap();
    let starts: i64 = sqlx::query_scalar("select count(*) from bench_job_starts")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(starts, 50);
}
