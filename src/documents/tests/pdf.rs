use super::{ALL, doc};
use crate::documents::pdf;
use crate::documents::view::{amount, money};

/// Parses the PDF and extracts its text as a reader would, page by page.
fn text(bytes: &[u8]) -> (usize, String) {
    assert!(bytes.starts_with(b"%PDF-"), "not a PDF");
    let parsed = lopdf::Document::load_mem(bytes).expect("the PDF parses");
    let pages: Vec<u32> = parsed.get_pages().keys().copied().collect();
    let text = parsed.extract_text(&pages).expect("text extracts");
    (pages.len(), text)
}

#[test]
fn text_holds_number_gstins_and_totals() {
    for name in ALL {
        let d = doc(name);
        let (pages, text) = text(&pdf(&d).unwrap());
        assert_eq!(pages, 1, "{name}");
        let mut expected = vec![
            d.number.clone(),
            d.supplier.gstin.clone(),
            d.supplier.legal_name.clone(),
            d.recipient.name.clone(),
            money(d.totals.total, d.currency),
            amount(d.totals.taxable_value, d.currency),
            amount(d.totals.tax, d.currency),
            d.issue_date.format("%d %b %Y").to_string(),
        ];
        if let Some(g) = &d.recipient.gstin {
            expected.push(g.clone());
        }
        for line in &d.lines {
            expected.push(line.sac.clone());
            expected.push(amount(line.total, d.currency));
        }
        for wanted in expected {
            assert!(text.contains(&wanted), "{name}: `{wanted}` not in\n{text}");
        }
    }
    let (_, note) = text(&pdf(&doc("credit_note")).unwrap());
    assert!(note.contains("CREDIT NOTE") && note.contains("KA/I2627/000002"));
    let (_, export) = text(&pdf(&doc("export_usd")).unwrap());
    assert!(export.contains("18,750.00 INR") && export.contains("0.012"));
}

#[test]
fn long_tables_run_over_pages_with_their_header() {
    let mut d = doc("intra_b2c");
    let line = d.lines[0].clone();
    d.lines = (0..150)
        .map(|i| {
            let mut l = line.clone();
            l.description = format!("Line item number {i} with a description long enough to wrap");
            l
        })
        .collect();
    let (pages, text) = text(&pdf(&d).unwrap());
    assert!(pages >= 3, "{pages} pages");
    assert!(text.contains("Line item number 0 "));
    assert!(text.contains("Line item number 149 "));
    assert!(text.contains(&format!("page {pages} of {pages}")));
    // The header row starts every page's part of the table.
    assert!(text.matches("Taxable").count() >= pages, "{text}");
}

#[test]
fn rupee_sign_and_unicode_stay_readable() {
    let mut d = doc("intra_b2c");
    d.lines[0].description = "Fee ₹500 – café".to_owned();
    d.recipient.name = "Āsha Rao".to_owned();
    let (_, text) = text(&pdf(&d).unwrap());
    assert!(text.contains("Fee Rs.500"), "{text}");
    assert!(text.contains("café"), "{text}");
    assert!(text.contains("?sha Rao"), "{text}");
}
