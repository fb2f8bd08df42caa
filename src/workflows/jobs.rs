//! Every job kind, its queue, and what runs each: the handler the generic worker
//! runtime ([`crate::workers`]) is given.

use std::sync::Arc;
use std::time::Duration;

use apalis::prelude::{BoxDynError, WorkerContext};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{checkout, keys};
use crate::config::Settings;
use crate::domain::order::Step;
use crate::gateways::Gateways;
use crate::store;
use crate::telemetry::Actor;
use crate::workers::{EnqueueOptions, JobHandler, JobKind, enqueue, runtime};

/// A job as stored in `apalis.jobs.job` (JSON). The tag is stable: renaming a variant
/// would strand jobs already queued.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Job {
    /// Proves the path enqueue -> NOTIFY -> worker process -> database. `hold_ms` makes
    /// it last long enough to kill a worker in the middle (tests).
    Ping { id: Uuid, hold_ms: u64 },
    /// One step of an order's checkout saga; `reconciling` when reconciliation woke it
    /// (a `confirm` that then finds a payment no webhook told us of counts it in
    /// `reconciliation_recovered_total`).
    Step {
        order_id: Uuid,
        step: Step,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        reconciling: bool,
    },
    /// Undo what a failed, expired, cancelled or refunded order holds.
    Compensate { order_id: Uuid },
    /// Execute a decided refund at its gateway.
    Refund { refund_id: Uuid },
    /// One tick of a scheduler cron schedule (`workflows::cron`), scheduled for unix
    /// second `tick`; enqueued once per tick by the leader ([`keys::cron_tick`]).
    Cron { schedule: String, tick: i64 },
    /// Issue what an order is owed of its tax invoice and credit notes
    /// ([`super::documents`]); `attempt` counts the delayed retries before this run.
    Documents {
        order_id: Uuid,
        #[serde(default, skip_serializing_if = "is_zero")]
        attempt: u32,
    },
    /// One attempt of a webhook delivery, expecting `attempt` earlier ones (the relay
    /// enqueues the first with the delivery; [`super::deliveries`]).
    Deliver { delivery_id: Uuid, attempt: i32 },
    /// A job of `checkout loadtest jobs` ([`super::bench`]): nothing, or the start
    /// instant of job `seq` recorded (`record`), then the next of `then` more chain
    /// steps enqueued in its own transaction. Runs on the ping queue: a benchmark of the
    /// runtime, like a ping a test of it, needs no queue of its own.
    Bench {
        seq: i64,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        record: bool,
        #[serde(default, skip_serializing_if = "is_zero")]
        then: u8,
    },
}

/// Leaves a zero counter out of a job's JSON (jobs enqueued before it existed read as 0).
fn is_zero<T: Default + PartialEq>(n: &T) -> bool {
    *n == T::default()
}

impl JobKind for Job {
    /// The queue (apalis `job_type`) a job runs on.
    fn queue(&self) -> &'static str {
        match self {
            Job::Ping { .. } | Job::Bench { .. } => PING_QUEUE,
            Job::Step { .. } => STEP_QUEUE,
            Job::Compensate { .. } => COMPENSATE_QUEUE,
            Job::Refund { .. } => REFUND_QUEUE,
            Job::Cron { .. } => CRON_QUEUE,
            Job::Deliver { .. } => DELIVERY_QUEUE,
            Job::Documents { .. } => DOCUMENTS_QUEUE,
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Job::Step { step, .. } => step.as_str(),
            Job::Ping { .. } => "ping",
            Job::Compensate { .. } => "compensate",
            Job::Refund { .. } => "refund",
            Job::Cron { .. } => "cron",
            Job::Deliver { .. } => "deliver",
            Job::Documents { .. } => "documents",
            Job::Bench { .. } => "bench",
        }
    }

    /// A run a verified webhook woke acts for that webhook (its stored event), named
    /// with the run; any other is the system's.
    fn actor(&self, run: String, key: Option<&str>) -> Actor {
        match key.and_then(keys::woken_by_webhook) {
            Some(webhook) => Actor::webhook(format!("webhook_events {webhook} via {run}")),
            None => Actor::system(run),
        }
    }

    /// Its `name`, qualified where a queue runs several (`step.confirm`, `cron.expiry`).
    fn kind(&self) -> String {
        match self {
            Job::Step { .. } => format!("step.{}", self.name()),
            Job::Cron { schedule, .. } => format!("cron.{schedule}"),
            _ => self.name().to_owned(),
        }
    }
}

/// `(queue, job)` of every job kind: the label sets of `jobs_run_total`.
pub fn job_labels() -> Vec<(&'static str, &'static str)> {
    let mut labels: Vec<_> = Step::ALL
        .iter()
        .map(|step| (STEP_QUEUE, step.as_str()))
        .collect();
    labels.extend([
        (PING_QUEUE, "ping"),
        (PING_QUEUE, "bench"),
        (COMPENSATE_QUEUE, "compensate"),
        (REFUND_QUEUE, "refund"),
        (CRON_QUEUE, "cron"),
        (DELIVERY_QUEUE, "deliver"),
        (DOCUMENTS_QUEUE, "documents"),
    ]);
    labels
}

pub const PING_QUEUE: &str = "system.ping";
pub const STEP_QUEUE: &str = "checkout.steps";
pub const COMPENSATE_QUEUE: &str = "checkout.compensate";
pub const REFUND_QUEUE: &str = "checkout.refunds";
pub const CRON_QUEUE: &str = "system.cron";
pub const DELIVERY_QUEUE: &str = "events.deliveries";
pub const DOCUMENTS_QUEUE: &str = "checkout.documents";

/// Every queue a `checkout worker` serves.
pub const QUEUES: &[&str] = &[
    PING_QUEUE,
    STEP_QUEUE,
    COMPENSATE_QUEUE,
    REFUND_QUEUE,
    CRON_QUEUE,
    DELIVERY_QUEUE,
    DOCUMENTS_QUEUE,
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

/// Runs every queue's workers with this context until `shutdown`.
pub async fn run_workers(context: Arc<JobContext>, shutdown: CancellationToken) {
    let pool = context.pool.clone();
    let settings = context.settings.worker.clone();
    runtime::run(pool, settings, QUEUES, context, shutdown).await
}

impl JobHandler<Job> for JobContext {
    async fn handle(&self, job: Job, worker: &WorkerContext) -> Result<(), BoxDynError> {
        match job {
            Job::Ping { id, hold_ms } => {
                store::pings::start(&self.pool, id).await?;
                if hold_ms > 0 {
                    tokio::time::sleep(Duration::from_millis(hold_ms)).await;
                }
                store::pings::finish(&self.pool, id, worker.name()).await?;
                tracing::debug!(%id, worker = worker.name(), "ping ran");
            }
            Job::Step {
                order_id,
                step,
                reconciling,
            } => {
                checkout::run_step(self, order_id, step, reconciling).await?;
            }
            Job::Compensate { order_id } => {
                checkout::compensate::compensate(self, order_id).await?;
            }
            Job::Refund { refund_id } => {
                checkout::refunds::refund(self, refund_id).await?;
            }
            Job::Cron { schedule, tick } => {
                super::cron::run_tick(self, &schedule, tick).await?;
            }
            Job::Deliver {
                delivery_id,
                attempt,
            } => {
                super::deliveries::deliver(self, delivery_id, attempt).await?;
            }
            Job::Documents { order_id, attempt } => {
                super::documents::run(self, order_id, attempt).await?;
            }
            Job::Bench { seq, record, then } => {
                super::bench::run(self, seq, record, then).await?;
            }
        }
        Ok(())
    }
}

/// Records a ping and enqueues its job in one transaction; returns its id.
pub async fn enqueue_ping(pool: &PgPool, hold_ms: u64) -> anyhow::Result<Uuid> {
    let id = Uuid::new_v4();
    let mut tx = pool.begin().await?;
    store::pings::create(&mut *tx, id).await?;
    enqueue(
        &mut tx,
        &Job::Ping { id, hold_ms },
        EnqueueOptions {
            idempotency_key: Some(keys::ping(id)),
            ..Default::default()
        },
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}
