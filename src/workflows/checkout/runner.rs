//! Runs one step: guards against stale jobs, records the timeline, advances the saga
//! and enqueues the next step, or schedules a delayed retry, or fails the order.

use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, Postgres, Transaction};
use uuid::Uuid;

use crate::domain::order::{OrderStatus, Step, backoff};
use crate::store::outbox::{self, Event};
use crate::store::{orders, sagas};
use crate::telemetry::on_commit;
use crate::workers::{EnqueueOptions, enqueue};
use crate::workflows::jobs::{Job, JobContext, STEP_QUEUE};
use crate::workflows::keys;

/// What a step decided, returned with its still-open transaction.
#[derive(Debug)]
pub enum Outcome {
    /// Done: the saga moves on to `step.next()`, enqueued in the same transaction. The
    /// step's outbox event, if any, is written with its timeline line.
    Next(Option<Event>),
    /// Done: the saga moves on to the given later step (a free order leaves
    /// `payment_session` for `enroll`: there is nothing to confirm).
    Then(Step, Option<Event>),
    /// Done for now: the saga waits at `step` for an outside wake-up (event as above).
    WaitAt(Step, Option<Event>),
    /// Nothing to do (an earlier run did it, or the saga moved on).
    Skip,
    /// The order cannot go on. The step's transaction is rolled back and the order is
    /// failed and compensated in a fresh one.
    Fail(Failure),
    /// The order cannot go on, but what the step recorded (a capture, a refund owed)
    /// must stay: the order is failed in the step's own transaction.
    FailKeeping(Failure),
}

/// Why an order ended, shown to the student and to support.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Failure {
    pub status: OrderStatus,
    /// A stable code from the API's error table (e.g. 7002 cohort full).
    pub code: u32,
    pub reason: String,
}

impl Failure {
    pub fn new(status: OrderStatus, code: u32, reason: impl Into<String>) -> Self {
        Failure {
            status,
            code,
            reason: reason.into(),
        }
    }
}

/// A failure worth retrying later: the database or a gateway was unavailable.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("gateway: {0}")]
    Gateway(String),
    #[error("{0}")]
    Other(#[from] anyhow::Error),
}

pub type StepResult<'c> = Result<(Transaction<'c, Postgres>, Outcome), StepError>;

/// Opens the step's transaction and locks the saga and the order, if the saga is at
/// `step` and not finished. `None`: a stale or duplicate job; skip it.
pub async fn begin(
    ctx: &JobContext,
    order_id: Uuid,
    step: Step,
) -> Result<Option<(Transaction<'static, Postgres>, orders::Order)>, StepError> {
    let mut tx = crate::store::begin(&ctx.pool).await?;
    Ok(orders::at_step(&mut tx, order_id, step, true)
        .await?
        .map(|order| (tx, order)))
}

/// Runs `step` of `order_id` once, as a worker job (`reconciling`: see [`Job::Step`]).
pub async fn run_step(
    ctx: &JobContext,
    order_id: Uuid,
    step: Step,
    reconciling: bool,
) -> anyhow::Result<()> {
    let started = Utc::now();
    let timeout = Duration::from_secs(ctx.settings.checkout.step_timeout_secs);
    let run = dispatch(ctx, order_id, step, reconciling);
    let result = match tokio::time::timeout(timeout, run).await {
        Ok(r) => r,
        Err(_) => Err(StepError::Other(anyhow::anyhow!(
            "step timed out after {timeout:?}"
        ))),
    };
    match result {
        Ok((tx, Outcome::Fail(failure))) => {
            tx.rollback().await?;
            on_commit::discard();
            let mut tx = crate::store::begin(&ctx.pool).await?;
            finish(&mut tx, order_id, step, Outcome::Fail(failure), started).await?;
            tx.commit().await?;
            on_commit::committed();
        }
        Ok((mut tx, outcome)) => {
            finish(&mut tx, order_id, step, outcome, started).await?;
            tx.commit().await?;
            on_commit::committed();
            crash_test_pause(ctx).await;
        }
        Err(e) => {
            on_commit::discard();
            retry(ctx, order_id, step, reconciling, &e.to_string(), started).await?
        }
    }
    Ok(())
}

async fn dispatch(
    ctx: &JobContext,
    order_id: Uuid,
    step: Step,
    reconciling: bool,
) -> StepResult<'static> {
    match step {
        Step::Price => super::prepare::price(ctx, order_id).await,
        Step::Reserve => super::prepare::reserve(ctx, order_id).await,
        Step::PaymentSession => super::session::create(ctx, order_id).await,
        Step::Confirm => super::confirm::confirm(ctx, order_id, reconciling).await,
        Step::Enroll => super::fulfil::enroll(ctx, order_id).await,
        Step::Complete => super::fulfil::complete(ctx, order_id).await,
    }
}

async fn finish(
    tx: &mut PgConnection,
    order_id: Uuid,
    step: Step,
    outcome: Outcome,
    started: DateTime<Utc>,
) -> anyhow::Result<()> {
    match outcome {
        Outcome::Next(event) => advance(tx, order_id, step, step.next(), event, started).await?,
        Outcome::Then(next, event) => {
            advance(tx, order_id, step, Some(next), event, started).await?
        }
        Outcome::WaitAt(at, event) if at != step => {
            let event = event.as_ref();
            sagas::log_run_and_advance(
                tx, order_id, step, "waiting", started, at, "waiting", event,
            )
            .await?;
        }
        Outcome::WaitAt(_, event) => {
            if let Some(e) = event {
                outbox::record(tx, order_id, e.event_type, e.payload).await?;
            }
            sagas::log_run(tx, order_id, step, "waiting", None, started).await?;
            sagas::set_state(tx, order_id, "waiting").await?;
        }
        Outcome::Skip => {
            tracing::debug!(%order_id, %step, "step skipped: already done or moved on");
        }
        Outcome::Fail(failure) | Outcome::FailKeeping(failure) => {
            sagas::log_run(tx, order_id, step, "failed", Some(&failure.reason), started).await?;
            fail(tx, order_id, &failure).await?;
        }
    }
    Ok(())
}

/// Records the step's success and moves the saga on to `next` (or completes it).
async fn advance(
    tx: &mut PgConnection,
    order_id: Uuid,
    step: Step,
    next: Option<Step>,
    event: Option<Event>,
    started: DateTime<Utc>,
) -> anyhow::Result<()> {
    let (to, state) = match next {
        Some(next) => (next, "running"),
        None => (step, "completed"),
    };
    let event = event.as_ref();
    sagas::log_run_and_advance(tx, order_id, step, "succeeded", started, to, state, event).await?;
    if let Some(next) = next {
        // the saga only moves forward, and only here (under its lock): no other
        // transaction enqueues `{order}:{next}`
        enqueue_fresh_step(tx, order_id, next, None, None).await?;
    }
    Ok(())
}

/// Enqueues `step` for the order. Without `key_suffix` the key is `{order}:{step}`,
/// which makes advancing exactly-once; wake-ups and retries add a suffix. Returns
/// whether a job was enqueued (false: one with the same key exists).
pub async fn enqueue_step(
    conn: &mut PgConnection,
    order_id: Uuid,
    step: Step,
    key_suffix: Option<&str>,
) -> anyhow::Result<bool> {
    enqueue_keyed(conn, order_id, step, false, key_suffix, None, false).await
}

/// Wakes `confirm` for reconciliation ([`enqueue_step`] with the job marked so).
pub async fn enqueue_reconciling(
    conn: &mut PgConnection,
    order_id: Uuid,
    key_suffix: &str,
) -> anyhow::Result<bool> {
    enqueue_keyed(
        conn,
        order_id,
        Step::Confirm,
        true,
        Some(key_suffix),
        None,
        false,
    )
    .await
}

/// [`enqueue_step`] for a key only the caller's transaction can write (a new order, a
/// webhook row it inserted, the step it moves the saga into): see
/// [`EnqueueOptions::fresh_key`]. With `run_at`, the job runs no earlier than that.
pub async fn enqueue_fresh_step(
    conn: &mut PgConnection,
    order_id: Uuid,
    step: Step,
    key_suffix: Option<&str>,
    run_at: Option<SystemTime>,
) -> anyhow::Result<()> {
    enqueue_keyed(conn, order_id, step, false, key_suffix, run_at, true).await?;
    Ok(())
}

/// Wakes the order's `confirm` with a job keyed by `fresh_suffix` (a row the caller's
/// transaction just inserted), unless a `confirm` job of the order is due and not yet
/// started: that one asks the gateway after whatever woke the caller, so it serves
/// this wake-up too (a Razorpay payment sends authorized, captured and order.paid back
/// to back).
pub async fn wake_confirm(
    conn: &mut PgConnection,
    order_id: Uuid,
    fresh_suffix: &str,
) -> anyhow::Result<()> {
    let prefix = keys::step(order_id, Step::Confirm, Some(""));
    if !crate::store::jobs::due_unstarted(conn, STEP_QUEUE, &prefix).await? {
        enqueue_fresh_step(conn, order_id, Step::Confirm, Some(fresh_suffix), None).await?;
    }
    Ok(())
}

/// The one place a step job is enqueued: its key ([`keys::step`]) and attempt budget.
async fn enqueue_keyed(
    conn: &mut PgConnection,
    order_id: Uuid,
    step: Step,
    reconciling: bool,
    key_suffix: Option<&str>,
    run_at: Option<SystemTime>,
    fresh_key: bool,
) -> anyhow::Result<bool> {
    let job = Job::Step {
        order_id,
        step,
        reconciling,
    };
    let options = EnqueueOptions {
        idempotency_key: Some(keys::step(order_id, step, key_suffix)),
        run_at,
        max_attempts: Some(3),
        fresh_key,
    };
    enqueue(conn, &job, options).await
}

/// Schedules the step again after a backoff (a reconciliation's run stays one), or
/// fails the order when its attempts are spent.
async fn retry(
    ctx: &JobContext,
    order_id: Uuid,
    step: Step,
    reconciling: bool,
    error: &str,
    started: DateTime<Utc>,
) -> anyhow::Result<()> {
    let mut tx = crate::store::begin(&ctx.pool).await?;
    let Some(saga) = sagas::lock(&mut tx, order_id).await? else {
        return Ok(());
    };
    if saga.step() != Some(step) || !matches!(saga.state.as_str(), "running" | "waiting") {
        return Ok(());
    }
    // logged before the failure is counted: the line's attempt is this run's
    sagas::log_run(&mut tx, order_id, step, "retrying", Some(error), started).await?;
    let attempts = sagas::record_failure(&mut tx, order_id, error).await?;
    let settings = &ctx.settings.checkout;
    if attempts as u32 >= settings.step_max_attempts {
        tracing::warn!(%order_id, %step, attempts, error, "step out of attempts; failing the order");
        orders::lock(&mut tx, order_id).await?;
        let reason = format!("{step} failed {attempts} times: {error}");
        fail(
            &mut tx,
            order_id,
            &Failure::new(
                OrderStatus::Failed,
                crate::domain::codes::ErrorCode::StepExhausted.as_u32(),
                reason,
            ),
        )
        .await?;
    } else {
        let delay = retry_delay(settings, attempts);
        tracing::info!(%order_id, %step, attempts, ?delay, error, "step will be retried");
        enqueue_keyed(
            &mut tx,
            order_id,
            step,
            reconciling,
            Some(&format!("retry:{attempts}")),
            Some(SystemTime::now() + delay),
            false,
        )
        .await?;
        on_commit::count(move || {
            metrics::counter!("saga_step_retries_total", "step" => step.as_str()).increment(1)
        });
    }
    tx.commit().await?;
    on_commit::committed();
    Ok(())
}

/// Moves the order to its terminal status and starts compensation, in the caller's
/// transaction (which holds, or now takes, the order lock).
pub async fn fail(
    conn: &mut PgConnection,
    order_id: Uuid,
    failure: &Failure,
) -> anyhow::Result<()> {
    let Some(order) = orders::lock(conn, order_id).await? else {
        return Ok(());
    };
    let code_reason = (failure.code, failure.reason.as_str());
    if !orders::transition(conn, &order, failure.status, Some(code_reason)).await? {
        tracing::info!(%order_id, from = %order.status, to = %failure.status, "order already ended; not failing again");
        return Ok(());
    }
    sagas::set_state(conn, order_id, "compensating").await?;
    let reason = failure.status.as_str();
    on_commit::count(move || {
        metrics::counter!("compensations_total", "reason" => reason).increment(1)
    });
    outbox::record(
        conn,
        order_id,
        &format!("order.{}", failure.status),
        serde_json::json!({"code": failure.code, "reason": failure.reason}),
    )
    .await?;
    enqueue_compensation(conn, order_id, None, None).await?;
    tracing::info!(%order_id, status = %failure.status, code = failure.code, reason = %failure.reason, "order failed; compensating");
    Ok(())
}

/// See `checkout.pause_after_side_effect_ms`: a window for crash tests to SIGKILL a
/// worker after a step's effect and before its job is acknowledged.
pub async fn crash_test_pause(ctx: &JobContext) {
    let ms = ctx.settings.checkout.pause_after_side_effect_ms;
    if ms > 0 {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

/// The wait before delayed retry number `attempts` of a step, a compensation or a
/// refund: exponential from `checkout.retry_base_ms`, jittered, capped at
/// `checkout.retry_cap_ms` (see [`backoff`]).
pub fn retry_delay(settings: &crate::config::CheckoutSettings, attempts: i32) -> Duration {
    backoff(
        attempts.max(1) as u32,
        Duration::from_millis(settings.retry_base_ms),
        Duration::from_millis(settings.retry_cap_ms),
        rand::random::<f64>(),
    )
}

/// The one place a compensation job is enqueued: [`keys::compensate`] with `suffix` for
/// a re-run (a retry, an operator's resume, the stuck-saga sweep). Returns false when that
/// job exists already.
pub async fn enqueue_compensation(
    conn: &mut PgConnection,
    order_id: Uuid,
    suffix: Option<&str>,
    run_at: Option<SystemTime>,
) -> anyhow::Result<bool> {
    let options = EnqueueOptions {
        idempotency_key: Some(keys::compensate(order_id, suffix)),
        run_at,
        ..Default::default()
    };
    enqueue(conn, &Job::Compensate { order_id }, options).await
}
