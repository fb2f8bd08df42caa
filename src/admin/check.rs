//! `checkout admin check`: the consistency checker, run after every load run and usable
//! alone. Each invariant is one read-only query; a row it returns is a violation (or,
//! for work still legitimately in progress, a "waiting" item). Runs on one connection,
//! so a test can plant a violation in a transaction, check, and roll back.
//!
//! Invariants:
//! - `order_stuck`: every order is terminal or legitimately waiting (awaiting_payment
//!   with an unexpired session; pending/paid with a live saga: a job for the saga's
//!   current step (or its compensation) still pending or running, or activity within
//!   the grace period). The session-expiry job every order has does not count.
//! - `compensation_stuck`: a saga compensating with no job and no recent activity.
//! - `double_enrollment`: a user enrolled twice in one cohort.
//! - `seats_oversold`, `seats_taken_mismatch`, `seats_held_mismatch`: cohort counters
//!   within capacity and equal to enrollments / held seat holds.
//! - `coupon_count_mismatch`, `coupon_user_count_mismatch`: counters equal redemptions.
//! - `money_mismatch`: captured - refunded = total for an enrolled order, else 0 once
//!   its refunds are processed (a requested refund is waiting, not a violation).
//! - `ledger_mismatch`: an order's ledger (the sum of its `amount_minor`) differs from
//!   what its payments and refunds say it holds: captured (plus captures only a refund
//!   recorded) minus processed refunds. Both sides move in the same transactions, so
//!   any difference is a write that bypassed the store or a tampered ledger. One
//!   aggregate over the ledger's order index and the order's payments and refunds,
//!   like `money_mismatch`.
//! - `refund_failed`: a refund the gateway failed and nobody retried (the student has
//!   not got the money back); `refund_overdue`: one not settled after
//!   `refunds.pending_alert_secs` (`--refund-alert-secs`).
//! - `event_unpublished`: an outbox event older than the grace the relay has not
//!   published (no relay running, or the broker away that long).
//! - `payment_shared`: a captured gateway payment recorded on more than one order/row.
//! - `webhook_duplicate`, `webhook_stuck`: each verified webhook event id is stored once
//!   and none is left `received`.
//! - `invoice_missing`: an enrolled order with a positive total and no tax invoice, no
//!   document job pending or running, enrolled before the grace.
//! - `credit_note_missing`: a processed refund of an invoiced order without a credit
//!   note while the credit notes reverse less than the money says went back (the
//!   invoice total less what the order keeps: captured minus processed refunds), no
//!   document job pending or running, settled before the grace. (A refund of a second
//!   payment reverses no supply and needs none.)

use clap::Args;
use serde::Serialize;
use sqlx::{PgConnection, Row};

use super::output::{Progress, Table};

#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// Machine-readable report on stdout.
    #[arg(long)]
    pub json: bool,
    /// Activity younger than this is "in flight", not stuck (seconds).
    #[arg(long, default_value_t = 60)]
    pub grace_secs: u64,
    /// A refund not settled after this long is reported (seconds; default
    /// `refunds.pending_alert_secs`).
    #[arg(long)]
    pub refund_alert_secs: Option<u64>,
}

/// How old unfinished work may be before it is reported.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Activity younger than this is in flight (s).
    pub grace_secs: u64,
    /// A refund not settled after this long is overdue (s).
    pub refund_alert_secs: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Finding {
    pub kind: &'static str,
    /// The row concerned: an order id, cohort id, coupon code, ...
    pub subject: String,
    pub detail: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct CheckReport {
    pub ok: bool,
    pub orders: i64,
    pub violations: Vec<Finding>,
    /// Legitimately unfinished work (not a violation).
    pub waiting: Vec<Finding>,
}

impl CheckReport {
    pub fn kinds(&self) -> Vec<&'static str> {
        let mut k: Vec<_> = self.violations.iter().map(|f| f.kind).collect();
        k.dedup();
        k
    }
}

/// (kind, query returning `subject text, detail text`), each a violation per row.
const VIOLATIONS: &[(&str, &str)] = &[
    (
        "order_stuck",
        "select o.id::text, format('status %s, saga %s/%s, updated %s s ago', o.status,
                coalesce(s.step, '-'), coalesce(s.state, '-'),
                round(extract(epoch from now() - greatest(o.updated_at, s.updated_at))))
           from orders o left join sagas s on s.order_id = o.id
          where o.status not in ('enrolled', 'failed', 'expired', 'cancelled', 'refunded')
            and not (o.status = 'awaiting_payment' and exists (
                     select 1 from payments p where p.order_id = o.id
                        and p.status = 'created' and p.expires_at > now()))
            and not exists (select 1 from apalis.jobs j
                             where (j.idempotency_key like o.id::text || ':' || coalesce(s.step, '') || '%'
                                    or (s.state = 'compensating' and j.idempotency_key like o.id::text || ':compensate%'))
                               and j.status in ('Pending', 'Queued', 'Running'))
            and greatest(o.updated_at, s.updated_at) < now() - make_interval(secs => $1)",
    ),
    (
        "compensation_stuck",
        "select s.order_id::text, format('saga %s compensating since %s', s.step, s.updated_at)
           from sagas s
          where s.state = 'compensating'
            and not exists (select 1 from apalis.jobs j
                             where j.idempotency_key like s.order_id::text || ':compensate%'
                               and j.status in ('Pending', 'Queued', 'Running'))
            and s.updated_at < now() - make_interval(secs => $1)",
    ),
    (
        "double_enrollment",
        "select user_id::text || ' / ' || cohort_id::text, format('%s enrollments', count(*))
           from enrollments group by user_id, cohort_id having count(*) > 1",
    ),
    (
        "seats_oversold",
        "select id::text, format('held %s + taken %s > capacity %s', seats_held, seats_taken, capacity)
           from cohorts where seats_held + seats_taken > capacity",
    ),
    (
        "seats_taken_mismatch",
        "select c.id::text, format('seats_taken %s, enrollments %s', c.seats_taken, coalesce(e.n, 0))
           from cohorts c
           left join (select cohort_id, count(*) n from enrollments group by cohort_id) e on e.cohort_id = c.id
          where c.seats_taken <> coalesce(e.n, 0)",
    ),
    (
        "seats_held_mismatch",
        "select c.id::text, format('seats_held %s, held seat_holds %s', c.seats_held, coalesce(h.n, 0))
           from cohorts c
           left join (select cohort_id, count(*) n from seat_holds where status = 'held' group by cohort_id) h
                  on h.cohort_id = c.id
          where c.seats_held <> coalesce(h.n, 0)",
    ),
    (
        "coupon_count_mismatch",
        "select c.code, format('used_count %s, used redemptions %s', c.used_count, coalesce(r.n, 0))
           from coupons c
           left join (select code, count(*) n from coupon_redemptions where status = 'used' group by code) r
                  on r.code = c.code
          where c.used_count <> coalesce(r.n, 0)",
    ),
    (
        "coupon_user_count_mismatch",
        "select u.code || ' / ' || u.user_id::text, format('used_count %s, used redemptions %s', u.used_count, coalesce(r.n, 0))
           from coupon_user_uses u
           left join (select code, user_id, count(*) n from coupon_redemptions where status = 'used'
                       group by code, user_id) r on r.code = u.code and r.user_id = u.user_id
          where u.used_count <> coalesce(r.n, 0)",
    ),
    (
        "money_mismatch",
        "with m as (
            select o.id, o.status, coalesce(o.total, 0) total,
                   coalesce((select sum(captured_amount) from payments p where p.order_id = o.id), 0)
                 + coalesce((select sum(amount) from refunds r where r.order_id = o.id and r.payment_id is null), 0) captured,
                   coalesce((select sum(amount) from refunds r where r.order_id = o.id and r.status = 'processed'), 0) refunded,
                   exists (select 1 from refunds r where r.order_id = o.id and r.status in ('requested', 'pending')) refund_pending
              from orders o)
         select id::text, format('status %s: captured %s - refunded %s <> %s', status, captured, refunded,
                                 case when status = 'enrolled' then total else 0 end)
           from m
          where not refund_pending
            and captured - refunded <> case when status = 'enrolled' then total else 0 end
            and not (status in ('pending', 'awaiting_payment', 'paid') and refunded = 0
                     and captured in (0, total))",
    ),
    (
        "ledger_mismatch",
        "with l as (select order_id, sum(amount_minor) amount from ledger
                     where order_id is not null group by order_id),
              m as (
            select o.id,
                   coalesce((select sum(captured_amount) from payments p where p.order_id = o.id), 0)
                 + coalesce((select sum(amount) from refunds r where r.order_id = o.id and r.payment_id is null), 0) captured,
                   coalesce((select sum(amount) from refunds r where r.order_id = o.id and r.status = 'processed'), 0) refunded
              from orders o)
         select coalesce(m.id, l.order_id)::text,
                format('ledger %s <> captured %s - refunded %s', coalesce(l.amount, 0),
                       coalesce(m.captured, 0), coalesce(m.refunded, 0))
           from m full join l on l.order_id = m.id
          where coalesce(l.amount, 0) <> coalesce(m.captured, 0) - coalesce(m.refunded, 0)",
    ),
    (
        "refund_failed",
        "select id::text, format('order %s, %s %s: %s (refund again: admin orders refund --retry)',
                                 order_id, amount, currency, coalesce(last_error, 'failed'))
           from refunds where status = 'failed'",
    ),
    (
        "refund_overdue",
        "select id::text, format('order %s, %s %s, %s since %s, %s gateway reads', order_id, amount,
                                 currency, status, created_at, polls)
           from refunds
          where status in ('requested', 'pending') and created_at < now() - make_interval(secs => $2)",
    ),
    (
        "event_unpublished",
        "select event_id::text, format('%s of %s %s, written %s, not published (is a relay running?)',
                                       event_type, aggregate_type, aggregate_id, created_at)
           from outbox_events
          where published_at is null and created_at < now() - make_interval(secs => $1)",
    ),
    (
        "payment_shared",
        "select gateway || ' ' || gateway_payment_id, format('%s payment rows on %s orders', count(*), count(distinct order_id))
           from payments where gateway_payment_id is not null and captured_amount > 0
          group by gateway, gateway_payment_id having count(*) > 1",
    ),
    (
        "webhook_duplicate",
        "select gateway || ' ' || event_id, format('stored %s times', count(*))
           from webhook_events where status <> 'rejected' and event_id is not null
          group by gateway, event_id having count(*) > 1",
    ),
    (
        "invoice_missing",
        "select o.id::text, format('enrolled, total %s %s, no tax invoice (updated %s)', o.total,
                                   o.currency, o.updated_at)
           from orders o
          where o.status = 'enrolled' and o.total > 0
            and not exists (select 1 from invoices i where i.order_id = o.id)
            and o.updated_at < now() - make_interval(secs => $1)
            and not exists (select 1 from apalis.jobs j
                             where j.idempotency_key like o.id::text || ':documents%'
                               and j.status in ('Pending', 'Queued', 'Running'))",
    ),
    (
        "credit_note_missing",
        "with i as (
            select i.id, i.order_id, i.number, i.total, i.currency,
                   coalesce((select sum(c.total) from credit_notes c where c.invoice_id = i.id), 0) credited,
                   coalesce((select sum(captured_amount) from payments p
                              where p.order_id = i.order_id and p.currency = i.currency), 0)
                 + coalesce((select sum(amount) from refunds r where r.order_id = i.order_id
                              and r.payment_id is null and r.currency = i.currency), 0)
                 - coalesce((select sum(amount) from refunds r where r.order_id = i.order_id
                              and r.status = 'processed' and r.currency = i.currency), 0) kept
              from invoices i)
         select r.id::text, format('order %s, refund of %s %s processed %s: credit notes of %s reverse %s, the money says %s',
                                   i.order_id, r.amount, r.currency, r.settled_at, i.number, i.credited,
                                   least(greatest(i.total - i.kept, 0), i.total))
           from i join refunds r on r.order_id = i.order_id and r.status = 'processed'
          where least(greatest(i.total - i.kept, 0), i.total) > i.credited
            and not exists (select 1 from credit_notes c where c.refund_id = r.id)
            and r.settled_at < now() - make_interval(secs => $1)
            and not exists (select 1 from apalis.jobs j
                             where j.idempotency_key like i.order_id::text || ':documents%'
                               and j.status in ('Pending', 'Queued', 'Running'))",
    ),
    (
        "webhook_stuck",
        "select id::text, format('%s %s received %s, never processed', gateway, coalesce(event_type, '?'), received_at)
           from webhook_events
          where status = 'received' and received_at < now() - make_interval(secs => $1)",
    ),
];

/// (kind, query): legitimately unfinished work, reported but not a violation.
const WAITING: &[(&str, &str)] = &[
    (
        "order_in_flight",
        "select o.id::text, format('status %s, saga %s/%s', o.status, coalesce(s.step, '-'), coalesce(s.state, '-'))
           from orders o left join sagas s on s.order_id = o.id
          where o.status not in ('enrolled', 'failed', 'expired', 'cancelled', 'refunded')",
    ),
    (
        "refund_pending",
        "select id::text, format('order %s, %s %s, %s, %s failed calls', order_id, amount, currency,
                                 status, attempts)
           from refunds where status in ('requested', 'pending')
            and created_at >= now() - make_interval(secs => $2)",
    ),
];

/// Runs every check on `conn`.
pub async fn check(conn: &mut PgConnection, limits: Limits) -> sqlx::Result<CheckReport> {
    check_reporting(conn, limits, &mut Progress::hidden()).await
}

/// [`check`], stepping `progress` once per query (each may scan a whole table).
pub async fn check_reporting(
    conn: &mut PgConnection,
    limits: Limits,
    progress: &mut Progress,
) -> sqlx::Result<CheckReport> {
    let mut report = CheckReport {
        orders: sqlx::query_scalar("select count(*) from orders")
            .fetch_one(&mut *conn)
            .await?,
        ..CheckReport::default()
    };
    for (kind, sql) in VIOLATIONS {
        report
            .violations
            .extend(findings(conn, kind, sql, limits).await?);
        progress.step(kind);
    }
    for (kind, sql) in WAITING {
        report
            .waiting
            .extend(findings(conn, kind, sql, limits).await?);
        progress.step(kind);
    }
    report.ok = report.violations.is_empty();
    Ok(report)
}

async fn findings(
    conn: &mut PgConnection,
    kind: &'static str,
    sql: &'static str,
    limits: Limits,
) -> sqlx::Result<Vec<Finding>> {
    // $1 is the grace and $2 the refund alert, in seconds; a query binds up to the
    // highest it names (typed binds, so an unnamed $1 is still a float8)
    let params = [limits.grace_secs as f64, limits.refund_alert_secs as f64];
    let used = (1..=params.len())
        .filter(|n| sql.contains(&format!("${n}")))
        .max()
        .unwrap_or(0);
    let mut query = sqlx::query(sql);
    for value in &params[..used] {
        query = query.bind(*value);
    }
    let rows = query.fetch_all(&mut *conn).await?;
    rows.into_iter()
        .map(|row| {
            Ok(Finding {
                kind,
                subject: row.try_get(0)?,
                detail: row.try_get(1)?,
            })
        })
        .collect()
}

/// Human-readable report: the counts, a table of findings (every violation, the first
/// 20 waiting items), then OK or FAILED.
pub fn render(report: &CheckReport) -> String {
    let mut out = format!(
        "consistency check: {} orders, {} violation(s), {} waiting\n",
        report.orders,
        report.violations.len(),
        report.waiting.len()
    );
    let shown = report.violations.iter().map(|f| ("VIOLATION", f));
    let shown = shown.chain(report.waiting.iter().take(20).map(|f| ("waiting", f)));
    let mut table = Table::new(&["finding", "kind", "subject", "detail"]);
    for (finding, f) in shown {
        table.row([finding, f.kind, f.subject.as_str(), f.detail.as_str()]);
    }
    if !report.violations.is_empty() || !report.waiting.is_empty() {
        out.push_str(&table.render());
    }
    if report.waiting.len() > 20 {
        out.push_str(&format!("... {} more waiting\n", report.waiting.len() - 20));
    }
    out.push_str(if report.ok { "OK\n" } else { "FAILED\n" });
    out
}

/// `checkout admin check`: prints the report; any violation is an error (exit 1).
pub async fn run(
    pool: &sqlx::PgPool,
    args: &CheckArgs,
    settings: &crate::config::Settings,
) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    let mut progress = Progress::quiet(VIOLATIONS.len() + WAITING.len(), "checking");
    let limits = Limits {
        grace_secs: args.grace_secs,
        refund_alert_secs: args
            .refund_alert_secs
            .unwrap_or(settings.refunds.pending_alert_secs),
    };
    let report = check_reporting(&mut conn, limits, &mut progress).await?;
    drop(progress);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(&report));
    }
    if !report.ok {
        anyhow::bail!("{} consistency violation(s)", report.violations.len());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{CheckReport, Finding, render};

    fn finding(kind: &'static str, subject: &str) -> Finding {
        Finding {
            kind,
            subject: subject.into(),
            detail: format!("detail of {subject}"),
        }
    }

    #[test]
    fn a_report_lists_violations_then_waiting_items() {
        let report = CheckReport {
            ok: false,
            orders: 3,
            violations: vec![finding("seats_oversold", "cohort-1")],
            waiting: (0..22)
                .map(|i| finding("order_in_flight", &format!("o{i}")))
                .collect(),
        };
        let text = render(&report);
        assert!(
            text.starts_with("consistency check: 3 orders, 1 violation(s), 22 waiting\n"),
            "{text}"
        );
        let line = |needle: &str| text.lines().position(|l| l.contains(needle));
        let violation = line("VIOLATION").unwrap_or_else(|| panic!("{text}"));
        assert!(
            text.lines()
                .nth(violation)
                .is_some_and(|l| l.contains("seats_oversold")
                    && l.contains("cohort-1")
                    && l.contains("detail of cohort-1"))
        );
        assert!(line("o19").is_some_and(|w| w > violation), "{text}");
        assert!(line("o20").is_none(), "only the first 20 waiting: {text}");
        assert!(text.ends_with("... 2 more waiting\nFAILED\n"), "{text}");
    }

    #[test]
    fn a_clean_report_is_one_line_and_ok() {
        let report = CheckReport {
            ok: true,
            orders: 5,
            ..CheckReport::default()
        };
        assert_eq!(
            render(&report),
            "consistency check: 5 orders, 0 violation(s), 0 waiting\nOK\n"
        );
    }
}
