//! HTTP plumbing shared by both clients: per-call timeout, classification of
//! failures, retries with backoff for idempotent calls only, and the breaker.
//!
//! Retrying a request that creates something is only safe when the gateway
//! can recognise the repeat (an idempotency key); otherwise a timeout followed
//! by a retry can create two payable sessions or two refunds. So the caller
//! says whether a call is idempotent, and non-idempotent calls get one attempt.

use std::time::{Duration, Instant};

use axum::body::Bytes;
use rand::Rng;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};
use serde::de::DeserializeOwned;
use tracing::Instrument;

use super::breaker::Breaker;
use super::error::GatewayError;
use super::types::GatewayKind;
use crate::config::PaymentsSettings;
use crate::telemetry::traces;

/// Exponential backoff with "equal jitter": half the delay is fixed, half
/// random, so many workers retrying after one outage do not arrive together.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base: Duration,
    pub max: Duration,
}

impl RetryPolicy {
    pub fn from_settings(s: &PaymentsSettings) -> Self {
        RetryPolicy {
            max_attempts: s.max_attempts.max(1),
            base: Duration::from_millis(s.retry_base_ms),
            max: Duration::from_millis(s.retry_max_ms.max(s.retry_base_ms)),
        }
    }

    /// Delay after the `failed_attempt`-th attempt failed (1-based).
    pub fn delay(&self, failed_attempt: u32) -> Duration {
        let exp = failed_attempt.saturating_sub(1).min(20);
        let full = self.base.saturating_mul(1u32 << exp).min(self.max);
        let half = full / 2;
        let jitter_ms = rand::rng().random_range(0..=half.as_millis() as u64);
        half + Duration::from_millis(jitter_ms)
    }
}

/// A 2xx answer.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Bytes,
}

impl Reply {
    pub fn json<T: DeserializeOwned>(&self, gateway: GatewayKind) -> Result<T, GatewayError> {
        serde_json::from_slice(&self.body).map_err(|e| GatewayError::Malformed {
            gateway,
            message: format!("{e} in {}", preview(&self.body)),
        })
    }
}

/// Whether a call may be repeated safely.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idempotence {
    /// Reads, and writes carrying an idempotency key the gateway honours.
    Safe,
    /// Writes the gateway cannot deduplicate: one attempt only.
    Unsafe,
}

#[derive(Debug, Clone)]
pub struct Transport {
    pub gateway: GatewayKind,
    http: reqwest::Client,
    timeout: Duration,
    retry: RetryPolicy,
    breaker: Breaker,
}

impl Transport {
    pub fn new(
        gateway: GatewayKind,
        timeout: Duration,
        payments: &PaymentsSettings,
    ) -> Result<Self, GatewayError> {
        let http = reqwest::Client::builder()
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("checkout/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| GatewayError::InvalidRequest {
                gateway,
                message: format!("cannot build HTTP client: {e}"),
            })?;
        Ok(Transport {
            gateway,
            http,
            timeout,
            retry: RetryPolicy::from_settings(payments),
            breaker: Breaker::new(gateway, payments),
        })
    }

    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }

    pub fn retry(&self) -> &RetryPolicy {
        &self.retry
    }

    /// Sends the request built by `build` (called again for each attempt),
    /// through the breaker, retrying retryable failures when `idempotence` allows.
    pub async fn send<F>(
        &self,
        op: &'static str,
        idempotence: Idempotence,
        build: F,
    ) -> Result<Reply, GatewayError>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    {
        let attempts = match idempotence {
            Idempotence::Safe => self.retry.max_attempts,
            Idempotence::Unsafe => 1,
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            if !self.breaker.permits() {
                count(self.gateway, op, "circuit_open");
                return Err(GatewayError::CircuitOpen {
                    gateway: self.gateway,
                });
            }
            let started = Instant::now();
            let span = tracing::info_span!(
                "gateway call",
                otel.name = %format_args!("{} {op}", self.gateway),
                otel.kind = "client",
                gateway = %self.gateway,
                op,
                attempt,
                method = tracing::field::Empty,
                status = tracing::field::Empty,
            );
            let result = self
                .once(build(&self.http), &span)
                .instrument(span.clone())
                .await;
            metrics::histogram!("gateway_request_seconds", "gateway" => self.gateway.as_str(), "op" => op)
                .record(started.elapsed().as_secs_f64());
            match &result {
                Err(e) if e.is_outage() => self.breaker.record_failure(),
                _ => self.breaker.record_success(),
            }
            match result {
                Ok(reply) => {
                    count(self.gateway, op, "ok");
                    return Ok(reply);
                }
                Err(e) if e.is_retryable() && attempt < attempts => {
                    count(self.gateway, op, "retry");
                    let delay = e
                        .retry_after()
                        .map(|d| d.min(self.retry.max))
                        .unwrap_or_else(|| self.retry.delay(attempt));
                    tracing::warn!(gateway = %self.gateway, op, attempt, ?delay, error = %e, "gateway call failed, retrying");
                    tokio::time::sleep(delay).await;
                }
                Err(e) => {
                    count(self.gateway, op, "error");
                    return Err(e);
                }
            }
        }
    }

    /// One HTTP exchange as the client span `span`: the gateway (the sandbox, a test's
    /// mock) sees the span as the caller in its `traceparent` header.
    async fn once(
        &self,
        request: reqwest::RequestBuilder,
        span: &tracing::Span,
    ) -> Result<Reply, GatewayError> {
        let gateway = self.gateway;
        let mut request = request
            .timeout(self.timeout)
            .build()
            .map_err(|e| transport_error(gateway, e))?;
        span.record("method", request.method().as_str());
        if let Some(parent) = traces::traceparent_of(span)
            && let Ok(value) = HeaderValue::from_str(&parent)
        {
            request.headers_mut().insert(traces::TRACEPARENT, value);
        }
        let response = self
            .http
            .execute(request)
            .await
            .map_err(|e| transport_error(gateway, e))?;
        let status = response.status();
        span.record("status", status.as_u16());
        let retry_after = retry_after(response.headers());
        let body = response
            .bytes()
            .await
            .map_err(|e| transport_error(gateway, e))?;
        if status.is_success() {
            return Ok(Reply { status, body });
        }
        let (code, message) = error_detail(&body);
        Err(match status.as_u16() {
            429 => GatewayError::RateLimited {
                gateway,
                retry_after,
            },
            401 | 403 => GatewayError::Auth {
                gateway,
                status: status.as_u16(),
                message,
            },
            s if s >= 500 => GatewayError::Server {
                gateway,
                status: s,
                message,
            },
            s => GatewayError::Rejected {
                gateway,
                status: s,
                code,
                message,
            },
        })
    }
}

fn count(gateway: GatewayKind, op: &'static str, outcome: &'static str) {
    metrics::counter!("gateway_requests_total", "gateway" => gateway.as_str(), "op" => op, "outcome" => outcome)
        .increment(1);
}

fn transport_error(gateway: GatewayKind, e: reqwest::Error) -> GatewayError {
    if e.is_timeout() {
        GatewayError::Timeout { gateway }
    } else if e.is_connect() {
        GatewayError::Connect {
            gateway,
            message: e.to_string(),
        }
    } else {
        // Failed after the request may have been sent: treat like a 5xx, which
        // is retryable with an idempotency key and "maybe applied".
        GatewayError::Server {
            gateway,
            status: 0,
            message: e.to_string(),
        }
    }
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// Both gateways answer errors as `{"error": {...}}`: Razorpay with `code` and
/// `description`, Stripe with `type`, `code` and `message`.
fn error_detail(body: &[u8]) -> (Option<String>, String) {
    let value: serde_json::Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(_) => return (None, preview(body)),
    };
    let err = &value["error"];
    let text = |k: &str| err.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    let code = text("code").or_else(|| text("type"));
    let message = text("description")
        .or_else(|| text("message"))
        .unwrap_or_else(|| preview(body));
    (code, message)
}

fn preview(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    text.chars().take(200).collect()
}

/// Join a base URL (which may carry a path, like the sandbox's) and a path.
pub fn join(base: &str, path: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

/// Percent-encodes everything but RFC 3986 unreserved characters, for ids and
/// tokens placed in a path or query (an id is never trusted to be URL-safe).
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn urlencode_escapes_path_breakers() {
        assert_eq!(urlencode("order_AbC-1.2~"), "order_AbC-1.2~");
        assert_eq!(urlencode("a/b?c d"), "a%2Fb%3Fc%20d");
    }

    #[test]
    fn backoff_grows_and_stays_within_jitter_bounds() {
        let p = RetryPolicy {
            max_attempts: 5,
            base: Duration::from_millis(100),
            max: Duration::from_millis(300),
        };
        for _ in 0..50 {
            let d1 = p.delay(1);
            assert!(d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100));
            let d2 = p.delay(2);
            assert!(d2 >= Duration::from_millis(100) && d2 <= Duration::from_millis(200));
            let d5 = p.delay(5);
            assert!(d5 >= Duration::from_millis(150) && d5 <= Duration::from_millis(300));
        }
    }

    #[test]
    fn error_bodies_of_both_gateways_are_read() {
        let rzp = br#"{"error":{"code":"BAD_REQUEST_ERROR","description":"receipt too long"}}"#;
        assert_eq!(
            error_detail(rzp),
            (Some("BAD_REQUEST_ERROR".into()), "receipt too long".into())
        );
        let stripe = br#"{"error":{"type":"invalid_request_error","message":"No such session"}}"#;
        assert_eq!(
            error_detail(stripe),
            (
                Some("invalid_request_error".into()),
                "No such session".into()
            )
        );
        assert_eq!(error_detail(b"oops"), (None, "oops".into()));
    }
}
