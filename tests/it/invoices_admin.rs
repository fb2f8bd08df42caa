//! `checkout admin invoices list|show|export` as a process against a real database
//! holding hand-built documents (tests/fixtures/invoices/), written by the issuing
//! side's own store functions: a number taken from `document_series`, the summary
//! columns and the frozen document. India dates decide the range: 18:29:59 UTC on 30 November is
//! still November in India, 18:30:00 UTC already 1 December.

use std::process::Output;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::TestApp;
use crate::ops_fixtures as fx;
use checkout::domain::invoice::{
    DocumentKind, DocumentNumber, DocumentType, FinancialYear, InvoiceReference, Series,
    TaxDocument, india_date,
};
use checkout::store::invoices;

const PREFIX: &str = "KA";

fn fixture(name: &str) -> TaxDocument {
    let path = format!(
        "{}/tests/fixtures/invoices/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The next number of the series, taken as the issuing transaction takes it.
async fn next_number(pool: &PgPool, kind: DocumentKind, at: DateTime<Utc>) -> DocumentNumber {
    let mut conn = pool.acquire().await.unwrap();
    let series = Series::new(PREFIX, kind).unwrap();
    invoices::take_number(&mut conn, &series, at).await.unwrap()
}

/// Writes `doc` as an invoice of a new enrolled order, issued at `at`; returns its id
/// and the document as stored (number, dates and order filled in).
async fn issue_invoice(pool: &PgPool, mut doc: TaxDocument, at: &str) -> (Uuid, TaxDocument) {
    let at: DateTime<Utc> = at.parse().unwrap();
    let (order_id, _) =
        fx::order(pool, "enrolled", "complete", "completed", doc.totals.total).await;
    let number = next_number(pool, DocumentKind::Invoice, at).await;
    doc.number = number.to_string();
    doc.issued_at = at;
    doc.issue_date = india_date(at);
    doc.financial_year = FinancialYear::of(at).unwrap().label();
    doc.order_id = order_id;
    let id = Uuid::now_v7();
    let mut conn = pool.acquire().await.unwrap();
    invoices::insert_invoice(&mut conn, id, &number, &doc)
        .await
        .unwrap();
    (id, doc)
}

/// Writes `note` as a credit note for a processed refund against `invoice`.
async fn issue_credit_note(
    pool: &PgPool,
    invoice_id: Uuid,
    invoice: &TaxDocument,
    mut note: TaxDocument,
    at: &str,
) -> TaxDocument {
    let at: DateTime<Utc> = at.parse().unwrap();
    let refund = Uuid::now_v7();
    sqlx::query(
        "insert into refunds (id, order_id, gateway, gateway_payment_id, amount, currency,
                              reason, idempotency_key, status)
         values ($1, $2, 'razorpay', 'pay_test', $3, $4, 'test', $5, 'processed')",
    )
    .bind(refund)
    .bind(invoice.order_id)
    .bind(note.totals.total)
    .bind(note.currency.code())
    .bind(format!("refund-{refund}"))
    .execute(pool)
    .await
    .unwrap();
    let number = next_number(pool, DocumentKind::CreditNote, at).await;
    note.number = number.to_string();
    note.issued_at = at;
    note.issue_date = india_date(at);
    note.financial_year = FinancialYear::of(at).unwrap().label();
    note.order_id = invoice.order_id;
    note.reference = Some(InvoiceReference {
        number: invoice.number.clone(),
        date: invoice.issue_date,
    });
    assert_eq!(note.document_type, DocumentType::CreditNote);
    let mut conn = pool.acquire().await.unwrap();
    invoices::insert_credit_note(
        &mut conn,
        Uuid::now_v7(),
        invoice_id,
        refund,
        &number,
        &note,
    )
    .await
    .unwrap();
    note
}

fn admin(app: &TestApp, args: &[&str]) -> Output {
    crate::helpers::admin(&app.db, args)
}

#[track_caller]
fn ok(app: &TestApp, args: &[&str]) -> Vec<u8> {
    let out = admin(app, args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[track_caller]
fn refused(app: &TestApp, args: &[&str]) -> String {
    crate::helpers::admin_refused(&app.db, args)
}

/// The December documents: two B2C invoices (one at the first instant of 1 December in
/// India), the B2B invoice, the USD export and a credit note against the B2B invoice;
/// and one B2C invoice on the last instant of November, outside the range.
struct December {
    b2c: TaxDocument,
    b2c_first: TaxDocument,
    b2b: TaxDocument,
    export: TaxDocument,
    note: TaxDocument,
    november: TaxDocument,
}

async fn december(pool: &PgPool) -> December {
    let (_, november) = issue_invoice(pool, fixture("intra_b2c"), "2026-11-30T18:29:59Z").await;
    let (_, b2c_first) = issue_invoice(pool, fixture("intra_b2c"), "2026-11-30T18:30:00Z").await;
    let (_, b2c) = issue_invoice(pool, fixture("intra_b2c"), "2026-12-10T06:30:00Z").await;
    let (b2b_id, b2b) = issue_invoice(pool, fixture("inter_b2b"), "2026-12-11T09:15:00Z").await;
    let (_, export) = issue_invoice(pool, fixture("export_usd"), "2026-12-12T04:00:00Z").await;
    let note = issue_credit_note(
        pool,
        b2b_id,
        &b2b,
        fixture("credit_note"),
        "2026-12-31T18:00:00Z",
    )
    .await;
    December {
        b2c,
        b2c_first,
        b2b,
        export,
        note,
        november,
    }
}

#[tokio::test]
async fn list_by_india_dates() {
    let app = TestApp::spawn().await;
    let d = december(&app.pool).await;
    assert_eq!(d.november.number, "KA/I2627/000001");
    assert_eq!(d.export.number, "KA/I2627/000005");
    assert_eq!(d.note.number, "KA/C2627/000001");
    let listed: Value = serde_json::from_slice(&ok(
        &app,
        &[
            "--json",
            "invoices",
            "list",
            "--from",
            "2026-12-01",
            "--to",
            "2026-12-31",
        ],
    ))
    .unwrap();
    let numbers: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["number"].as_str().unwrap())
        .collect();
    assert_eq!(
        numbers,
        [
            d.b2c_first.number.as_str(),
            d.b2c.number.as_str(),
            d.b2b.number.as_str(),
            d.export.number.as_str(),
            d.note.number.as_str(),
        ]
    );
    let note = &listed[4];
    assert_eq!(note["kind"], "credit_note");
    assert_eq!(note["reference"], d.b2b.number.as_str());
    assert_eq!(note["recipient_gstin"], "27AAPFU0939F1ZV");
    assert_eq!(note["total"], 127_440);
    assert_eq!(listed[3]["currency"], "USD");
    assert_eq!(listed[3]["total"], 22_500);
    assert_eq!(listed[3]["inr_total"], 1_875_000);
    assert_eq!(listed[0]["date"], "2026-12-01");

    // The note, 18:00 UTC on 31 December, is 23:30 in India: still December.
    assert_eq!(d.note.issue_date.to_string(), "2026-12-31");
    let january: Value = serde_json::from_slice(&ok(
        &app,
        &[
            "--json",
            "invoices",
            "list",
            "--from",
            "2027-01-01",
            "--to",
            "2027-01-01",
        ],
    ))
    .unwrap();
    assert_eq!(january.as_array().unwrap().len(), 0);
    let november: Value = serde_json::from_slice(&ok(
        &app,
        &["--json", "invoices", "list", "--to", "2026-11-30"],
    ))
    .unwrap();
    assert_eq!(november[0]["number"], d.november.number.as_str());
    assert_eq!(november.as_array().unwrap().len(), 1);
    let all: Value = serde_json::from_slice(&ok(&app, &["--json", "invoices", "list"])).unwrap();
    assert_eq!(all.as_array().unwrap().len(), 6);

    let table = String::from_utf8(ok(&app, &["invoices", "list"])).unwrap();
    for doc in [&d.november, &d.b2b, &d.export, &d.note] {
        assert!(table.contains(&doc.number), "{table}");
    }
    assert!(
        table.contains("18,750.00") && table.contains("6,372.00"),
        "{table}"
    );
}

#[tokio::test]
async fn show_in_every_format() {
    let app = TestApp::spawn().await;
    let d = december(&app.pool).await;
    let dir = std::env::temp_dir().join(format!("invoices-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();

    let summary = String::from_utf8(ok(&app, &["invoices", "show", &d.b2b.number])).unwrap();
    assert!(summary.contains("Tata Skills Private Limited"), "{summary}");
    assert!(summary.contains("GSTIN 27AAPFU0939F1ZV"), "{summary}");
    assert!(summary.contains("6,372.00 INR"), "{summary}");
    let note_summary = String::from_utf8(ok(&app, &["invoices", "show", &d.note.number])).unwrap();
    assert!(note_summary.contains(&format!("against invoice {}", d.b2b.number)));

    // json: the document exactly as stored
    let json: TaxDocument = serde_json::from_slice(&ok(
        &app,
        &["invoices", "show", &d.export.number, "--format", "json"],
    ))
    .unwrap();
    assert_eq!(json, d.export);
    let global: TaxDocument =
        serde_json::from_slice(&ok(&app, &["--json", "invoices", "show", &d.note.number])).unwrap();
    assert_eq!(global, d.note);

    let html_path = dir.join("b2b.html");
    ok(
        &app,
        &[
            "invoices",
            "show",
            &d.b2b.number,
            "--format",
            "html",
            "--out",
            html_path.to_str().unwrap(),
        ],
    );
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains(&d.b2b.number) && html.contains("27AAPFU0939F1ZV"));

    let pdf_path = dir.join("export.pdf");
    ok(
        &app,
        &[
            "invoices",
            "show",
            &d.export.number,
            "--format",
            "pdf",
            "--out",
            pdf_path.to_str().unwrap(),
        ],
    );
    let bytes = std::fs::read(&pdf_path).unwrap();
    assert!(bytes.starts_with(b"%PDF-"));
    let parsed = lopdf::Document::load_mem(&bytes).unwrap();
    let pages: Vec<u32> = parsed.get_pages().keys().copied().collect();
    let text = parsed.extract_text(&pages).unwrap();
    for wanted in [
        &d.export.number,
        "29AAKCT4821M1ZR",
        "225.00 USD",
        "18,750.00 INR",
    ] {
        assert!(text.contains(wanted), "`{wanted}` not in {text}");
    }
    // to a pipe, a PDF goes to stdout
    let piped = ok(
        &app,
        &["invoices", "show", &d.note.number, "--format", "pdf"],
    );
    assert!(piped.starts_with(b"%PDF-"));

    let unknown = refused(&app, &["invoices", "show", "KA/I2627/999999"]);
    assert!(
        unknown.contains("no invoice or credit note numbered `KA/I2627/999999`"),
        "{unknown}"
    );
    let format = refused(
        &app,
        &["invoices", "show", &d.b2b.number, "--format", "docx"],
    );
    assert!(format.contains("docx"), "{format}");
    std::fs::remove_dir_all(&dir).unwrap();
}

const EINVOICE_ON: [(&str, &str); 1] = [("CHECKOUT__INVOICES__EINVOICE", "true")];

#[tokio::test]
async fn einvoice_only_when_switched_on() {
    let app = TestApp::spawn().await;
    let d = december(&app.pool).await;

    // `invoices.einvoice` is false by default: refused, naming the key
    for number in [&d.b2b.number, &d.note.number] {
        let off = refused(&app, &["invoices", "show", number, "--format", "einvoice"]);
        assert!(
            off.contains("invoices.einvoice") && off.contains("CHECKOUT__INVOICES__EINVOICE"),
            "{off}"
        );
    }
    let off = crate::helpers::admin_env(
        &app.db,
        &[("CHECKOUT__INVOICES__EINVOICE", "false")],
        &["invoices", "show", &d.b2b.number, "--format", "einvoice"],
    );
    assert_eq!(off.status.code(), Some(1));
    assert!(off.stdout.is_empty());
    // the other formats do not depend on it
    let json: TaxDocument = serde_json::from_slice(&ok(
        &app,
        &["invoices", "show", &d.b2b.number, "--format", "json"],
    ))
    .unwrap();
    assert_eq!(json, d.b2b);

    // switched on: the INV-01 JSON
    let on = |args: &[&str]| {
        let out = crate::helpers::admin_env(&app.db, &EINVOICE_ON, args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let e = on(&["invoices", "show", &d.b2b.number, "--format", "einvoice"]);
    assert_eq!(e["Version"], "1.1");
    assert_eq!(e["DocDtls"]["No"], d.b2b.number.as_str());
    assert_eq!(e["BuyerDtls"]["Gstin"], "27AAPFU0939F1ZV");
    assert_eq!(e["ValDtls"]["TotInvVal"], 6372.0);
    let e = on(&["invoices", "show", &d.note.number, "--format", "einvoice"]);
    assert_eq!(e["DocDtls"]["Typ"], "CRN");
    assert_eq!(
        e["RefDtls"]["PrecDocDtls"][0]["InvNo"],
        d.b2b.number.as_str()
    );
    // still only for B2B and export documents
    let b2c = crate::helpers::admin_env(
        &app.db,
        &EINVOICE_ON,
        &["invoices", "show", &d.b2c.number, "--format", "einvoice"],
    );
    assert!(!b2c.status.success());
    let b2c = String::from_utf8(b2c.stderr).unwrap();
    assert!(b2c.contains("only for B2B and export"), "{b2c}");
}

/// Parses the export: header and rows as maps.
fn parse_csv(text: &str) -> Vec<std::collections::BTreeMap<String, String>> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    lines
        .map(|l| {
            // the fixtures hold no quoted fields
            assert!(!l.contains('"'), "{l}");
            header
                .iter()
                .map(|h| h.to_string())
                .zip(l.split(',').map(str::to_owned))
                .collect()
        })
        .collect()
}

fn paise(text: &str) -> i64 {
    let value: rust_decimal::Decimal = text.parse().unwrap();
    (value * rust_decimal::Decimal::ONE_HUNDRED)
        .try_into()
        .unwrap()
}

#[tokio::test]
async fn export_gstr1_csv() {
    let app = TestApp::spawn().await;
    let d = december(&app.pool).await;
    let text = String::from_utf8(ok(
        &app,
        &[
            "invoices",
            "export",
            "--from",
            "2026-12-01",
            "--to",
            "2026-12-31",
            "--format",
            "csv",
        ],
    ))
    .unwrap();
    let rows = parse_csv(&text);
    let sections: Vec<&str> = rows.iter().map(|r| r["section"].as_str()).collect();
    assert_eq!(sections, ["B2B", "B2CS", "EXP", "CDNR"], "{text}");

    let b2b = &rows[0];
    assert_eq!(b2b["recipient_gstin"], "27AAPFU0939F1ZV");
    assert_eq!(b2b["number"], d.b2b.number);
    assert_eq!(b2b["date"], "2026-12-11");
    assert_eq!(b2b["value"], "6372.00");
    assert_eq!(b2b["place_of_supply"], "27-Maharashtra");
    assert_eq!(b2b["rate"], "18");
    assert_eq!(
        (paise(&b2b["taxable_value"]), paise(&b2b["igst"])),
        (540_000, 97_200)
    );

    // two December B2C invoices in Karnataka, summed (November's is not in the period)
    let b2cs = &rows[1];
    assert_eq!(b2cs["place_of_supply"], "29-Karnataka");
    assert_eq!(b2cs["supply"], "INTRA");
    assert_eq!(b2cs["number"], "");
    assert_eq!(paise(&b2cs["taxable_value"]), 2 * 132_373);
    assert_eq!(paise(&b2cs["cgst"]), 2 * 11_914);
    assert_eq!(paise(&b2cs["sgst"]), 2 * 11_913);

    let exp = &rows[2];
    assert_eq!(exp["number"], d.export.number);
    assert_eq!(exp["supply"], "EXPWOP");
    assert_eq!(exp["rate"], "0");
    assert_eq!(exp["value"], "18750.00");
    assert_eq!(exp["place_of_supply"], "US");

    let cdnr = &rows[3];
    assert_eq!(cdnr["number"], d.note.number);
    assert_eq!(cdnr["note_type"], "C");
    assert_eq!(cdnr["original_number"], d.b2b.number);
    assert_eq!(cdnr["original_date"], "2026-12-11");
    assert_eq!(cdnr["value"], "-1274.40");
    assert_eq!(paise(&cdnr["igst"]), -19_440);

    // the period's net: every invoice less the note, in INR
    let sum = |column: &str| rows.iter().map(|r| paise(&r[column])).sum::<i64>();
    assert_eq!(
        sum("taxable_value"),
        2 * 132_373 + 540_000 + 1_875_000 - 108_000
    );
    assert_eq!(sum("igst"), 97_200 - 19_440);
    assert_eq!(sum("cgst") + sum("sgst"), 2 * 23_827);

    // --out writes the same file
    let path = std::env::temp_dir().join(format!("gstr1-{}.csv", Uuid::new_v4().simple()));
    let out = admin(
        &app,
        &[
            "invoices",
            "export",
            "--from",
            "2026-12-01",
            "--to",
            "2026-12-31",
            "--out",
            path.to_str().unwrap(),
        ],
    );
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    assert!(String::from_utf8_lossy(&out.stderr).contains("5 documents, 4 rows"));
    std::fs::remove_file(&path).unwrap();

    // November alone: one B2C invoice
    let november = parse_csv(
        &String::from_utf8(ok(
            &app,
            &[
                "invoices",
                "export",
                "--from",
                "2026-11-01",
                "--to",
                "2026-11-30",
            ],
        ))
        .unwrap(),
    );
    assert_eq!(november.len(), 1);
    assert_eq!(paise(&november[0]["taxable_value"]), 132_373);
}

#[tokio::test]
async fn bad_dates_and_ranges_are_refused() {
    let app = TestApp::spawn().await;
    let bad = refused(
        &app,
        &[
            "invoices",
            "export",
            "--from",
            "2026-13-01",
            "--to",
            "2026-12-31",
        ],
    );
    assert!(
        bad.contains("`2026-13-01` is not a date like 2026-12-31"),
        "{bad}"
    );
    let bad = refused(&app, &["invoices", "list", "--from", "01/12/2026"]);
    assert!(bad.contains("not a date"), "{bad}");
    let reversed = refused(
        &app,
        &[
            "invoices",
            "export",
            "--from",
            "2026-12-31",
            "--to",
            "2026-12-01",
        ],
    );
    assert!(
        reversed.contains("--from 2026-12-31 is after --to 2026-12-01"),
        "{reversed}"
    );
    let reversed = refused(
        &app,
        &[
            "invoices",
            "list",
            "--from",
            "2026-12-31",
            "--to",
            "2026-12-01",
        ],
    );
    assert!(reversed.contains("is after"), "{reversed}");
    let missing = refused(&app, &["invoices", "export", "--from", "2026-12-01"]);
    assert!(missing.contains("--to"), "{missing}");
    let format = refused(
        &app,
        &[
            "invoices",
            "export",
            "--from",
            "2026-12-01",
            "--to",
            "2026-12-31",
            "--format",
            "xlsx",
        ],
    );
    assert!(format.contains("xlsx"), "{format}");
}
