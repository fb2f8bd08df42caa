//! Merging a guest cart into the cart a student already has, when the student logs in
//! to the guest cart (`POST /api/v1/cart/{token}/auth/login`).
//!
//! The rule (the guest cart survives, so the token the frontend holds keeps working;
//! the student's other cart is closed as merged):
//! 1. Union of the items of both carts, by program.
//! 2. A program in only one cart: its lines are kept as they are.
//! 3. A program in both carts with the same plan: one line, with the larger quantity.
//! 4. A program in both carts with different plans: the choice of the cart updated
//!    most recently wins (its lines for that program are kept, the other's dropped);
//!    ties go to the guest cart (the one in front of the student).
//! 5. Coupon: the surviving (guest) cart's coupon, else the other cart's; the caller
//!    re-validates it against the merged cart and drops it if no longer valid.
//!
//! Lines come out in the guest cart's order, then the other cart's remaining lines in
//! theirs. For a line kept from both carts the cohort comes from the winning side,
//! else from whichever side has one.

use chrono::{DateTime, Utc};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeLine {
    pub program_id: Uuid,
    pub plan_id: Uuid,
    pub cohort_id: Option<Uuid>,
    pub quantity: i32,
}

#[derive(Debug, Clone)]
pub struct MergeSide {
    pub lines: Vec<MergeLine>,
    pub updated_at: DateTime<Utc>,
    pub coupon_code: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged {
    pub lines: Vec<MergeLine>,
    /// To be re-validated by the caller.
    pub coupon_code: Option<String>,
}

/// Merges `other` (the student's existing cart) into `guest` (the surviving cart).
pub fn merge(guest: &MergeSide, other: &MergeSide) -> Merged {
    let guest_wins = guest.updated_at >= other.updated_at;
    let (winner, loser) = if guest_wins {
        (guest, other)
    } else {
        (other, guest)
    };
    let has_program =
        |side: &MergeSide, program: Uuid| side.lines.iter().any(|l| l.program_id == program);
    // Is this line kept, and with which quantity and cohort?
    let resolve = |line: &MergeLine, from_winner: bool| -> Option<MergeLine> {
        let opposite = if from_winner { loser } else { winner };
        if !has_program(opposite, line.program_id) {
            return Some(line.clone());
        }
        if !from_winner {
            // the winner chose for this program; a same-plan twin is merged from there
            return None;
        }
        let twin = opposite
            .lines
            .iter()
            .find(|l| l.program_id == line.program_id && l.plan_id == line.plan_id);
        Some(match twin {
            Some(t) => MergeLine {
                quantity: line.quantity.max(t.quantity),
                cohort_id: line.cohort_id.or(t.cohort_id),
                ..line.clone()
            },
            None => line.clone(),
        })
    };
    let mut lines: Vec<MergeLine> = Vec::new();
    for (side, is_guest) in [(guest, true), (other, false)] {
        let from_winner = is_guest == guest_wins;
        for line in &side.lines {
            if let Some(kept) = resolve(line, from_winner) {
                let duplicate = lines
                    .iter()
                    .any(|l| l.program_id == kept.program_id && l.plan_id == kept.plan_id);
                if !duplicate {
                    lines.push(kept);
                }
            }
        }
    }
    Merged {
        lines,
        coupon_code: guest
            .coupon_code
            .clone()
            .or_else(|| other.coupon_code.clone()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use chrono::TimeZone;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn line(program: u128, plan: u128, quantity: i32) -> MergeLine {
        MergeLine {
            program_id: id(program),
            plan_id: id(plan),
            cohort_id: None,
            quantity,
        }
    }

    fn side(lines: Vec<MergeLine>, minute: u32, coupon: Option<&str>) -> MergeSide {
        MergeSide {
            lines,
            updated_at: Utc.with_ymd_and_hms(2026, 11, 27, 10, minute, 0).unwrap(),
            coupon_code: coupon.map(str::to_owned),
        }
    }

    #[test]
    fn union_of_distinct_programs_keeps_everything_in_order() {
        let guest = side(vec![line(1, 11, 1)], 5, None);
        let other = side(vec![line(2, 21, 1), line(3, 31, 2)], 1, None);
        let merged = merge(&guest, &other);
        assert_eq!(
            merged.lines,
            vec![line(1, 11, 1), line(2, 21, 1), line(3, 31, 2)]
        );
    }

    #[test]
    fn same_program_and_plan_is_one_line_with_the_larger_quantity() {
        let guest = side(vec![line(1, 11, 1)], 1, None);
        let other = side(vec![line(1, 11, 3)], 5, None);
        assert_eq!(merge(&guest, &other).lines, vec![line(1, 11, 3)]);
        assert_eq!(merge(&other, &guest).lines, vec![line(1, 11, 3)]);
    }

    #[test]
    fn same_program_other_plan_follows_the_newer_cart() {
        let guest_newer = side(vec![line(1, 11, 1)], 9, None);
        let other_older = side(vec![line(1, 12, 1), line(2, 21, 1)], 1, None);
        assert_eq!(
            merge(&guest_newer, &other_older).lines,
            vec![line(1, 11, 1), line(2, 21, 1)]
        );
        let guest_older = side(vec![line(1, 11, 1)], 1, None);
        let other_newer = side(vec![line(1, 12, 1), line(2, 21, 1)], 9, None);
        assert_eq!(
            merge(&guest_older, &other_newer).lines,
            vec![line(1, 12, 1), line(2, 21, 1)]
        );
    }

    #[test]
    fn ties_go_to_the_guest_cart() {
        let guest = side(vec![line(1, 11, 1)], 3, None);
        let other = side(vec![line(1, 12, 1)], 3, None);
        assert_eq!(merge(&guest, &other).lines, vec![line(1, 11, 1)]);
    }

    #[test]
    fn coupon_of_the_surviving_cart_first() {
        let guest = side(vec![], 1, Some("GUEST10"));
        let other = side(vec![], 9, Some("MINE20"));
        assert_eq!(
            merge(&guest, &other).coupon_code.as_deref(),
            Some("GUEST10")
        );
        let guest = side(vec![], 1, None);
        assert_eq!(merge(&guest, &other).coupon_code.as_deref(), Some("MINE20"));
    }

    #[test]
    fn cohort_survives_from_either_side() {
        let mut with_cohort = line(1, 11, 1);
        with_cohort.cohort_id = Some(id(99));
        let guest = side(vec![line(1, 11, 2)], 9, None);
        let other = side(vec![with_cohort], 1, None);
        let merged = merge(&guest, &other);
        assert_eq!(merged.lines.len(), 1);
        assert_eq!(merged.lines[0].cohort_id, Some(id(99)));
        assert_eq!(merged.lines[0].quantity, 2);
    }
}
