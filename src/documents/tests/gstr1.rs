use rust_decimal::Decimal;

use super::doc;
use crate::documents::gstr1::{B2CL_LIMIT, Entry, Row, Section, csv, rows};
use crate::domain::invoice::{DocumentType, InvoiceReference, SupplyType, TaxDocument};

fn entry(document: TaxDocument) -> Entry {
    let invoice_value = document
        .inr
        .as_ref()
        .map_or(document.totals.total, |i| i.totals.total);
    Entry {
        document,
        invoice_value,
    }
}

fn of(rows: &[Row], section: Section) -> Vec<&Row> {
    rows.iter().filter(|r| r.section == section).collect()
}

#[test]
fn sections_of_the_four_documents() {
    let all = rows(&["intra_b2c", "inter_b2b", "export_usd", "credit_note"].map(|n| entry(doc(n))))
        .unwrap();
    let sections: Vec<Section> = all.iter().map(|r| r.section).collect();
    assert_eq!(
        sections,
        [Section::B2b, Section::B2cs, Section::Exp, Section::Cdnr]
    );
    let b2b = of(&all, Section::B2b)[0];
    assert_eq!(b2b.recipient_gstin.as_deref(), Some("27AAPFU0939F1ZV"));
    assert_eq!(b2b.number.as_deref(), Some("KA/I2627/000002"));
    assert_eq!(b2b.value, Some(637_200));
    assert_eq!(b2b.place_of_supply, "27-Maharashtra");
    assert_eq!(b2b.supply, "INTER");
    assert_eq!(b2b.rate, Decimal::from(18));
    assert_eq!(
        (b2b.taxable_value, b2b.igst, b2b.cgst, b2b.sgst),
        (540_000, 97_200, 0, 0)
    );
    let b2cs = of(&all, Section::B2cs)[0];
    assert_eq!(b2cs.place_of_supply, "29-Karnataka");
    assert_eq!(b2cs.supply, "INTRA");
    assert_eq!(b2cs.number, None);
    assert_eq!(
        (b2cs.taxable_value, b2cs.cgst, b2cs.sgst),
        (132_373, 11_914, 11_913)
    );
    let exp = of(&all, Section::Exp)[0];
    assert_eq!(exp.supply, "EXPWOP");
    assert_eq!(exp.value, Some(1_875_000));
    assert_eq!(exp.taxable_value, 1_875_000);
    assert_eq!(exp.rate, Decimal::ZERO);
    assert_eq!(exp.place_of_supply, "US");
    let cdnr = of(&all, Section::Cdnr)[0];
    assert_eq!(cdnr.note_type, Some("C"));
    assert_eq!(cdnr.original_number.as_deref(), Some("KA/I2627/000002"));
    assert_eq!(cdnr.value, Some(-127_440));
    assert_eq!((cdnr.taxable_value, cdnr.igst), (-108_000, -19_440));
}

/// A credit note of `amount` paise (taxable, cgst, sgst) against the B2C invoice.
fn b2c_note(invoice: &TaxDocument, taxable: i64, cgst: i64, sgst: i64) -> TaxDocument {
    let mut note = invoice.clone();
    note.document_type = DocumentType::CreditNote;
    note.number = "KA/C2627/000009".to_owned();
    note.reference = Some(InvoiceReference {
        number: invoice.number.clone(),
        date: invoice.issue_date,
    });
    let mut line = note.lines[0].clone();
    line.taxable_value = taxable;
    line.components[0].amount = cgst;
    line.components[1].amount = sgst;
    line.tax = cgst + sgst;
    line.total = taxable + cgst + sgst;
    note.lines = vec![line];
    note
}

#[test]
fn b2c_credit_notes_net_into_b2cs() {
    let invoice = doc("intra_b2c");
    let note = b2c_note(&invoice, 10_000, 900, 900);
    let all = rows(&[
        entry(invoice.clone()),
        Entry {
            document: note,
            invoice_value: invoice.totals.total,
        },
    ])
    .unwrap();
    assert_eq!(all.len(), 1);
    let b2cs = &all[0];
    assert_eq!(b2cs.section, Section::B2cs);
    assert_eq!(
        (b2cs.taxable_value, b2cs.cgst, b2cs.sgst),
        (132_373 - 10_000, 11_914 - 900, 11_913 - 900)
    );
}

#[test]
fn large_inter_state_b2c_is_b2cl_and_its_notes_cdnur() {
    let mut invoice = doc("inter_b2b");
    invoice.supply_type = SupplyType::B2c;
    invoice.recipient.gstin = None;
    let small = rows(&[entry(invoice.clone())]).unwrap();
    assert_eq!(small[0].section, Section::B2cs);
    assert_eq!(small[0].supply, "INTER");
    let mut note = doc("credit_note");
    note.supply_type = SupplyType::B2c;
    note.recipient.gstin = None;
    let large = rows(&[
        Entry {
            document: invoice,
            invoice_value: B2CL_LIMIT + 1,
        },
        Entry {
            document: note,
            invoice_value: B2CL_LIMIT + 1,
        },
    ])
    .unwrap();
    assert_eq!(large[0].section, Section::B2cl);
    assert_eq!(large[0].recipient_gstin, None);
    assert_eq!(large[1].section, Section::Cdnur);
    assert_eq!(large[1].supply, "B2CL");
    assert_eq!(large[1].value, Some(-127_440));
}

#[test]
fn csv_has_a_header_signed_rupees_and_quoting() {
    let mut b2b = doc("inter_b2b");
    b2b.place_of_supply.state.as_mut().unwrap().name = "Maha, \"rashtra\"".to_owned();
    let text = csv(&rows(&[entry(b2b), entry(doc("credit_note"))]).unwrap());
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "section,recipient_gstin,number,date,note_type,original_number,original_date,value,\
         place_of_supply,supply,rate,taxable_value,igst,cgst,sgst"
    );
    assert_eq!(
        lines[1],
        "B2B,27AAPFU0939F1ZV,KA/I2627/000002,2026-12-11,,,,6372.00,\
         \"27-Maha, \"\"rashtra\"\"\",INTER,18,5400.00,972.00,0.00,0.00"
    );
    assert_eq!(
        lines[2],
        "CDNR,27AAPFU0939F1ZV,KA/C2627/000001,2026-12-20,C,KA/I2627/000002,2026-12-11,\
         -1274.40,27-Maharashtra,INTER,18,-1080.00,-194.40,0.00,0.00"
    );
    assert_eq!(lines.len(), 3);
}
