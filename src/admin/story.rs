//! `checkout admin audit ORDER_TOKEN [--events]`: an order's whole story in time order.
//!
//! Three records, merged: the ledger (every money movement and state change, with its
//! actor), `admin_audit` (the operator commands run on the order) and, with
//! `--events`, the outbox (the integration feed; published events are pruned after
//! `scheduler.outbox_retention_secs`, so it may be incomplete). Rows of one transaction share their
//! time; among them the operator's command comes first, then the ledger rows in the
//! order they were written, then the events.

use chrono::{DateTime, Utc};
use clap::Args;
use serde::Serialize;
use serde_json::Value;

use super::Admin;
use super::output::{Table, emit};
use crate::store::{audit, ledger, outbox};

#[derive(Debug, Clone, Args)]
pub struct AuditArgs {
    /// The order's token.
    pub token: String,
    /// Add the order's outbox events.
    #[arg(long)]
    pub events: bool,
}

/// One line of the story.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    pub at: DateTime<Utc>,
    /// `admin` (an operator command), `ledger` or `event`.
    pub source: &'static str,
    /// The ledger kind, the admin action or the event type.
    pub kind: String,
    /// What the line is about: `order`, `payment <id>`, `refund <id>`, `coupon <code>`.
    pub subject: String,
    /// The money the line moves (ledger rows only).
    pub amount_minor: Option<i64>,
    pub currency: Option<String>,
    pub actor_type: Option<String>,
    pub actor: Option<String>,
    pub before: Option<Value>,
    pub after: Option<Value>,
    #[serde(skip)]
    order: (u8, i64),
}

#[derive(Debug, Serialize)]
pub struct Story {
    pub order: String,
    pub order_id: uuid::Uuid,
    pub status: String,
    pub correlation_id: Option<String>,
    /// The sum of the ledger's amounts: what the order holds now.
    pub balance_minor: i64,
    pub lines: Vec<Line>,
}

pub async fn run(admin: &Admin, args: &AuditArgs) -> anyhow::Result<()> {
    let story = story(admin, &args.token, args.events).await?;
    emit(admin.json, &story, || print!("{}", render(&story)))
}

/// Reads the order's story; an unknown token is the admin's usual error.
pub async fn story(admin: &Admin, token: &str, events: bool) -> anyhow::Result<Story> {
    let order = admin.order(token).await?;
    let mut conn = admin.pool.acquire().await?;
    let rows = ledger::for_order(&mut conn, order.id).await?;
    let balance_minor = rows.iter().map(|r| r.amount_minor).sum();
    let mut lines: Vec<Line> = rows.into_iter().map(from_ledger).collect();
    for c in audit::for_target(&mut conn, token).await? {
        lines.push(Line {
            at: c.created_at,
            source: "admin",
            kind: c.action,
            subject: "order".into(),
            amount_minor: None,
            currency: None,
            actor_type: Some("admin".into()),
            actor: Some(c.actor),
            before: c.before,
            after: c.after,
            order: (0, c.id),
        });
    }
    if events {
        for e in outbox::for_aggregate(&mut conn, "order", order.id).await? {
            lines.push(Line {
                at: e.created_at,
                source: "event",
                kind: e.event_type,
                subject: "order".into(),
                amount_minor: None,
                currency: None,
                actor_type: None,
                actor: None,
                before: None,
                after: Some(e.payload),
                order: (2, e.sequence),
            });
        }
    }
    lines.sort_by_key(|l| (l.at, l.order));
    Ok(Story {
        order: order.order_token,
        order_id: order.id,
        status: order.status,
        correlation_id: order.correlation_id,
        balance_minor,
        lines,
    })
}

fn from_ledger(r: ledger::Row) -> Line {
    let subject = match r.aggregate_type.as_str() {
        "order" => "order".to_owned(),
        other => format!("{other} {}", r.aggregate_id),
    };
    Line {
        at: r.at,
        source: "ledger",
        kind: r.kind,
        subject,
        amount_minor: Some(r.amount_minor),
        currency: r.currency,
        actor_type: Some(r.actor_type),
        actor: Some(r.actor),
        before: r.before,
        after: r.after,
        order: (1, r.id),
    }
}

/// The story as a table: one line per row, the change as `before -> after`.
pub fn render(story: &Story) -> String {
    let mut out = format!(
        "order {}  status {}  correlation {}  balance {}\n",
        story.order,
        story.status,
        story.correlation_id.as_deref().unwrap_or("-"),
        story.balance_minor
    );
    let mut table = Table::new(&[
        "at", "source", "kind", "subject", "amount", "actor", "change",
    ]);
    for l in &story.lines {
        let amount = match (l.amount_minor, &l.currency) {
            (Some(0) | None, _) => String::new(),
            (Some(a), Some(c)) => format!("{a:+} {c}"),
            (Some(a), None) => format!("{a:+}"),
        };
        let actor = match (&l.actor_type, &l.actor) {
            (Some(t), Some(a)) => format!("{t}: {a}"),
            _ => String::new(),
        };
        let change = match (&l.before, &l.after) {
            (Some(b), Some(a)) => format!("{b} -> {a}"),
            (None, Some(a)) => a.to_string(),
            (Some(b), None) => format!("{b} -> -"),
            (None, None) => String::new(),
        };
        table.row([
            l.at.to_rfc3339(),
            l.source.to_owned(),
            l.kind.clone(),
            l.subject.clone(),
            amount,
            actor,
            change,
        ]);
    }
    out.push_str(&table.render());
    out
}
