//! Refresh-token rotation with reuse detection, logout, and the user's session list.

use chrono::Utc;
use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;
use uuid::Uuid;

use super::{Auth, AuthError, Issued, login::refresh_ttl, refresh};
use crate::store::sessions::{self, RevokeReason, Session};
use crate::store::users::{self, User};

/// Trades a refresh token for a new pair. The presented token becomes used; a used
/// token presented again revokes its whole session (someone holds a copy).
pub async fn rotate(
    auth: &Auth,
    pool: &PgPool,
    token: &SecretString,
) -> Result<(User, Issued), AuthError> {
    let digest = refresh::digest(token.expose_secret());
    let mut tx = pool.begin().await?;
    let Some(found) = sessions::lock_token(&mut *tx, &digest).await? else {
        return Err(AuthError::RefreshInvalid);
    };
    if found.used_at.is_some() {
        let revoked =
            sessions::revoke(&mut *tx, found.session_id, None, RevokeReason::Reuse).await?;
        tx.commit().await?;
        auth.sessions.forget_session(found.session_id);
        tracing::warn!(
            session_id = %found.session_id,
            user_id = %found.user_id,
            revoked,
            "refresh token reused: session revoked"
        );
        return Err(AuthError::RefreshInvalid);
    }
    if found.revoked_at.is_some() || found.expires_at <= Utc::now() {
        return Err(AuthError::RefreshInvalid);
    }
    let Some(user) = users::find_live(&mut *tx, found.user_id).await? else {
        sessions::revoke(&mut *tx, found.session_id, None, RevokeReason::UserDeleted).await?;
        tx.commit().await?;
        auth.sessions.forget_session(found.session_id);
        return Err(AuthError::UserGone);
    };
    let expires_at = Utc::now() + refresh_ttl(auth);
    let (refresh_token, new_digest) = refresh::generate();
    sessions::mark_used(&mut *tx, &digest).await?;
    sessions::add_token(&mut *tx, found.session_id, &new_digest).await?;
    sessions::touch(&mut *tx, found.session_id, expires_at).await?;
    tx.commit().await?;
    let (access_token, expires_in) = auth.keys.issue(user.id, found.session_id)?;
    Ok((
        user,
        Issued {
            access_token,
            expires_in,
            refresh_token,
            refresh_expires_at: expires_at,
            session_id: found.session_id,
        },
    ))
}

/// Ends the session of a refresh token. Unknown or already-ended tokens are not an
/// error: logging out twice is fine, and the answer reveals nothing about the token.
pub async fn logout(auth: &Auth, pool: &PgPool, token: &SecretString) -> Result<(), AuthError> {
    let digest = refresh::digest(token.expose_secret());
    if let Some(session_id) = sessions::session_of_token(pool, &digest).await? {
        sessions::revoke(pool, session_id, None, RevokeReason::Logout).await?;
        // every process hears it at the commit; this one forgets before answering
        auth.sessions.forget_session(session_id);
    }
    Ok(())
}

pub async fn list(pool: &PgPool, user_id: Uuid) -> Result<Vec<Session>, AuthError> {
    Ok(sessions::list_live(pool, user_id).await?)
}

/// Revokes one of the user's own sessions; another user's (or an unknown, or an
/// already ended) session is "not found".
pub async fn revoke(
    auth: &Auth,
    pool: &PgPool,
    user_id: Uuid,
    session_id: Uuid,
) -> Result<(), AuthError> {
    if sessions::revoke(pool, session_id, Some(user_id), RevokeReason::Revoked).await? {
        auth.sessions.forget_session(session_id);
        Ok(())
    } else {
        Err(AuthError::SessionNotFound)
    }
}
