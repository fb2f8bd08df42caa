//! GST tax invoices and credit notes as issued (tables `invoices`, `credit_notes`; the
//! document itself is the frozen `domain::invoice::TaxDocument` in `document`): taking
//! a gapless number and inserting a document (`issue`), what one order's credit notes
//! are computed from (`order`), and reading documents back (`read`). Issued rows are
//! immutable (a trigger refuses update, delete and truncate).

mod issue;
mod order;
pub mod read;

pub use issue::{IssueError, insert_credit_note, insert_invoice, take_number};
pub use order::{Issued, ProcessedRefund, captured, invoice_of, processed_refunds};
pub use read::{IssuedDocument, by_number, for_order, issued_between};
