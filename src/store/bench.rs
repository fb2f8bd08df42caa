//! What `checkout loadtest jobs` reads and writes: the start instants its `bench` jobs
//! record (`bench_job_starts`), and the progress and time span of a queue's jobs from
//! apalis's own columns (`lock_at` is set by the claim, `done_at` by the ack). The
//! harness's reads are marked `/* harness */`, so a statement count of the server log
//! can leave them out (bench/run peers).

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

/// Records when job `seq` started; a second run of the same job keeps the first.
pub async fn record_start(
    conn: &mut PgConnection,
    seq: i64,
    started_at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into bench_job_starts (seq, started_at) values ($1, $2) on conflict do nothing",
        seq,
        started_at
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Every recorded start, by `seq`.
pub async fn starts(conn: &mut PgConnection) -> sqlx::Result<Vec<(i64, DateTime<Utc>)>> {
    let rows =
        sqlx::query!("/* harness */ select seq, started_at from bench_job_starts order by seq")
            .fetch_all(conn)
            .await?;
    Ok(rows.into_iter().map(|r| (r.seq, r.started_at)).collect())
}

/// Forgets earlier runs: the starts, and `queue`'s jobs.
pub async fn clear(conn: &mut PgConnection, queue: &str) -> sqlx::Result<()> {
    sqlx::query!("truncate bench_job_starts")
        .execute(&mut *conn)
        .await?;
    sqlx::query!("delete from apalis.jobs where job_type = $1", queue)
        .execute(conn)
        .await?;
    Ok(())
}

/// Whether any of `queue`'s jobs is still to run or running.
pub async fn busy(conn: &mut PgConnection, queue: &str) -> sqlx::Result<bool> {
    let busy = sqlx::query_scalar!(
        r#"/* harness */ select exists (
             select 1 from apalis.jobs
              where job_type = $1 and status in ('Pending', 'Queued', 'Running', 'Failed')
           ) as "busy!""#,
        queue
    )
    .fetch_one(conn)
    .await?;
    Ok(busy)
}

/// `queue`'s finished jobs: how many, the first claim and the last ack.
#[derive(Debug, Clone)]
pub struct Span {
    pub done: i64,
    pub first_lock: Option<DateTime<Utc>>,
    pub last_done: Option<DateTime<Utc>>,
}

pub async fn span(conn: &mut PgConnection, queue: &str) -> sqlx::Result<Span> {
    let r = sqlx::query!(
        r#"/* harness */ select count(*) as "done!", min(lock_at) as first_lock, max(done_at) as last_done
             from apalis.jobs where job_type = $1 and status = 'Done'"#,
        queue
    )
    .fetch_one(conn)
    .await?;
    Ok(Span {
        done: r.done,
        first_lock: r.first_lock,
        last_done: r.last_done,
    })
}

/// How many of the processes `pids` have a worker registered on `queue` (worker names
/// carry the process id: `{queue}@{host}:{pid}:...`).
pub async fn workers_up(conn: &mut PgConnection, queue: &str, pids: &[u32]) -> sqlx::Result<i64> {
    let patterns: Vec<String> = pids.iter().map(|p| format!("%:{p}:%")).collect();
    let up = sqlx::query_scalar!(
        r#"/* harness */ select count(*) as "up!" from apalis.workers where worker_type = $1 and id like any($2)"#,
        queue,
        &patterns
    )
    .fetch_one(conn)
    .await?;
    Ok(up)
}
