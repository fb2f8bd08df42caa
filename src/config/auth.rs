//! `auth`: JWT keys and lifetimes, sessions, login throttling, identity providers.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// Accounts and tokens. Access tokens are short-lived HS256 JWTs signed with
/// `jwt_secret`; refresh tokens are random, stored hashed, rotated on every use.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// HS256 signing key of access tokens, at least 32 bytes. Required by `serve`;
    /// `dev` makes up a random one when unset (tokens then die with the process).
    pub jwt_secret: Option<SecretString>,
    /// `iss` of the tokens we issue, and the only one we accept for HS256.
    pub issuer: String,
    /// `aud` of the tokens we issue, and the only one we accept for HS256.
    pub audience: String,
    /// Lifetime of an access token (s). Short: access tokens are not revocable
    /// one by one, only through their session.
    pub access_ttl_secs: u64,
    /// Idle lifetime of a session (s): each refresh pushes its expiry this far ahead.
    pub refresh_ttl_secs: u64,
    /// Clock skew tolerated on `exp` and `iat` (s).
    pub leeway_secs: u64,
    /// How long an API process remembers a session it found live (ms), sparing the
    /// session read of a student's next requests. Revocations anywhere reach every
    /// process at their commit (LISTEN/NOTIFY) and end the memory at once; this bounds
    /// it if a notification is lost. 0 reads the session on every request.
    pub session_cache_ms: u64,
    /// PEM public key (RSA) of an external identity provider whose RS256 tokens are
    /// accepted too. All three `external_*` keys or none.
    pub external_public_key_pem: Option<String>,
    /// `iss` the external provider's tokens must carry.
    pub external_issuer: Option<String>,
    /// `aud` the external provider's tokens must carry.
    pub external_audience: Option<String>,
    /// Window in which failed logins on an account, from any address, are counted for
    /// the slow-down (s).
    pub login_window_secs: u64,
    /// Failed logins on one account from one client address before each further one
    /// from there waits (1 s, 2 s, 4 s, ...) or is refused with 429.
    pub login_backoff_after: u32,
    /// Cap of that wait (s).
    pub login_backoff_max_secs: u64,
    /// Failed logins on one account from all addresses within the window before every
    /// attempt on it is slowed (never refused, so the owner still gets in).
    pub login_slow_after: u32,
    /// Cap of that delay (ms); at most 2000.
    pub login_slow_max_ms: u64,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            jwt_secret: None,
            issuer: "checkout".into(),
            audience: "checkout-api".into(),
            access_ttl_secs: 15 * 60,
            refresh_ttl_secs: 30 * 24 * 3600,
            leeway_secs: 10,
            session_cache_ms: 10_000,
            external_public_key_pem: None,
            external_issuer: None,
            external_audience: None,
            login_window_secs: 15 * 60,
            login_backoff_after: 5,
            login_backoff_max_secs: 15 * 60,
            login_slow_after: 20,
            login_slow_max_ms: 2_000,
        }
    }
}

/// Shortest accepted `auth.jwt_secret` (bytes): 256 bits for HS256.
pub const MIN_JWT_SECRET_BYTES: usize = 32;

/// How long failures of an account from one address are remembered for the login
/// backoff: long enough for it to reach its cap and stay there. The cron pruning of
/// login attempts must keep them at least this long (checked in `Settings::validate`).
pub const LOGIN_PAIR_MEMORY_SECS: u64 = 24 * 3600;

impl AuthSettings {
    pub(super) fn problems(&self, check: &mut impl FnMut(bool, &str, &str)) {
        if let Some(secret) = &self.jwt_secret {
            check(
                secret.expose_secret().len() >= MIN_JWT_SECRET_BYTES,
                "auth.jwt_secret",
                "must be at least 32 bytes",
            );
        }
        check(!self.issuer.is_empty(), "auth.issuer", "must not be empty");
        check(
            !self.audience.is_empty(),
            "auth.audience",
            "must not be empty",
        );
        check(
            (60..=24 * 3600).contains(&self.access_ttl_secs),
            "auth.access_ttl_secs",
            "must be between 60 and 86400",
        );
        check(
            self.refresh_ttl_secs > self.access_ttl_secs && self.refresh_ttl_secs <= 366 * 86400,
            "auth.refresh_ttl_secs",
            "must be longer than auth.access_ttl_secs and at most 366 days",
        );
        check(
            self.leeway_secs <= 300,
            "auth.leeway_secs",
            "must be at most 300",
        );
        check(
            self.session_cache_ms <= 60_000,
            "auth.session_cache_ms",
            "must be at most 60000",
        );
        let external = [
            self.external_public_key_pem.is_some(),
            self.external_issuer.is_some(),
            self.external_audience.is_some(),
        ];
        check(
            external.iter().all(|x| *x) || external.iter().all(|x| !*x),
            "auth.external_public_key_pem",
            "set external_public_key_pem, external_issuer and external_audience together",
        );
        if let Some(pem) = &self.external_public_key_pem {
            check(
                jsonwebtoken::DecodingKey::from_rsa_pem(pem.as_bytes()).is_ok(),
                "auth.external_public_key_pem",
                "is not an RSA public key in PEM",
            );
        }
        check(
            self.login_window_secs >= 1,
            "auth.login_window_secs",
            "must be at least 1",
        );
        check(
            self.login_backoff_after >= 1,
            "auth.login_backoff_after",
            "must be at least 1",
        );
        check(
            (1..=24 * 3600).contains(&self.login_backoff_max_secs),
            "auth.login_backoff_max_secs",
            "must be between 1 and 86400",
        );
        check(
            self.login_slow_after >= 1,
            "auth.login_slow_after",
            "must be at least 1",
        );
        check(
            self.login_slow_max_ms <= 2_000,
            "auth.login_slow_max_ms",
            "must be at most 2000",
        );
    }
}
