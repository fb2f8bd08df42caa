//! The printable HTML page of a document: one self-contained file (inline CSS, no
//! script, no external resource), A4 with print styles, every value escaped.

use std::fmt::Write;

use super::view::{View, view};
use crate::domain::invoice::TaxDocument;

const STYLE: &str = "\
@page { size: A4; margin: 14mm; }
* { box-sizing: border-box; }
body { font-family: Helvetica, Arial, sans-serif; font-size: 10pt; color: #111; margin: 0; }
main { max-width: 190mm; margin: 0 auto; padding: 8mm 0; }
h1 { font-size: 18pt; margin: 0 0 4mm; letter-spacing: 0.05em; }
h2 { font-size: 10pt; margin: 0 0 1mm; text-transform: uppercase; color: #444; }
.facts { border-collapse: collapse; margin-bottom: 5mm; }
.facts th { text-align: left; padding: 0.5mm 4mm 0.5mm 0; font-weight: normal; color: #444; }
.facts td { padding: 0.5mm 0; }
.parties { display: flex; gap: 10mm; margin-bottom: 5mm; }
.parties section { flex: 1; }
.parties p { margin: 0; }
.lines { width: 100%; border-collapse: collapse; font-size: 8.5pt; }
.lines th, .lines td { border: 0.3mm solid #999; padding: 1mm; vertical-align: top; }
.lines th { background: #eee; }
.num { text-align: right; white-space: nowrap; }
.totals { margin: 3mm 0 0 auto; border-collapse: collapse; }
.totals th { text-align: left; font-weight: normal; padding: 0.5mm 6mm 0.5mm 0; }
.totals td { text-align: right; }
.totals tr:last-child th, .totals tr:last-child td { font-weight: bold; border-top: 0.3mm solid #111; }
.words { font-style: italic; }
.caption { color: #444; margin: 0 0 1mm; }
@media print {
  main { padding: 0; }
  .lines thead { display: table-header-group; }
  .lines tr { page-break-inside: avoid; }
}
";

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(ch),
        }
    }
    out
}

fn pairs(out: &mut String, class: &str, rows: &[(String, String)]) {
    let _ = writeln!(out, "<table class=\"{class}\">");
    for (label, value) in rows {
        let _ = writeln!(
            out,
            "<tr><th>{}</th><td>{}</td></tr>",
            escape(label),
            escape(value)
        );
    }
    out.push_str("</table>\n");
}

fn render(v: &View) -> String {
    let mut out = String::with_capacity(8 * 1024);
    let title = format!(
        "{} {}",
        v.title,
        v.facts.first().map_or("", |(_, n)| n.as_str())
    );
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n<main>\n<h1>{}</h1>\n",
        escape(&title),
        escape(v.title)
    );
    pairs(&mut out, "facts", &v.facts);
    out.push_str("<div class=\"parties\">\n");
    for party in [&v.supplier, &v.recipient] {
        let _ = writeln!(out, "<section>\n<h2>{}</h2>", escape(party.heading));
        for line in &party.lines {
            let _ = writeln!(out, "<p>{}</p>", escape(line));
        }
        out.push_str("</section>\n");
    }
    out.push_str("</div>\n");
    let _ = writeln!(out, "<p class=\"caption\">{}</p>", escape(&v.table_caption));
    out.push_str("<table class=\"lines\">\n<thead><tr>");
    for c in &v.columns {
        let class = if c.numeric { " class=\"num\"" } else { "" };
        let _ = write!(out, "<th{class}>{}</th>", escape(&c.title));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for row in &v.rows {
        out.push_str("<tr>");
        for (cell, c) in row.iter().zip(&v.columns) {
            let class = if c.numeric { " class=\"num\"" } else { "" };
            let _ = write!(out, "<td{class}>{}</td>", escape(cell));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
    pairs(&mut out, "totals", &v.totals);
    let _ = writeln!(out, "<p class=\"words\">{}</p>", escape(&v.words));
    if let Some(inr) = &v.inr {
        let _ = writeln!(
            out,
            "<section class=\"inr\">\n<h2>{}</h2>",
            escape(&inr.heading)
        );
        pairs(&mut out, "totals", &inr.rows);
        let _ = writeln!(
            out,
            "<p class=\"words\">{}</p>\n</section>",
            escape(&inr.words)
        );
    }
    if !v.notes.is_empty() {
        out.push_str("<section class=\"notes\">\n<h2>Notes</h2>\n");
        for note in &v.notes {
            let _ = writeln!(out, "<p>{}</p>", escape(note));
        }
        out.push_str("</section>\n");
    }
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

/// The printable, self-contained HTML page of `doc`.
pub fn html(doc: &TaxDocument) -> String {
    render(&view(doc))
}
