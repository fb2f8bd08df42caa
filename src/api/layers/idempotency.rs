//! `Idempotency-Key` on every POST, with Stripe's semantics.
//!
//! - The key (1-255 printable ASCII, else 422 code 6003) is scoped to the caller
//!   ([`scope`]): the same key from two callers is two keys.
//! - The first request claims `(scope, key)` in `idempotency_keys` (`insert .. on
//!   conflict do nothing`), runs, and its answer (status, content type, body: 5xx
//!   included) is stored for `idempotency.ttl_hours`.
//! - A retry with the same method, path and body gets the stored answer with
//!   `Idempotent-Replayed: true`; with another request -> 422 code 6001; while the
//!   first still runs -> 409 code 6002 (retryable, `Retry-After: 1`).
//! - Answers given before a handler could act ([`ErrorCode::is_pre_execution`]:
//!   validation, malformed, 404/405, timeout, ...) are not stored: the claim is deleted
//!   so a corrected retry runs. A request whose client goes away mid-way is cancelled
//!   by hyper; its claim is deleted then too.
//! - A claim left `in_progress` by a crashed process is taken over after
//!   `idempotency.lock_timeout_secs`; a late completion of the crashed request cannot
//!   overwrite the new one (claims carry a lock id).

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{FromRequest, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sqlx::PgPool;
use uuid::Uuid;

pub use super::caller::CallerScope;
use super::caller::{self, ClientAddr};
use super::error::{ApiError, ErrorCode};
use crate::store::idempotency::{self as store, Fingerprint, Record};

pub const HEADER: HeaderName = HeaderName::from_static("idempotency-key");
pub const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
/// Larger (or unsized, streamed) answers are passed through without being stored.
const MAX_STORED_BODY: u64 = 1 << 20;

#[derive(Clone)]
pub struct Idempotency {
    pub pool: PgPool,
    pub ttl_secs: i64,
    pub lock_timeout_secs: i64,
}

impl Idempotency {
    pub fn new(pool: PgPool, settings: &crate::config::IdempotencySettings) -> Self {
        Self {
            pool,
            ttl_secs: (settings.ttl_hours * 3600) as i64,
            lock_timeout_secs: settings.lock_timeout_secs as i64,
        }
    }
}

/// The caller a key belongs to: the verified user ([`CallerScope`]), else a hash of the
/// bearer token, else a hash of the cart token (path `/cart/{token}` or body
/// `cart_token`), else the client address.
pub fn scope(parts: &Parts, body: &[u8]) -> String {
    if let Some(user) = caller::user_key(&parts.extensions, &parts.headers) {
        return user;
    }
    if let Some(token) = caller::cart_token_in_path(parts.uri.path()) {
        return caller::cart_key(token);
    }
    if let Some(token) = caller::cart_token_in_body(body) {
        return caller::cart_key(&token);
    }
    match parts.extensions.get::<ClientAddr>() {
        Some(ClientAddr(ip)) => format!("addr:{ip}"),
        None => "anonymous".into(),
    }
}

/// The key, if sent and valid.
fn key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let mut values = headers.get_all(HEADER).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ApiError::InvalidIdempotencyKey("sent more than once"));
    }
    let bytes = value.as_bytes();
    if bytes.is_empty() || bytes.len() > 255 {
        return Err(ApiError::InvalidIdempotencyKey("must be 1-255 characters"));
    }
    if !bytes.iter().all(|b| (0x20..=0x7e).contains(b)) {
        return Err(ApiError::InvalidIdempotencyKey("must be printable ASCII"));
    }
    Ok(Some(String::from_utf8_lossy(bytes).into_owned()))
}

pub async fn middleware(State(idem): State<Idempotency>, request: Request, next: Next) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let key = match key(request.headers()) {
        Ok(Some(key)) => key,
        Ok(None) => return next.run(request).await,
        Err(e) => return e.into_response(),
    };
    let (parts, body) = request.into_parts();
    let bytes = match Bytes::from_request(Request::from_parts(parts.clone(), body), &()).await {
        Ok(b) => b,
        Err(_) => return ApiError::PayloadTooLarge.into_response(),
    };
    let scope = scope(&parts, &bytes);
    let fingerprint = Fingerprint {
        method: parts.method.to_string(),
        path: parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned()),
        body_sha256: caller::sha256_hex(&bytes),
    };
    let mut claim = Claim {
        pool: idem.pool.clone(),
        scope,
        key,
        lock_id: Uuid::new_v4(),
        armed: false,
    };
    match acquire(&idem, &claim, &fingerprint).await {
        Ok(Acquired::Claimed) => claim.armed = true,
        Ok(Acquired::Replay(record)) => return replay(record),
        Ok(Acquired::Refused(e)) => return e.into_response(),
        Err(e) => return ApiError::Database(e).into_response(),
    }
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    finish(claim, response).await
}

enum Acquired {
    Claimed,
    Replay(Record),
    Refused(ApiError),
}

async fn acquire(idem: &Idempotency, c: &Claim, f: &Fingerprint) -> sqlx::Result<Acquired> {
    // A row can vanish (released, expired) between the insert and the read: try again.
    for _ in 0..3 {
        if store::claim(&idem.pool, &c.scope, &c.key, f, c.lock_id, idem.ttl_secs).await? {
            return Ok(Acquired::Claimed);
        }
        let Some(record) = store::find(&idem.pool, &c.scope, &c.key).await? else {
            continue;
        };
        if record.expires_at <= chrono::Utc::now() {
            store::delete_expired(&idem.pool, &c.scope, &c.key).await?;
            continue;
        }
        if !record.matches(f) {
            return Ok(Acquired::Refused(ApiError::IdempotencyKeyReused));
        }
        if record.state == "completed" {
            return Ok(Acquired::Replay(record));
        }
        let lock = idem.lock_timeout_secs;
        if store::take_over(
            &idem.pool,
            &c.scope,
            &c.key,
            record.lock_id,
            c.lock_id,
            lock,
        )
        .await?
        {
            tracing::warn!("idempotency key taken over from a request that did not finish");
            return Ok(Acquired::Claimed);
        }
        break;
    }
    Ok(Acquired::Refused(ApiError::IdempotencyInProgress))
}

fn replay(record: Record) -> Response {
    metrics::counter!("idempotency_replays_total").increment(1);
    let status = record
        .response_status
        .and_then(|s| StatusCode::from_u16(s as u16).ok())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, record.response_body.unwrap_or_default()).into_response();
    let headers = response.headers_mut();
    headers.remove(header::CONTENT_TYPE);
    if let Some(v) = record
        .response_type
        .and_then(|t| HeaderValue::from_str(&t).ok())
    {
        headers.insert(header::CONTENT_TYPE, v);
    }
    headers.insert(REPLAYED, HeaderValue::from_static("true"));
    response
}

/// Stores the answer (or releases the claim) and hands the answer on.
async fn finish(mut claim: Claim, response: Response) -> Response {
    let code = response.extensions().get::<ErrorCode>().copied();
    let storable = response
        .body()
        .size_hint()
        .upper()
        .is_some_and(|n| n <= MAX_STORED_BODY);
    if code.is_some_and(ErrorCode::is_pre_execution) || !storable {
        if !storable {
            tracing::warn!("response too large to store for idempotency; key released");
        }
        claim.release().await;
        return response;
    }
    let (parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_STORED_BODY as usize).await {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "response body failed; idempotency key released");
            claim.release().await;
            return ApiError::Internal(anyhow::anyhow!("response body failed")).into_response();
        }
    };
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    match store::complete(
        &claim.pool,
        &claim.scope,
        &claim.key,
        claim.lock_id,
        parts.status.as_u16(),
        content_type,
        &bytes,
    )
    .await
    {
        Ok(true) => {}
        Ok(false) => tracing::warn!("idempotency claim was taken over before completion"),
        // The claim stays in_progress and is taken over after the lock timeout.
        Err(e) => tracing::error!(error = %e, "storing the idempotent response failed"),
    }
    claim.armed = false;
    Response::from_parts(parts, Body::from(bytes))
}

/// This request's hold on its key. Dropped while armed (the client went away and hyper
/// cancelled the request) it deletes the claim in the background, so a retry need not
/// wait for the lock timeout.
struct Claim {
    pool: PgPool,
    scope: String,
    key: String,
    lock_id: Uuid,
    armed: bool,
}

impl Claim {
    async fn release(&mut self) {
        if let Err(e) = store::release(&self.pool, &self.scope, &self.key, self.lock_id).await {
            tracing::error!(error = %e, "releasing an idempotency key failed");
        }
        self.armed = false;
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let (pool, scope, key, lock) = (
            self.pool.clone(),
            std::mem::take(&mut self.scope),
            std::mem::take(&mut self.key),
            self.lock_id,
        );
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                let _ = store::release(&pool, &scope, &key, lock).await;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn headers(v: &[u8]) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(HEADER, HeaderValue::from_bytes(v).unwrap());
        h
    }

    #[test]
    fn keys_are_validated() {
        assert_eq!(key(&HeaderMap::new()).unwrap(), None);
        assert_eq!(
            key(&headers(b"abc-1 2")).unwrap().as_deref(),
            Some("abc-1 2")
        );
        assert!(key(&headers(&[b'a'; 255])).is_ok());
        assert!(key(&headers(&[b'a'; 256])).is_err());
        assert!(key(&headers(b"")).is_err());
        assert!(key(&headers(b"a\tb")).is_err());
        assert!(key(&headers("é".as_bytes())).is_err());
    }
}
