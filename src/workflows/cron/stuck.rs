//! The stuck-workflow detector: a saga `running` (or `compensating`) unchanged for
//! `scheduler.stuck_after_secs` with no live job to move it (its job was lost, killed,
//! or ran out of apalis attempts) gets its step (or its compensation) enqueued again,
//! with key `{order}:{step}:stuck:{tick}`, and a warning is logged. The step's own
//! guards make a needless re-run harmless.

use sqlx::PgPool;
use uuid::Uuid;

use super::batch::Stats;
use crate::store::sagas;
use crate::workers::{EnqueueOptions, Job, enqueue};
use crate::workflows::checkout::runner::enqueue_step;

pub async fn sweep(
    pool: &PgPool,
    older_than_secs: u64,
    batch: i64,
    tick: i64,
) -> anyhow::Result<Stats> {
    let mut stats = Stats::default();
    let mut after = Uuid::nil();
    let suffix = format!("stuck:{tick}");
    loop {
        let mut tx = pool.begin().await?;
        let page = sagas::stuck_page(&mut tx, older_than_secs, after, batch).await?;
        let mut requeued = 0;
        for s in &page {
            let enqueued = match (s.state.as_str(), s.step.parse()) {
                ("running", Ok(step)) => {
                    enqueue_step(&mut tx, s.order_id, step, Some(&suffix)).await?
                }
                ("compensating", _) => {
                    let key = format!("{}:compensate:{suffix}", s.order_id);
                    let job = Job::Compensate {
                        order_id: s.order_id,
                    };
                    let options = EnqueueOptions {
                        idempotency_key: Some(key),
                        ..Default::default()
                    };
                    enqueue(&mut tx, &job, options).await?
                }
                _ => false,
            };
            if enqueued {
                requeued += 1;
                tracing::warn!(order_id = %s.order_id, step = %s.step, state = %s.state,
                    since = %s.updated_at, "stuck saga: re-enqueued");
            }
        }
        tx.commit().await?;
        stats.add(requeued);
        match page.last() {
            Some(last) if page.len() as i64 >= batch => after = last.order_id,
            _ => return Ok(stats),
        }
    }
}
