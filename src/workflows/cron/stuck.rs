//! The stuck-workflow detector: a saga `running` (or `compensating`) unchanged for
//! `scheduler.stuck_after_secs` with no live job to move it (its job was lost, killed,
//! or ran out of apalis attempts) gets its step (or its compensation) enqueued again,
//! with key `{order}:{step}:stuck:{tick}`, and a warning is logged. The step's own
//! guards make a needless re-run harmless.

use sqlx::PgPool;
use uuid::Uuid;

use super::batch::{Pages, Stats};
use crate::store::sagas::{self, StuckQueues};
use crate::workflows::checkout::runner::{enqueue_compensation, enqueue_step};
use crate::workflows::jobs::{COMPENSATE_QUEUE, STEP_QUEUE};

pub async fn sweep(
    pool: &PgPool,
    older_than_secs: u64,
    batch: i64,
    tick: i64,
) -> anyhow::Result<Stats> {
    let queues = StuckQueues {
        steps: STEP_QUEUE,
        compensations: COMPENSATE_QUEUE,
    };
    let suffix = format!("stuck:{tick}");
    let mut pages = Pages::new(Uuid::nil(), batch);
    while let Some(after) = pages.next_after() {
        let mut tx = pool.begin().await?;
        let page = sagas::stuck_page(&mut tx, queues, older_than_secs, after, batch).await?;
        let mut requeued = 0;
        for s in &page {
            let enqueued = match (s.state.as_str(), s.step.parse()) {
                ("running", Ok(step)) => {
                    enqueue_step(&mut tx, s.order_id, step, Some(&suffix)).await?
                }
                ("compensating", _) => {
                    enqueue_compensation(&mut tx, s.order_id, Some(&suffix), None).await?
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
        pages.record(page.len(), page.last().map(|s| s.order_id), requeued);
    }
    Ok(pages.stats())
}
