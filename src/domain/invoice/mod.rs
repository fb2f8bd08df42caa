//! Rules for GST tax invoices and credit notes (issue 29): the Indian financial
//! year, document numbering, amounts in words, the pro-rata reversal of a
//! refund, the recipient's details and building the documents themselves. Pure: the store keeps the counters and the issued documents and calls
//! these functions. The rules are written out in docs/architecture.md
//! ("Invoices (rules)").

pub mod build;
pub mod credit;
pub mod credit_document;
pub mod document;
pub mod financial_year;
pub mod recipient;
pub mod serial;
pub mod words;

pub use build::{DocumentError, InvoiceInput, SacCodes, is_service_sac, tax_invoice};
pub use credit::{
    CreditError, CreditNoteAmounts, InvoiceLine, LineCredit, Refund, add_credit, credit_note,
};
pub use credit_document::{
    CreditInput, credit_note_document, credited, document_lines, refund_to_credit,
};
pub use document::{
    DocumentLine, DocumentTotals, DocumentType, InrLine, InrValues, InvoiceReference,
    PlaceOfSupply, Recipient, StateRef, Supplier, SupplyType, TaxDocument,
};
pub use financial_year::{FinancialYear, FinancialYearError, india_date};
pub use recipient::{BillingDetails, RecipientError};
pub use serial::{DocumentKind, DocumentNumber, SerialError, Series};
pub use words::amount_in_words;
