//! `checkout consume`: an example consumer of the events, for the teams that write
//! real ones (mail, LMS, CRM). It shows the three rules a consumer needs:
//!
//! - **Ack after the effect.** A message is acknowledged only after the transaction
//!   holding its effect committed; a consumer that dies before that gets it again.
//! - **Deduplicate by event id.** Delivery is at least once: the effect and the record
//!   of the id (`example_consumer_inbox`, primary key the event id) commit together, so
//!   a redelivery finds the id and only acks.
//! - **Poison goes to the dead-letter queue.** A message that cannot be read is
//!   rejected at once; one whose effect keeps failing is retried, and after
//!   `max_attempts` (counted per event id in `example_consumer_attempts`, so a restart
//!   does not reset them) rejected without requeue, which the queue's dead-letter
//!   exchange routes to the dead-letter queue.
//!
//! Its effect here is the inbox row itself (the event's type, aggregate and sequence);
//! `fail_type` makes the effect fail for one event type, to watch the retries and the
//! dead letter. A real consumer keeps these tables in its own database.

use std::time::Duration;

use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions, BasicRejectOptions,
};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};
use serde_json::Value;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// What `checkout consume` reads and how it treats failures.
#[derive(Debug, Clone)]
pub struct ConsumeOptions {
    pub queue: String,
    /// Runs of a failing effect before the message is dead-lettered.
    pub max_attempts: i32,
    /// Make the effect fail for events of this type (to see retries and dead letters).
    pub fail_type: Option<String>,
}

/// Consumes `options.queue` until `shutdown`.
pub async fn run(
    pool: &PgPool,
    amqp_url: &str,
    options: &ConsumeOptions,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    create_tables(pool).await?;
    let connection = Connection::connect(amqp_url, ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    channel.basic_qos(20, BasicQosOptions::default()).await?;
    let mut deliveries = channel
        .basic_consume(
            options.queue.as_str().into(),
            "checkout-example-consumer".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    loop {
        let delivery = tokio::select! {
            () = shutdown.cancelled() => break,
            next = deliveries.next() => match next {
                Some(delivery) => delivery?,
                None => break,
            },
        };
        let id = delivery
            .properties
            .message_id()
            .as_ref()
            .and_then(|id| Uuid::parse_str(id.as_str()).ok());
        let envelope = serde_json::from_slice::<Value>(&delivery.data).ok();
        let (Some(id), Some(envelope)) = (id, envelope) else {
            tracing::warn!("unreadable message (no event id or not JSON): dead-lettered");
            delivery
                .reject(BasicRejectOptions { requeue: false })
                .await?;
            continue;
        };
        match handle(pool, id, &envelope, options.fail_type.as_deref()).await {
            Ok(_) => {
                delivery.ack(BasicAckOptions::default()).await?;
            }
            Err(error) => {
                let attempts = count_attempt(pool, id).await?;
                if attempts >= options.max_attempts {
                    tracing::error!(event_id = %id, attempts, %error, "giving up: dead-lettered");
                    delivery
                        .reject(BasicRejectOptions { requeue: false })
                        .await?;
                } else {
                    tracing::warn!(event_id = %id, attempts, %error, "effect failed; the broker redelivers it");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    let requeue = BasicNackOptions {
                        requeue: true,
                        ..Default::default()
                    };
                    delivery.nack(requeue).await?;
                }
            }
        }
    }
    let _ = connection.close(200, "consumer stopping".into()).await;
    Ok(())
}

async fn create_tables(pool: &PgPool) -> sqlx::Result<()> {
    sqlx::raw_sql(
        "create table if not exists example_consumer_inbox (
             event_id    uuid primary key,
             event_type  text not null,
             aggregate   text not null,
             sequence    bigint not null,
             received_at timestamptz not null default now());
         create table if not exists example_consumer_attempts (
             event_id uuid primary key,
             attempts int not null)",
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// The effect and the record of the event id, in one transaction. `Ok(false)`: seen
/// before, nothing done.
async fn handle(
    pool: &PgPool,
    id: Uuid,
    envelope: &Value,
    fail_type: Option<&str>,
) -> anyhow::Result<bool> {
    let event_type = envelope["type"].as_str().unwrap_or_default();
    let mut tx = pool.begin().await?;
    let new = sqlx::query(
        "insert into example_consumer_inbox (event_id, event_type, aggregate, sequence)
         values ($1, $2, $3, $4) on conflict do nothing",
    )
    .bind(id)
    .bind(event_type)
    .bind(format!(
        "{}:{}",
        envelope["aggregate"]["type"].as_str().unwrap_or_default(),
        envelope["aggregate"]["id"].as_str().unwrap_or_default()
    ))
    .bind(envelope["sequence"].as_i64().unwrap_or_default())
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if new && fail_type == Some(event_type) {
        anyhow::bail!("the effect failed for {event_type} (fail_type)");
    }
    tx.commit().await?;
    Ok(new)
}

async fn count_attempt(pool: &PgPool, id: Uuid) -> sqlx::Result<i32> {
    sqlx::query_scalar(
        "insert into example_consumer_attempts (event_id, attempts) values ($1, 1)
         on conflict (event_id) do update set attempts = example_consumer_attempts.attempts + 1
         returning attempts",
    )
    .bind(id)
    .fetch_one(pool)
    .await
}
