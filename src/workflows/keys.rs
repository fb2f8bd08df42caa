//! Every job's idempotency key, and every gateway idempotency key the workflows derive,
//! built here and nowhere else. A key names what the job does for what, so a second
//! enqueue of the same work is a no-op (the queue's unique key decides) and a gateway
//! sees a repeated call as the same call.
//!
//! Operators and the consistency check match keys by prefix (`{order}:compensate%`,
//! `{order}:confirm:%`): the shapes below are part of how stuck work is found.

use uuid::Uuid;

use crate::domain::order::Step;

/// A step job: `{order}:{step}`, or `{order}:{step}:{suffix}` for a further run of the
/// same step (a wake-up of `confirm`, a retry).
pub fn step(order_id: Uuid, step: Step, suffix: Option<&str>) -> String {
    match suffix {
        Some(s) => format!("{order_id}:{step}:{s}"),
        None => format!("{order_id}:{step}"),
    }
}

/// The compensation of an order: `{order}:compensate`, or with a suffix for a retry or an
/// operator's or the stuck-saga sweep's re-run.
pub fn compensate(order_id: Uuid, suffix: Option<&str>) -> String {
    match suffix {
        Some(s) => format!("{order_id}:compensate:{s}"),
        None => format!("{order_id}:compensate"),
    }
}

/// A run of a refund's job: `{refund}:refund` when it is decided, and with a suffix
/// for every later run: `check:{generation}:{n}` (the n-th scheduled read or delayed retry),
/// `retry:{generation}` (a new refund after a failure), `wh:{webhook}` (woken by a
/// refund webhook), `op:{generation}:{request}` (an operator's retry).
pub fn refund_job(refund_id: Uuid, suffix: Option<&str>) -> String {
    match suffix {
        Some(s) => format!("{refund_id}:refund:{s}"),
        None => format!("{refund_id}:refund"),
    }
}

/// The suffix of a job a verified webhook woke (`wh:{webhook}`: `confirm` or a refund's
/// read), built here so [`woken_by_webhook`] reads what was written.
pub fn webhook_suffix(webhook_row: Uuid) -> String {
    format!("{WEBHOOK_MARK}{webhook_row}")
}

const WEBHOOK_MARK: &str = "wh:";

/// The stored webhook event (its `webhook_events` row id) that woke the job with this
/// key, if one did.
pub fn woken_by_webhook(key: &str) -> Option<&str> {
    key.split_once(&format!(":{WEBHOOK_MARK}"))
        .map(|(_, row)| row)
}

/// The capture of one authorized gateway payment (Stripe takes it as the request's
/// idempotency key): a re-run captures once.
pub fn capture(gateway: &str, gateway_payment_id: &str) -> String {
    format!("capture:{gateway}:{gateway_payment_id}")
}

/// The refund of one captured gateway payment, whoever decides it (compensation, a
/// late or mismatched capture): one refund per payment, at the gateway too.
pub fn gateway_refund(gateway: &str, gateway_payment_id: &str) -> String {
    format!("refund:{gateway}:{gateway_payment_id}")
}

/// The gateway session of an order (sent as the gateway's idempotency key).
pub fn payment_session(order_id: Uuid) -> String {
    format!("{order_id}:payment_session")
}

/// A `confirm` woken by the client's signed callback for one gateway payment (or
/// session): the suffix of its step key.
pub fn callback_suffix(gateway_ref: &str) -> String {
    format!("cb:{gateway_ref}")
}

/// One tick of one cron schedule.
pub fn cron_tick(schedule: &str, tick: i64) -> String {
    format!("cron:{schedule}:{tick}")
}

/// An attempt of a webhook delivery that expects `attempt` earlier attempts:
/// `delivery:{delivery}:{attempt}` (the first, enqueued by the relay with the delivery,
/// and each scheduled retry), with a suffix for an operator's replay.
pub fn delivery(delivery_id: Uuid, attempt: i32, suffix: Option<&str>) -> String {
    match suffix {
        Some(s) => format!("delivery:{delivery_id}:{attempt}:{s}"),
        None => format!("delivery:{delivery_id}:{attempt}"),
    }
}

/// A run of an order's document job (its invoice, then its credit notes):
/// `{order}:documents` when the order is enrolled, with a suffix for the run a
/// processed refund wakes (`refund:{refund}`) and for a delayed retry
/// (`retry:{attempt}`).
pub fn documents(order_id: Uuid, suffix: Option<&str>) -> String {
    match suffix {
        Some(s) => format!("{order_id}:documents:{s}"),
        None => format!("{order_id}:documents"),
    }
}

/// A ping job.
pub fn ping(id: Uuid) -> String {
    format!("ping:{id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_operators_match_on() {
        let id = Uuid::nil();
        assert_eq!(step(id, Step::Price, None), format!("{id}:price"));
        assert_eq!(
            step(id, Step::Confirm, Some("cb:pay_1")),
            format!("{id}:confirm:cb:pay_1")
        );
        assert!(compensate(id, Some("retry:2")).starts_with(&format!("{id}:compensate")));
        assert_eq!(
            refund_job(id, Some("check:0:3")),
            format!("{id}:refund:check:0:3")
        );
        assert_eq!(cron_tick("expiry", 60), "cron:expiry:60");
        assert_eq!(documents(id, None), format!("{id}:documents"));
        assert_eq!(
            documents(id, Some("retry:2")),
            format!("{id}:documents:retry:2")
        );
        assert_eq!(delivery(id, 2, None), format!("delivery:{id}:2"));
    }

    #[test]
    fn a_job_a_webhook_woke_names_the_webhook() {
        let (order, row) = (Uuid::nil(), Uuid::max());
        let confirm = step(order, Step::Confirm, Some(&webhook_suffix(row)));
        assert_eq!(woken_by_webhook(&confirm), Some(row.to_string().as_str()));
        let read = refund_job(order, Some(&webhook_suffix(row)));
        assert_eq!(woken_by_webhook(&read), Some(row.to_string().as_str()));
        assert_eq!(
            woken_by_webhook(&step(order, Step::Confirm, Some("cb:pay_1"))),
            None
        );
        assert_eq!(woken_by_webhook(&step(order, Step::Price, None)), None);
    }
}
