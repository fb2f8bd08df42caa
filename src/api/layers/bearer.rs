//! Bearer-token authentication: the `Authorization: Bearer` token turned into a live
//! user, as axum extractors.
//!
//! - `Caller` (required): no token -> 401 (5001); a bad one -> 401 with its code
//!   (5002 expired, 5003 invalid, 5007 user gone).
//! - `Option<Caller>` (optional login, e.g. carts): no `Authorization` header -> `None`;
//!   a header that is present but bad is still refused with its 401, so a client with
//!   an expired token learns to refresh instead of silently acting as a guest.
//! - [`ClientAddr`] (defined in [`super::caller`]) as an extractor, for login throttling.
//!
//! Handlers needing the caller take it as an argument; the token is never logged.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRef, FromRequestParts, OptionalFromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use sqlx::PgPool;
use uuid::Uuid;

use super::caller::{CallerScope, ClientAddr};
use super::error::ApiError;
use crate::auth::jwt::Verified;
use crate::auth::{self, Auth, AuthError, TokenError};
use crate::store::users::User;

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: User,
    /// The session of the access token; `None` for external-provider tokens.
    pub session_id: Option<Uuid>,
}

impl Caller {
    pub fn user_id(&self) -> Uuid {
        self.user.id
    }
}

/// The bearer token of the request: `Ok(None)` without an `Authorization` header.
fn bearer(parts: &Parts) -> Result<Option<&str>, ApiError> {
    let Some(value) = parts.headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| ApiError::from(AuthError::from(TokenError::Invalid("malformed header"))))?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(Some(token.trim()))
        }
        _ => Err(ApiError::AuthRequired),
    }
}

async fn resolve<S>(token: &str, state: &S) -> Result<Caller, ApiError>
where
    Arc<Auth>: FromRef<S>,
    PgPool: FromRef<S>,
{
    let auth = Arc::<Auth>::from_ref(state);
    let pool = PgPool::from_ref(state);
    let identity = auth::identify(&auth, &pool, token).await?;
    Ok(Caller {
        user: identity.user,
        session_id: identity.session_id,
    })
}

impl<S> FromRequestParts<S> for Caller
where
    Arc<Auth>: FromRef<S>,
    PgPool: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match bearer(parts)? {
            Some(token) => resolve(token, state).await,
            None => Err(ApiError::AuthRequired),
        }
    }
}

impl<S> OptionalFromRequestParts<S> for Caller
where
    Arc<Auth>: FromRef<S>,
    PgPool: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        match bearer(parts)? {
            Some(token) => resolve(token, state).await.map(Some),
            None => Ok(None),
        }
    }
}

/// The client's address: as resolved by the `groups::context` layer (trusted proxies
/// honoured), else the socket peer, else 0.0.0.0 (routers served without connect
/// info, whose requests then share one throttle bucket).
impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        if let Some(addr) = parts.extensions.get::<ClientAddr>() {
            return Ok(*addr);
        }
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_canonical())
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        Ok(ClientAddr(ip))
    }
}

/// Layer: tags a request carrying a valid bearer token with [`CallerScope`] (`user id`,
/// or `issuer|subject` for external tokens), so the rate-limit and idempotency layers
/// key by user rather than by token, and runs the request as that caller's
/// [`Actor`](crate::telemetry::Actor) (`user:{id}`, else `guest`), which the ledger
/// records. Signature and claims only, no database: the handler's [`Caller`] extractor
/// still checks the user and the session.
pub async fn scope(
    axum::extract::State(auth): axum::extract::State<Arc<Auth>>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let (mut parts, body) = request.into_parts();
    let scope = match bearer(&parts) {
        Ok(Some(token)) => match auth.keys.verify(token) {
            Ok(Verified::Local { user_id, .. }) => Some(user_id.to_string()),
            Ok(Verified::External(s)) => Some(format!("{}|{}", s.issuer, s.subject)),
            Err(_) => None,
        },
        _ => None,
    };
    let actor = match &scope {
        Some(scope) => crate::telemetry::Actor::api(format!("user:{scope}")),
        None => crate::telemetry::Actor::api("guest"),
    };
    if let Some(scope) = scope {
        parts.extensions.insert(CallerScope(scope));
    }
    request = axum::extract::Request::from_parts(parts, body);
    crate::telemetry::with_actor(actor, next.run(request)).await
}
