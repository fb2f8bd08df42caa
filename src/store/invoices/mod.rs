//! GST tax invoices and credit notes as issued: taking a gapless number and inserting
//! a document (`issue`), and the documents and refunds of one order (`order`).
//! Issued rows are immutable (a trigger refuses update, delete and truncate).

mod issue;
mod order;

pub use issue::{IssueError, insert_credit_note, insert_invoice, take_number};
pub use order::{
    Issued, ProcessedRefund, captured, credit_notes_of, invoice_of, processed_refunds,
};
