//! Cross-cutting layers: request metrics, panics and timeouts in the envelope, and
//! the fallbacks for unknown routes and methods.

use std::any::Any;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::Uri;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

/// The request's route template (`/api/v1/order/{order_token}`), never the raw path
/// (tokens), or `unmatched`: what names a request in metrics and traces.
pub fn route_of(request: &Request) -> String {
    request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into())
}

/// Counts requests and records latency by route template (never the raw path, which
/// holds cart tokens and would explode label cardinality), method and status.
pub async fn metrics(request: Request, next: Next) -> Response {
    let route = route_of(&request);
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let labels = [("route", route), ("method", method), ("status", status)];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}

/// A panic inside a handler becomes a 500 in the envelope; the panic message is logged
/// (with the correlation id, since this runs inside the request span), never returned.
pub fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("non-string panic payload");
    tracing::error!(panic = detail, "handler panicked");
    ApiError::Panic.into_response()
}

pub async fn not_found(uri: Uri) -> ApiError {
    ApiError::RouteNotFound(uri.path().to_owned())
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// Maps the timeout layer's error into the envelope.
pub async fn timeout_error(_: tower::BoxError) -> ApiError {
    ApiError::Timeout
}
