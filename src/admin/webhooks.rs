//! `checkout admin webhooks list|replay`.

use clap::Subcommand;
use serde_json::json;
use uuid::Uuid;

use super::output::{Table, emit, opt};
use super::{Admin, audit};
use crate::domain::order::Step;
use crate::store::webhooks;
use crate::workflows::checkout::runner::enqueue_step;
use crate::workflows::keys;

#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// Received events, newest first.
    List {
        /// razorpay or stripe
        #[arg(long)]
        gateway: Option<String>,
        /// received, processed, ignored, unmatched or rejected
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Wakes `confirm` of the event's order again (it asks the gateway, so nothing from
    /// the stored payload is trusted). EVENT_ID: our id or the gateway's event id.
    Replay { event_id: String },
}

pub async fn run(admin: &Admin, command: WebhooksCommand) -> anyhow::Result<()> {
    match command {
        WebhooksCommand::List {
            gateway,
            status,
            limit,
        } => {
            let events = admin
                .reader
                .read(|c| {
                    let (gateway, status) = (gateway.clone(), status.clone());
                    Box::pin(async move {
                        webhooks::list(c, gateway.as_deref(), status.as_deref(), limit).await
                    })
                })
                .await?;
            emit(admin.json, &events, || {
                let mut t = Table::new(&[
                    "id", "gateway", "event", "type", "status", "order", "received",
                ]);
                for e in &events {
                    t.row([
                        e.id.to_string(),
                        e.gateway.clone(),
                        opt(&e.event_id),
                        opt(&e.event_type),
                        e.status.clone(),
                        opt(&e.order_id),
                        e.received_at.to_rfc3339(),
                    ]);
                }
                t.print();
            })
        }
        WebhooksCommand::Replay { event_id } => replay(admin, &event_id).await,
    }
}

async fn replay(admin: &Admin, event_id: &str) -> anyhow::Result<()> {
    let mut tx = admin.pool.begin().await?;
    let event = webhooks::find(&mut tx, event_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no webhook event with id `{event_id}`"))?;
    let Some(order_id) = event.order_id else {
        anyhow::bail!(
            "webhook event {event_id} ({}) matched no order: there is nothing to replay it to",
            event.status
        );
    };
    let suffix = format!("webhook-replay:{}:{}", event.id, Uuid::new_v4().simple());
    enqueue_step(&mut tx, order_id, Step::Confirm, Some(&suffix)).await?;
    let key = audit::fresh_key("webhooks.replay", event_id);
    let enqueued = keys::step(order_id, Step::Confirm, Some(&suffix));
    let after = json!({"order_id": order_id, "enqueued": enqueued});
    audit::write(
        &mut tx,
        admin,
        "webhooks.replay",
        event_id,
        &key,
        None,
        Some(after),
    )
    .await?;
    tx.commit().await?;
    let out = json!({"event": event.id, "order_id": order_id, "replayed": true});
    emit(admin.json, &out, || {
        println!("event {event_id}: confirm of order {order_id} woken")
    })
}
