//! The outputs of an issued tax invoice or credit note ([`TaxDocument`]): a printable
//! HTML page ([`html`]), the same content as a PDF ([`pdf`]), the e-invoice JSON of
//! the IRN schema INV-01 ([`einvoice`]) and the GSTR-1 summary rows the finance team
//! files monthly ([`gstr1`]). Pure: each reads the document as it was issued and
//! frozen (never the order or the catalog), so a document prints the same forever.
//!
//! One place for each rule: what is printed, in which words and order, is
//! [`view::View`] (HTML and PDF both render it, so they cannot disagree); a line's
//! INR values split by tax is [`inr::inr_lines`] (e-invoice and GSTR-1 both read it).

pub mod einvoice;
pub mod gstr1;
pub mod html;
pub mod inr;
pub mod pdf;
pub mod view;

pub use einvoice::einvoice;
pub use html::html;
pub use pdf::pdf;

use crate::domain::allocation::AllocationError;
use crate::domain::money::MoneyError;

/// Why an output cannot be produced from a document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    /// The e-invoice (IRN) is for supplies to registered businesses and exports only.
    #[error("an e-invoice is only for B2B and export documents; {0} is a B2C document")]
    NotEinvoiceable(String),
    /// A field the e-invoice schema requires is missing or out of its bounds.
    #[error("e-invoice: {0}")]
    Einvoice(String),
    /// The document's amounts do not add up (INR values missing or inconsistent).
    #[error("document {number}: {reason}")]
    Inconsistent {
        /// Its number.
        number: String,
        /// What does not add up.
        reason: String,
    },
    /// Arithmetic left the integer range.
    #[error(transparent)]
    Money(#[from] MoneyError),
    /// A pro-rata split was refused.
    #[error(transparent)]
    Allocation(#[from] AllocationError),
}

#[cfg(test)]
mod tests;
