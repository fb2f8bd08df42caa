//! Registration and password login: validate, throttle, hash or verify, open a session.

use std::net::IpAddr;
use std::time::Duration;

use chrono::Utc;
use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;

use super::{Auth, AuthError, Issued, password, refresh};
use crate::config::LOGIN_PAIR_MEMORY_SECS as PAIR_MEMORY_SECS;
use crate::domain::account::{self, Email};
use crate::store::users::User;
use crate::store::{login_attempts, sessions, users};

pub struct Registration {
    pub email: String,
    pub name: String,
    pub password: SecretString,
    pub device_id: Option<String>,
}

/// Creates an account and its first session. Every invalid field is reported at once.
pub async fn register(
    auth: &Auth,
    pool: &PgPool,
    input: Registration,
) -> Result<(User, Issued), AuthError> {
    let mut problems = Vec::new();
    let email = Email::parse(&input.email)
        .map_err(|e| problems.push(e))
        .ok();
    let name = account::parse_name(&input.name)
        .map_err(|e| problems.push(e))
        .ok();
    let device_id = parse_device(input.device_id.as_deref()).map_err(|e| problems.push(e));
    problems.extend(account::password_problems(
        input.password.expose_secret(),
        email.as_ref(),
    ));
    let (Some(email), Some(name), Ok(device_id), true) =
        (email, name, device_id, problems.is_empty())
    else {
        return Err(AuthError::Invalid(problems));
    };
    let hash = password::hash(input.password).await?;
    let user = users::insert(pool, Some(email.as_str()), &name, Some(&hash))
        .await?
        .ok_or(AuthError::EmailTaken)?;
    tracing::info!(user_id = %user.id, "account registered");
    let issued = open_session(auth, pool, &user, device_id.as_deref()).await?;
    Ok((user, issued))
}

pub struct Credentials {
    pub email: String,
    pub password: SecretString,
    pub device_id: Option<String>,
    pub address: IpAddr,
}

/// Checks email and password under the login limits; opens a session on success.
pub async fn login(
    auth: &Auth,
    pool: &PgPool,
    input: Credentials,
) -> Result<(User, Issued), AuthError> {
    let device_id =
        parse_device(input.device_id.as_deref()).map_err(|e| AuthError::Invalid(vec![e]))?;
    let user = verify_credentials(auth, pool, &input.email, input.password, input.address).await?;
    let issued = open_session(auth, pool, &user, device_id.as_deref()).await?;
    Ok((user, issued))
}

/// The account for these credentials, counted against the login limits. Unknown
/// email, wrong password and a password-less account all answer
/// [`AuthError::InvalidCredentials`] after the same amount of work.
pub async fn verify_credentials(
    auth: &Auth,
    pool: &PgPool,
    raw_email: &str,
    password: SecretString,
    address: IpAddr,
) -> Result<User, AuthError> {
    // The throttle key is the normalised form even for malformed input, capped so a
    // huge body cannot become a huge row.
    let account: String = raw_email.trim().to_lowercase().chars().take(254).collect();
    throttle(auth, pool, &account, address).await?;
    let found = match Email::parse(&account) {
        Ok(email) => users::find_for_login(pool, email.as_str()).await?,
        Err(_) => None,
    };
    let (user, stored) = match found {
        Some((user, hash)) => (Some(user), hash),
        None => (None, None),
    };
    let ok = password::verify(password, stored).await?;
    match user {
        Some(user) if ok => {
            login_attempts::clear_pair(pool, &account, address).await?;
            tracing::info!(user_id = %user.id, "login succeeded");
            Ok(user)
        }
        _ => {
            tracing::info!(%address, "login failed");
            Err(AuthError::InvalidCredentials)
        }
    }
}

/// Records the attempt, then holds it to the login limits, keyed by what they protect:
///
/// - per (account, address): after `auth.login_backoff_after` failures each further
///   attempt must wait 1 s, 2 s, 4 s, ... after the previous one, capped at
///   `auth.login_backoff_max_secs`, or is refused (429) without checking the password;
/// - per account from any address: after `auth.login_slow_after` failures within
///   `auth.login_window_secs` each attempt is slowed by a short delay (at most
///   `auth.login_slow_max_ms`), never refused, so nobody can lock an owner out: a
///   correct password from an address with no recent failures always succeeds.
///
/// The answer is the same whether or not the account exists.
async fn throttle(
    auth: &Auth,
    pool: &PgPool,
    account: &str,
    address: IpAddr,
) -> Result<(), AuthError> {
    let s = &auth.settings;
    let keep = s.login_window_secs.max(PAIR_MEMORY_SECS);
    let mut conn = pool.acquire().await?;
    let id = login_attempts::record(&mut conn, account, address, keep).await?;
    let c = login_attempts::counts(
        &mut *conn,
        account,
        address,
        s.login_window_secs,
        PAIR_MEMORY_SECS,
        id,
    )
    .await?;
    if let Some(wait) = backoff(s, c.pair, c.pair_last_secs_ago.unwrap_or(0.0)) {
        login_attempts::forget(&mut *conn, id).await?;
        tracing::warn!(%address, failures = c.pair, "login refused: backoff");
        return Err(AuthError::RateLimited {
            retry_after_secs: (wait.ceil() as u64).max(1),
        });
    }
    drop(conn);
    let delay = slowdown(s, c.account);
    if !delay.is_zero() {
        tracing::warn!(%address, failures = c.account, "login slowed");
        tokio::time::sleep(delay).await;
    }
    Ok(())
}

/// Seconds still to wait after `failures` from one address, the latest `since` ago.
fn backoff(s: &crate::config::AuthSettings, failures: i64, since: f64) -> Option<f64> {
    let over = failures - i64::from(s.login_backoff_after);
    if over < 0 {
        return None;
    }
    let wait = 2f64
        .powi(over.min(30) as i32)
        .min(s.login_backoff_max_secs as f64);
    (wait > since).then_some(wait - since)
}

/// The delay of an attempt on an account with `failures` recent ones: 250 ms more per
/// failure past `auth.login_slow_after`, at most `auth.login_slow_max_ms`.
fn slowdown(s: &crate::config::AuthSettings, failures: i64) -> Duration {
    let over = failures - i64::from(s.login_slow_after) + 1;
    if over <= 0 {
        return Duration::ZERO;
    }
    let ms = (over.min(1_000) as u64 * 250).min(s.login_slow_max_ms);
    Duration::from_millis(ms)
}

fn parse_device(raw: Option<&str>) -> Result<Option<String>, String> {
    raw.map(account::parse_device_id).transpose()
}

/// A new session for `user` with its first refresh token, and an access token.
pub async fn open_session(
    auth: &Auth,
    pool: &PgPool,
    user: &User,
    device_id: Option<&str>,
) -> Result<Issued, AuthError> {
    let expires_at = Utc::now() + refresh_ttl(auth);
    let (refresh_token, digest) = refresh::generate();
    let mut tx = pool.begin().await?;
    let session_id = sessions::create(&mut *tx, user.id, device_id, expires_at).await?;
    sessions::add_token(&mut *tx, session_id, &digest).await?;
    tx.commit().await?;
    let (access_token, expires_in) = auth.keys.issue(user.id, session_id)?;
    Ok(Issued {
        access_token,
        expires_in,
        refresh_token,
        refresh_expires_at: expires_at,
        session_id,
    })
}

/// `auth.refresh_ttl_secs` as a duration (validated to at most a year).
pub(super) fn refresh_ttl(auth: &Auth) -> chrono::Duration {
    i64::try_from(auth.settings.refresh_ttl_secs)
        .ok()
        .and_then(chrono::Duration::try_seconds)
        .unwrap_or_else(|| chrono::Duration::days(30))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AuthSettings;

    #[test]
    fn backoff_doubles_after_the_free_failures_up_to_the_cap() {
        let s = AuthSettings::default();
        assert_eq!(backoff(&s, 4, 0.0), None);
        assert_eq!(backoff(&s, 5, 0.0), Some(1.0));
        assert_eq!(backoff(&s, 5, 1.5), None);
        assert_eq!(backoff(&s, 8, 0.0), Some(8.0));
        assert_eq!(backoff(&s, 8, 3.0), Some(5.0));
        assert_eq!(backoff(&s, 40, 0.0), Some(900.0));
        assert_eq!(backoff(&s, 1_000_000, 899.0), Some(1.0));
    }

    #[test]
    fn slowdown_grows_and_stays_short() {
        let s = AuthSettings::default();
        assert_eq!(slowdown(&s, 19), Duration::ZERO);
        assert_eq!(slowdown(&s, 20), Duration::from_millis(250));
        assert_eq!(slowdown(&s, 23), Duration::from_millis(1_000));
        assert_eq!(slowdown(&s, 10_000), Duration::from_millis(2_000));
    }
}
