//! The relay: publishes the outbox to RabbitMQ, at least once and in order per
//! aggregate (`checkout relay`; any number may run).
//!
//! One pass, in one transaction: claim whole aggregates (an order's events go together;
//! another relay skips what this one holds, [`store::outbox::claim`]), publish their
//! unpublished events in sequence order as persistent messages (`message_id` = the
//! event id, routing key = its type) on a channel with publisher confirms, then mark
//! published exactly the events the broker confirmed, stopping an aggregate at its first
//! unconfirmed event so a later one never overtakes it. A relay that dies mid-pass (or a
//! broker that goes away) leaves its rows unpublished and its claims released: another
//! pass publishes them again, so consumers deduplicate by `message_id`.
//!
//! The same transaction creates the webhook deliveries of the events it marks published
//! ([`crate::webhooks_out`]).
//!
//! The broker being unreachable is retried with backoff while the backlog waits in
//! Postgres; the relay's `/readyz` says so meanwhile, and `outbox_unpublished` /
//! `outbox_oldest_unpublished_seconds` show the lag.

pub mod consume;

use std::collections::HashSet;
use std::time::Duration;

use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use secrecy::ExposeSecret;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::config::EventsSettings;
use crate::health::Dependency;
use crate::store::outbox::{self, Stored};
use crate::store::subscriptions;
use crate::workflows::deliveries::enqueue_attempt;

/// Unpublished events counted at most, for the lag gauge (the count stays bounded).
const LAG_CAP: i64 = 100_000;

/// Messages the example queue keeps at most.
const EXAMPLE_QUEUE_MAX_LENGTH: i64 = 100_000;

/// Runs until `shutdown`: connects (with backoff), declares the topology, and relays.
pub async fn run(
    pool: PgPool,
    settings: EventsSettings,
    broker: Dependency,
    shutdown: CancellationToken,
) {
    let mut failures = 0u32;
    while !shutdown.is_cancelled() {
        let error = match connect(&settings).await {
            Ok((connection, channel)) => {
                broker.up();
                failures = 0;
                let error = relay(&pool, &settings, &channel, &shutdown).await;
                let _ = connection.close(200, "relay stopping".into()).await;
                match error {
                    Ok(()) => return,
                    Err(e) => e,
                }
            }
            Err(e) => e,
        };
        failures += 1;
        broker.down(format!("broker unreachable: {error:#}"));
        let wait = backoff(&settings, failures);
        tracing::warn!(error = %format!("{error:#}"), ?wait, "relay: broker unreachable; the backlog waits in Postgres");
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}

fn backoff(settings: &EventsSettings, failures: u32) -> Duration {
    let ms = settings
        .retry_base_ms
        .saturating_mul(1u64 << failures.saturating_sub(1).min(20));
    Duration::from_millis(ms.min(settings.retry_max_ms))
}

/// A connection and a confirming channel, with the exchange, the dead-letter exchange,
/// the example queue bound to every event and its dead-letter queue declared.
async fn connect(settings: &EventsSettings) -> anyhow::Result<(Connection, Channel)> {
    let url = settings.amqp_url.expose_secret();
    let connection = Connection::connect(url, ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    };
    for exchange in [&settings.exchange, &settings.dead_letter_exchange] {
        channel
            .exchange_declare(
                name(exchange),
                ExchangeKind::Topic,
                durable,
                FieldTable::default(),
            )
            .await?;
    }
    let queue = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    let mut dead_lettered = FieldTable::default();
    dead_lettered.insert(
        "x-dead-letter-exchange".into(),
        AMQPValue::LongString(settings.dead_letter_exchange.as_str().into()),
    );
    // Nobody may read the example queue (a developer's `dev`): its oldest messages go
    // rather than the broker's memory and disk.
    dead_lettered.insert(
        "x-max-length".into(),
        AMQPValue::LongLongInt(EXAMPLE_QUEUE_MAX_LENGTH),
    );
    let bindings = [
        (&settings.example_queue, &settings.exchange, dead_lettered),
        (
            &settings.dead_letter_queue,
            &settings.dead_letter_exchange,
            FieldTable::default(),
        ),
    ];
    for (queue_name, exchange, arguments) in bindings {
        channel
            .queue_declare(name(queue_name), queue, arguments)
            .await?;
        channel
            .queue_bind(
                name(queue_name),
                name(exchange),
                "#".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
    }
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    Ok((connection, channel))
}

fn name(s: &str) -> ShortString {
    s.into()
}

/// Passes until `shutdown` (`Ok`) or a broker error (`Err`: reconnect).
async fn relay(
    pool: &PgPool,
    settings: &EventsSettings,
    channel: &Channel,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    while !shutdown.is_cancelled() {
        let published = pass(pool, settings, channel).await?;
        record_lag(pool).await;
        if published == 0 {
            tokio::select! {
                () = shutdown.cancelled() => {}
                () = tokio::time::sleep(Duration::from_millis(settings.poll_interval_ms)) => {}
            }
        }
    }
    Ok(())
}

/// One pass: claim, publish, await confirms, mark. Returns how many were published.
async fn pass(
    pool: &PgPool,
    settings: &EventsSettings,
    channel: &Channel,
) -> anyhow::Result<usize> {
    let mut tx = pool.begin().await?;
    let events = outbox::claim(&mut tx, settings.batch_size).await?;
    if events.is_empty() {
        return Ok(0);
    }
    let mut pending = Vec::with_capacity(events.len());
    for event in &events {
        let body = serde_json::to_vec(&event.envelope())?;
        let confirm = channel
            .basic_publish(
                name(&settings.exchange),
                name(&event.event_type),
                BasicPublishOptions::default(),
                &body,
                properties(event),
            )
            .await?;
        pending.push(confirm);
    }
    // Confirmed, in each aggregate's order: an aggregate stops at its first event the
    // broker did not take, so nothing later of it is marked before it.
    let mut stopped: HashSet<(&str, Uuid)> = HashSet::new();
    let mut confirmed = Vec::with_capacity(events.len());
    for (event, confirm) in events.iter().zip(pending) {
        let aggregate = (event.aggregate_type.as_str(), event.aggregate_id);
        let acked = confirm.await.is_ok_and(|c| c.is_ack());
        if !acked {
            stopped.insert(aggregate);
        }
        if acked && !stopped.contains(&aggregate) {
            confirmed.push(event.id);
        }
    }
    deliver(&mut tx, &events, &confirmed).await?;
    outbox::mark_published(&mut tx, &confirmed).await?;
    tx.commit().await?;
    metrics::counter!("events_published_total").increment(confirmed.len() as u64);
    if confirmed.len() < events.len() {
        anyhow::bail!(
            "the broker confirmed {} of {} events",
            confirmed.len(),
            events.len()
        );
    }
    Ok(confirmed.len())
}

/// The webhook deliveries of the confirmed events, and a job for each, in the pass's
/// transaction: they exist if and only if the events are marked published, and a
/// second publication of an event (after a failure) finds its deliveries made.
pub async fn deliver(
    tx: &mut sqlx::PgConnection,
    events: &[Stored],
    confirmed: &[i64],
) -> anyhow::Result<()> {
    let confirmed: HashSet<i64> = confirmed.iter().copied().collect();
    let published: Vec<Stored> = events
        .iter()
        .filter(|e| confirmed.contains(&e.id))
        .cloned()
        .collect();
    for delivery_id in subscriptions::create_deliveries(&mut *tx, &published).await? {
        enqueue_attempt(&mut *tx, delivery_id, 0, None, None).await?;
    }
    Ok(())
}

/// A persistent JSON message: `message_id` the event id (consumers deduplicate by it),
/// `type` the event type, `correlation_id` the checkout's, and the aggregate and its
/// sequence as headers.
fn properties(event: &Stored) -> BasicProperties {
    let mut headers = FieldTable::default();
    headers.insert(
        "aggregate_type".into(),
        AMQPValue::LongString(event.aggregate_type.as_str().into()),
    );
    headers.insert(
        "aggregate_id".into(),
        AMQPValue::LongString(event.aggregate_id.to_string().as_str().into()),
    );
    headers.insert("sequence".into(), AMQPValue::LongLongInt(event.sequence));
    let mut properties = BasicProperties::default()
        .with_message_id(event.event_id.to_string().as_str().into())
        .with_type(name(&event.event_type))
        .with_content_type("application/json".into())
        .with_delivery_mode(2)
        .with_timestamp(event.created_at.timestamp().max(0) as u64)
        .with_app_id("checkout".into())
        .with_headers(headers);
    if let Some(correlation) = &event.correlation_id {
        properties = properties.with_correlation_id(correlation.as_str().into());
    }
    properties
}

async fn record_lag(pool: &PgPool) {
    let Ok(mut conn) = pool.acquire().await else {
        return;
    };
    if let Ok((unpublished, oldest)) = outbox::lag(&mut conn, LAG_CAP).await {
        metrics::gauge!("outbox_unpublished").set(unpublished as f64);
        metrics::gauge!("outbox_oldest_unpublished_seconds").set(oldest);
    }
}
