//! The outbox: checkout events written in the transaction of the change they describe.

use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

/// An event a saga step hands to its runner, which writes it with the step's timeline
/// line in one statement ([`crate::store::sagas::log_run_and_advance`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub event_type: &'static str,
    pub payload: Value,
}

impl Event {
    pub fn new(event_type: &'static str, payload: Value) -> Self {
        Event {
            event_type,
            payload,
        }
    }
}

pub async fn record(
    conn: &mut PgConnection,
    order_id: Uuid,
    event_type: &str,
    payload: Value,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into outbox_events (order_id, event_type, payload) values ($1, $2, $3)",
        order_id,
        event_type,
        payload
    )
    .execute(conn)
    .await?;
    Ok(())
}
