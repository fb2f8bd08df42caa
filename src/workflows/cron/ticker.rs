//! The leader's clock: enqueues one `Job::Cron` per tick of every enabled schedule.
//!
//! On becoming leader it first enqueues the latest tick already due of each schedule
//! (a tick the previous leader enqueued is a duplicate key, so nothing runs twice; a
//! tick lost in the handover runs late instead of never), then sleeps until the next
//! tick. A tick missed by more than one period (the process was paused) is skipped:
//! every job sweeps everything due, so the next tick covers it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::parse_schedule;
use crate::config::SchedulerSettings;
use crate::workers::{EnqueueOptions, enqueue};
use crate::workflows::jobs::Job;
use crate::workflows::keys;

struct Entry {
    name: &'static str,
    schedule: cron::Schedule,
    next: Option<DateTime<Utc>>,
}

fn entries(settings: &SchedulerSettings) -> Vec<Entry> {
    settings
        .schedules()
        .into_iter()
        .filter_map(|(name, expr)| match parse_schedule(expr) {
            Ok(Some(schedule)) => Some(Entry {
                name,
                schedule,
                next: None,
            }),
            Ok(None) => None,
            Err(e) => {
                tracing::error!(schedule = name, error = %e, "invalid schedule; switched off");
                None
            }
        })
        .collect()
}

/// Runs until `shutdown`, enqueueing ticks while `leader` says this process leads.
pub async fn run(
    pool: PgPool,
    settings: SchedulerSettings,
    mut leader: watch::Receiver<bool>,
    shutdown: CancellationToken,
) {
    let mut entries = entries(&settings);
    if entries.is_empty() {
        tracing::warn!("every cron schedule is off");
    }
    loop {
        // wait to lead
        while !*leader.borrow_and_update() {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                changed = leader.changed() => if changed.is_err() { return },
            }
        }
        let now = Utc::now();
        for e in &mut entries {
            if let Some(prev) = e.schedule.after(&now).next_back() {
                enqueue_tick(&pool, e.name, prev).await;
            }
            e.next = e.schedule.after(&now).next();
        }
        // lead until told otherwise
        while let Some(soonest) = entries.iter().filter_map(|e| e.next).min() {
            let wait = (soonest - Utc::now()).to_std().unwrap_or(Duration::ZERO);
            tokio::select! {
                _ = shutdown.cancelled() => return,
                changed = leader.changed() => {
                    if changed.is_err() { return }
                    if !*leader.borrow_and_update() { break }
                    continue;
                }
                _ = tokio::time::sleep(wait) => {}
            }
            let now = Utc::now();
            for e in &mut entries {
                if let Some(due) = e.next.filter(|t| *t <= now) {
                    enqueue_tick(&pool, e.name, due).await;
                    e.next = e.schedule.after(&now).next();
                }
            }
        }
        if entries.iter().all(|e| e.next.is_none()) {
            // nothing scheduled: wait for shutdown or the loss of leadership
            tokio::select! {
                _ = shutdown.cancelled() => return,
                changed = leader.changed() => if changed.is_err() { return },
            }
        }
    }
}

/// Enqueues one tick (key `cron:{name}:{unix}`); a duplicate key (another leader was
/// first) is fine. A failure is logged: the next tick sweeps what this one would have.
async fn enqueue_tick(pool: &PgPool, name: &str, at: DateTime<Utc>) {
    let tick = at.timestamp();
    let result = async {
        let mut tx = pool.begin().await?;
        let job = Job::Cron {
            schedule: name.to_owned(),
            tick,
        };
        let options = EnqueueOptions {
            idempotency_key: Some(keys::cron_tick(name, tick)),
            // a failed tick stays Failed for `admin jobs` to show; the next tick retries
            max_attempts: Some(1),
            ..Default::default()
        };
        let fresh = enqueue(&mut tx, &job, options).await?;
        tx.commit().await?;
        anyhow::Ok(fresh)
    }
    .await;
    match result {
        Ok(true) => tracing::debug!(schedule = name, tick, "cron tick enqueued"),
        Ok(false) => tracing::debug!(schedule = name, tick, "cron tick already enqueued"),
        Err(e) => tracing::warn!(schedule = name, tick, error = %e, "cannot enqueue cron tick"),
    }
}
