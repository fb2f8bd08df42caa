//! `checkout admin subscriptions ...`: webhook endpoints that receive the events
//! (docs/events.md, "Webhook subscriptions"), and their deliveries.

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use clap::Subcommand;
use serde_json::json;
use uuid::Uuid;

use super::output::{Table, emit, opt};
use super::{Admin, audit};
use crate::store::outbox;
use crate::store::subscriptions::{self, Subscription};
use crate::webhooks_out::{self, target};
use crate::workflows::deliveries;

#[derive(Debug, Subcommand)]
pub enum SubscriptionsCommand {
    /// Registers an endpoint; prints its id and signing secret (shown only here).
    Add {
        /// https:// URL resolving to public addresses only.
        url: String,
        /// Comma-separated event types (order.paid,order.enrolled).
        #[arg(
            long,
            value_delimiter = ',',
            required_unless_present = "all",
            conflicts_with = "all"
        )]
        types: Vec<String>,
        /// Every event type, including types added later.
        #[arg(long)]
        all: bool,
        #[arg(long)]
        description: Option<String>,
    },
    /// Every endpoint, with its status and why it is disabled.
    List,
    /// Stops deliveries to an endpoint (pending ones end dead; redeliver after enable).
    Disable {
        id: Uuid,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Delivers to an endpoint again and forgets its failure streak.
    Enable { id: Uuid },
    /// A new signing secret (printed once); the old one signs beside it for
    /// `subscriptions.rotation_grace_secs`.
    RotateSecret { id: Uuid },
    /// Delivery attempts, newest first.
    Deliveries {
        #[arg(long)]
        subscription: Option<Uuid>,
        /// pending, succeeded, failed or dead
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Sends a delivery again now, whatever its status; or with --since every delivery
    /// since then (of one subscription) that did not succeed, dead ones included.
    Redeliver {
        #[arg(required_unless_present = "since", conflicts_with = "since")]
        delivery_id: Option<Uuid>,
        /// RFC 3339 time (2026-12-07T00:00:00Z).
        #[arg(long)]
        since: Option<DateTime<Utc>>,
        #[arg(long, requires = "since")]
        subscription: Option<Uuid>,
    },
}

pub async fn run(admin: &Admin, command: SubscriptionsCommand) -> anyhow::Result<()> {
    match command {
        SubscriptionsCommand::Add {
            url,
            types,
            all,
            description,
        } => add(admin, &url, (!all).then_some(types), description).await,
        SubscriptionsCommand::List => {
            let list = admin
                .reader
                .read(|c| Box::pin(subscriptions::list(c)))
                .await?;
            emit(admin.json, &list, || {
                let mut t = Table::new(&[
                    "id",
                    "url",
                    "types",
                    "status",
                    "failures",
                    "disabled because",
                    "created",
                ]);
                for s in &list {
                    t.row([
                        s.id.to_string(),
                        s.url.clone(),
                        types_text(s),
                        s.status.clone(),
                        s.consecutive_failures.to_string(),
                        opt(&s.disabled_reason),
                        s.created_at.to_rfc3339(),
                    ]);
                }
                t.print();
            })
        }
        SubscriptionsCommand::Disable { id, reason } => {
            let reason = reason.unwrap_or_else(|| format!("disabled by {}", admin.actor));
            set_status(admin, id, Some(&reason)).await
        }
        SubscriptionsCommand::Enable { id } => set_status(admin, id, None).await,
        SubscriptionsCommand::RotateSecret { id } => rotate(admin, id).await,
        SubscriptionsCommand::Deliveries {
            subscription,
            status,
            limit,
        } => {
            if let Some(s) = &status
                && !["pending", "succeeded", "failed", "dead"].contains(&s.as_str())
            {
                bail!("--status `{s}`: use pending, succeeded, failed or dead");
            }
            let list = admin
                .reader
                .read(|c| {
                    let status = status.clone();
                    Box::pin(async move {
                        subscriptions::list_deliveries(c, subscription, status.as_deref(), limit)
                            .await
                    })
                })
                .await?;
            emit(admin.json, &list, || {
                let mut t = Table::new(&[
                    "id",
                    "subscription",
                    "event",
                    "type",
                    "status",
                    "attempts",
                    "code",
                    "latency ms",
                    "next try",
                    "last error",
                ]);
                for d in &list {
                    t.row([
                        d.id.to_string(),
                        d.subscription_id.to_string(),
                        d.event_id.to_string(),
                        d.event_type.clone(),
                        d.status.clone(),
                        d.attempts.to_string(),
                        opt(&d.last_status_code),
                        opt(&d.last_latency_ms),
                        d.next_attempt_at
                            .map(|t| t.to_rfc3339())
                            .unwrap_or_default(),
                        opt(&d.last_error),
                    ]);
                }
                t.print();
            })
        }
        SubscriptionsCommand::Redeliver {
            delivery_id,
            since,
            subscription,
        } => redeliver(admin, delivery_id, since, subscription).await,
    }
}

fn types_text(s: &Subscription) -> String {
    s.event_types
        .as_ref()
        .map_or_else(|| "all".to_owned(), |t| t.join(","))
}

async fn add(
    admin: &Admin,
    url: &str,
    types: Option<Vec<String>>,
    description: Option<String>,
) -> anyhow::Result<()> {
    if let Some(types) = &types {
        for t in types {
            if !outbox::TYPES.contains(&t.as_str()) {
                bail!(
                    "unknown event type `{t}`; the types are: {}",
                    outbox::TYPES.join(", ")
                );
            }
        }
    }
    target::check(url, admin.settings.subscriptions.allow_loopback)
        .await
        .context("the endpoint is refused")?;
    let secret = webhooks_out::new_secret();
    let mut tx = admin.pool.begin().await?;
    let created = subscriptions::create(
        &mut tx,
        url,
        types.as_deref(),
        description.as_deref(),
        &secret,
    )
    .await?;
    let target_id = created.id.to_string();
    let after = json!({"url": url, "types": created.event_types, "description": description});
    let key = audit::fresh_key("subscriptions.add", &target_id);
    audit::write(
        &mut tx,
        admin,
        "subscriptions.add",
        &target_id,
        &key,
        None,
        Some(after),
    )
    .await?;
    tx.commit().await?;
    let out = json!({"id": created.id, "url": created.url, "types": created.event_types,
                     "secret": secret});
    emit(admin.json, &out, || {
        println!("subscription {}", created.id);
        println!("secret {secret}");
        println!("(the secret is shown only now: store it with the receiver)");
    })
}

/// The subscription, locked, or a clear error.
async fn locked(tx: &mut sqlx::PgConnection, id: Uuid) -> anyhow::Result<Subscription> {
    subscriptions::lock(tx, id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no subscription with id {id}"))
}

async fn set_status(admin: &Admin, id: Uuid, disabled_reason: Option<&str>) -> anyhow::Result<()> {
    let action = if disabled_reason.is_some() {
        "subscriptions.disable"
    } else {
        "subscriptions.enable"
    };
    let mut tx = admin.pool.begin().await?;
    let before = locked(&mut tx, id).await?;
    let after = subscriptions::set_status(&mut tx, id, disabled_reason).await?;
    let target_id = id.to_string();
    let key = audit::fresh_key(action, &target_id);
    audit::write(
        &mut tx,
        admin,
        action,
        &target_id,
        &key,
        Some(json!({"status": before.status, "disabled_reason": before.disabled_reason})),
        Some(json!({"status": after.status, "disabled_reason": after.disabled_reason})),
    )
    .await?;
    tx.commit().await?;
    emit(admin.json, &after, || {
        println!("subscription {id}: {}", after.status)
    })
}

async fn rotate(admin: &Admin, id: Uuid) -> anyhow::Result<()> {
    let grace = admin.settings.subscriptions.rotation_grace_secs;
    let secret = webhooks_out::new_secret();
    let mut tx = admin.pool.begin().await?;
    locked(&mut tx, id).await?;
    let after = subscriptions::rotate_secret(&mut tx, id, &secret, grace as i64).await?;
    let target_id = id.to_string();
    let key = audit::fresh_key("subscriptions.rotate_secret", &target_id);
    let note = json!({"previous_secret_expires_at": after.previous_secret_expires_at});
    audit::write(
        &mut tx,
        admin,
        "subscriptions.rotate_secret",
        &target_id,
        &key,
        None,
        Some(note),
    )
    .await?;
    tx.commit().await?;
    let out = json!({"id": id, "secret": secret,
                     "previous_secret_expires_at": after.previous_secret_expires_at});
    emit(admin.json, &out, || {
        println!("subscription {id}");
        println!("secret {secret}");
        if let Some(until) = after.previous_secret_expires_at {
            println!("(the old secret also signs until {})", until.to_rfc3339());
        }
    })
}

async fn redeliver(
    admin: &Admin,
    delivery_id: Option<Uuid>,
    since: Option<DateTime<Utc>>,
    subscription: Option<Uuid>,
) -> anyhow::Result<()> {
    let mut tx = admin.pool.begin().await?;
    if let Some(id) = delivery_id {
        let delivery = subscriptions::delivery(&mut tx, id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("no delivery with id {id}"))?;
        let sub = locked(&mut tx, delivery.subscription_id).await?;
        if sub.status != "active" {
            bail!(
                "delivery {id}: its subscription {} is disabled; enable it first",
                sub.id
            );
        }
    }
    if let Some(id) = subscription {
        let sub = locked(&mut tx, id).await?;
        if sub.status != "active" {
            bail!("subscription {id} is disabled; enable it first");
        }
    }
    let ids = delivery_id.map(|id| vec![id]);
    let replayed = deliveries::redeliver(&mut tx, ids.as_deref(), since, subscription).await?;
    let target_id = delivery_id.map_or_else(
        || {
            format!(
                "since:{}",
                since.map(|s| s.to_rfc3339()).unwrap_or_default()
            )
        },
        |id| id.to_string(),
    );
    let key = audit::fresh_key("subscriptions.redeliver", &target_id);
    let after = json!({"deliveries": replayed, "subscription": subscription});
    audit::write(
        &mut tx,
        admin,
        "subscriptions.redeliver",
        &target_id,
        &key,
        None,
        Some(after),
    )
    .await?;
    tx.commit().await?;
    let out = json!({"redelivered": replayed});
    emit(admin.json, &out, || {
        println!("{} deliveries replayed", replayed.len());
        for id in &replayed {
            println!("{id}");
        }
    })
}
