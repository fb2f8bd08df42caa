//! The scheduler's cron jobs.
//!
//! Any number of `checkout scheduler` processes may run. Only the advisory-lock
//! [`leader`](super::leader) schedules ([`ticker`]), and each tick is not run in the
//! scheduler but enqueued as a [`Job::Cron`](crate::workflows::jobs::Job) on `system.cron` with
//! the idempotency key `cron:{schedule}:{tick}`: if two processes believe they lead for
//! a moment (a handover), the second enqueue of a tick is a no-op, so each tick runs
//! once in the whole system (apalis-cron would enqueue one copy per process).
//!
//! Every job is idempotent (a tick may run again after a worker crash) and works in
//! bounded batches of `scheduler.batch_size` rows per statement, each statement its own
//! short transaction ([`batch::repeat`]), so a backlog never holds long locks.

pub mod batch;
pub mod carts;
pub mod expiry;
pub mod prune;
pub mod stuck;
pub mod ticker;

use crate::workflows::jobs::JobContext;

pub use batch::Stats;

pub use crate::config::parse_schedule;

/// Runs one tick of `schedule` (scheduled for unix second `tick`) as a worker job.
pub async fn run_tick(ctx: &JobContext, schedule: &str, tick: i64) -> anyhow::Result<Stats> {
    let s = &ctx.settings.scheduler;
    let pool = &ctx.pool;
    let stats = match schedule {
        "cart_cleanup" => carts::cleanup(pool, s).await?,
        "expiry_sweep" => expiry::sweep(pool, s.batch_size, tick).await?,
        "reconcile" => {
            let older = ctx.settings.checkout.reconcile_after_secs;
            super::checkout::reconcile::sweep_tick(pool, older, tick, s.batch_size).await?
        }
        "stuck_sweep" => stuck::sweep(pool, s.stuck_after_secs, s.batch_size, tick).await?,
        "prune" => prune::prune(pool, s).await?,
        other => anyhow::bail!("unknown cron schedule `{other}`"),
    };
    tracing::info!(
        schedule,
        tick,
        rows = stats.rows,
        statements = stats.statements,
        "cron tick done"
    );
    metrics::counter!("cron_ticks_total", "schedule" => schedule.to_owned()).increment(1);
    Ok(stats)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn schedules_parse_or_switch_off() {
        assert!(parse_schedule("off").unwrap().is_none());
        assert!(parse_schedule("").unwrap().is_none());
        assert!(parse_schedule("* * * * * *").unwrap().is_some());
        assert!(parse_schedule("every minute").is_err());
    }

    #[test]
    fn every_default_schedule_parses() {
        let s = crate::config::SchedulerSettings::default();
        for (name, expr) in s.schedules() {
            assert!(parse_schedule(expr).unwrap().is_some(), "{name}");
        }
    }
}
