//! How much of each invoice line and tax component a credit note reverses.
//!
//! Rounding rule (the one of [`allocate`], largest remainder, in two
//! steps, all in minor units of the invoice's currency):
//! 1. The refund is split over the lines in proportion to what each line still
//!    holds (its total less what earlier credit notes reversed).
//! 2. Each line's share is split over its taxable value and its tax components
//!    (CGST and SGST, or IGST) in proportion to what each still holds.
//!
//! Floors first, the leftover minor units to the largest fractional parts, ties to
//! the earlier line or component. So the parts sum exactly to the refund, no part
//! exceeds what remains of it, a refund of everything that remains reverses
//! exactly that, and credits in sequence never exceed the invoice. The caller
//! passes what earlier credit notes reversed; the amounts returned are positive
//! and mean "reversed by this credit note". A credit note may also name whole
//! lines ([`Refund::Lines`]): it then reverses what remains of those lines.

use serde::{Deserialize, Serialize};

use crate::domain::allocation::{AllocationError, allocate};
use crate::domain::money::{MoneyError, checked_sum};
use crate::domain::pricing::PricedLine;
use crate::domain::tax::TaxComponent;

/// One invoice line as the price snapshot froze it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceLine {
    /// Ex-tax value after discount.
    pub taxable_value: i64,
    /// CGST and SGST, IGST, or zero-rated.
    pub components: Vec<TaxComponent>,
}

/// What a credit note reverses of one line (or what several have, summed).
pub type LineCredit = InvoiceLine;

impl InvoiceLine {
    /// The line of a priced snapshot; refused when it was priced without tax (no
    /// billing address), since no invoice is issued for such a price.
    pub fn from_priced(line: &PricedLine) -> Result<InvoiceLine, CreditError> {
        let taxable_value = line.taxable_value.ok_or(CreditError::Untaxed)?;
        Ok(InvoiceLine {
            taxable_value,
            components: line.tax_components.clone(),
        })
    }

    /// Taxable value plus every component.
    pub fn total(&self) -> Result<i64, CreditError> {
        Ok(checked_sum(self.amounts())?)
    }

    /// Tax: the sum of the components.
    pub fn tax(&self) -> Result<i64, CreditError> {
        Ok(checked_sum(self.components.iter().map(|c| c.amount))?)
    }

    fn amounts(&self) -> impl Iterator<Item = i64> + '_ {
        std::iter::once(self.taxable_value).chain(self.components.iter().map(|c| c.amount))
    }

    fn with_amounts(&self, amounts: &[i64]) -> InvoiceLine {
        let mut parts = amounts.iter().copied();
        let taxable_value = parts.next().unwrap_or(0);
        let components = self
            .components
            .iter()
            .zip(parts)
            .map(|(c, amount)| TaxComponent {
                kind: c.kind,
                rate: c.rate,
                amount,
            })
            .collect();
        InvoiceLine {
            taxable_value,
            components,
        }
    }
}

/// What is refunded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refund {
    /// An amount of the total including tax, in minor units, spread pro rata.
    Amount(i64),
    /// Whole lines, by their index on the invoice: what remains of each.
    Lines(Vec<usize>),
}

/// The amounts of one credit note.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditNoteAmounts {
    /// Per invoice line, in invoice order (zero for lines not touched).
    pub lines: Vec<LineCredit>,
    /// Sum of the lines' taxable values reversed.
    pub taxable_value: i64,
    /// Sum of the tax reversed.
    pub tax: i64,
    /// taxable_value + tax: the refund.
    pub total: i64,
}

/// Why a credit note cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreditError {
    /// The refund is zero or negative.
    #[error("a credit note must reverse a positive amount")]
    NotPositive,
    /// The refund is more than the invoice still holds.
    #[error("refund {refund} exceeds the {remaining} not yet credited on the invoice")]
    ExceedsRemaining {
        /// Asked for.
        refund: i64,
        /// Invoice total less earlier credit notes.
        remaining: i64,
    },
    /// A line index that is not on the invoice, or named twice.
    #[error("line {0} is not on the invoice or is named twice")]
    UnknownLine(usize),
    /// Earlier credits do not match the invoice's lines and components.
    #[error("earlier credits do not match the invoice lines")]
    ShapeMismatch,
    /// A negative amount on the invoice, or earlier credits beyond it.
    #[error("invoice amounts or earlier credits are out of range")]
    OutOfRange,
    /// The snapshot was priced without a billing address.
    #[error("the price has no tax computed, so no invoice line")]
    Untaxed,
    /// Arithmetic left the integer range.
    #[error(transparent)]
    Money(#[from] MoneyError),
    /// An internal inconsistency in the split.
    #[error(transparent)]
    Allocation(#[from] AllocationError),
}

/// What remains of each part of each line after `already`.
fn remaining(
    invoice: &[InvoiceLine],
    already: &[LineCredit],
) -> Result<Vec<Vec<i64>>, CreditError> {
    if !already.is_empty() && already.len() != invoice.len() {
        return Err(CreditError::ShapeMismatch);
    }
    invoice
        .iter()
        .enumerate()
        .map(|(i, line)| {
            let original: Vec<i64> = line.amounts().collect();
            let credited: Vec<i64> = match already.get(i) {
                None => vec![0; original.len()],
                Some(c) => {
                    let same_kinds = c.components.len() == line.components.len()
                        && c.components
                            .iter()
                            .zip(&line.components)
                            .all(|(a, b)| a.kind == b.kind);
                    if !same_kinds {
                        return Err(CreditError::ShapeMismatch);
                    }
                    c.amounts().collect()
                }
            };
            original
                .iter()
                .zip(&credited)
                .map(|(o, c)| {
                    if *o < 0 || *c < 0 || c > o {
                        Err(CreditError::OutOfRange)
                    } else {
                        Ok(o - c)
                    }
                })
                .collect()
        })
        .collect()
}

/// The amounts a credit note reverses, given the invoice lines, what earlier
/// credit notes reversed (empty for none) and the refund.
pub fn credit_note(
    invoice: &[InvoiceLine],
    already: &[LineCredit],
    refund: &Refund,
) -> Result<CreditNoteAmounts, CreditError> {
    let left = remaining(invoice, already)?;
    let line_left = left
        .iter()
        .map(|parts| checked_sum(parts.iter().copied()))
        .collect::<Result<Vec<i64>, _>>()?;
    let remaining_total = checked_sum(line_left.iter().copied())?;
    let line_shares = match refund {
        Refund::Amount(amount) => {
            if *amount <= 0 {
                return Err(CreditError::NotPositive);
            }
            if *amount > remaining_total {
                return Err(CreditError::ExceedsRemaining {
                    refund: *amount,
                    remaining: remaining_total,
                });
            }
            allocate(*amount, &line_left)?
        }
        Refund::Lines(indices) => {
            let mut shares = vec![0; invoice.len()];
            let mut named = vec![false; invoice.len()];
            for index in indices {
                match named.get_mut(*index) {
                    Some(seen) if !*seen => *seen = true,
                    _ => return Err(CreditError::UnknownLine(*index)),
                }
                shares[*index] = line_left[*index];
            }
            if checked_sum(shares.iter().copied())? <= 0 {
                return Err(CreditError::NotPositive);
            }
            shares
        }
    };
    let mut lines = Vec::with_capacity(invoice.len());
    for ((line, parts), share) in invoice.iter().zip(&left).zip(&line_shares) {
        lines.push(line.with_amounts(&allocate(*share, parts)?));
    }
    let taxable_value = checked_sum(lines.iter().map(|l| l.taxable_value))?;
    let tax = checked_sum(
        lines
            .iter()
            .map(InvoiceLine::tax)
            .collect::<Result<Vec<_>, _>>()?,
    )?;
    Ok(CreditNoteAmounts {
        lines,
        taxable_value,
        tax,
        total: taxable_value.checked_add(tax).ok_or(MoneyError::Overflow)?,
    })
}

/// Earlier credits plus one more credit note: the `already` of the next one.
pub fn add_credit(
    invoice: &[InvoiceLine],
    already: &[LineCredit],
    note: &CreditNoteAmounts,
) -> Result<Vec<LineCredit>, CreditError> {
    invoice
        .iter()
        .zip(&note.lines)
        .enumerate()
        .map(|(i, (line, new))| {
            let old: Vec<i64> = match already.get(i) {
                Some(c) => c.amounts().collect(),
                None => vec![0; new.components.len() + 1],
            };
            let sums = old
                .iter()
                .zip(new.amounts())
                .map(|(a, b)| {
                    a.checked_add(b)
                        .ok_or(CreditError::Money(MoneyError::Overflow))
                })
                .collect::<Result<Vec<i64>, _>>()?;
            Ok(line.with_amounts(&sums))
        })
        .collect()
}

#[cfg(test)]
#[path = "credit_tests.rs"]
mod tests;
