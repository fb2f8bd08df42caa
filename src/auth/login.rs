//! Registration and password login: validate, throttle, hash or verify, open a session.

use std::net::IpAddr;

use chrono::Utc;
use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;

use super::{Auth, AuthError, Issued, password, refresh};
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
            login_attempts::clear_account(pool, &account).await?;
            tracing::info!(user_id = %user.id, "login succeeded");
            Ok(user)
        }
        _ => {
            tracing::info!(%address, "login failed");
            Err(AuthError::InvalidCredentials)
        }
    }
}

/// Records the attempt and refuses it when the account or the address is over its
/// limit. The answer is the same whether or not the account exists.
async fn throttle(
    auth: &Auth,
    pool: &PgPool,
    account: &str,
    address: IpAddr,
) -> Result<(), AuthError> {
    let s = &auth.settings;
    let mut conn = pool.acquire().await?;
    let id = login_attempts::record(&mut conn, account, address, s.login_window_secs).await?;
    let c = login_attempts::counts(&mut *conn, account, address, s.login_window_secs, id).await?;
    let over_account = c.account > i64::from(s.login_max_per_account);
    let over_address = c.address > i64::from(s.login_max_per_address);
    if !over_account && !over_address {
        return Ok(());
    }
    login_attempts::forget(&mut *conn, id).await?;
    let wait = |over: bool, frees_in: Option<f64>| {
        if over {
            frees_in.unwrap_or(s.login_window_secs as f64)
        } else {
            0.0
        }
    };
    let secs = wait(over_account, c.account_frees_in).max(wait(over_address, c.address_frees_in));
    tracing::warn!(%address, over_account, over_address, "login throttled");
    Err(AuthError::RateLimited {
        retry_after_secs: (secs.ceil() as u64).max(1),
    })
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
