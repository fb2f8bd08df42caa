//! Work about an order that starts outside its checkout (a webhook, a reconciliation
//! sweep) continues the checkout's trace and correlation id, which the order row keeps.

use std::future::Future;

use sqlx::PgConnection;
use tracing::Instrument;
use uuid::Uuid;

use crate::store::orders;
use crate::telemetry::{self, traces};

/// Where work about one order runs.
pub struct InOrder {
    span: tracing::Span,
    correlation_id: Option<String>,
}

impl InOrder {
    /// Runs `work` in the order's trace and under its correlation id, so the jobs it
    /// enqueues continue both.
    pub async fn run<F: Future>(self, work: F) -> F::Output {
        let work = work.instrument(self.span);
        match self.correlation_id {
            Some(id) => telemetry::with_correlation_id(id, work).await,
            None => work.await,
        }
    }
}

/// An `order event` span for what the current span (a webhook's request, a sweep) does
/// about `order_id`: a child of the order's checkout trace, which the current span
/// links to. Without a stored trace (traces off when the order was made), a plain child.
pub async fn in_order(conn: &mut PgConnection, order_id: Uuid) -> anyhow::Result<InOrder> {
    let span = tracing::info_span!(
        "order event",
        %order_id,
        correlation_id = tracing::field::Empty
    );
    let origin = orders::origin(conn, order_id).await?;
    let (trace_context, correlation_id) = origin
        .map(|o| (o.trace_context, o.correlation_id))
        .unwrap_or_default();
    traces::add_link(&tracing::Span::current(), trace_context.as_deref());
    traces::set_parent(&span, trace_context.as_deref());
    if let Some(id) = &correlation_id {
        span.record("correlation_id", id.as_str());
    }
    Ok(InOrder {
        span,
        correlation_id,
    })
}
