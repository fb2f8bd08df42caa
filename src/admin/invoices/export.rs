//! `invoices export --format csv`: the GSTR-1 rows (`documents::gstr1`) of the
//! documents a period holds.

use crate::documents::gstr1::{self, Entry};
use crate::store::invoices::IssuedDocument;

/// The CSV and its number of data rows.
pub fn csv(issued: &[IssuedDocument]) -> anyhow::Result<(String, usize)> {
    let entries: Vec<Entry> = issued
        .iter()
        .map(|d| Entry {
            document: d.document.0.clone(),
            invoice_value: d.invoice_inr_total,
        })
        .collect();
    let rows = gstr1::rows(&entries)?;
    Ok((gstr1::csv(&rows), rows.len()))
}
