//! `worker`: the job runtime's concurrency, batches, heartbeats and wake-ups.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerSettings {
    /// Jobs one worker process runs at once per queue.
    pub concurrency: usize,
    /// Jobs claimed per fetch (apalis' default of 10 slows as a backlog drains).
    pub batch_size: usize,
    /// Heartbeat period (s); a worker silent for `heartbeat_secs * missed_heartbeats`
    /// is dead and its claimed jobs are re-enqueued by the others.
    pub heartbeat_secs: u64,
    pub missed_heartbeats: usize,
    /// Upper bound for one job; a hung handler is cancelled and its job retried.
    pub job_timeout_secs: u64,
    /// Fallback wake-up period (ms) besides LISTEN/NOTIFY: scheduled jobs (`run_at` in the
    /// future) send no notification, nor do jobs the orphan rescue or an operator puts
    /// back. Each idle queue fetches once per period (5 queues: 10 fetches/s per worker
    /// process at 500 ms, 50 at 100 ms); apalis keeps `run_at` in whole seconds anyway.
    pub wake_interval_ms: u64,
    /// Port of the worker's own `/healthz` and `/readyz`; 0 picks a free one (logged).
    pub health_port: u16,
    /// Period (s) of the samplers behind `/metrics`: the queues' depth (scheduler and
    /// `dev`) and the database pool (every role).
    pub metrics_sample_secs: u64,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            concurrency: 16,
            batch_size: 50,
            heartbeat_secs: 5,
            missed_heartbeats: 3,
            job_timeout_secs: 60,
            wake_interval_ms: 500,
            health_port: 0,
            metrics_sample_secs: 5,
        }
    }
}
