//! `/api/v1/auth`: register, log in, refresh, log out, who am I, sessions.
//! Handlers only extract, call [`crate::auth`] and shape the reply.

use std::sync::Arc;

use axum::extract::State;
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::api::AppState;
use crate::api::layers::bearer::Caller;
use crate::api::layers::caller::ClientAddr;
use crate::api::layers::envelope::Reply;
use crate::api::layers::error::{ApiResult, ErrorEnvelope};
use crate::api::layers::extract::{ApiJson, ApiPath};
use crate::auth::login::{Credentials, Registration};
use crate::auth::{self, Auth, Issued};
use crate::store::sessions::Session;
use crate::store::users::User;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(me))
        .routes(routes!(list_sessions))
        .routes(routes!(revoke_session))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    pub email: String,
    pub name: String,
    /// At least 10 characters, two of lower/upper/digit/symbol, not a common password,
    /// not containing the email's name part.
    #[schema(value_type = String, format = Password)]
    pub password: SecretString,
    /// Optional client-chosen device identifier, shown in the session list.
    pub device_id: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    #[schema(value_type = String, format = Password)]
    pub password: SecretString,
    pub device_id: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshTokenRequest {
    #[schema(value_type = String, format = Password)]
    pub refresh_token: SecretString,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: Uuid,
    pub email: Option<String>,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        UserView {
            id: u.id,
            email: u.email,
            name: u.name,
            created_at: u.created_at,
        }
    }
}

/// A new token pair. Keep the refresh token secret; it is shown only once.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub user: UserView,
    /// HS256 JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Single use: trade it at `/api/v1/auth/refresh` for a new pair.
    pub refresh_token: String,
    pub refresh_expires_at: DateTime<Utc>,
    pub session_id: Uuid,
}

impl TokenResponse {
    pub fn new(user: User, issued: Issued) -> Self {
        TokenResponse {
            user: user.into(),
            access_token: issued.access_token,
            token_type: "Bearer",
            expires_in: issued.expires_in,
            refresh_token: issued.refresh_token,
            refresh_expires_at: issued.refresh_expires_at,
            session_id: issued.session_id,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    pub id: Uuid,
    pub device_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// The session of the access token making this request.
    pub current: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionList {
    pub sessions: Vec<SessionView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Done {
    pub ok: bool,
}

/// Creates an account and logs it in.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", request_body = RegisterRequest,
    responses(
        (status = 201, description = "registered and logged in", body = inline(crate::api::layers::envelope::Envelope<TokenResponse>)),
        (status = 409, description = "5005 email already registered", body = ErrorEnvelope),
        (status = 422, description = "9002 invalid field (email, name, password, device_id)", body = ErrorEnvelope)))]
pub async fn register(
    State(auth): State<Arc<Auth>>,
    State(pool): State<PgPool>,
    ApiJson(body): ApiJson<RegisterRequest>,
) -> ApiResult<Reply<TokenResponse>> {
    let input = Registration {
        email: body.email,
        name: body.name,
        password: body.password,
        device_id: body.device_id,
    };
    let (user, issued) = auth::login::register(&auth, &pool, input).await?;
    Ok(Reply::created(TokenResponse::new(user, issued)))
}

/// Logs in with email and password. Limited per account and per client address.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, description = "logged in", body = inline(crate::api::layers::envelope::Envelope<TokenResponse>)),
        (status = 401, description = "5004 invalid email or password", body = ErrorEnvelope),
        (status = 429, description = "too many attempts; see Retry-After", body = ErrorEnvelope)))]
pub async fn login(
    State(auth): State<Arc<Auth>>,
    State(pool): State<PgPool>,
    ClientAddr(address): ClientAddr,
    ApiJson(body): ApiJson<LoginRequest>,
) -> ApiResult<Reply<TokenResponse>> {
    let input = Credentials {
        email: body.email,
        password: body.password,
        device_id: body.device_id,
        address,
    };
    let (user, issued) = auth::login::login(&auth, &pool, input).await?;
    Ok(Reply::ok(TokenResponse::new(user, issued)))
}

/// Trades a refresh token for a new pair (the old one becomes unusable; using it again
/// revokes the session).
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshTokenRequest,
    responses(
        (status = 200, description = "new token pair", body = inline(crate::api::layers::envelope::Envelope<TokenResponse>)),
        (status = 401, description = "5006 refresh token invalid or reused; 5007 user gone", body = ErrorEnvelope)))]
pub async fn refresh(
    State(auth): State<Arc<Auth>>,
    State(pool): State<PgPool>,
    ApiJson(body): ApiJson<RefreshTokenRequest>,
) -> ApiResult<Reply<TokenResponse>> {
    let (user, issued) = auth::sessions::rotate(&auth, &pool, &body.refresh_token).await?;
    Ok(Reply::ok(TokenResponse::new(user, issued)))
}

/// Ends the session of a refresh token (its access tokens stop working too).
/// Idempotent: an unknown or already ended token also answers 200.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", request_body = RefreshTokenRequest,
    responses((status = 200, description = "logged out", body = inline(crate::api::layers::envelope::Envelope<Done>))))]
pub async fn logout(
    State(auth): State<Arc<Auth>>,
    State(pool): State<PgPool>,
    ApiJson(body): ApiJson<RefreshTokenRequest>,
) -> ApiResult<Reply<Done>> {
    auth::sessions::logout(&auth, &pool, &body.refresh_token).await?;
    Ok(Reply::ok(Done { ok: true }))
}

/// The caller's account.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 200, description = "the caller", body = inline(crate::api::layers::envelope::Envelope<UserView>)),
        (status = 401, description = "5001-5003, 5007", body = ErrorEnvelope)))]
pub async fn me(caller: Caller) -> Reply<UserView> {
    Reply::ok(caller.user.into())
}

/// The caller's live sessions, most recently used first.
#[utoipa::path(get, path = "/api/v1/auth/sessions", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 200, description = "sessions", body = inline(crate::api::layers::envelope::Envelope<SessionList>)),
        (status = 401, description = "5001-5003, 5007", body = ErrorEnvelope)))]
pub async fn list_sessions(
    State(pool): State<PgPool>,
    caller: Caller,
) -> ApiResult<Reply<SessionList>> {
    let sessions = auth::sessions::list(&pool, caller.user_id()).await?;
    let view = |s: Session| SessionView {
        current: Some(s.id) == caller.session_id,
        id: s.id,
        device_id: s.device_id,
        created_at: s.created_at,
        last_used_at: s.last_used_at,
        expires_at: s.expires_at,
    };
    Ok(Reply::ok(SessionList {
        sessions: sessions.into_iter().map(view).collect(),
    }))
}

/// Revokes one of the caller's sessions (its refresh and access tokens stop working).
#[utoipa::path(delete, path = "/api/v1/auth/sessions/{id}", tag = "auth", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "session id")),
    responses(
        (status = 200, description = "revoked", body = inline(crate::api::layers::envelope::Envelope<Done>)),
        (status = 404, description = "5008 not one of the caller's live sessions", body = ErrorEnvelope)))]
pub async fn revoke_session(
    State(auth): State<Arc<Auth>>,
    State(pool): State<PgPool>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Reply<Done>> {
    auth::sessions::revoke(&auth, &pool, caller.user_id(), id).await?;
    Ok(Reply::ok(Done { ok: true }))
}
