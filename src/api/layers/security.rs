//! Response hardening: security headers on every response, CORS from an allow-list,
//! and the header names whose values are redacted wherever headers are formatted.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::config::{CorsSettings, SecuritySettings};

/// Values marked sensitive (tower-http `SetSensitive*HeadersLayer`) print as
/// `Sensitive` in `Debug`, so no trace or log can leak them even if a future layer
/// logs headers. Nothing in this crate logs headers or bodies.
pub const SENSITIVE_REQUEST_HEADERS: [HeaderName; 4] = [
    header::AUTHORIZATION,
    header::COOKIE,
    header::PROXY_AUTHORIZATION,
    HeaderName::from_static("x-razorpay-signature"),
];
pub const SENSITIVE_RESPONSE_HEADERS: [HeaderName; 1] = [header::SET_COOKIE];

/// Locks every answer down completely unless its handler set a policy of its own
/// (only `/docs` does).
const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

/// What Swagger UI on `/docs` needs and no more: its scripts and styles from this
/// origin (no inline code: its initializer is a file too), the icons its stylesheet
/// inlines as `data:` URIs, and "Try it out" requests to this origin only.
pub const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

/// Sets the security headers a response lacks (a handler's own value wins).
pub async fn headers(
    State(settings): State<SecuritySettings>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    let mut set = |name: HeaderName, value: HeaderValue| {
        h.entry(name).or_insert(value);
    };
    set(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    set(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    set(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    set(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(API_CSP),
    );
    if let Some(age) = settings.hsts_max_age_secs
        && let Ok(v) = HeaderValue::from_str(&format!("max-age={age}; includeSubDomains"))
    {
        set(header::STRICT_TRANSPORT_SECURITY, v);
    }
    response
}

/// CORS for the configured origins only (exact match, no wildcard, no credentials:
/// the API authenticates with bearer tokens, not cookies). Preflights are answered
/// here for any path.
pub fn cors(settings: &CorsSettings) -> CorsLayer {
    let origins: Vec<HeaderValue> = settings
        .allowed_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            HeaderName::from_static("idempotency-key"),
            super::correlation::HEADER,
        ])
        .expose_headers([
            super::correlation::HEADER,
            header::RETRY_AFTER,
            HeaderName::from_static("idempotent-replayed"),
        ])
        .max_age(Duration::from_secs(600))
}
