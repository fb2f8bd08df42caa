//! Every job kind, its queue, and the dispatcher the worker runs.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use apalis::prelude::{BoxDynError, Data, WorkerContext};
use futures::FutureExt;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use crate::config::Settings;
use crate::domain::order::Step;
use crate::gateways::Gateways;
use crate::store;
use crate::workflows::checkout;

/// A job as stored in `apalis.jobs.job` (JSON). The tag is stable: renaming a variant
/// would strand jobs already queued.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Job {
    /// Proves the path enqueue -> NOTIFY -> worker process -> database. `hold_ms` makes
    /// it last long enough to kill a worker in the middle (tests).
    Ping { id: Uuid, hold_ms: u64 },
    /// One step of an order's checkout saga.
    Step { order_id: Uuid, step: Step },
    /// Undo what a failed, expired, cancelled or refunded order holds.
    Compensate { order_id: Uuid },
    /// Execute a decided refund at its gateway.
    Refund { refund_id: Uuid },
    /// One tick of a scheduler cron schedule (`workflows::cron`), scheduled for unix
    /// second `tick`; enqueued once per tick by the leader (key `cron:{schedule}:{tick}`).
    Cron { schedule: String, tick: i64 },
}

impl Job {
    /// The queue (apalis `job_type`) a job runs on.
    pub fn queue(&self) -> &'static str {
        match self {
            Job::Ping { .. } => PING_QUEUE,
            Job::Step { .. } => STEP_QUEUE,
            Job::Compensate { .. } => COMPENSATE_QUEUE,
            Job::Refund { .. } => REFUND_QUEUE,
            Job::Cron { .. } => CRON_QUEUE,
        }
    }
}

pub const PING_QUEUE: &str = "system.ping";
pub const STEP_QUEUE: &str = "checkout.steps";
pub const COMPENSATE_QUEUE: &str = "checkout.compensate";
pub const REFUND_QUEUE: &str = "checkout.refunds";
pub const CRON_QUEUE: &str = "system.cron";

/// Every queue a `checkout worker` serves.
pub const QUEUES: &[&str] = &[
    PING_QUEUE,
    STEP_QUEUE,
    COMPENSATE_QUEUE,
    REFUND_QUEUE,
    CRON_QUEUE,
];

/// What a running job can reach.
#[derive(Clone)]
pub struct JobContext {
    pub pool: PgPool,
    pub settings: Arc<Settings>,
    pub gateways: Arc<Gateways>,
}

impl JobContext {
    pub fn new(pool: PgPool, settings: Arc<Settings>) -> anyhow::Result<Self> {
        let gateways =
            Gateways::from_settings(&settings.razorpay, &settings.stripe, &settings.payments)?;
        Ok(JobContext {
            pool,
            settings,
            gateways: Arc::new(gateways),
        })
    }
}

/// The worker's one handler: decode happened in apalis (JSON codec); dispatch by kind.
/// An `Err` makes apalis mark the job Failed and refetch it at once, so steps with their
/// own retry policy must handle errors themselves and return `Ok`. A panic is caught
/// here and becomes an `Err` (apalis' catch-panic layer does not compose with spawning
/// the worker on a multi-threaded runtime).
pub async fn handle(
    job: Job,
    ctx: Data<Arc<JobContext>>,
    worker: WorkerContext,
) -> Result<(), BoxDynError> {
    let kind = job.queue();
    match AssertUnwindSafe(run(job, &ctx, &worker))
        .catch_unwind()
        .await
    {
        Ok(result) => result,
        Err(_) => {
            tracing::error!(queue = kind, "job panicked");
            Err(format!("{kind} job panicked").into())
        }
    }
}

async fn run(job: Job, ctx: &JobContext, worker: &WorkerContext) -> Result<(), BoxDynError> {
    match job {
        Job::Ping { id, hold_ms } => {
            store::pings::start(&ctx.pool, id).await?;
            if hold_ms > 0 {
                tokio::time::sleep(Duration::from_millis(hold_ms)).await;
            }
            store::pings::finish(&ctx.pool, id, worker.name()).await?;
            tracing::debug!(%id, worker = worker.name(), "ping ran");
        }
        Job::Step { order_id, step } => {
            checkout::run_step(ctx, order_id, step).await?;
        }
        Job::Compensate { order_id } => {
            checkout::compensate::compensate(ctx, order_id).await?;
        }
        Job::Refund { refund_id } => {
            checkout::compensate::refund(ctx, refund_id).await?;
        }
        Job::Cron { schedule, tick } => {
            crate::workflows::cron::run_tick(ctx, &schedule, tick).await?;
        }
    }
    Ok(())
}

/// Records a ping and enqueues its job in one transaction; returns its id.
pub async fn enqueue_ping(pool: &PgPool, hold_ms: u64) -> anyhow::Result<Uuid> {
    let id = Uuid::new_v4();
    let mut tx = pool.begin().await?;
    store::pings::create(&mut *tx, id).await?;
    super::enqueue(
        &mut tx,
        &Job::Ping { id, hold_ms },
        super::EnqueueOptions {
            idempotency_key: Some(format!("ping:{id}")),
            ..Default::default()
        },
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}
