//! Accounts and tokens: password hashing, access tokens (JWT), refresh-token sessions,
//! login throttling and the mapping of external identity-provider subjects to users.
//!
//! # Tokens
//! - Access token: an HS256 JWT signed with `auth.jwt_secret`, carrying `sub` (user
//!   id), `exp`, `iat`, `iss`, `aud` (all checked, with `auth.leeway_secs` of skew) and
//!   `sid` (its session). It lives `auth.access_ttl_secs`; revoking its session ends it
//!   at once (the session is checked on every request, together with the user row;
//!   each process remembers a live session for `auth.session_cache_ms` and forgets it
//!   when any process revokes it, see [`cache`]).
//! - Refresh token: 256 random bits (`rt_` + base64url), stored only as its sha256.
//!   Each use rotates it: the presented token is marked used and a new one issued in
//!   the same transaction. Presenting a used token again is a replay: the whole session
//!   (token family) is revoked, so a thief and the victim both lose it and the victim
//!   logs in again.
//! - External RS256 tokens (optional): verified with the configured public key, issuer
//!   and audience; their `sub` maps to a user through `external_identities`, created on
//!   first sight (see [`identify`]).
//!
//! # Login throttling
//! Every login attempt is recorded in Postgres before the password is checked (so
//! concurrent attempts count each other), keyed by normalised email (existing or not)
//! and client address. Per (account, address), after `auth.login_backoff_after`
//! failures each further attempt waits with exponential backoff capped at
//! `auth.login_backoff_max_secs` (429 with `Retry-After`). Per account, after
//! `auth.login_slow_after` failures within `auth.login_window_secs` attempts are slowed
//! by at most `auth.login_slow_max_ms`, never refused: a correct password from an
//! address without recent failures always gets in. A success forgets that address's
//! failures on the account. Unknown emails are verified against a dummy hash so they
//! take as long as known ones.

pub mod cache;
pub mod identify;
pub mod jwt;
pub mod login;
pub mod password;
pub mod refresh;
pub mod sessions;

use secrecy::ExposeSecret;
use uuid::Uuid;

use crate::config::AuthSettings;

pub use identify::{Identity, identify};
pub use jwt::{Keys, TokenError};

/// Everything the auth code needs besides the pool: settings and parsed keys.
pub struct Auth {
    pub settings: AuthSettings,
    pub keys: Keys,
    /// Sessions recently found live (`auth.session_cache_ms`); see [`cache`].
    pub sessions: cache::SessionCache,
}

impl Auth {
    /// Parses the keys once. Fails without `auth.jwt_secret`: `serve` refuses to
    /// start with tokens nobody could verify after a restart.
    pub fn from_settings(settings: &AuthSettings) -> anyhow::Result<Self> {
        let secret = settings.jwt_secret.as_ref().ok_or_else(|| {
            anyhow::anyhow!(
                "auth.jwt_secret (env CHECKOUT__AUTH__JWT_SECRET) is required: \
                 at least 32 random bytes"
            )
        })?;
        Ok(Auth {
            settings: settings.clone(),
            keys: Keys::new(secret.expose_secret().as_bytes(), settings)?,
            sessions: cache::SessionCache::new(std::time::Duration::from_millis(
                settings.session_cache_ms,
            )),
        })
    }
}

/// Why an auth operation failed; the API maps each to one error code.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("authentication required")]
    Required,
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("invalid email or password")]
    InvalidCredentials,
    #[error("email already registered")]
    EmailTaken,
    #[error("refresh token invalid, expired, revoked or already used")]
    RefreshInvalid,
    #[error("the user of this token no longer exists")]
    UserGone,
    #[error("no such session")]
    SessionNotFound,
    /// Field messages, each starting with the field name.
    #[error("validation failed")]
    Invalid(Vec<String>),
    #[error("too many login attempts")]
    RateLimited { retry_after_secs: u64 },
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// What a successful login, registration or refresh hands the client.
#[derive(Debug)]
pub struct Issued {
    pub access_token: String,
    pub expires_in: u64,
    pub refresh_token: String,
    pub refresh_expires_at: chrono::DateTime<chrono::Utc>,
    pub session_id: Uuid,
}
