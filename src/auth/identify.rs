//! Who a bearer token belongs to.
//!
//! External subjects are mapped on first sight: the `(issuer, sub)` pair gets a row in
//! `external_identities` pointing at a user, created then. The token's `email` claim
//! becomes the new user's email when no live account has it. When a live account
//! already has it, the subject is linked to that account only if the provider says the
//! email is verified (`email_verified: true`); otherwise a separate account without an
//! email is created, so an unverified claim can never take over an existing account.

use sqlx::PgPool;
use uuid::Uuid;

use super::jwt::{ExternalSubject, Verified};
use super::{Auth, AuthError, TokenError};
use crate::domain::account::Email;
use crate::store::users::{self, User};

/// An authenticated caller: the live user and, for our own tokens, the session.
#[derive(Debug, Clone)]
pub struct Identity {
    pub user: User,
    /// `None` for external-provider tokens (they have no session of ours).
    pub session_id: Option<Uuid>,
}

pub async fn identify(auth: &Auth, pool: &PgPool, bearer: &str) -> Result<Identity, AuthError> {
    match auth.keys.verify(bearer)? {
        Verified::Local {
            user_id,
            session_id,
        } => local_user(auth, pool, user_id, session_id).await,
        Verified::External(subject) => Ok(Identity {
            user: external_user(pool, &subject).await?,
            session_id: None,
        }),
    }
}

/// The user of one of our tokens, if the user is live and the token's session usable;
/// from the process's [`SessionCache`](super::cache::SessionCache) when it remembers
/// the session.
async fn local_user(
    auth: &Auth,
    pool: &PgPool,
    user_id: Uuid,
    session_id: Option<Uuid>,
) -> Result<Identity, AuthError> {
    if let Some(sid) = session_id
        && let Some(user) = auth.sessions.get(user_id, sid)
    {
        return Ok(Identity { user, session_id });
    }
    let seen = auth.sessions.generation();
    match (
        users::find_live_with_session(pool, user_id, session_id).await?,
        session_id,
    ) {
        (None, _) => Err(AuthError::UserGone),
        // a token without a session claim: only the user is checked
        (Some((user, _)), None) => Ok(Identity { user, session_id }),
        (Some((_, None)), Some(_)) => Err(TokenError::Invalid("session ended").into()),
        (Some((user, Some(expires_at))), Some(sid)) => {
            auth.sessions.put(seen, sid, user.clone(), expires_at);
            Ok(Identity { user, session_id })
        }
    }
}

async fn external_user(pool: &PgPool, s: &ExternalSubject) -> Result<User, AuthError> {
    // Two tries: a concurrent first sight of the same subject may win the link.
    for _ in 0..2 {
        if let Some((user_id, live)) = users::find_external(pool, &s.issuer, &s.subject).await? {
            return match (live, users::find_live(pool, user_id).await?) {
                (true, Some(user)) => Ok(user),
                _ => Err(AuthError::UserGone),
            };
        }
        let mut tx = pool.begin().await?;
        let email = s.email.as_deref().and_then(|e| Email::parse(e).ok());
        let existing = match &email {
            Some(e) => users::find_for_login(&mut *tx, e.as_str()).await?,
            None => None,
        };
        let user = match existing {
            Some((user, _)) if s.email_verified => user,
            Some(_) => create(&mut tx, None, s).await?,
            None => create(&mut tx, email.as_ref(), s).await?,
        };
        if users::link_external(&mut *tx, &s.issuer, &s.subject, user.id).await? {
            tx.commit().await?;
            tracing::info!(user_id = %user.id, "external identity linked");
            return Ok(user);
        }
        tx.rollback().await?;
    }
    Err(anyhow::anyhow!("external identity could not be linked").into())
}

async fn create(
    tx: &mut sqlx::PgConnection,
    email: Option<&Email>,
    s: &ExternalSubject,
) -> Result<User, AuthError> {
    let name = s
        .name
        .as_deref()
        .and_then(|n| crate::domain::account::parse_name(n).ok())
        .or_else(|| email.map(|e| e.local_part().to_owned()))
        .unwrap_or_else(|| "student".to_owned());
    let email = email.map(Email::as_str);
    match users::insert(&mut *tx, email, &name, None).await? {
        Some(user) => Ok(user),
        // the email was registered meanwhile: keep the accounts apart
        None => users::insert(&mut *tx, None, &name, None)
            .await?
            .ok_or_else(|| anyhow::anyhow!("user without email not inserted").into()),
    }
}
