use serde_json::{Value, json};

use super::doc;
use crate::documents::{DocumentError, einvoice};

fn schema() -> jsonschema::Validator {
    let text = include_str!("../../../tests/fixtures/einvoice/inv01-v1.1.schema.json");
    let schema: Value = serde_json::from_str(text).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

#[track_caller]
fn valid(value: &Value) {
    let errors: Vec<String> = schema()
        .iter_errors(value)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{value:#}");
}

/// Items add up to ValDtls, to the paisa.
#[track_caller]
fn sums(value: &Value) {
    let items = value["ItemList"].as_array().unwrap();
    let total = |field: &str| -> i64 {
        items
            .iter()
            .map(|i| (i[field].as_f64().unwrap() * 100.0).round() as i64)
            .sum()
    };
    let val = |field: &str| (value["ValDtls"][field].as_f64().unwrap() * 100.0).round() as i64;
    assert_eq!(total("AssAmt"), val("AssVal"));
    assert_eq!(total("IgstAmt"), val("IgstVal"));
    assert_eq!(total("CgstAmt"), val("CgstVal"));
    assert_eq!(total("SgstAmt"), val("SgstVal"));
    assert_eq!(total("TotItemVal"), val("TotInvVal"));
}

#[test]
fn b2b_invoice() {
    let e = einvoice(&doc("inter_b2b")).unwrap();
    valid(&e);
    sums(&e);
    assert_eq!(e["Version"], "1.1");
    assert_eq!(
        e["TranDtls"],
        json!({"TaxSch": "GST", "SupTyp": "B2B", "RegRev": "N", "IgstOnIntra": "N"})
    );
    assert_eq!(
        e["DocDtls"],
        json!({"Typ": "INV", "No": "KA/I2627/000002", "Dt": "11/12/2026"})
    );
    let seller = &e["SellerDtls"];
    assert_eq!(seller["Gstin"], "29AAKCT4821M1ZR");
    assert_eq!(seller["LglNm"], "Internship Labs Private Limited");
    assert_eq!(seller["Pin"], 560001);
    assert_eq!(seller["Loc"], "Bengaluru");
    assert_eq!(seller["Stcd"], "29");
    let buyer = &e["BuyerDtls"];
    assert_eq!(buyer["Gstin"], "27AAPFU0939F1ZV");
    assert_eq!(buyer["Pos"], "27");
    assert_eq!(buyer["Stcd"], "27");
    assert_eq!(buyer["Pin"], 400021);
    let item = &e["ItemList"][0];
    assert_eq!(item["SlNo"], "1");
    assert_eq!(item["IsServc"], "Y");
    assert_eq!(item["HsnCd"], "999293");
    assert_eq!(item["Qty"], 3);
    assert_eq!(item["UnitPrice"], 2000.0);
    assert_eq!(item["TotAmt"], 6000.0);
    assert_eq!(item["Discount"], 600.0);
    assert_eq!(item["AssAmt"], 5400.0);
    assert_eq!(item["GstRt"], 18.0);
    assert_eq!(item["IgstAmt"], 972.0);
    assert_eq!(item["CgstAmt"], 0.0);
    assert_eq!(item["TotItemVal"], 6372.0);
    assert_eq!(e["ValDtls"]["TotInvVal"], 6372.0);
    assert!(e.get("ExpDtls").is_none() && e.get("RefDtls").is_none());
}

#[test]
fn export_in_usd_reports_rupees_at_the_frozen_rate() {
    let e = einvoice(&doc("export_usd")).unwrap();
    valid(&e);
    sums(&e);
    assert_eq!(e["TranDtls"]["SupTyp"], "EXPWOP");
    let buyer = &e["BuyerDtls"];
    assert_eq!(buyer["Gstin"], "URP");
    assert_eq!(buyer["Pos"], "96");
    assert_eq!(buyer["Stcd"], "96");
    assert_eq!(buyer["Pin"], 999999);
    let item = &e["ItemList"][0];
    assert_eq!(item["AssAmt"], 18750.0);
    assert_eq!(item["TotAmt"], 18750.0);
    assert_eq!(item["Discount"], 0.0);
    assert_eq!(item["UnitPrice"], 18750.0);
    assert_eq!(item["GstRt"], 0.0);
    assert_eq!(e["ValDtls"]["TotInvVal"], 18750.0);
    assert_eq!(e["ValDtls"]["TotInvValFc"], 225.0);
    assert_eq!(e["ExpDtls"], json!({"CntCode": "US", "ForCur": "USD"}));
}

#[test]
fn credit_note_names_its_invoice() {
    let e = einvoice(&doc("credit_note")).unwrap();
    valid(&e);
    sums(&e);
    assert_eq!(e["DocDtls"]["Typ"], "CRN");
    assert_eq!(e["DocDtls"]["No"], "KA/C2627/000001");
    assert_eq!(
        e["RefDtls"]["PrecDocDtls"],
        json!([{"InvNo": "KA/I2627/000002", "InvDt": "11/12/2026"}])
    );
    assert_eq!(e["ValDtls"]["TotInvVal"], 1274.4);
    assert_eq!(e["ItemList"][0]["IgstAmt"], 194.4);
    assert_eq!(e["ItemList"][0]["Qty"], 1);
}

#[test]
fn tax_inclusive_lines_are_reported_at_their_taxable_value() {
    let mut d = doc("intra_b2c");
    d.supply_type = crate::domain::invoice::SupplyType::B2b;
    d.recipient.gstin = Some("29AAPFU0939F1ZV".to_owned());
    let e = einvoice(&d).unwrap();
    valid(&e);
    sums(&e);
    let exclusive = &e["ItemList"][0];
    assert_eq!(exclusive["TotAmt"], 1000.0);
    assert_eq!(exclusive["Discount"], 100.0);
    assert_eq!(exclusive["CgstAmt"], 81.0);
    assert_eq!(exclusive["GstRt"], 18.0);
    let inclusive = &e["ItemList"][1];
    assert_eq!(inclusive["AssAmt"], 423.73);
    assert_eq!(inclusive["TotAmt"], 423.73);
    assert_eq!(inclusive["Discount"], 0.0);
    assert_eq!(inclusive["UnitPrice"], 211.865);
    assert_eq!(inclusive["CgstAmt"], 38.14);
    assert_eq!(inclusive["SgstAmt"], 38.13);
}

#[test]
fn refuses_b2c_and_what_the_schema_cannot_hold() {
    let b2c = einvoice(&doc("intra_b2c"));
    assert_eq!(
        b2c,
        Err(DocumentError::NotEinvoiceable("KA/I2627/000001".to_owned()))
    );
    assert!(b2c.unwrap_err().to_string().contains("B2B and export"));
    let mut d = doc("inter_b2b");
    d.supplier.address = vec!["Somewhere".to_owned()];
    assert!(matches!(einvoice(&d), Err(DocumentError::Einvoice(m)) if m.contains("PIN")));
    let mut d = doc("inter_b2b");
    d.recipient.gstin = None;
    assert!(matches!(einvoice(&d), Err(DocumentError::Einvoice(m)) if m.contains("GSTIN")));
    let mut d = doc("export_usd");
    d.inr = None;
    assert!(matches!(
        einvoice(&d),
        Err(DocumentError::Inconsistent { .. })
    ));
}

#[test]
fn text_loses_what_the_schema_forbids() {
    let mut d = doc("inter_b2b");
    d.recipient.name = "Tata \"Skills\" \\ Ltd".to_owned();
    d.lines[0].description = "x".repeat(400);
    let e = einvoice(&d).unwrap();
    valid(&e);
    assert_eq!(e["BuyerDtls"]["LglNm"], "Tata 'Skills' / Ltd");
    assert_eq!(e["ItemList"][0]["PrdDesc"].as_str().unwrap().len(), 300);
}

#[test]
fn the_schema_refuses_what_is_wrong() {
    // The validator is not a rubber stamp: the same JSON with one rule broken fails.
    let e = einvoice(&doc("inter_b2b")).unwrap();
    let schema = schema();
    for (path, bad) in [
        ("/DocDtls/Dt", json!("2026-12-11")),
        ("/TranDtls/SupTyp", json!("B2C")),
        ("/ItemList/0/HsnCd", json!("99")),
        ("/BuyerDtls/Pos", json!("0")),
    ] {
        let mut broken = e.clone();
        *broken.pointer_mut(path).unwrap() = bad;
        assert!(!schema.is_valid(&broken), "{path}");
    }
    let mut missing = e.clone();
    missing.as_object_mut().unwrap().remove("ValDtls");
    assert!(!schema.is_valid(&missing));
}
