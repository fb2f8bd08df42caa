//! Issued tax invoices and credit notes (tables `invoices`, `credit_notes`; the
//! document itself is the frozen `domain::invoice::TaxDocument` in `document`).

pub mod read;

pub use read::{IssuedDocument, by_number, for_order, issued_between};
