//! Writing the audit row of an admin action (`store::audit`), with the actor of this run.

use serde_json::Value;
use sqlx::PgConnection;

use super::Admin;
use crate::store::audit::{Entry, record};

/// Records `action` on `target` in the caller's transaction. `key` makes it once-only:
/// pass the action's own idempotency key, or a fresh one for state-guarded actions.
pub async fn write(
    conn: &mut PgConnection,
    admin: &Admin,
    action: &str,
    target: &str,
    key: &str,
    before: Option<Value>,
    after: Option<Value>,
) -> sqlx::Result<bool> {
    record(
        conn,
        &Entry {
            actor: &admin.actor,
            action,
            target,
            request_key: key,
            before,
            after,
        },
    )
    .await
}

/// A key for an action whose idempotency comes from a state guard.
pub fn fresh_key(action: &str, target: &str) -> String {
    format!("{action}:{target}:{}", uuid::Uuid::new_v4())
}
