//! `checkout admin invoices list|show|export`: the issued tax invoices and credit
//! notes, one by number in any of its formats (JSON, HTML, PDF, e-invoice JSON), and
//! the GSTR-1 summary of a period as CSV ([`export`]). Read-only: issued documents are
//! never changed.

mod export;

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::NaiveDate;
use clap::{Subcommand, ValueEnum};
use serde_json::json;

use super::Admin;
use super::output::{Table, emit};
use crate::documents::view::{amount, date};
use crate::documents::{einvoice, html, pdf};
use crate::domain::Currency;
use crate::store::invoices::{self, IssuedDocument};

#[derive(Debug, Subcommand)]
pub enum InvoicesCommand {
    /// Invoices and credit notes issued in a period (India dates, inclusive), in issue
    /// order; without dates, all.
    List {
        /// First day, YYYY-MM-DD.
        #[arg(long, value_parser = parse_date)]
        from: Option<NaiveDate>,
        /// Last day, YYYY-MM-DD.
        #[arg(long, value_parser = parse_date)]
        to: Option<NaiveDate>,
    },
    /// One invoice or credit note by its number: a summary, or the document in a format.
    Show {
        /// e.g. KA/I2627/000042
        number: String,
        /// json (the document as issued), html (printable page), pdf, einvoice (the
        /// IRN schema INV-01 JSON; B2B and export documents only, and only with
        /// `invoices.einvoice = true`).
        #[arg(long, value_enum)]
        format: Option<Format>,
        /// Write to FILE instead of stdout (a PDF needs it unless stdout is redirected).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// The GSTR-1 summary of a period as CSV: B2B, B2CL, B2CS, EXP, CDNR, CDNUR rows in
    /// INR (docs/operations.md, "Invoices").
    Export {
        /// First day, YYYY-MM-DD.
        #[arg(long, value_parser = parse_date)]
        from: NaiveDate,
        /// Last day, YYYY-MM-DD.
        #[arg(long, value_parser = parse_date)]
        to: NaiveDate,
        #[arg(long, value_enum, default_value = "csv")]
        format: ExportFormat,
        /// Write to FILE instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// The formats of one document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Json,
    Html,
    Pdf,
    Einvoice,
}

/// The formats of the period summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Csv,
}

/// A date as `YYYY-MM-DD`, or a sentence saying what was expected.
pub fn parse_date(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| format!("`{text}` is not a date like 2026-12-31 (YYYY-MM-DD)"))
}

/// Refuses a range that ends before it starts.
fn check_range(from: Option<NaiveDate>, to: Option<NaiveDate>) -> anyhow::Result<()> {
    if let (Some(from), Some(to)) = (from, to)
        && from > to
    {
        anyhow::bail!("--from {from} is after --to {to}: the range is empty");
    }
    Ok(())
}

pub async fn run(admin: &Admin, command: InvoicesCommand) -> anyhow::Result<()> {
    match command {
        InvoicesCommand::List { from, to } => list(admin, from, to).await,
        InvoicesCommand::Show {
            number,
            format,
            out,
        } => show(admin, &number, format, out.as_deref()).await,
        InvoicesCommand::Export {
            from,
            to,
            format: ExportFormat::Csv,
            out,
        } => {
            check_range(Some(from), Some(to))?;
            let mut conn = admin.pool.acquire().await?;
            let issued = invoices::issued_between(&mut conn, Some(from), Some(to)).await?;
            let (csv, rows) = export::csv(&issued)?;
            write_out(out.as_deref(), csv.as_bytes(), false)?;
            if let Some(path) = out {
                eprintln!(
                    "{} documents, {rows} rows -> {}",
                    issued.len(),
                    path.display()
                );
            }
            Ok(())
        }
    }
}

fn currency(doc: &IssuedDocument) -> Currency {
    doc.document.currency
}

async fn list(admin: &Admin, from: Option<NaiveDate>, to: Option<NaiveDate>) -> anyhow::Result<()> {
    check_range(from, to)?;
    let mut conn = admin.pool.acquire().await?;
    let docs = invoices::issued_between(&mut conn, from, to).await?;
    let out: Vec<_> = docs
        .iter()
        .map(|d| {
            json!({
                "kind": d.kind,
                "number": d.number,
                "date": d.document.issue_date,
                "issued_at": d.issued_at,
                "order_id": d.order_id,
                "supply_type": d.supply_type,
                "recipient_gstin": d.recipient_gstin,
                "place_of_supply": d.place_of_supply,
                "currency": d.currency,
                "taxable_value": d.taxable_value,
                "tax": d.tax,
                "total": d.total,
                "inr_total": d.inr_total,
                "reference": d.document.reference.as_ref().map(|r| &r.number),
            })
        })
        .collect();
    emit(admin.json, &out, || {
        let mut t = Table::new(&[
            "number",
            "kind",
            "date",
            "supply",
            "recipient GSTIN",
            "place",
            "currency",
            "taxable",
            "tax",
            "total",
            "INR total",
        ]);
        for d in &docs {
            let cur = currency(d);
            t.row([
                d.number.clone(),
                d.kind.clone(),
                d.document.issue_date.to_string(),
                d.supply_type.clone(),
                d.recipient_gstin.clone().unwrap_or_else(|| "-".to_owned()),
                d.place_of_supply.clone(),
                d.currency.clone(),
                amount(d.taxable_value, cur),
                amount(d.tax, cur),
                amount(d.total, cur),
                amount(d.inr_total, Currency::INR),
            ]);
        }
        t.print();
    })
}

async fn show(
    admin: &Admin,
    number: &str,
    format: Option<Format>,
    out: Option<&Path>,
) -> anyhow::Result<()> {
    if format == Some(Format::Einvoice) && !admin.settings.invoices.einvoice {
        anyhow::bail!(
            "the e-invoice JSON is switched off: set invoices.einvoice = true \
             (CHECKOUT__INVOICES__EINVOICE=true) to produce it"
        );
    }
    let mut conn = admin.pool.acquire().await?;
    let issued = invoices::by_number(&mut conn, number.trim())
        .await?
        .ok_or_else(|| anyhow::anyhow!("no invoice or credit note numbered `{number}`"))?;
    let doc = &issued.document.0;
    let format = match (format, admin.json) {
        (Some(f), _) => f,
        (None, true) => Format::Json,
        (None, false) => {
            print!("{}", summary(&issued));
            return Ok(());
        }
    };
    let bytes = match format {
        Format::Json => {
            let mut text = serde_json::to_string_pretty(doc)?;
            text.push('\n');
            text.into_bytes()
        }
        Format::Html => html(doc).into_bytes(),
        Format::Pdf => pdf(doc)?,
        Format::Einvoice => {
            let mut text = serde_json::to_string_pretty(&einvoice(doc)?)?;
            text.push('\n');
            text.into_bytes()
        }
    };
    write_out(out, &bytes, format == Format::Pdf)
}

/// The document in a few lines and its line table.
fn summary(issued: &IssuedDocument) -> String {
    let doc = &issued.document.0;
    let cur = doc.currency;
    let mut text = format!(
        "{} {} of {} (order {})\nsupply: {}  place of supply: {}\nrecipient: {}{}\n",
        issued.kind,
        doc.number,
        date(doc.issue_date),
        doc.order_id,
        issued.supply_type,
        crate::documents::view::place_of_supply(doc),
        doc.recipient.name,
        doc.recipient
            .gstin
            .as_ref()
            .map(|g| format!(" (GSTIN {g})"))
            .unwrap_or_default(),
    );
    if let Some(r) = &doc.reference {
        text.push_str(&format!(
            "against invoice {} of {}\n",
            r.number,
            date(r.date)
        ));
    }
    let mut t = Table::new(&["#", "description", "SAC", "taxable", "tax", "total"]);
    for (i, line) in doc.lines.iter().enumerate() {
        t.row([
            (i + 1).to_string(),
            line.description.clone(),
            line.sac.clone(),
            amount(line.taxable_value, cur),
            amount(line.tax, cur),
            amount(line.total, cur),
        ]);
    }
    text.push_str(&t.render());
    text.push_str(&format!(
        "total {} (tax {}){}\n",
        crate::documents::view::money(doc.totals.total, cur),
        amount(doc.totals.tax, cur),
        doc.inr
            .as_ref()
            .map(|i| format!(
                ", {} at {} {} per INR",
                crate::documents::view::money(i.totals.total, Currency::INR),
                i.rate.normalize(),
                cur.code()
            ))
            .unwrap_or_default()
    ));
    text
}

/// Writes to `path`, or stdout; binary output is not sent to a terminal.
fn write_out(path: Option<&Path>, bytes: &[u8], binary: bool) -> anyhow::Result<()> {
    match path {
        Some(path) => {
            std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            if binary && stdout.is_terminal() {
                anyhow::bail!("a PDF is binary: pass --out FILE or redirect stdout");
            }
            stdout.write_all(bytes)?;
            stdout.flush()?;
            Ok(())
        }
    }
}
