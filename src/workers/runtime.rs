//! Running and supervising apalis workers.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use apalis::prelude::{
    BoxDynError, Data, FromRequest, Task, WorkerBuilder, WorkerBuilderExt, WorkerContext,
};
use apalis_core::task::attempt::Attempt;
use apalis_core::task::metadata::MetadataStore;
use apalis_postgres::Config;
use futures::FutureExt;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::backend::JobStore;
use super::origin::Origin;
use super::wake::Wakeups;
use super::{JobHandler, JobKind};
use crate::config::WorkerSettings;
use crate::telemetry::{self, on_commit, traces, with_actor};

/// A name unique to this process and restart generation. apalis does not detect two
/// workers sharing a name (they would heartbeat and ack as one), and a restarted worker
/// must not collide with the row its dead predecessor left behind.
fn worker_name(queue: &str, generation: u32) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "host".into());
    let nonce = &uuid::Uuid::new_v4().simple().to_string()[..8];
    format!(
        "{queue}@{host}:{pid}:{nonce}:g{generation}",
        pid = std::process::id()
    )
}

fn apalis_config(queue: &str, settings: &WorkerSettings) -> Config {
    Config::default()
        .queue(queue)
        .batch_size(settings.batch_size)
        .heartbeat_interval(Duration::from_secs(settings.heartbeat_secs))
        // set explicitly: `Config::default()` says 10 (5 minutes), its docs say 2
        .missed_heartbeats(settings.missed_heartbeats)
        // No separate `Running` write: the fetch already marks a job Queued and locked by
        // this worker, which is all the orphan rescue, the ack and `admin jobs` need. Writing
        // it would cost one more transaction per job (BEGIN, UPDATE, COMMIT) whenever it
        // does not share a flush with an ack. A claimed job reads Queued until it is acked.
        .lock_tasks(false)
        // required: with `false` apalis never marks a job finished, so every job stays
        // Running and locked
        .persist_results(true)
}

/// Runs one worker per queue of `queues` until `shutdown`, each supervised, each job
/// handed to `handler`.
pub async fn run<J: JobKind, H: JobHandler<J>>(
    pool: PgPool,
    settings: WorkerSettings,
    queues: &'static [&'static str],
    handler: Arc<H>,
    shutdown: CancellationToken,
) {
    let wakeups = Wakeups::default();
    let listener = tokio::spawn(wakeups.clone().listen(pool.clone(), shutdown.clone()));
    let mut supervisors = Vec::new();
    for queue in queues {
        supervisors.push(tokio::spawn(supervise::<J, H>(
            queue,
            pool.clone(),
            settings.clone(),
            handler.clone(),
            wakeups.clone(),
            shutdown.clone(),
        )));
    }
    for s in supervisors {
        if let Err(e) = s.await {
            tracing::error!(error = %e, "worker supervisor crashed");
        }
    }
    listener.abort();
}

/// Runs a worker for `queue`; when apalis ends it on a database error (it does so on the
/// first failed fetch, heartbeat or ack), starts a new one under a new name after a
/// backoff, until `shutdown`. Jobs the dead worker had claimed are re-enqueued by the
/// orphan rescue once its heartbeat is `heartbeat_secs * missed_heartbeats` old.
async fn supervise<J: JobKind, H: JobHandler<J>>(
    queue: &'static str,
    pool: PgPool,
    settings: WorkerSettings,
    handler: Arc<H>,
    wakeups: Wakeups,
    shutdown: CancellationToken,
) {
    let mut generation = 0u32;
    let mut backoff = Duration::from_millis(250);
    loop {
        let name = worker_name(queue, generation);
        let wake = wakeups.strategy(queue, Duration::from_millis(settings.wake_interval_ms));
        let store = JobStore::<J>::new(&pool, apalis_config(queue, &settings), wake);
        let worker = WorkerBuilder::new(name.as_str())
            .backend(store)
            .data(handler.clone())
            .concurrency(settings.concurrency)
            .timeout(Duration::from_secs(settings.job_timeout_secs))
            .build(handle::<J, H>);
        tracing::info!(worker = %name, queue, "worker started");
        let stop = shutdown.clone();
        let started = std::time::Instant::now();
        let result = worker
            .run_until(async move {
                stop.cancelled().await;
                Ok::<(), std::io::Error>(())
            })
            .await;
        if shutdown.is_cancelled() {
            tracing::info!(worker = %name, "worker stopped");
            return;
        }
        match result {
            Ok(()) => tracing::warn!(worker = %name, "worker ended; restarting"),
            Err(e) => tracing::error!(worker = %name, error = %e, "worker failed; restarting"),
        }
        metrics::counter!("worker_restarts_total", "queue" => queue).increment(1);
        // a worker that ran for a while failed afresh: restart quickly again
        if started.elapsed() > Duration::from_secs(30) {
            backoff = Duration::from_millis(250);
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
        generation += 1;
    }
}

/// The job's id and idempotency key, which name the actor of what it changes (the
/// ledger's `actor`): the key says what the job is for and what woke it, which the job
/// kind reads ([`JobKind::actor`]).
struct JobIdentity {
    id: Option<String>,
    key: Option<String>,
}

impl<Args: Sync> FromRequest<Task<Args>> for JobIdentity {
    type Error = std::convert::Infallible;

    async fn from_request(task: &Task<Args>) -> Result<Self, Self::Error> {
        Ok(JobIdentity {
            id: task.ctx().task_id().map(ToString::to_string),
            key: task.ctx().idempotency_key().map(str::to_owned),
        })
    }
}

/// The worker's one service: decoding happened in apalis (JSON codec); the handler runs
/// the job as its [`JobKind::actor`]. A panic is caught here and becomes an `Err` (apalis'
/// catch-panic layer does not compose with spawning the worker on a multi-threaded
/// runtime). The job runs in a scope of its own for counts recorded at its commits
/// ([`on_commit`]).
///
/// Each run is a span continuing the trace that enqueued the job (its metadata,
/// [`Origin`]), under the enqueuer's correlation id (a fresh one for a job enqueued
/// outside any request or job), so every log line of the run carries it.
async fn handle<J: JobKind, H: JobHandler<J>>(
    job: J,
    handler: Data<Arc<H>>,
    worker: WorkerContext,
    identity: JobIdentity,
    metadata: MetadataStore,
    attempt: Attempt,
) -> Result<(), BoxDynError> {
    let (queue, job_name, kind) = (job.queue(), job.name(), job.kind());
    let key = identity.key.as_deref();
    let job_id = identity.id.as_deref().unwrap_or("-");
    let actor = job.actor(
        format!("{queue} job {job_id} key {}", key.unwrap_or("-")),
        key,
    );
    let origin = Origin::from_metadata(&metadata);
    let correlation_id = origin
        .correlation_id
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let span = tracing::info_span!(
        "job",
        otel.name = %kind,
        otel.kind = "consumer",
        correlation_id = %correlation_id,
        queue,
        job = %kind,
        job_id,
        // 1 for the first run; more after apalis failures and orphan rescues (a run whose
        // worker died), all continuing the same trace
        attempt = attempt.current(),
    );
    traces::set_parent(&span, origin.traceparent.as_deref());
    let started = Instant::now();
    let run = AssertUnwindSafe(with_actor(actor, handler.handle(job, &worker))).catch_unwind();
    let run = telemetry::with_correlation_id(correlation_id, run.instrument(span.clone()));
    let (result, outcome) = match on_commit::scope(run).await {
        Ok(Ok(())) => (Ok(()), "ok"),
        Ok(Err(e)) => (Err(e), "error"),
        Err(_) => {
            span.in_scope(|| tracing::error!(queue, "job panicked"));
            (Err(format!("{queue} job panicked").into()), "panic")
        }
    };
    let elapsed = started.elapsed();
    span.in_scope(|| tracing::debug!(elapsed_ms = elapsed.as_millis() as u64, outcome, "job ran"));
    metrics::histogram!("job_duration_seconds", "queue" => queue, "job" => job_name)
        .record(elapsed.as_secs_f64());
    metrics::counter!("jobs_run_total", "queue" => queue, "job" => job_name, "outcome" => outcome)
        .increment(1);
    result
}
