//! The saga row and its step timeline.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::order::Step;
use crate::store::outbox::Event;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Saga {
    pub order_id: Uuid,
    pub step: String,
    pub state: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub deadline_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

impl Saga {
    pub fn step(&self) -> Option<Step> {
        self.step.parse().ok()
    }
}

pub async fn lock(conn: &mut PgConnection, order_id: Uuid) -> sqlx::Result<Option<Saga>> {
    sqlx::query_as!(
        Saga,
        "select order_id, step, state, attempts, last_error, deadline_at, updated_at
         from sagas where order_id = $1 for update",
        order_id
    )
    .fetch_optional(conn)
    .await
}

/// Records a failed attempt of the current step; returns the new attempt count.
pub async fn record_failure(
    conn: &mut PgConnection,
    order_id: Uuid,
    error: &str,
) -> sqlx::Result<i32> {
    sqlx::query_scalar!(
        "update sagas set attempts = attempts + 1, last_error = $2 where order_id = $1
         returning attempts",
        order_id,
        error
    )
    .fetch_one(conn)
    .await
}

pub async fn set_state(conn: &mut PgConnection, order_id: Uuid, state: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "update sagas set state = $2 where order_id = $1",
        order_id,
        state
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// One line of the timeline for a run of the saga's current step: its attempt number
/// is the saga's failed attempts so far plus one.
pub async fn log_run(
    conn: &mut PgConnection,
    order_id: Uuid,
    step: Step,
    outcome: &str,
    error: Option<&str>,
    started_at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into saga_steps (order_id, step, attempt, outcome, error, started_at)
         select order_id, $2, attempts + 1, $3, $4, $5 from sagas where order_id = $1",
        order_id,
        step.as_str(),
        outcome,
        error,
        started_at,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The run of `step` that moved the saga to `to` in `state`, in one statement: its
/// timeline line (numbered like [`log_run`], from the attempts before they are reset),
/// the step's outbox event if it has one (the insert of
/// [`crate::store::outbox::record`], here to save its round trip), and the move, which
/// resets the attempt count.
#[allow(clippy::too_many_arguments)]
pub async fn log_run_and_advance(
    conn: &mut PgConnection,
    order_id: Uuid,
    step: Step,
    outcome: &str,
    started_at: DateTime<Utc>,
    to: Step,
    state: &str,
    event: Option<&Event>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "with logged as (
             insert into saga_steps (order_id, step, attempt, outcome, started_at)
             select order_id, $2, attempts + 1, $3, $4 from sagas where order_id = $1
         ), event as (
             insert into outbox_events (aggregate_type, aggregate_id, event_type, payload)
             select 'order', $1, $7::text, $8::jsonb where $7::text is not null
         )
         update sagas set step = $5, state = $6, attempts = 0, last_error = null,
                deadline_at = null
         where order_id = $1",
        order_id,
        step.as_str(),
        outcome,
        started_at,
        to.as_str(),
        state,
        event.map(|e| e.event_type),
        event.map(|e| &e.payload),
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The columns of a [`StepRecord`] (a `saga_steps` row), for the statements built at run
/// time ([`crate::store::orders::detail`]).
pub(crate) const STEP_COLUMNS: &str = "step, attempt, outcome, error, started_at, finished_at";

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct StepRecord {
    pub step: String,
    pub attempt: i32,
    /// succeeded, retrying, failed, waiting or skipped
    pub outcome: String,
    pub error: Option<String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
}

pub async fn get(conn: &mut PgConnection, order_id: Uuid) -> sqlx::Result<Option<Saga>> {
    sqlx::query_as!(
        Saga,
        "select order_id, step, state, attempts, last_error, deadline_at, updated_at
         from sagas where order_id = $1",
        order_id
    )
    .fetch_optional(conn)
    .await
}

/// A saga that looks stuck: see [`stuck_page`].
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Stuck {
    pub order_id: Uuid,
    pub step: String,
    pub state: String,
    pub updated_at: DateTime<Utc>,
}

/// The queues a saga's step jobs and compensation jobs run on.
#[derive(Debug, Clone, Copy)]
pub struct StuckQueues<'a> {
    pub steps: &'a str,
    pub compensations: &'a str,
}

/// A page (ids after `after`) of sagas `running` or `compensating` unchanged for
/// `older_than_secs` with no live job to move them: none Pending, Queued or Running,
/// nor Failed with attempts left (apalis refetches those), for their step (running) or
/// their compensation (compensating). The caller names the queues those jobs run on.
pub async fn stuck_page(
    conn: &mut PgConnection,
    queues: StuckQueues<'_>,
    older_than_secs: u64,
    after: Uuid,
    limit: i64,
) -> sqlx::Result<Vec<Stuck>> {
    sqlx::query_as(
        "select s.order_id, s.step, s.state, s.updated_at from sagas s
         where s.state in ('running', 'compensating')
           and s.updated_at < now() - make_interval(secs => $1) and s.order_id > $2
           and not exists (
               select 1 from apalis.jobs j
               where j.job_type = case s.state when 'running' then $4 else $5 end
                 and (j.status in ('Pending', 'Queued', 'Running')
                      or (j.status = 'Failed' and j.attempts < j.max_attempts))
                 and convert_from(j.job, 'UTF8')::jsonb ->> 'order_id' = s.order_id::text
                 and (s.state = 'compensating'
                      or convert_from(j.job, 'UTF8')::jsonb ->> 'step' = s.step))
         order by s.order_id limit $3",
    )
    .bind(older_than_secs as f64)
    .bind(after)
    .bind(limit)
    .bind(queues.steps)
    .bind(queues.compensations)
    .fetch_all(conn)
    .await
}

/// An operator's resume: attempts reset, state running, at the same step.
pub async fn resume(conn: &mut PgConnection, order_id: Uuid) -> sqlx::Result<()> {
    sqlx::query!(
        "update sagas set state = 'running', attempts = 0, last_error = null where order_id = $1",
        order_id
    )
    .execute(conn)
    .await?;
    Ok(())
}
