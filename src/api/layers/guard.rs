//! Request limits before any handler: header count and size (431), and for bodies: the
//! size limit (413), a JSON nesting-depth limit (422, checked by a byte scan before
//! anything deserialises), the card-data refusal (422, code 6101) and NUL characters in
//! strings (422: PostgreSQL cannot store them). The body is read
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
/// anything that parses as JSON, whatever its content type claims, then NUL characters:
/// PostgreSQL's `text` and `jsonb` cannot hold U+0000, so a string carrying one (say in
/// cart analytics) would otherwise fail at the database as a 500.
fn check(bytes: &[u8], max_depth: usize, card_check: bool) -> Result<(), ApiError> {
    if depth_exceeds(bytes, max_depth) {
        return Err(ApiError::Validation(vec![format!(
            "body: JSON nested deeper than {max_depth} levels"
        )]));
    }
    // `\u0000` is the only way JSON can spell NUL (a raw 0 byte is a syntax error).
    let may_hold_nul = bytes.windows(6).any(|w| w == br"\u0000");
    if !card_check && !may_hold_nul {
        return Ok(());
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return Ok(());
    };
    if card_check && let Some(path) = card::find(&value) {
        return Err(ApiError::CardData(path));
    }
    if may_hold_nul && holds_nul(&value) {
        return Err(ApiError::Validation(vec![
            "body: strings must not contain the NUL character (\\u0000)".to_owned(),
        ]));
    }
    Ok(())
}

/// Whether any key or string in `value` contains U+0000.
fn holds_nul(value: &serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        _ => false,
    }
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

    #[test]
    fn nul_characters_are_refused_anywhere_in_the_body() {
        for body in [
            r#"{"a":"x\u0000y"}"#,
            r#"{"a":{"k\u0000":1}}"#,
            r#"[["\u0000"]]"#,
        ] {
            assert!(check(body.as_bytes(), 32, false).is_err(), "{body}");
        }
        // an escaped backslash followed by `u0000` is six ordinary characters
        assert!(check(br#"{"a":"\\u0000"}"#, 32, true).is_ok());
        assert!(check(br#"{"a":"fine"}"#, 32, true).is_ok());
    }
}
