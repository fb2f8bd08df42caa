//! The outbox: checkout events written in the transaction of the change they describe.

use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

pub async fn record(
    conn: &mut PgConnection,
    order_id: Uuid,
    event_type: &str,
    payload: Value,
) -> sqlx::Result<()> {
    sqlx::query("insert into outbox_events (order_id, event_type, payload) values ($1, $2, $3)")
        .bind(order_id)
        .bind(event_type)
        .bind(payload)
        .execute(conn)
        .await?;
    Ok(())
}
