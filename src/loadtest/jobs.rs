//! `checkout loadtest jobs`: the job runtime alone, measured as bench/peers measures
//! graphile-worker (bench/peers/README.md). Jobs are `bench` jobs
//! ([`crate::workflows::bench`]) enqueued with [`workers::enqueue`], the function every
//! workflow uses, and run by real `checkout worker` processes this command starts.
//!
//! - `enqueue`: `--jobs` no-op jobs, `--batch` per transaction; `drain`: start
//!   `--workers` processes and run what is queued, jobs/s from the first claim to the
//!   last ack (apalis's `lock_at` and `done_at`); `noop`: both.
//! - `latency`: `--rate` jobs/s for `--seconds`, open loop (each enqueued at its
//!   instant, whatever the others are doing); each job records its start instant, the
//!   harness the instant its enqueue committed; commit -> start p50/p99.
//! - `chain`: `--chains` 3-step chains enqueued in one transaction; each step enqueues the
//!   next in its own transaction; chains/s from that commit to the last ack.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use clap::{Args, ValueEnum};
use serde::Serialize;
use sqlx::PgPool;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::chaos::{Workers, cpu_seconds};
use super::stats::{Percentiles, from_millis};
use crate::store;
use crate::workers::{self, EnqueueOptions};
use crate::workflows::jobs::{Job, PING_QUEUE};

/// The queue `bench` jobs run on.
const QUEUE: &str = PING_QUEUE;
/// No gateway is called; the workers only need a well-formed sandbox address.
const NO_SANDBOX: &str = "http://127.0.0.1:9/sandbox";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scenario {
    Enqueue,
    Drain,
    Noop,
    Latency,
    Chain,
}

#[derive(Debug, Clone, Args)]
pub struct JobsArgs {
    #[arg(long, value_enum)]
    pub scenario: Scenario,
    /// `enqueue`, `noop`: how many jobs.
    #[arg(long, default_value_t = 50_000)]
    pub jobs: u64,
    /// `enqueue`, `noop`: jobs per enqueueing transaction.
    #[arg(long, default_value_t = 1_000)]
    pub batch: u64,
    /// `checkout worker` processes to start.
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// `latency`: jobs enqueued per second.
    #[arg(long, default_value_t = 200.0)]
    pub rate: f64,
    /// `latency`: for how long (s).
    #[arg(long, default_value_t = 20.0)]
    pub seconds: f64,
    /// `chain`: chains started together.
    #[arg(long, default_value_t = 2_000)]
    pub chains: u64,
}

#[derive(Debug, Default, Serialize)]
pub struct JobsReport {
    pub runtime: &'static str,
    pub scenario: Option<Scenario>,
    pub workers: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jobs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enqueued_per_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drain_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jobs_per_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offered_per_s: Option<f64>,
    /// `latency`: jobs committed per second, from the first scheduled instant to the
    /// last commit (below `offered_per_s` when the enqueuer fell behind).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub committed_per_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency: Option<Percentiles>,
    /// `latency`: from starting an enqueue's transaction to seeing it committed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enqueue: Option<Percentiles>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chains: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chains_per_s: Option<f64>,
    /// CPU seconds of the worker processes per 1,000 jobs run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worker_cpu_s_per_1000_jobs: Option<f64>,
    pub drained: bool,
}

/// Runs one scenario against the database at `database_url` and prints its report.
pub async fn run(database_url: Option<String>, args: JobsArgs) -> anyhow::Result<()> {
    let url = database_url.context("loadtest jobs needs the database (DATABASE_URL)")?;
    if !(args.rate > 0.0 && args.rate <= 20_000.0 && args.seconds > 0.0 && args.seconds <= 600.0) {
        bail!("--rate must be in (0, 20000] and --seconds in (0, 600]");
    }
    if args.workers == 0 || args.batch == 0 {
        bail!("--workers and --batch must be at least 1");
    }
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(store::connect_options(&url)?)
        .await
        .context("cannot connect to the database")?;
    store::migrate(&pool).await?;
    let mut report = JobsReport {
        runtime: "checkout",
        scenario: Some(args.scenario),
        workers: args.workers,
        ..Default::default()
    };
    if args.scenario != Scenario::Drain {
        store::bench::clear(&mut *pool.acquire().await?, QUEUE).await?;
    }
    match args.scenario {
        Scenario::Enqueue => enqueue(&pool, &args, &mut report).await?,
        Scenario::Drain => drain(&pool, &url, &args, &mut report).await?,
        Scenario::Noop => {
            enqueue(&pool, &args, &mut report).await?;
            drain(&pool, &url, &args, &mut report).await?;
        }
        Scenario::Latency => latency(&pool, &url, &args, &mut report).await?,
        Scenario::Chain => chain(&pool, &url, &args, &mut report).await?,
    }
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Seconds from `from` to `to`, at least a microsecond.
fn secs(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    ((to - from).num_microseconds().unwrap_or(0) as f64 / 1e6).max(1e-6)
}

async fn enqueue(pool: &PgPool, args: &JobsArgs, report: &mut JobsReport) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut seq = 0;
    while seq < args.jobs {
        let mut tx = pool.begin().await?;
        for _ in 0..args.batch.min(args.jobs - seq) {
            seq += 1;
            let job = Job::Bench {
                seq: seq as i64,
                record: false,
                then: 0,
            };
            workers::enqueue(&mut tx, &job, EnqueueOptions::default()).await?;
        }
        tx.commit().await?;
    }
    report.jobs = Some(args.jobs);
    report.enqueued_per_s = Some(round2(args.jobs as f64 / started.elapsed().as_secs_f64()));
    Ok(())
}

/// Starts the workers and waits until each has registered on the queue.
async fn start_workers(pool: &PgPool, url: &str, n: usize) -> anyhow::Result<Workers> {
    let workers = Workers::start(n, url, NO_SANDBOX)?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let up =
            store::bench::workers_up(&mut *pool.acquire().await?, QUEUE, &workers.pids()).await?;
        if up >= n as i64 {
            return Ok(workers);
        }
        if Instant::now() > deadline {
            bail!("{up} of {n} `checkout worker` processes registered within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until no job of the queue is left to run (at most `within`).
async fn drained(pool: &PgPool, within: Duration) -> anyhow::Result<bool> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if !store::bench::busy(&mut *pool.acquire().await?, QUEUE).await? {
            return Ok(true);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(false)
}

fn worker_cpu(workers: &Workers, jobs: i64) -> Option<f64> {
    (jobs > 0).then(|| round2(cpu_seconds(&workers.pids()) * 1000.0 / jobs as f64))
}

async fn drain(
    pool: &PgPool,
    url: &str,
    args: &JobsArgs,
    report: &mut JobsReport,
) -> anyhow::Result<()> {
    let workers = start_workers(pool, url, args.workers).await?;
    report.drained = drained(pool, Duration::from_secs(600)).await?;
    let span = store::bench::span(&mut *pool.acquire().await?, QUEUE).await?;
    report.worker_cpu_s_per_1000_jobs = worker_cpu(&workers, span.done);
    drop(workers);
    report.completed = Some(span.done);
    if let (Some(first), Some(last)) = (span.first_lock, span.last_done) {
        let s = secs(first, last);
        report.drain_s = Some(round2(s));
        report.jobs_per_s = Some(round2(span.done as f64 / s));
    }
    Ok(())
}

async fn latency(
    pool: &PgPool,
    url: &str,
    args: &JobsArgs,
    report: &mut JobsReport,
) -> anyhow::Result<()> {
    let workers = start_workers(pool, url, args.workers).await?;
    let total = (args.rate * args.seconds).round() as i64;
    let t0 = Instant::now() + Duration::from_millis(100);
    let mut sent = JoinSet::new();
    for seq in 1..=total {
        // open loop: each job at its own instant, however slow the earlier ones are
        tokio::time::sleep_until(t0 + Duration::from_secs_f64((seq - 1) as f64 / args.rate)).await;
        let pool = pool.clone();
        sent.spawn(async move {
            let sent_at = Instant::now();
            let mut tx = pool.begin().await?;
            let job = Job::Bench {
                seq,
                record: true,
                then: 0,
            };
            workers::enqueue(&mut tx, &job, EnqueueOptions::default()).await?;
            tx.commit().await?;
            anyhow::Ok((seq, Utc::now(), sent_at.elapsed()))
        });
    }
    let mut committed = HashMap::new();
    let mut round_trips = Vec::new();
    while let Some(done) = sent.join_next().await {
        let (seq, at, took) = done??;
        committed.insert(seq, at);
        round_trips.push(took.as_secs_f64() * 1000.0);
    }
    // when the enqueuer fell behind the schedule, fewer jobs/s were offered than asked
    report.committed_per_s = Some(round2(total as f64 / (Instant::now() - t0).as_secs_f64()));
    report.enqueue = Some(from_millis("enqueue", round_trips));
    report.drained = drained(pool, Duration::from_secs(120)).await?;
    let starts = store::bench::starts(&mut *pool.acquire().await?).await?;
    report.worker_cpu_s_per_1000_jobs = worker_cpu(&workers, starts.len() as i64);
    drop(workers);
    let millis = starts.iter().filter_map(|(seq, started)| {
        let commit = committed.get(seq)?;
        Some((*started - *commit).num_microseconds()? as f64 / 1000.0)
    });
    report.jobs = Some(total as u64);
    report.offered_per_s = Some(args.rate);
    report.latency = Some(from_millis("commit_to_start", millis));
    Ok(())
}

async fn chain(
    pool: &PgPool,
    url: &str,
    args: &JobsArgs,
    report: &mut JobsReport,
) -> anyhow::Result<()> {
    let workers = start_workers(pool, url, args.workers).await?;
    let mut tx = pool.begin().await?;
    for seq in 1..=args.chains as i64 {
        let job = Job::Bench {
            seq,
            record: false,
            then: 2,
        };
        workers::enqueue(&mut tx, &job, EnqueueOptions::default()).await?;
    }
    tx.commit().await?;
    let committed = Utc::now();
    report.drained = drained(pool, Duration::from_secs(600)).await?;
    let span = store::bench::span(&mut *pool.acquire().await?, QUEUE).await?;
    report.worker_cpu_s_per_1000_jobs = worker_cpu(&workers, span.done);
    drop(workers);
    report.chains = Some(args.chains);
    report.completed = Some(span.done);
    if let Some(last) = span.last_done {
        report.chains_per_s = Some(round2(args.chains as f64 / secs(committed, last)));
    }
    Ok(())
}
