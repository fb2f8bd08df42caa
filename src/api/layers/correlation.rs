//! `X-Correlation-ID`: accepted from the client when well-formed, generated otherwise,
//! echoed on the response, attached to the request's tracing span (so every log line of
//! the request carries it) and readable anywhere in the request's task through
//! [`current`] (error bodies, job payloads, gateway calls).
//!
//! The request's span is also its trace's server span: it continues an incoming W3C
//! `traceparent` and records route, method and status.

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use crate::telemetry::traces;

pub const HEADER: HeaderName = HeaderName::from_static("x-correlation-id");

/// The current request's correlation id, or a fresh one outside a request.
pub use crate::telemetry::correlation_id as current;

/// A client-supplied id is kept only if it is short and plain, so it cannot inject
/// into logs or headers.
fn accept(value: &HeaderValue) -> Option<String> {
    let s = value.to_str().ok()?;
    let ok = (1..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    ok.then(|| s.to_owned())
}

pub async fn middleware(mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(&HEADER)
        .and_then(accept)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    if let Ok(v) = HeaderValue::from_str(&id) {
        request.headers_mut().insert(HEADER, v);
    }
    // The route template, never the raw path (cart tokens), names the trace's span.
    let route = super::middleware::route_of(&request);
    let method = request.method().clone();
    let span = tracing::info_span!(
        "request",
        otel.name = %format_args!("{method} {route}"),
        otel.kind = "server",
        correlation_id = %id,
        method = %method,
        route = %route,
        path = %request.uri().path(),
        status = tracing::field::Empty,
    );
    let incoming = request
        .headers()
        .get(traces::TRACEPARENT)
        .and_then(|v| v.to_str().ok());
    traces::set_parent(&span, incoming);
    let mut response = crate::telemetry::with_correlation_id(
        id.clone(),
        next.run(request).instrument(span.clone()),
    )
    .await;
    span.record("status", response.status().as_u16());
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_ids_only() {
        assert_eq!(
            accept(&HeaderValue::from_static("abc-123_x.y")).as_deref(),
            Some("abc-123_x.y")
        );
        assert!(accept(&HeaderValue::from_static("a b")).is_none());
        assert!(accept(&HeaderValue::from_static("")).is_none());
        let long = "a".repeat(129);
        assert!(
            accept(&HeaderValue::from_str(&long).unwrap_or(HeaderValue::from_static(""))).is_none()
        );
    }
}
