//! OpenTelemetry traces through `tracing`: the exporter behind the subscriber's layer,
//! and the W3C `traceparent` that carries a trace where a task cannot: HTTP headers,
//! job metadata, the order row.
//!
//! Without an exporter no OpenTelemetry layer is installed: spans have no trace context,
//! [`current_traceparent`] is None and the helpers here do nothing.

use std::collections::HashMap;
use std::sync::OnceLock;

use opentelemetry::Context;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracer, SdkTracerProvider};
use tracing::Span;
use tracing_opentelemetry::{OpenTelemetryLayer, OpenTelemetrySpanExt};
use tracing_subscriber::registry::LookupSpan;

use crate::config::{Sampling, TraceExport};

/// The W3C Trace Context header (and job metadata key, and what `orders.trace_context`
/// holds).
pub const TRACEPARENT: &str = "traceparent";

/// The provider of the installed layer, kept to flush it at shutdown.
static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// The layer exporting spans as `export` says: OTLP over HTTP/protobuf, batched on the
/// SDK's own thread (`OTEL_BSP_*` tune it).
pub(super) fn layer<S>(export: &TraceExport) -> anyhow::Result<OpenTelemetryLayer<S, SdkTracer>>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(export.traces_url.clone())
        .build()?;
    let sampler = match export.sampling {
        Sampling::ParentRatio(r) => Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(r))),
        Sampling::Ratio(r) => Sampler::TraceIdRatioBased(r),
    };
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(sampler)
        .with_resource(
            Resource::builder()
                .with_service_name(export.service_name.clone())
                .build(),
        )
        .build();
    let tracer = provider.tracer("checkout");
    // A second install in one process is refused by the registry anyway; its provider
    // shuts down when dropped.
    let _ = PROVIDER.set(provider);
    Ok(tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_tracked_inactivity(false))
}

/// Exports what is batched now (tests; a role's end uses [`shutdown`]).
pub fn flush() {
    if let Some(provider) = PROVIDER.get()
        && let Err(e) = provider.force_flush()
    {
        tracing::warn!(error = %e, "flushing traces failed");
    }
}

/// Exports what is still batched and stops the exporter; a role calls it as it ends.
pub fn shutdown() {
    if let Some(provider) = PROVIDER.get()
        && let Err(e) = provider.shutdown()
    {
        eprintln!("checkout: flushing traces failed: {e}");
    }
}

/// The `traceparent` of `span`, None when it records no trace (no exporter).
pub fn traceparent_of(span: &Span) -> Option<String> {
    let cx = span.context();
    if !cx.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&cx, &mut carrier);
    carrier.remove(TRACEPARENT)
}

/// The current span's `traceparent`: what a job, a gateway call or an order row keeps
/// to continue this trace elsewhere.
pub fn current_traceparent() -> Option<String> {
    traceparent_of(&Span::current())
}

/// The remote context a `traceparent` names, None when malformed.
fn context_of(traceparent: &str) -> Option<Context> {
    let carrier = HashMap::from([(TRACEPARENT.to_owned(), traceparent.trim().to_owned())]);
    let cx = TraceContextPropagator::new().extract(&carrier);
    cx.span().span_context().is_valid().then_some(cx)
}

/// Makes `span` a child of the trace `traceparent` names (if it names one). Only before
/// the span is first entered: its trace is fixed from then on.
pub fn set_parent(span: &Span, traceparent: Option<&str>) {
    if let Some(cx) = traceparent.and_then(context_of) {
        // Err only without the OpenTelemetry layer: then there is nothing to continue
        let _ = span.set_parent(cx);
    }
}

/// Links `span` to the trace `traceparent` names: related work that is not its parent
/// (a webhook about an order, a retried job).
pub fn add_link(span: &Span, traceparent: Option<&str>) {
    if let Some(cx) = traceparent.and_then(context_of) {
        span.add_link(cx.span().span_context().clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_traceparent_is_read_only_when_well_formed() {
        let good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let cx = context_of(good).unwrap_or_else(|| panic!("valid traceparent"));
        assert_eq!(
            cx.span().span_context().trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert!(context_of("00-00000000000000000000000000000000-00f067aa0ba902b7-01").is_none());
        assert!(context_of("garbage").is_none());
    }

    #[test]
    fn no_trace_without_the_layer() {
        let span = tracing::info_span!("untraced");
        assert_eq!(traceparent_of(&span), None);
        set_parent(
            &span,
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        );
        assert_eq!(traceparent_of(&span), None);
    }
}
