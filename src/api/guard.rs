//! Request limits before any handler: header count and size (431), and for bodies: the
//! size limit (413), a JSON nesting-depth limit (422, checked by a byte scan before
//! anything deserialises) and the card-data refusal (422, code 6101). The body is read
//! once here, under the request timeout (a client trickling its body cannot hold the
//! request open), and handed on in memory.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::card;
use super::error::ApiError;
use super::groups::RouteGroup;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_headers: usize,
    pub max_header_bytes: usize,
    pub json_max_depth: usize,
    pub body_timeout: Duration,
}

/// 431 in the envelope for too many or too large headers.
pub async fn headers(State(limits): State<Limits>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let bytes: usize = headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len())
        .sum();
    if headers.len() > limits.max_headers || bytes > limits.max_header_bytes {
        return ApiError::HeadersTooLarge.into_response();
    }
    next.run(request).await
}

/// Buffers the body of writes and checks its depth and for card data.
pub async fn body(State(limits): State<Limits>, request: Request, next: Next) -> Response {
    if !may_have_body(&request) {
        return next.run(request).await;
    }
    let group = request.extensions().get::<RouteGroup>().copied();
    let (parts, body) = request.into_parts();
    let probe = Request::from_parts(parts.clone(), body);
    // `Bytes` honours the `DefaultBodyLimit` set by an outer layer.
    let bytes = match tokio::time::timeout(limits.body_timeout, Bytes::from_request(probe, &()))
        .await
    {
        Err(_) => return ApiError::Timeout.into_response(),
        Ok(Err(rejection)) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return ApiError::PayloadTooLarge.into_response();
        }
        Ok(Err(rejection)) => return ApiError::Malformed(rejection.body_text()).into_response(),
        Ok(Ok(bytes)) => bytes,
    };
    if let Err(e) = check(
        &bytes,
        limits.json_max_depth,
        group != Some(RouteGroup::Webhook),
    ) {
        return e.into_response();
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

fn may_have_body(request: &Request) -> bool {
    use axum::http::Method;
    !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    )
}

/// Depth first (cheap, and it bounds the parser's recursion), then card data in
/// anything that parses as JSON, whatever its content type claims.
fn check(bytes: &[u8], max_depth: usize, card_check: bool) -> Result<(), ApiError> {
    if depth_exceeds(bytes, max_depth) {
        return Err(ApiError::Validation(vec![format!(
            "body: JSON nested deeper than {max_depth} levels"
        )]));
    }
    if card_check
        && let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes)
        && let Some(path) = card::find(&value)
    {
        return Err(ApiError::CardData(path));
    }
    Ok(())
}

/// Whether brackets outside strings nest deeper than `max`.
pub fn depth_exceeds(bytes: &[u8], max: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in bytes {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_scan_ignores_strings() {
        assert!(!depth_exceeds(br#"{"a":[1,{"b":2}]}"#, 3));
        assert!(depth_exceeds(br#"{"a":[1,{"b":[2]}]}"#, 3));
        assert!(!depth_exceeds(br#"{"a":"[[[[[[[[\"[[[["}"#, 2));
        let deep = format!("{}{}", "[".repeat(33), "]".repeat(33));
        assert!(depth_exceeds(deep.as_bytes(), 32));
        assert!(!depth_exceeds(deep.as_bytes(), 33));
    }
}
