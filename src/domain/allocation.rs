//! Splitting one cart-level discount across lines.
//!
//! Why largest remainder: every line needs its own discount (tax is computed per
//! line on the discounted value, refunds are per line), and the line discounts
//! must add up to the cart discount to the paisa. Proportional shares are
//! floored, and the few leftover minor units go to the lines with the largest
//! fractional parts; ties go to the earlier line. The result depends only on the
//! inputs, so re-pricing the same cart always gives the same split.

/// Splits `total` across `weights` proportionally (largest-remainder method).
///
/// Guarantees, for `0 <= total <= sum(weights)` and non-negative weights:
/// the shares sum to `total`, every share is in `0..=weight`, and a zero weight
/// gets zero. A negative weight or a total outside that range is refused, never
/// clamped: it would mean the caller computed a discount larger than the lines.
pub fn allocate(total: i64, weights: &[i64]) -> Result<Vec<i64>, AllocationError> {
    if weights.iter().any(|w| *w < 0) {
        return Err(AllocationError::NegativeWeight);
    }
    let sum: i128 = weights.iter().map(|w| i128::from(*w)).sum();
    if total < 0 || i128::from(total) > sum {
        return Err(AllocationError::TotalOutOfRange { total });
    }
    if total == 0 {
        return Ok(vec![0; weights.len()]);
    }
    let total_wide = i128::from(total);
    let mut shares = Vec::with_capacity(weights.len());
    let mut remainders = Vec::with_capacity(weights.len());
    for (index, weight) in weights.iter().enumerate() {
        // i64 * i64 fits in i128; sum > 0 here because total > 0 and total <= sum.
        let numerator = total_wide * i128::from(*weight);
        shares.push(numerator / sum);
        remainders.push((numerator % sum, index));
    }
    let assigned: i128 = shares.iter().sum();
    let leftover = usize::try_from(total_wide - assigned).map_err(|_| AllocationError::Overflow)?;
    // Largest remainder first; equal remainders keep line order (stable key).
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, index) in remainders.iter().take(leftover) {
        if let Some(share) = shares.get_mut(*index) {
            *share += 1;
        }
    }
    shares
        .into_iter()
        .map(|s| i64::try_from(s).map_err(|_| AllocationError::Overflow))
        .collect()
}

/// Why an allocation was refused (always a programming error upstream).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllocationError {
    /// A line amount was negative.
    #[error("cannot allocate over a negative line amount")]
    NegativeWeight,
    /// The discount was negative or larger than the lines it is spread over.
    #[error("discount {total} is outside 0..=sum of line amounts")]
    TotalOutOfRange {
        /// The refused total.
        total: i64,
    },
    /// An intermediate left the integer range.
    #[error("allocation overflow")]
    Overflow,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use proptest::prelude::*;

    #[test]
    fn splits_proportionally_when_exact() {
        assert_eq!(allocate(30, &[100, 200]).unwrap(), vec![10, 20]);
    }

    #[test]
    fn leftover_goes_to_largest_remainder() {
        // 10 over [10, 10, 10]: 3.33 each, floors 3+3+3 = 9, one left; equal
        // remainders -> first line.
        assert_eq!(allocate(10, &[10, 10, 10]).unwrap(), vec![4, 3, 3]);
        // 2 over [10, 10, 10]: 0.67 each, floors 0, two left -> lines 1 and 2.
        assert_eq!(allocate(2, &[10, 10, 10]).unwrap(), vec![1, 1, 0]);
        // 10 over [2, 3, 5] weights sum 10 -> exact 2, 3, 5.
        assert_eq!(allocate(10, &[2, 3, 5]).unwrap(), vec![2, 3, 5]);
        // 7 over [3, 3, 4]: exact 2.1, 2.1, 2.8 -> floors 2, 2, 2; one left to
        // the 0.8 remainder (third line), not to the first line.
        assert_eq!(allocate(7, &[3, 3, 4]).unwrap(), vec![2, 2, 3]);
    }

    #[test]
    fn zero_weights_get_nothing() {
        assert_eq!(allocate(5, &[0, 10, 0]).unwrap(), vec![0, 5, 0]);
        assert_eq!(allocate(0, &[]).unwrap(), Vec::<i64>::new());
    }

    #[test]
    fn refuses_out_of_range() {
        assert_eq!(
            allocate(11, &[5, 5]),
            Err(AllocationError::TotalOutOfRange { total: 11 })
        );
        assert_eq!(
            allocate(-1, &[5]),
            Err(AllocationError::TotalOutOfRange { total: -1 })
        );
        assert_eq!(allocate(1, &[-1, 5]), Err(AllocationError::NegativeWeight));
        assert!(allocate(1, &[]).is_err());
    }

    #[test]
    fn handles_extreme_values() {
        let w = [i64::MAX, i64::MAX];
        assert_eq!(
            allocate(i64::MAX, &w).unwrap(),
            vec![i64::MAX / 2 + 1, i64::MAX / 2]
        );
    }

    proptest! {
        #[test]
        fn shares_sum_and_stay_in_bounds(
            weights in proptest::collection::vec(0i64..10_000_000, 1..8),
            frac in 0u32..=1000,
        ) {
            let sum: i64 = weights.iter().sum();
            let total = sum * i64::from(frac) / 1000;
            let shares = allocate(total, &weights).unwrap();
            prop_assert_eq!(shares.iter().sum::<i64>(), total);
            for (s, w) in shares.iter().zip(&weights) {
                prop_assert!(*s >= 0 && s <= w);
            }
        }

        #[test]
        fn shares_are_within_one_of_exact(
            weights in proptest::collection::vec(1i64..1_000_000, 1..6),
            frac in 0u32..=1000,
        ) {
            let sum: i64 = weights.iter().sum();
            let total = sum * i64::from(frac) / 1000;
            let shares = allocate(total, &weights).unwrap();
            for (s, w) in shares.iter().zip(&weights) {
                let exact_floor = i128::from(total) * i128::from(*w) / i128::from(sum);
                let s = i128::from(*s);
                prop_assert!(s == exact_floor || s == exact_floor + 1);
            }
        }
    }
}
