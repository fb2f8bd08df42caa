//! The `bench` job of `checkout loadtest jobs`: the job runtime measured with jobs that
//! do nothing of their own, so what is measured is the runtime (enqueue, wake-up, claim,
//! run, ack). It is enqueued with [`workers::enqueue`] and run by `checkout worker`
//! like every other job kind.

use chrono::Utc;

use super::jobs::{Job, JobContext};
use crate::store;
use crate::workers::{self, EnqueueOptions};

/// Runs job `seq`: records its start instant when `record` (taken before the insert, so
/// the insert's own time is not counted), then enqueues the next step of its chain when
/// `then` steps remain, in its own transaction as a workflow step does with its state
/// change. No idempotency key: a re-run may enqueue the next step twice, which a
/// benchmark tolerates (graphile-worker's chain in bench/peers does the same).
pub async fn run(ctx: &JobContext, seq: i64, record: bool, then: u8) -> anyhow::Result<()> {
    if record {
        let started_at = Utc::now();
        let mut conn = store::acquire(&ctx.pool).await?;
        store::bench::record_start(&mut conn, seq, started_at).await?;
    }
    if then > 0 {
        let mut tx = store::begin(&ctx.pool).await?;
        let next = Job::Bench {
            seq,
            record: false,
            then: then - 1,
        };
        workers::enqueue(&mut tx, &next, EnqueueOptions::default()).await?;
        tx.commit().await?;
    }
    Ok(())
}
