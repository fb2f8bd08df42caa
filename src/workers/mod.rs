//! A generic job runtime on apalis-postgres. It runs the handler it is given and knows
//! no workflow: the job kinds, their queues and what each does live in
//! `workflows::jobs`.
//!
//! apalis 1.0 on Postgres is at-least-once and has sharp edges we design around
//! (docs/architecture.md): acks are written asynchronously, so a job can run twice; a
//! failed job is refetched at once; an idle worker only wakes on its 30 s heartbeat unless
//! told to; one database error ends a worker. So this module:
//! - enqueues inside the caller's transaction with an idempotency key ([`queue`]);
//! - wakes workers on LISTEN/NOTIFY *and* a short timer, draining both ([`wake`]), and
//!   fetches only after such a wake-up, each fetch and ack one statement ([`backend`]);
//! - names workers uniquely per process and generation, sets heartbeat, orphan timeout and
//!   a per-job timeout explicitly, catches a handler's panic, and restarts a worker whose
//!   backend died ([`runtime`]);
//! - carries the enqueuer's trace and correlation id in the job's metadata and runs the
//!   job in a span continuing them ([`origin`]).

mod backend;
pub mod depth;
pub mod origin;
pub mod queue;
pub mod runtime;
pub mod wake;

use std::future::Future;

use apalis::prelude::{BoxDynError, WorkerContext};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::telemetry::Actor;

pub use queue::{EnqueueOptions, enqueue};

/// A kind of job: stored as JSON in `apalis.jobs.job`, each value on its own queue
/// (apalis `job_type`).
pub trait JobKind: Serialize + DeserializeOwned + Send + Sync + Unpin + 'static {
    fn queue(&self) -> &'static str;
    /// What the job does, as the `job` label of `jobs_run_total` (a closed set).
    fn name(&self) -> &'static str;

    /// Who a run acts for (what the ledger records as its actor), given the run's name
    /// (`{queue} job {id} key {key}`) and its idempotency key: by default the job itself.
    fn actor(&self, run: String, _key: Option<&str>) -> Actor {
        Actor::system(run)
    }

    /// What a run of this job is called in traces and logs (`step.confirm`).
    fn kind(&self) -> String {
        self.queue().to_owned()
    }
}

/// What runs a job. An `Err` makes apalis mark the job Failed and refetch it at once, so
/// handlers with their own retry policy handle errors themselves and return `Ok`.
pub trait JobHandler<J>: Send + Sync + 'static {
    fn handle(
        &self,
        job: J,
        worker: &WorkerContext,
    ) -> impl Future<Output = Result<(), BoxDynError>> + Send;
}
