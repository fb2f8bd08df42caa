//! Order and saga state machines: which transitions are allowed, and the retry
//! backoff. Pure; the store applies them under a row lock.
//!
//! Statuses only move forward: `pending -> awaiting_payment -> paid -> enrolled`, or to
//! a terminal failure (`failed`, `expired`, `cancelled`, `refunded`). A duplicate or
//! late event asks for a transition that is no longer allowed and is ignored (or, if it
//! brought money, refunded); it can never move an order back.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Where an order stands. Stored as its snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    Pending,
    AwaitingPayment,
    Paid,
    Enrolled,
    Failed,
    Expired,
    Cancelled,
    Refunded,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 8] = [
        OrderStatus::Pending,
        OrderStatus::AwaitingPayment,
        OrderStatus::Paid,
        OrderStatus::Enrolled,
        OrderStatus::Failed,
        OrderStatus::Expired,
        OrderStatus::Cancelled,
        OrderStatus::Refunded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "pending",
            OrderStatus::AwaitingPayment => "awaiting_payment",
            OrderStatus::Paid => "paid",
            OrderStatus::Enrolled => "enrolled",
            OrderStatus::Failed => "failed",
            OrderStatus::Expired => "expired",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Refunded => "refunded",
        }
    }

    /// No transition leaves a terminal status (a refund of an enrolled order is the
    /// one exception, see [`OrderStatus::can_become`]).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            OrderStatus::Enrolled
                | OrderStatus::Failed
                | OrderStatus::Expired
                | OrderStatus::Cancelled
                | OrderStatus::Refunded
        )
    }

    /// Money may still arrive for the order (a session is open or being created).
    pub fn accepts_payment(self) -> bool {
        matches!(self, OrderStatus::Pending | OrderStatus::AwaitingPayment)
    }

    /// The forward-only transition table.
    pub fn can_become(self, next: OrderStatus) -> bool {
        use OrderStatus::*;
        match (self, next) {
            (Pending, AwaitingPayment) => true,
            (Pending | AwaitingPayment, Paid) => true,
            (Paid, Enrolled) => true,
            (Pending | AwaitingPayment, Failed | Expired | Cancelled) => true,
            // a paid order that cannot be fulfilled is refunded; so is an enrolled one
            // an operator refunds
            (Paid | Enrolled, Refunded) => true,
            _ => false,
        }
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OrderStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OrderStatus::ALL
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| format!("unknown order status `{s}`"))
    }
}

/// Whether an order of this total goes through a gateway. A free order (a coupon covers
/// everything) is paid as it stands: no payment session, no gateway call.
pub fn payment_required(total: i64) -> bool {
    total > 0
}

/// The checkout saga's steps, in order. `confirm` is woken from outside (webhook,
/// signed callback, reconciliation); the others follow each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Price,
    Reserve,
    PaymentSession,
    Confirm,
    Enroll,
    Complete,
}

impl Step {
    pub const ALL: [Step; 6] = [
        Step::Price,
        Step::Reserve,
        Step::PaymentSession,
        Step::Confirm,
        Step::Enroll,
        Step::Complete,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Step::Price => "price",
            Step::Reserve => "reserve",
            Step::PaymentSession => "payment_session",
            Step::Confirm => "confirm",
            Step::Enroll => "enroll",
            Step::Complete => "complete",
        }
    }

    /// The step a successful run leads to; `None` after `complete`, and after
    /// `payment_session`, which waits for `confirm` to be woken.
    pub fn next(self) -> Option<Step> {
        match self {
            Step::Price => Some(Step::Reserve),
            Step::Reserve => Some(Step::PaymentSession),
            Step::PaymentSession => None,
            Step::Confirm => Some(Step::Enroll),
            Step::Enroll => Some(Step::Complete),
            Step::Complete => None,
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Step {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Step::ALL
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| format!("unknown step `{s}`"))
    }
}

/// Exponential backoff with full jitter and a cap: attempt 1 waits up to `base`,
/// attempt n up to `base * 2^(n-1)`, never more than `cap`. `jitter` in [0, 1) picks
/// the point in the upper half of that window, so retries of many orders that failed
/// together (a gateway outage) spread out instead of returning in a herd.
pub fn backoff(attempt: u32, base: Duration, cap: Duration, jitter: f64) -> Duration {
    let exp = attempt.saturating_sub(1).min(20);
    let window = base.saturating_mul(1u32 << exp).min(cap);
    let jitter = jitter.clamp(0.0, 1.0);
    window.mul_f64(0.5 + 0.5 * jitter)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn happy_path_is_allowed_and_nothing_goes_back() {
        use OrderStatus::*;
        assert!(Pending.can_become(AwaitingPayment));
        assert!(AwaitingPayment.can_become(Paid));
        assert!(Paid.can_become(Enrolled));
        assert!(!Enrolled.can_become(Paid));
        assert!(!Paid.can_become(AwaitingPayment));
        assert!(!AwaitingPayment.can_become(Pending));
        assert!(
            !Expired.can_become(Paid),
            "a late payment does not revive an order"
        );
        assert!(!Cancelled.can_become(Paid));
        assert!(Paid.can_become(Refunded));
        assert!(
            !Paid.can_become(Cancelled),
            "paid orders are refunded, not cancelled"
        );
    }

    #[test]
    fn terminal_statuses_only_lead_to_refunded() {
        for from in OrderStatus::ALL.into_iter().filter(|s| s.is_terminal()) {
            for to in OrderStatus::ALL {
                if from.can_become(to) {
                    assert_eq!((from, to), (OrderStatus::Enrolled, OrderStatus::Refunded));
                }
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for s in OrderStatus::ALL {
            assert_eq!(s.as_str().parse::<OrderStatus>(), Ok(s));
        }
        for s in Step::ALL {
            assert_eq!(s.as_str().parse::<Step>(), Ok(s));
        }
        assert!("shipped".parse::<OrderStatus>().is_err());
    }

    #[test]
    fn steps_chain_in_order() {
        assert_eq!(Step::Price.next(), Some(Step::Reserve));
        assert_eq!(Step::Reserve.next(), Some(Step::PaymentSession));
        assert_eq!(Step::PaymentSession.next(), None);
        assert_eq!(Step::Confirm.next(), Some(Step::Enroll));
        assert_eq!(Step::Enroll.next(), Some(Step::Complete));
        assert_eq!(Step::Complete.next(), None);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let base = Duration::from_millis(500);
        let cap = Duration::from_secs(60);
        assert_eq!(backoff(1, base, cap, 1.0), Duration::from_millis(500));
        assert_eq!(backoff(1, base, cap, 0.0), Duration::from_millis(250));
        assert_eq!(backoff(3, base, cap, 1.0), Duration::from_secs(2));
        assert_eq!(backoff(30, base, cap, 1.0), cap);
    }

    proptest! {
        #[test]
        fn backoff_stays_within_its_window(attempt in 1u32..40, jitter in 0.0f64..1.0) {
            let base = Duration::from_millis(200);
            let cap = Duration::from_secs(30);
            let d = backoff(attempt, base, cap, jitter);
            prop_assert!(d <= cap);
            prop_assert!(d >= base / 2 || d >= cap / 2);
            prop_assert!(backoff(attempt + 1, base, cap, jitter) >= d);
        }
    }
}
