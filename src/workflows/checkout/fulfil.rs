//! `enroll` and `complete`.

use uuid::Uuid;

use super::prepare::skip;
use super::runner::{Failure, Outcome, StepResult, begin};
use crate::domain::codes::ErrorCode;
use crate::domain::order::{OrderStatus, Step};
use crate::store::outbox::Event;
use crate::store::{enrollments, holds, orders};
use crate::workflows::documents::enqueue_documents;
use crate::workflows::jobs::JobContext;

/// Converts the order's seat holds into enrollments (an upsert per user and cohort).
/// A hold that expired before the payment came is re-taken if a seat is free; when no
/// seat can be had, or the student is already enrolled in that cohort through another
/// order, the step rolls back and the order is refunded. An order that was charged
/// gets its tax invoice job ([`crate::workflows::documents`]).
pub async fn enroll(ctx: &JobContext, order_id: Uuid) -> StepResult<'static> {
    let Some((mut tx, order)) = begin(ctx, order_id, Step::Enroll).await? else {
        return skip(ctx).await;
    };
    if order.status() != OrderStatus::Paid {
        return Ok((tx, Outcome::Skip));
    }
    // The order first, the seat counters last (the event is written with the timeline
    // line): a cohort row stays locked from its update to the commit, and every
    // enrollment in a popular cohort waits on it. (A failure below rolls all of it back.)
    orders::transition(&mut tx, &order, OrderStatus::Enrolled, None).await?;
    for hold in holds::for_order(&mut tx, order_id).await? {
        let owner = enrollments::upsert(
            &mut tx,
            order.user_id,
            hold.cohort_id,
            hold.program_id,
            order_id,
        )
        .await?;
        if owner != order_id {
            return Ok((
                tx,
                Outcome::Fail(Failure::new(
                    OrderStatus::Refunded,
                    ErrorCode::AlreadyEnrolled.as_u32(),
                    "already enrolled in this cohort through another order; the payment is refunded",
                )),
            ));
        }
        if !holds::convert(&mut tx, &hold).await? {
            return Ok((
                tx,
                Outcome::Fail(Failure::new(
                    OrderStatus::Refunded,
                    ErrorCode::NoSeatAfterPayment.as_u32(),
                    "the cohort filled up before the payment arrived; the payment is refunded",
                )),
            ));
        }
    }
    if order.total.unwrap_or(0) > 0 {
        // the tax invoice, in its own job and transaction: its number's lock is never
        // held with the cohort rows (only this transaction enrolls the order)
        enqueue_documents(&mut tx, order_id, None, true).await?;
    }
    crate::telemetry::on_commit::count(|| metrics::counter!("enrollments_total").increment(1));
    let enrolled = Event::new(
        "order.enrolled",
        serde_json::json!({"user_id": order.user_id, "total": order.total, "currency": order.currency}),
    );
    Ok((tx, Outcome::Next(Some(enrolled))))
}

/// Records the end of the checkout for the event publisher; the saga completes.
pub async fn complete(ctx: &JobContext, order_id: Uuid) -> StepResult<'static> {
    let Some((tx, order)) = begin(ctx, order_id, Step::Complete).await? else {
        return skip(ctx).await;
    };
    let completed = Event::new(
        "order.completed",
        serde_json::json!({"status": order.status, "total": order.total, "currency": order.currency}),
    );
    Ok((tx, Outcome::Next(Some(completed))))
}
