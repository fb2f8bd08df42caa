//! Sessions this process recently found live, so that a student's burst of requests
//! (cart, coupon, estimate, order, the status polls: seven in a checkout) reads the
//! session and user once instead of once per request.
//!
//! What keeps a remembered session honest:
//! - Every change that can end a session or alter its user (revocation, logout, reuse
//!   detection, a shortened expiry, account deletion, a deleted row) notifies
//!   `checkout_session_changed` at commit (migration `session_changes`), whichever
//!   process or tool made it; each process LISTENs and forgets that session or all of
//!   that user's sessions. A reconnected listener forgets everything (notifications
//!   sent while it was down are lost).
//! - This process's own revocations also forget at once, after their commit, so the
//!   next request here is refused without waiting for the notification.
//! - An entry lives at most `auth.session_cache_ms`, and never past the session's own
//!   expiry. `0` turns the memory off.
//! - A read that started before a forget never stores its (possibly stale) answer:
//!   every forget bumps a generation, and [`SessionCache::put`] takes the generation
//!   seen before the read.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio_util::sync::DropGuard;
use uuid::Uuid;

use crate::store::listen::{Heard, listen_for};
use crate::store::users::User;

const CHANNEL: &str = "checkout_session_changed";

/// More entries than this and the expired ones are swept; still more and all go.
const MAX_ENTRIES: usize = 100_000;

/// The process's memory of live sessions; cheap to clone. The listener task ends when
/// the last clone is dropped.
#[derive(Clone)]
pub struct SessionCache {
    inner: Arc<Inner>,
}

struct Inner {
    ttl: Duration,
    state: Mutex<State>,
    /// Ends the listener when the last clone of the cache is dropped.
    listener: OnceLock<DropGuard>,
}

#[derive(Default)]
struct State {
    /// By session id.
    entries: HashMap<Uuid, Entry>,
    generation: u64,
}

struct Entry {
    user: User,
    until: Instant,
}

/// The generation a read started at; hand it back to [`SessionCache::put`].
#[derive(Debug, Clone, Copy)]
pub struct Generation(u64);

impl SessionCache {
    /// A memory keeping entries for `ttl` (zero: keeps nothing). It hears other
    /// processes' changes only once [`SessionCache::listen`] runs.
    pub fn new(ttl: Duration) -> Self {
        SessionCache {
            inner: Arc::new(Inner {
                ttl,
                state: Mutex::default(),
                listener: OnceLock::new(),
            }),
        }
    }

    /// Starts forgetting on `checkout_session_changed` (inside a tokio runtime; outside
    /// one, and with a zero TTL, nothing is listened to or kept).
    pub fn listen(&self, pool: &PgPool) {
        if self.inner.ttl.is_zero() {
            return;
        }
        let on = |inner, heard: Heard<'_>| SessionCache { inner }.heard(heard);
        if let Some(guard) = listen_for(pool, CHANNEL, &self.inner, on) {
            let _ = self.inner.listener.set(guard);
        }
    }

    fn heard(&self, heard: Heard<'_>) {
        match heard {
            Heard::Payload(payload) => {
                let id = payload.get(2..).and_then(|id| id.parse::<Uuid>().ok());
                match (payload.get(..2), id) {
                    (Some("s "), Some(id)) => self.forget_session(id),
                    (Some("u "), Some(id)) => self.forget_user(id),
                    _ => self.forget_all(),
                }
            }
            Heard::Reconnected => self.forget_all(),
        }
    }

    /// The user of a remembered live session `session_id` of `user_id`.
    pub fn get(&self, user_id: Uuid, session_id: Uuid) -> Option<User> {
        let state = self.inner.state.lock().ok()?;
        let found = state
            .entries
            .get(&session_id)
            .filter(|e| e.user.id == user_id && e.until > Instant::now())
            .map(|e| e.user.clone());
        // with the memory off there is no cache to hit or miss
        if !self.inner.ttl.is_zero() {
            let result = if found.is_some() { "hit" } else { "miss" };
            metrics::counter!("session_cache_lookups_total", "result" => result).increment(1);
        }
        found
    }

    /// Call before reading a session from the database.
    pub fn generation(&self) -> Generation {
        Generation(self.inner.state.lock().map(|s| s.generation).unwrap_or(0))
    }

    /// Remembers `session_id` as live until `expires_at` (at most the TTL), unless
    /// something was forgotten since `seen` (the read may predate that change).
    pub fn put(&self, seen: Generation, session_id: Uuid, user: User, expires_at: DateTime<Utc>) {
        let left = (expires_at - Utc::now()).to_std().unwrap_or_default();
        let keep = self.inner.ttl.min(left);
        if keep.is_zero() {
            return;
        }
        let Ok(mut state) = self.inner.state.lock() else {
            return;
        };
        if state.generation != seen.0 {
            return;
        }
        let now = Instant::now();
        if state.entries.len() >= MAX_ENTRIES {
            state.entries.retain(|_, e| e.until > now);
            if state.entries.len() >= MAX_ENTRIES {
                state.entries.clear();
            }
        }
        state.entries.insert(
            session_id,
            Entry {
                user,
                until: now + keep,
            },
        );
    }

    /// Forgets one session (it was revoked, here or elsewhere).
    pub fn forget_session(&self, session_id: Uuid) {
        self.forget(|id, _| *id == session_id);
    }

    /// Forgets every session of a user (the account changed or went).
    pub fn forget_user(&self, user_id: Uuid) {
        self.forget(|_, e| e.user.id == user_id);
    }

    fn forget_all(&self) {
        self.forget(|_, _| true);
    }

    fn forget(&self, matches: impl Fn(&Uuid, &Entry) -> bool) {
        if let Ok(mut state) = self.inner.state.lock() {
            state.generation += 1;
            state.entries.retain(|id, e| !matches(id, e));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: Uuid) -> User {
        User {
            id,
            email: None,
            name: "Asha".into(),
            created_at: Utc::now(),
        }
    }

    fn later() -> DateTime<Utc> {
        Utc::now() + chrono::Duration::hours(1)
    }

    #[test]
    fn remembers_a_live_session_for_its_user_only() {
        let cache = SessionCache::new(Duration::from_secs(60));
        let (u, s) = (Uuid::new_v4(), Uuid::new_v4());
        assert!(cache.get(u, s).is_none());
        cache.put(cache.generation(), s, user(u), later());
        assert_eq!(cache.get(u, s).map(|x| x.id), Some(u));
        // the same session id claimed by another user's token is not served
        assert!(cache.get(Uuid::new_v4(), s).is_none());
    }

    #[test]
    fn forgets_by_session_by_user_and_on_notification() {
        let cache = SessionCache::new(Duration::from_secs(60));
        let (u, s1, s2, s3) = (
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
        );
        let other = Uuid::new_v4();
        for s in [s1, s2] {
            cache.put(cache.generation(), s, user(u), later());
        }
        cache.put(cache.generation(), s3, user(other), later());
        cache.forget_session(s1);
        assert!(cache.get(u, s1).is_none());
        assert!(cache.get(u, s2).is_some());
        cache.heard(Heard::Payload(&format!("u {u}")));
        assert!(cache.get(u, s2).is_none());
        assert!(cache.get(other, s3).is_some());
        cache.heard(Heard::Payload(&format!("s {s3}")));
        assert!(cache.get(other, s3).is_none());
        cache.put(cache.generation(), s3, user(other), later());
        cache.heard(Heard::Reconnected);
        assert!(cache.get(other, s3).is_none());
        cache.put(cache.generation(), s3, user(other), later());
        cache.heard(Heard::Payload("garbage"));
        assert!(cache.get(other, s3).is_none());
    }

    #[test]
    fn a_read_older_than_a_forget_is_not_stored() {
        let cache = SessionCache::new(Duration::from_secs(60));
        let (u, s) = (Uuid::new_v4(), Uuid::new_v4());
        let seen = cache.generation();
        // the session is revoked (and forgotten) while the read is in flight
        cache.forget_session(s);
        cache.put(seen, s, user(u), later());
        assert!(cache.get(u, s).is_none());
    }

    #[test]
    fn never_outlives_the_ttl_or_the_session() {
        let (u, s) = (Uuid::new_v4(), Uuid::new_v4());
        let off = SessionCache::new(Duration::ZERO);
        off.put(off.generation(), s, user(u), later());
        assert!(off.get(u, s).is_none());

        let cache = SessionCache::new(Duration::from_secs(60));
        cache.put(
            cache.generation(),
            s,
            user(u),
            Utc::now() - chrono::Duration::seconds(1),
        );
        assert!(cache.get(u, s).is_none());
        cache.put(
            cache.generation(),
            s,
            user(u),
            Utc::now() + chrono::Duration::milliseconds(30),
        );
        assert!(cache.get(u, s).is_some());
        std::thread::sleep(Duration::from_millis(40));
        assert!(cache.get(u, s).is_none());
    }
}
