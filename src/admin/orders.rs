//! `checkout admin orders show|retry|cancel|refund|reconcile`.

use clap::Subcommand;
use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::output::{Progress, Table, emit, opt};
use super::{Admin, audit};
use crate::domain::codes::ErrorCode;
use crate::domain::order::{OrderStatus, Step};
use crate::store::refunds::RefundRow;
use crate::store::{authorizations, orders, refunds, sagas};
use crate::workflows::checkout::Failure;
use crate::workflows::checkout::orders::{OrderView, view};
use crate::workflows::checkout::runner::{
    enqueue_compensation, enqueue_reconciling, enqueue_step, fail,
};
use crate::workflows::keys;

#[derive(Debug, Subcommand)]
pub enum OrdersCommand {
    /// Status, amounts, payments, holds, enrollments, refunds and the step timeline.
    Show { token: String },
    /// Resumes a stuck or failed saga from its current step (attempts reset, state
    /// running, the step enqueued afresh); a compensating saga gets its compensation
    /// enqueued again. Completed and compensated sagas are refused.
    Retry { token: String },
    /// Cancels an order that still accepts payment (pending, awaiting payment); its
    /// compensation releases seats and the coupon and closes the gateway sessions.
    Cancel { token: String },
    /// Refunds captured money (all that is refundable, or --amount); with --retry,
    /// refunds again what the gateway failed to refund (refunds in status `failed`).
    Refund {
        token: String,
        /// Minor units (paise); default: everything still refundable.
        #[arg(long, conflicts_with = "retry")]
        amount: Option<i64>,
        /// Retry the order's failed refunds (a new refund at the gateway for each).
        #[arg(long)]
        retry: bool,
        /// A request id: the same order, amount and key refund once, however often the
        /// command runs. Pass a new one to refund the same amount again on purpose.
        #[arg(long, default_value = "default")]
        key: String,
    },
    /// Asks the gateway about an order awaiting payment (wakes its `confirm`).
    Reconcile {
        #[arg(
            required_unless_present = "all_pending",
            conflicts_with = "all_pending"
        )]
        token: Option<String>,
        /// Every order awaiting payment.
        #[arg(long)]
        all_pending: bool,
        #[arg(long, default_value_t = 1000)]
        limit: i64,
        /// List what would be reconciled; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

pub async fn run(admin: &Admin, command: OrdersCommand) -> anyhow::Result<()> {
    match command {
        OrdersCommand::Show { token } => show(admin, &token).await,
        OrdersCommand::Retry { token } => retry(admin, &token).await,
        OrdersCommand::Cancel { token } => cancel(admin, &token).await,
        OrdersCommand::Refund {
            token,
            retry: true,
            key,
            ..
        } => super::refund::retry(admin, &token, &key).await,
        OrdersCommand::Refund {
            token, amount, key, ..
        } => super::refund::refund(admin, &token, amount, &key).await,
        OrdersCommand::Reconcile {
            token: Some(token),
            dry_run,
            ..
        } => {
            let order = admin.order(&token).await?;
            if order.status() != OrderStatus::AwaitingPayment {
                anyhow::bail!(
                    "order {token} is {}: only orders awaiting payment are reconciled",
                    order.status
                );
            }
            let woken = reconcile(admin, &order, dry_run).await?;
            let out = json!({"order": token, "woken": woken, "dry_run": dry_run});
            emit(admin.json, &out, || {
                println!("order {token}: confirm woken (asks the gateway)")
            })
        }
        OrdersCommand::Reconcile {
            token: None,
            limit,
            dry_run,
            ..
        } => {
            let mut conn = admin.pool.acquire().await?;
            let ids = orders::awaiting_payment_page(&mut conn, 0, Uuid::nil(), limit).await?;
            let mut done = Vec::new();
            let mut progress = Progress::lines(ids.len(), "reconciling");
            for id in &ids {
                let Some(order) = orders::get(&mut conn, *id).await? else {
                    progress.skip();
                    continue;
                };
                reconcile(admin, &order, dry_run).await?;
                progress.step(&order.order_token);
                done.push(order.order_token);
            }
            drop(progress);
            let out = json!({"orders": done, "dry_run": dry_run});
            emit(admin.json, &out, || {
                let verb = if dry_run {
                    "would reconcile"
                } else {
                    "reconciled"
                };
                println!("{verb} {} order(s)", done.len());
            })
        }
    }
}

#[derive(Serialize)]
struct Shown {
    #[serde(flatten)]
    order: OrderView,
    refunds: Vec<RefundRow>,
    authorization_releases: Vec<authorizations::Release>,
    attempts: Option<i32>,
    last_error: Option<String>,
}

async fn show(admin: &Admin, token: &str) -> anyhow::Result<()> {
    let order = admin.order(token).await?;
    let mut conn = admin.pool.acquire().await?;
    let refunds = refunds::for_order(&mut conn, order.id).await?;
    let authorization_releases = authorizations::for_order(&mut conn, order.id).await?;
    let saga = sagas::get(&mut conn, order.id).await?;
    let shown = Shown {
        order: view(&admin.pool, order.id).await?,
        refunds,
        authorization_releases,
        attempts: saga.as_ref().map(|s| s.attempts),
        last_error: saga.and_then(|s| s.last_error),
    };
    emit(admin.json, &shown, || print_order(&shown))
}

fn print_order(s: &Shown) {
    let o = &s.order;
    println!(
        "order {}  status {}  currency {}",
        o.order_token,
        o.status,
        opt(&o.currency)
    );
    println!(
        "subtotal {}  discount {}  tax {}  total {}",
        opt(&o.subtotal),
        opt(&o.discount),
        opt(&o.tax),
        opt(&o.total)
    );
    println!(
        "saga: step {} state {} attempts {} last error {}",
        opt(&o.step),
        opt(&o.step_state),
        opt(&s.attempts),
        opt(&s.last_error)
    );
    if let Some(gstin) = &o.gstin {
        let state = crate::domain::Gstin::parse(gstin).map_or("?", |g| g.state().name());
        println!("gstin {gstin}  B2B, place of supply {state}");
    }
    if let Some(f) = &o.failure {
        println!("failure: {} {}", f.code, f.reason);
    }
    println!("\npayments");
    let mut t = Table::new(&[
        "gateway",
        "gateway order",
        "amount",
        "status",
        "refunded",
        "expires",
    ]);
    for p in &o.payments {
        t.row([
            p.gateway.clone(),
            p.gateway_order_id.clone(),
            p.amount.to_string(),
            p.status.clone(),
            p.refunded_amount.to_string(),
            p.expires_at.to_rfc3339(),
        ]);
    }
    t.print();
    println!("\nholds");
    let mut t = Table::new(&["cohort", "status", "expires"]);
    for h in &o.holds {
        t.row([
            h.cohort_id.to_string(),
            h.status.clone(),
            h.expires_at.to_rfc3339(),
        ]);
    }
    t.print();
    println!("\nenrollments");
    let mut t = Table::new(&["cohort", "program", "since"]);
    for e in &o.enrollments {
        t.row([
            e.cohort_id.to_string(),
            e.program_id.to_string(),
            e.created_at.to_rfc3339(),
        ]);
    }
    t.print();
    println!("\nrefunds");
    let mut t = Table::new(&[
        "id",
        "amount",
        "status",
        "gateway refund",
        "tries",
        "reason",
        "error",
    ]);
    for r in &s.refunds {
        t.row([
            r.id.to_string(),
            format!("{} {}", r.amount, r.currency),
            r.status.clone(),
            opt(&r.gateway_refund_id),
            (r.generation + 1).to_string(),
            r.reason.clone(),
            opt(&r.last_error),
        ]);
    }
    t.print();
    if s.refunds.iter().any(|r| r.status == "failed") {
        println!(
            "a refund failed: `checkout admin orders refund {} --retry` refunds it again",
            o.order_token
        );
    }
    if !s.authorization_releases.is_empty() {
        println!("\nauthorizations not captured");
        let mut t = Table::new(&["gateway", "payment", "amount", "outcome", "reason"]);
        for a in &s.authorization_releases {
            t.row([
                a.gateway.clone(),
                a.gateway_payment_id.clone(),
                format!("{} {}", a.amount, a.currency),
                a.outcome.clone(),
                a.reason.clone(),
            ]);
        }
        t.print();
    }
    println!("\ntimeline");
    let mut t = Table::new(&["started", "step", "attempt", "outcome", "error"]);
    for r in &o.timeline {
        t.row([
            r.started_at.to_rfc3339(),
            r.step.clone(),
            r.attempt.to_string(),
            r.outcome.clone(),
            opt(&r.error),
        ]);
    }
    t.print();
}

fn saga_json(s: &sagas::Saga) -> Value {
    json!({"step": s.step, "state": s.state, "attempts": s.attempts, "last_error": s.last_error})
}

async fn retry(admin: &Admin, token: &str) -> anyhow::Result<()> {
    let order = admin.order(token).await?;
    let mut tx = admin.pool.begin().await?;
    orders::lock(&mut tx, order.id).await?;
    let saga = sagas::lock(&mut tx, order.id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("order {token} has no saga"))?;
    let key = audit::fresh_key("orders.retry", token);
    let suffix = format!("admin:{}", Uuid::new_v4().simple());
    let what = match saga.state.as_str() {
        "completed" | "compensated" => anyhow::bail!(
            "order {token} is {} and its workflow is {}: there is nothing to resume",
            order.status,
            saga.state
        ),
        "compensating" => {
            enqueue_compensation(&mut tx, order.id, Some(&suffix), None).await?;
            "compensation enqueued".to_owned()
        }
        _ => {
            let step: Step = saga.step.parse().map_err(|e: String| anyhow::anyhow!(e))?;
            sagas::resume(&mut tx, order.id).await?;
            enqueue_step(&mut tx, order.id, step, Some(&suffix)).await?;
            format!("step {step} enqueued")
        }
    };
    let after = sagas::get(&mut tx, order.id).await?;
    audit::write(
        &mut tx,
        admin,
        "orders.retry",
        token,
        &key,
        Some(saga_json(&saga)),
        after.as_ref().map(saga_json),
    )
    .await?;
    tx.commit().await?;
    let out = json!({"order": token, "result": what, "saga": after.as_ref().map(saga_json)});
    emit(admin.json, &out, || println!("order {token}: {what}"))
}

async fn cancel(admin: &Admin, token: &str) -> anyhow::Result<()> {
    let order = admin.order(token).await?;
    let mut tx = admin.pool.begin().await?;
    let locked = orders::lock(&mut tx, order.id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no order with token `{token}`"))?;
    if locked.status() == OrderStatus::Cancelled {
        let out = json!({"order": token, "status": "cancelled", "changed": false});
        return emit(admin.json, &out, || {
            println!("order {token} is already cancelled; nothing done")
        });
    }
    if !locked.status().accepts_payment() {
        anyhow::bail!(
            "order {token} is {}: only pending orders and orders awaiting payment can be \
             cancelled (a paid one is refunded: `orders refund`)",
            locked.status
        );
    }
    let reason = format!("cancelled by operator {}", admin.actor);
    let failure = Failure::new(
        OrderStatus::Cancelled,
        ErrorCode::OrderCancelled.as_u32(),
        reason,
    );
    fail(&mut tx, order.id, &failure).await?;
    let key = audit::fresh_key("orders.cancel", token);
    let before = json!({"status": locked.status});
    let after = json!({"status": OrderStatus::Cancelled});
    audit::write(
        &mut tx,
        admin,
        "orders.cancel",
        token,
        &key,
        Some(before),
        Some(after),
    )
    .await?;
    tx.commit().await?;
    let out = json!({"order": token, "status": "cancelled", "changed": true});
    emit(admin.json, &out, || {
        println!("order {token} cancelled; compensation enqueued")
    })
}

/// Wakes the order's `confirm` with a fresh key (audited); false on a dry run.
async fn reconcile(admin: &Admin, order: &orders::Order, dry_run: bool) -> anyhow::Result<bool> {
    if dry_run {
        return Ok(false);
    }
    let mut tx = admin.pool.begin().await?;
    let suffix = format!("admin-rc:{}", Uuid::new_v4().simple());
    let woken = enqueue_reconciling(&mut tx, order.id, &suffix).await?;
    let key = audit::fresh_key("orders.reconcile", &order.order_token);
    let after = json!({"enqueued": keys::step(order.id, Step::Confirm, Some(&suffix))});
    audit::write(
        &mut tx,
        admin,
        "orders.reconcile",
        &order.order_token,
        &key,
        None,
        Some(after),
    )
    .await?;
    tx.commit().await?;
    Ok(woken)
}
