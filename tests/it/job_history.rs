//! Cost that does not grow with history: the statements every job runs read a bounded
//! number of index entries however many jobs ran before (issue: "a checkout must cost
//! the same on day 300 as on day 1").

use std::time::Duration;

use sqlx::{Connection, PgConnection, PgPool};

use crate::helpers::TestDb;

const WORKER: &str = "acker";
const QUEUE: &str = "q.history";
const JOBS: i64 = 2_000;
const BATCH: i32 = 10;
/// Acks measured at the start and at the end.
const SAMPLE: usize = 100;

/// Rows and index entries read from `apalis.jobs` so far (rows by sequential scans,
/// entries returned by its indexes), as the statistics views see them. A backend flushes its counters at most once a second,
/// `pg_stat_force_next_flush()` or not, so the read waits that second first.
async fn reads_so_far(conn: &mut PgConnection) -> i64 {
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    sqlx::query("select pg_stat_force_next_flush()")
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::query_scalar(
        "select (select coalesce(seq_tup_read, 0) from pg_stat_all_tables
                  where schemaname = 'apalis' and relname = 'jobs')
              + (select coalesce(sum(idx_tup_read), 0)::bigint from pg_stat_all_indexes
                  where schemaname = 'apalis' and relname = 'jobs')",
    )
    .fetch_one(&mut *conn)
    .await
    .unwrap()
}

async fn claim(conn: &mut PgConnection, count: i32) -> Vec<String> {
    sqlx::query_scalar("select id from apalis.get_jobs($1, $2, $3) order by id")
        .bind(WORKER)
        .bind(QUEUE)
        .bind(count)
        .fetch_all(&mut *conn)
        .await
        .unwrap()
}

async fn ack_each(conn: &mut PgConnection, ids: &[String]) {
    for id in ids {
        let acked = checkout::store::jobs::ack(conn, &ack_payload(id), WORKER)
            .await
            .unwrap();
        assert_eq!(acked, 1, "job {id} acked");
    }
}

/// Rows and index entries read per ack of `SAMPLE` jobs claimed together.
async fn reads_per_ack(conn: &mut PgConnection) -> f64 {
    let ids = claim(conn, SAMPLE as i32).await;
    assert_eq!(ids.len(), SAMPLE);
    let before = reads_so_far(conn).await;
    ack_each(conn, &ids).await;
    let after = reads_so_far(conn).await;
    (after - before) as f64 / SAMPLE as f64
}

fn ack_payload(id: &str) -> serde_json::Value {
    serde_json::json!([{"task_id": id, "attempt": 1, "status": "Done", "result": {"Ok": null}}])
}

/// A worker claims its jobs ten at a time and acks each, 2,000 in all, while another
/// session holds a snapshot from before the first (so no old row version can be
/// cleaned up, as under a long report or a lagging vacuum) and autovacuum is off for
/// the table. An ack reads a few rows and index entries, as many at the end as at the
/// start (apalis's own ack read every entry the worker left in the `lock_by` index; a
/// join planned as a table scan read every job).
#[tokio::test]
async fn an_ack_reads_as_much_after_2000_jobs_as_after_the_first() {
    let db = TestDb::create().await;
    let pool = PgPool::connect(&db.url).await.unwrap();
    checkout::store::migrate(&pool).await.unwrap();
    let mut conn = pool.acquire().await.unwrap();
    sqlx::raw_sql(
        "alter table apalis.jobs set (autovacuum_enabled = false);
         set stats_fetch_consistency = none;",
    )
    .execute(&mut *conn)
    .await
    .unwrap();
    sqlx::query(
        "insert into apalis.workers (id, worker_type, storage_name, layers, last_seen)
         values ($1, $2, 'test', '', now())",
    )
    .bind(WORKER)
    .bind(QUEUE)
    .execute(&mut *conn)
    .await
    .unwrap();
    sqlx::query(
        "insert into apalis.jobs (id, job_type, job, status, attempts, max_attempts, run_at, priority)
         select lpad(n::text, 8, '0'), $1, '\\x00'::bytea, 'Pending', 0, 3,
                now() - interval '1 hour' + n * interval '1 millisecond', 0
           from generate_series(1, $2) n",
    )
    .bind(QUEUE)
    .bind(JOBS)
    .execute(&mut *conn)
    .await
    .unwrap();
    let mut snapshot = PgConnection::connect(&db.url).await.unwrap();
    sqlx::raw_sql("begin isolation level repeatable read; select count(*) from apalis.jobs;")
        .execute(&mut snapshot)
        .await
        .unwrap();

    let first = reads_per_ack(&mut conn).await;
    loop {
        let ids = claim(&mut conn, BATCH).await;
        ack_each(&mut conn, &ids).await;
        if ids.len() < BATCH as usize {
            break;
        }
        let left: i64 =
            sqlx::query_scalar("select count(*) from apalis.jobs where status = 'Pending'")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
        if left == SAMPLE as i64 {
            break;
        }
    }
    let last = reads_per_ack(&mut conn).await;
    assert!(first > 0.0, "the statistics saw the acks' scans");
    // by primary key: the claimed row version and the one before it
    assert!(
        first <= 4.0,
        "an ack read {first} rows and index entries of a {JOBS}-job table"
    );
    assert!(
        last <= first,
        "an ack read {last} rows and index entries after {JOBS} jobs, {first} at the start"
    );
    let done: i64 = sqlx::query_scalar(
        "select count(*) from apalis.jobs where status = 'Done' and lock_by is null",
    )
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    assert_eq!(done, JOBS);
    // an ack by another worker, or of a job already acked, changes nothing
    let again = checkout::store::jobs::ack(&mut conn, &ack_payload("00000001"), WORKER)
        .await
        .unwrap();
    assert_eq!(again, 0);
    drop(snapshot);
}
