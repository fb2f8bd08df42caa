//! The apalis job table (`apalis.jobs`) as operators and the scheduler see it: listing,
//! statistics, retry and cancel for `checkout admin jobs`, pruning for the scheduler.
//!
//! Jobs are stored as JSON bytes (`job`); `convert_from(job, 'UTF8')` shows them.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::{FromRow, PgConnection, PgExecutor};

/// Statuses in which a job still runs or will run (Failed jobs with attempts left are
/// refetched by apalis too).
pub const LIVE: &[&str] = &["Pending", "Queued", "Running"];

#[derive(Debug, Clone, FromRow, Serialize)]
pub struct JobRow {
    pub id: String,
    pub queue: String,
    pub status: String,
    pub attempts: i32,
    pub max_attempts: i32,
    pub run_at: DateTime<Utc>,
    pub done_at: Option<DateTime<Utc>>,
    pub lock_by: Option<String>,
    pub idempotency_key: Option<String>,
    pub job: Value,
    pub last_result: Option<Value>,
}

const COLUMNS: &str = "id, job_type as queue, status, attempts, max_attempts, run_at, done_at,
    lock_by, idempotency_key, convert_from(job, 'UTF8')::jsonb as job, last_result";

/// Filters of `admin jobs list`; `None` = any.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub status: Option<String>,
    pub queue: Option<String>,
    /// run_at older than this many seconds
    pub older_than_secs: Option<u64>,
    /// Running, locked by a worker not seen for this many seconds (or by none)
    pub stuck_after_secs: Option<u64>,
    pub limit: i64,
}

pub async fn list(conn: &mut PgConnection, f: &Filter) -> sqlx::Result<Vec<JobRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from apalis.jobs j
         where ($1::text is null or j.status = $1)
           and ($2::text is null or j.job_type = $2)
           and ($3::float8 is null or j.run_at < now() - make_interval(secs => $3))
           and ($4::float8 is null or (j.status in ('Queued', 'Running') and not exists (
                 select 1 from apalis.workers w where w.id = j.lock_by
                   and w.last_seen > now() - make_interval(secs => $4))))
         order by j.run_at desc, j.id desc limit $5"
    )))
    .bind(&f.status)
    .bind(&f.queue)
    .bind(f.older_than_secs.map(|s| s as f64))
    .bind(f.stuck_after_secs.map(|s| s as f64))
    .bind(f.limit)
    .fetch_all(conn)
    .await
}

/// Whether a job of `queue` ($1) whose key starts with $2 is due and not yet fetched
/// by any worker (`Pending`, `run_at` passed): such a job has not started, so whatever
/// it reads, it reads from now on. The range on the key uses the `(job_type,
/// idempotency_key)` index; `starts_with` keeps the answer exact under any collation.
/// The key's few jobs are found first and filtered after, behind `offset 0`: given
/// `status = 'Pending' and run_at <= now()` in the same scan, the planner can take the
/// fetch index under a cached generic plan and read every due job: the whole backlog,
/// under overload, on every webhook.
pub const DUE_UNSTARTED: &str = "select exists (
    select 1 from (select status, run_at from apalis.jobs
                    where job_type = $1 and idempotency_key >= $2
                      and idempotency_key < $2 || chr(1114111)
                      and starts_with(idempotency_key, $2)
                   offset 0) keyed
     where status = 'Pending' and run_at <= now())";

/// [`DUE_UNSTARTED`] for `queue` and `key_prefix`.
pub async fn due_unstarted(
    conn: &mut PgConnection,
    queue: &str,
    key_prefix: &str,
) -> sqlx::Result<bool> {
    sqlx::query_scalar(DUE_UNSTARTED)
        .bind(queue)
        .bind(key_prefix)
        .fetch_one(conn)
        .await
}

pub async fn get(conn: &mut PgConnection, id: &str) -> sqlx::Result<Option<JobRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from apalis.jobs where id = $1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await
}

pub async fn lock(conn: &mut PgConnection, id: &str) -> sqlx::Result<Option<JobRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from apalis.jobs where id = $1 for update"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// Ids of Failed and Killed jobs (oldest first), for `jobs retry --all-failed`.
pub async fn failed_ids(
    conn: &mut PgConnection,
    queue: Option<&str>,
    limit: i64,
) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(
        "select id from apalis.jobs where status in ('Failed', 'Killed')
           and ($1::text is null or job_type = $1)
         order by run_at, id limit $2",
    )
    .bind(queue)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Back to Pending, runnable now, attempts reset. The caller checked the status under
/// the row lock.
pub async fn reset_to_pending(conn: &mut PgConnection, id: &str) -> sqlx::Result<()> {
    sqlx::query(
        "update apalis.jobs set status = 'Pending', attempts = 0, run_at = now(), lock_at = null,
                lock_by = null, done_at = null
         where id = $1",
    )
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Marks a job Killed (apalis never fetches it again).
pub async fn kill(conn: &mut PgConnection, id: &str) -> sqlx::Result<()> {
    sqlx::query("update apalis.jobs set status = 'Killed', done_at = now() where id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

#[derive(Debug, Clone, FromRow, Serialize)]
pub struct QueueStats {
    pub queue: String,
    pub status: String,
    pub count: i64,
    /// Seconds since the run_at of the oldest job already due (none: none is due).
    pub oldest_age_secs: Option<i64>,
    /// Seconds until the next job scheduled in the future is due (none: none is).
    pub next_due_in_secs: Option<i64>,
}

pub async fn stats(conn: &mut PgConnection) -> sqlx::Result<Vec<QueueStats>> {
    sqlx::query_as(
        "select job_type as queue, status, count(*) as count,
                extract(epoch from now() - min(run_at) filter (where run_at <= now()))::bigint
                    as oldest_age_secs,
                ceil(extract(epoch from min(run_at) filter (where run_at > now()) - now()))::bigint
                    as next_due_in_secs
         from apalis.jobs group by job_type, status order by job_type, status",
    )
    .fetch_all(conn)
    .await
}

/// Deletes up to `limit` Done jobs finished more than `age_secs` ago.
pub async fn prune_done_batch(
    conn: impl PgExecutor<'_>,
    age_secs: u64,
    limit: i64,
) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "delete from apalis.jobs where id in
             (select id from apalis.jobs
              where status = 'Done' and done_at < now() - make_interval(secs => $1) limit $2)",
    )
    .bind(age_secs as f64)
    .bind(limit)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// Records finished jobs: `results` is apalis's ack payload, a JSON array of
/// `{task_id, attempt, status, result}`. Only jobs still locked by `worker` change.
///
/// Found by primary key, whatever the history. apalis's own ack joins the payload to
/// the jobs through the worker's `lock_by` index, where every job that worker claimed
/// and finished leaves an entry (the old row version) until vacuum removes it; and a
/// join with the payload alone (estimated at 100 rows) is planned as a scan of the
/// whole table. The ids as an array (`id = any($2)`, estimated at their number) make
/// the primary key the cheapest path; `coalesce(lock_by, '')` keeps the planner off
/// the `lock_by` index. The ids are sorted, so two acks lock their rows in one order.
pub async fn ack(conn: &mut PgConnection, results: &Value, worker: &str) -> sqlx::Result<u64> {
    let mut ids: Vec<&str> = results
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r.get("task_id")?.as_str())
        .collect();
    ids.sort_unstable();
    let done = sqlx::query!(
        "with j as (
             select (value ->> 'task_id') as task_id, (value ->> 'attempt')::int as attempt,
                    value -> 'result' as result, value ->> 'status' as status
               from jsonb_array_elements($1::jsonb) as value
         )
         update apalis.jobs as jobs
            set status = j.status, attempts = j.attempt, last_result = j.result, done_at = now()
           from j
          where jobs.id = any($2::text[])
            and jobs.id = j.task_id
            and coalesce(jobs.lock_by, '') = $3",
        results,
        &ids as &[&str],
        worker
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// Registers a worker (apalis's `workers` row: heartbeats and the orphan rescue key on
/// it). False when the name is taken; worker names are unique per process and restart.
pub async fn register_worker(
    conn: &mut PgConnection,
    name: &str,
    queue: &str,
    layers: &str,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "insert into apalis.workers (id, worker_type, storage_name, layers, last_seen)
         values ($1, $2, 'PgStorage', $3, now()) on conflict (id) do nothing",
    )
    .bind(name)
    .bind(queue)
    .bind(layers)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// `jobs_ready` counts at most this many jobs per queue: past it the number only says
/// "a huge backlog", and counting on would read the whole backlog every sample.
pub const READY_CAP: i64 = 100_000;

/// A queue's jobs due to run and not yet taken.
#[derive(Debug, Clone, FromRow)]
pub struct Ready {
    pub queue: String,
    /// Counted up to [`READY_CAP`].
    pub ready: i64,
    /// Age of the oldest, in seconds; 0 when there is none.
    pub oldest_secs: f64,
}

/// Per queue of `queues`: `Pending` jobs whose `run_at` has passed. Both subqueries
/// read the `jobs_pending_run_at` index (pending jobs only, by queue and `run_at`), so
/// done jobs cost nothing and the count stops at [`READY_CAP`].
pub async fn ready(conn: &mut PgConnection, queues: &[&str]) -> sqlx::Result<Vec<Ready>> {
    sqlx::query_as(
        "select q.queue,
                (select count(*) from (select 1 from apalis.jobs j
                   where j.job_type = q.queue and j.status = 'Pending' and j.run_at <= now()
                   limit $2) due) as ready,
                coalesce(extract(epoch from now() - (
                   select j.run_at from apalis.jobs j
                    where j.job_type = q.queue and j.status = 'Pending' and j.run_at <= now()
                    order by j.run_at limit 1))::float8, 0) as oldest_secs
           from unnest($1::text[]) as q(queue)",
    )
    .bind(queues)
    .bind(READY_CAP)
    .fetch_all(conn)
    .await
}
