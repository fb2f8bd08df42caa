use super::{ALL, doc};
use crate::documents::html;
use crate::documents::view::{amount, money};
use crate::domain::Currency;

#[test]
fn shows_every_value_of_each_document() {
    for name in ALL {
        let d = doc(name);
        let page = html(&d);
        let mut expected = vec![
            d.number.clone(),
            d.issue_date.format("%d %b %Y").to_string(),
            d.financial_year.clone(),
            d.supplier.legal_name.clone(),
            d.supplier.gstin.clone(),
            format!(
                "State: {} ({})",
                d.supplier.state.name, d.supplier.state.code
            ),
            d.recipient.name.clone(),
            "Reverse charge".to_owned(),
            d.totals.total_in_words.clone(),
            money(d.totals.total, d.currency),
            amount(d.totals.taxable_value, d.currency),
            amount(d.totals.tax, d.currency),
        ];
        expected.extend(d.supplier.address.iter().cloned());
        expected.extend(d.recipient.address.iter().cloned());
        expected.extend(d.notes.iter().cloned());
        for line in &d.lines {
            expected.push(line.description.clone());
            expected.push(line.sac.clone());
            expected.push(amount(line.taxable_value, d.currency));
            expected.push(amount(line.total, d.currency));
            for c in &line.components {
                expected.push(amount(c.amount, d.currency));
            }
            if let (Some(q), Some(u), Some(disc)) = (line.quantity, line.unit_price, line.discount)
            {
                assert!(
                    page.contains(&format!("<td class=\"num\">{q}</td>")),
                    "{name}: qty"
                );
                expected.push(amount(u, d.currency));
                expected.push(amount(disc, d.currency));
            }
        }
        match &d.place_of_supply.state {
            Some(s) => expected.push(format!("{} ({})", s.name, s.code)),
            None => expected.push(d.place_of_supply.country.clone()),
        }
        if let Some(g) = &d.recipient.gstin {
            expected.push(format!("GSTIN: {g}"));
        }
        for text in expected {
            let escaped = crate::documents::html::escape(&text);
            assert!(page.contains(&escaped), "{name}: `{escaped}` missing");
        }
    }
}

#[test]
fn titles_taxes_and_references() {
    let intra = html(&doc("intra_b2c"));
    assert!(intra.contains("<h1>TAX INVOICE</h1>"));
    assert!(intra.contains("CGST rate") && intra.contains("SGST rate") && intra.contains("9%"));
    assert!(!intra.contains("IGST rate"));
    assert!(intra.contains("Unit price includes GST"));
    let inter = html(&doc("inter_b2b"));
    assert!(inter.contains("IGST rate") && inter.contains("18%"));
    assert!(!inter.contains("CGST rate"));
    let note = html(&doc("credit_note"));
    assert!(note.contains("<h1>CREDIT NOTE</h1>"));
    assert!(note.contains("KA/I2627/000002 of 11 Dec 2026"));
    assert!(note.contains("One seat cancelled before the cohort started"));
    assert!(note.contains("Total credited"));
}

#[test]
fn foreign_currency_shows_inr_values_at_the_frozen_rate() {
    let d = doc("export_usd");
    let page = html(&d);
    assert!(page.contains("Amounts in USD"));
    assert!(page.contains("225.00 USD"));
    assert!(page.contains("1 INR = 0.012 USD"));
    assert!(page.contains("18,750.00 INR"));
    assert!(page.contains("Rupees Eighteen Thousand Seven Hundred Fifty Only"));
    assert!(page.contains("Outside India: US"));
    assert!(page.contains("Export of services, zero-rated"));
    let inr = html(&doc("intra_b2c"));
    assert!(!inr.contains("Values in INR"));
}

#[test]
fn escapes_hostile_text() {
    let mut d = doc("inter_b2b");
    d.lines[0].description = "<script>alert(\"x\")</script> & 'co'".to_owned();
    d.recipient.name = "<img src=x onerror=alert(1)>".to_owned();
    d.notes.push("</main><iframe>".to_owned());
    let page = html(&d);
    assert!(!page.contains("<script>"));
    assert!(!page.contains("<img"));
    assert!(!page.contains("<iframe>"));
    assert!(page.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;co&#39;"));
    assert!(page.contains("&lt;img src=x onerror=alert(1)&gt;"));
}

#[test]
fn is_self_contained_and_printable() {
    let page = html(&doc("export_usd"));
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.contains("<meta charset=\"utf-8\">"));
    assert!(page.contains("@page { size: A4"));
    assert!(page.contains("@media print"));
    for outside in ["http://", "https://", "<script", "<link", "src="] {
        assert!(!page.contains(outside), "{outside}");
    }
    assert_eq!(html(&doc("export_usd")), page, "deterministic");
    assert_eq!(amount(100_000, Currency::INR), "1,000.00");
}
