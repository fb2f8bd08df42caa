//! The job queue's backend: apalis-postgres's tables, queries and worker protocol
//! (register, heartbeat, orphan rescue, fetch, ack), driven by apalis's own
//! [`Persisted`] state machine, with three changes that keep each job's cost small and
//! constant:
//!
//! - A fetch and an ack are one statement each and are sent alone. apalis-postgres
//!   wraps each in BEGIN/COMMIT: three round trips where one does. Both are atomic on
//!   their own (`apalis.get_jobs` claims with `FOR UPDATE SKIP LOCKED` and marks in the
//!   same statement; the ack is one `UPDATE`).
//! - The ack finds its jobs by primary key ([`store::jobs::ack`]), not by the worker's
//!   `lock_by` index, so its cost does not grow with the jobs the worker already ran.
//! - A worker fetches only when there may be work: a notification for its queue or the
//!   timer fired since its last fetch started ([`WakeStrategy`]), or that fetch filled
//!   its batch. apalis fetches on every wake-up of the worker task (a job finished, an
//!   ack returned, a batch ran out) and ignores what a poll strategy says, so at partial
//!   load most of those fetches would find nothing. A notification is sent when the
//!   inserting transaction commits, so one that arrives while a fetch is in flight
//!   makes the next poll fetch again: no job waits for the timer.

use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use apalis_core::backend::finalize::Durable;
use apalis_core::backend::persistence::{Persisted, Persistence, State, TaskEvent};
use apalis_core::backend::{Backend, BackendConfig, WireFormatBackend};
use apalis_core::worker::context::WorkerContext;
use apalis_postgres::{Config, Error, PgTask, PostgresStorage, queries};
use serde_json::Value;
use sqlx::PgPool;

use super::wake::WakeStrategy;
use crate::store;

/// One worker's view of its queue.
#[derive(Clone)]
struct Queue {
    pool: PgPool,
    config: Config,
    /// Set by a fetch that filled its batch: more jobs may be waiting.
    full: Arc<AtomicBool>,
}

impl Queue {
    fn name(&self) -> &str {
        self.config.queue.as_ref()
    }

    fn dead_for(&self) -> u64 {
        self.config.orphaned_duration().as_secs()
    }
}

impl Persistence for Queue {
    type Compact = Vec<u8>;
    type Response = Value;
    type Error = Error;

    async fn register(&mut self, worker: &WorkerContext) -> Result<(), Error> {
        let mut tx = self.pool.begin().await?;
        queries::reenqueue_orphaned(&mut *tx, self.name(), self.dead_for()).await?;
        if !store::jobs::register_worker(&mut tx, worker.name(), self.name(), worker.get_service())
            .await?
        {
            return Err(Error::WorkerAlreadyExists(worker.name().to_owned()));
        }
        tx.commit().await?;
        Ok(())
    }

    async fn heartbeat(&mut self, worker: &WorkerContext) -> Result<(), Error> {
        let mut tx = self.pool.begin().await?;
        queries::keep_alive(&mut *tx, self.name(), worker).await?;
        queries::reenqueue_orphaned(&mut *tx, self.name(), self.dead_for()).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn fetch_next(&mut self, worker: &WorkerContext) -> Result<Vec<PgTask>, Error> {
        let mut conn = self.pool.acquire().await?;
        let tasks = queries::fetch_next(&mut *conn, &self.config, worker).await?;
        self.full
            .store(tasks.len() >= self.config.batch_size, Ordering::Release);
        let result = if tasks.is_empty() { "empty" } else { "claimed" };
        metrics::counter!("job_fetches_total", "queue" => self.name().to_owned(), "result" => result)
            .increment(1);
        Ok(tasks)
    }

    async fn reenqueue_abandoned(
        &mut self,
        tasks: Vec<PgTask>,
        worker: &WorkerContext,
    ) -> Result<u64, Error> {
        let ids = tasks
            .iter()
            .filter_map(|t| t.task_id().map(|id| id.to_string()))
            .collect::<Vec<_>>();
        let mut conn = self.pool.acquire().await?;
        queries::reenqueue_abandoned(&mut *conn, self.name(), worker.name(), &ids).await
    }

    async fn handle_events(
        &mut self,
        events: Vec<TaskEvent<Value>>,
        worker: &WorkerContext,
    ) -> Result<(), Error> {
        let mut acks = Vec::new();
        let mut locks = Vec::new();
        for event in &events {
            match event {
                TaskEvent::Complete(result) => acks.push(result),
                TaskEvent::Lock { task_id, .. } => locks.push(task_id.to_string()),
                _ => {}
            }
        }
        // an acked task needs no lock
        locks.retain(|id| !acks.iter().any(|a| a.task_id().to_string() == *id));
        if acks.is_empty() && locks.is_empty() {
            return Ok(());
        }
        let mut conn = self.pool.acquire().await?;
        if !acks.is_empty() {
            let results = serde_json::to_value(&acks).map_err(Error::JsonError)?;
            store::jobs::ack(&mut conn, &results, worker.name()).await?;
        }
        if !locks.is_empty() {
            queries::lock_tasks(&mut *conn, &locks, worker.name()).await?;
        }
        Ok(())
    }

    async fn push_tasks(&mut self, tasks: Vec<PgTask>) -> Result<(), Error> {
        let mut conn = self.pool.acquire().await?;
        queries::push_tasks(&mut *conn, self.name(), tasks).await
    }
}

/// A worker's backend: apalis-postgres's jobs table, fetched only when there may be
/// work (module docs).
pub struct JobStore<Args> {
    queue: Persisted<Queue>,
    wake: WakeStrategy,
    /// A fetch is owed: a wake-up came since the last fetch started.
    due: bool,
    codec: <PostgresStorage<Args> as WireFormatBackend>::Codec,
    _args: PhantomData<Args>,
}

impl<Args> JobStore<Args> {
    pub fn new(pool: &PgPool, config: Config, wake: WakeStrategy) -> Self {
        Self {
            queue: Persisted::new(Queue {
                pool: pool.clone(),
                config,
                full: Arc::default(),
            }),
            wake,
            // the first poll fetches: jobs may be waiting from before this worker
            due: true,
            codec: Default::default(),
            _args: PhantomData,
        }
    }
}

impl<Args> Backend for JobStore<Args> {
    type Task = PgTask;
    type Error = Error;

    fn poll_ready(
        &mut self,
        cx: &mut Context<'_>,
        worker: &WorkerContext,
    ) -> Poll<Result<(), Error>> {
        let heartbeat = self.queue.config.heartbeat_interval;
        self.queue.poll_ready(cx, worker, heartbeat)
    }

    fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
        worker: &WorkerContext,
    ) -> Poll<Option<Result<PgTask, Error>>> {
        // always polled, so its notification channel and timer hold this task's waker
        if self.wake.poll_wake(cx) {
            self.due = true;
        }
        if matches!(self.queue.state(), State::Ready) {
            if self.queue.full.swap(false, Ordering::Acquire) {
                self.due = true;
            }
            if !self.due {
                return Poll::Pending;
            }
            // cleared before the fetch starts: a wake-up during it owes another
            self.due = false;
        }
        self.queue.poll_next(cx, worker)
    }

    fn poll_close(
        &mut self,
        cx: &mut Context<'_>,
        worker: &WorkerContext,
    ) -> Poll<Result<(), Error>> {
        self.queue.poll_close(cx, worker)
    }
}

impl<Args> BackendConfig for JobStore<Args> {
    type Args = Args;
    type Kind = Durable;
    type Id = <PostgresStorage<Args> as BackendConfig>::Id;
    type Config = Config;
    type Layer = <PostgresStorage<Args> as BackendConfig>::Layer;

    fn config(&self) -> &Config {
        &self.queue.config
    }

    fn middleware(&mut self, _: &mut WorkerContext) -> Self::Layer {
        let (batch, persist, lock) = {
            let c = &self.queue.config;
            (c.batch_size, c.persist_results, c.lock_tasks)
        };
        self.queue
            .layer(Default::default(), batch)
            .persist_results(persist)
            .lock_tasks(lock)
    }
}

impl<Args> WireFormatBackend for JobStore<Args> {
    type Codec = <PostgresStorage<Args> as WireFormatBackend>::Codec;
    type Compact = Vec<u8>;

    fn codec(&self) -> &Self::Codec {
        &self.codec
    }
}
