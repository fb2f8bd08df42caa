//! Each kind of supply invoiced exactly as its snapshot froze it; the recipient; the
//! endpoint's access rules; orders that get no invoice.

use reqwest::Method;
use serde_json::json;

use super::*;
use crate::fixtures::{DS, DS_1M, WEB, WEB_1M};
use crate::money::lose_the_seat;

const KA: fn() -> Value = || json!({"country": "IN", "state": "KA", "postal_code": "560001"});

/// Intra-state (CGST + SGST), inter-state (IGST), export (zero-rated, with its note),
/// a tax-inclusive plan, a coupon and a USD order (INR values at the frozen rate), each
/// invoice equal to its order's snapshot line by line.
#[tokio::test]
async fn every_kind_of_supply_is_invoiced_as_its_snapshot_froze_it() {
    let shop = Shop::start(true, |_| {}).await;
    add_big_program(&shop).await;
    let two = [(WEB, WEB_1M), (DS, DS_1M)];
    type Case<'a> = (
        &'a str,
        &'a [(&'a str, &'a str)],
        Option<&'a str>,
        Option<&'a str>,
        Value,
    );
    let cases: Vec<Case> = vec![
        ("intra", &two, None, None, KA()),
        (
            "inter",
            &[(WEB, WEB_1M)],
            None,
            None,
            json!({"country": "IN", "state": "MH"}),
        ),
        (
            "export",
            &[(WEB, WEB_1M)],
            None,
            None,
            json!({"country": "SG"}),
        ),
        ("inclusive", &[(BIG, BIG_1M)], None, None, KA()),
        ("coupon", &two, Some("SAVE10"), None, KA()),
        (
            "usd",
            &[(WEB, WEB_1M), (BIG, BIG_1M)],
            None,
            Some("USD"),
            KA(),
        ),
    ];
    let mut numbers = Vec::new();
    for (n, (case, items, coupon, currency, address)) in cases.into_iter().enumerate() {
        // a student per case: one enrollment per cohort each
        let token = shop.student(n).await;
        let order = buy(&shop, &token, items, coupon, currency, address).await;
        let data = wait_invoice(&shop, &token, &order, 0).await;
        let invoice = &data["invoice"];
        let frozen = snapshot(&shop, &order).await;
        assert_is_snapshot(invoice, &frozen);
        let t = &invoice["totals"];
        assert!(
            t["total_in_words"].as_str().unwrap().ends_with(" Only"),
            "{case}"
        );
        assert_eq!(invoice["supplier"]["gstin"], "29AAKCT4821M1ZR", "{case}");
        assert_eq!(invoice["recipient"]["name"], "Student", "{case}");
        assert_eq!(invoice["reverse_charge"], false);
        match case {
            "intra" | "inclusive" | "coupon" | "usd" => {
                assert_eq!(invoice["supply_type"], "b2c", "{case}");
                assert_eq!(invoice["place_of_supply"]["state"]["code"], "29", "{case}");
                assert_eq!(t["cgst"], t["sgst"], "{case}: 9 % + 9 % of even amounts");
                assert!(t["cgst"].as_i64().unwrap() > 0 && t["igst"] == 0, "{case}");
            }
            "inter" => {
                assert_eq!(invoice["place_of_supply"]["state"]["name"], "Maharashtra");
                assert_eq!(invoice["place_of_supply"]["state"]["code"], "27");
                assert!(t["igst"].as_i64().unwrap() > 0 && t["cgst"] == 0);
            }
            _ => {
                assert_eq!(invoice["supply_type"], "export");
                assert_eq!(invoice["place_of_supply"]["country"], "SG");
                assert_eq!(t["tax"], 0);
                let notes = invoice["notes"].as_array().unwrap();
                assert!(
                    notes[0]
                        .as_str()
                        .unwrap()
                        .starts_with("Export of services, zero-rated")
                );
            }
        }
        match case {
            "inclusive" => {
                // 2,360.00 inclusive of 18 %: 2,000.00 taxable
                assert_eq!(invoice["lines"][0]["tax_inclusive"], true);
                assert_eq!(invoice["lines"][0]["taxable_value"], 200_000);
                assert_eq!(t["total"], 236_000);
            }
            "coupon" => assert!(t["discount"].as_i64().unwrap() > 0),
            "usd" => {
                assert_eq!(invoice["currency"], "USD");
                let inr = &invoice["inr"];
                assert_eq!(inr["rate"], frozen["fx"]["rate"]);
                let lines = inr["lines"].as_array().unwrap();
                let sum: i64 = lines.iter().map(|l| l["total"].as_i64().unwrap()).sum();
                assert_eq!(inr["totals"]["total"], sum);
                // 59.99 USD taxable at 0.012 USD/INR: 4,999.17 INR
                assert_eq!(lines[0]["taxable_value"], 499_917);
                assert!(
                    t["total_in_words"]
                        .as_str()
                        .unwrap()
                        .starts_with("US Dollars")
                );
            }
            _ => assert!(invoice.get("inr").is_none(), "{case}"),
        }
        numbers.push(invoice["number"].as_str().unwrap().to_owned());
    }
    let sequences: Vec<&str> = numbers.iter().map(|n| &n[n.len() - 6..]).collect();
    assert_eq!(
        sequences,
        ["000001", "000002", "000003", "000004", "000005", "000006"]
    );
    assert!(
        numbers
            .iter()
            .all(|n| n.starts_with("KA/I") && n.len() <= 16),
        "{numbers:?}"
    );
}

/// A GSTIN makes it B2B, placed in the GSTIN's state (IGST from Karnataka to
/// Maharashtra though the address is in Karnataka); the recipient is the name and
/// address lines given; a bad name is refused with 2063 before anything is written.
#[tokio::test]
async fn a_b2b_invoice_is_made_out_to_the_business_in_its_gstins_state() {
    let shop = Shop::start(true, |_| {}).await;
    let token = shop.student(1).await;
    let address = json!({"country": "IN", "state": "KA", "postal_code": "560001",
        "gstin": "27AAKCT4821M1ZV", "name": "Acme Training LLP",
        "address_lines": ["1 Marine Drive", "Mumbai 400020"]});
    let order = buy(&shop, &token, &[(WEB, WEB_1M)], None, None, address).await;
    let invoice = wait_invoice(&shop, &token, &order, 0).await["invoice"].clone();
    assert_is_snapshot(&invoice, &snapshot(&shop, &order).await);
    assert_eq!(invoice["supply_type"], "b2b");
    assert_eq!(invoice["place_of_supply"]["state"]["code"], "27");
    assert!(invoice["totals"]["igst"].as_i64().unwrap() > 0);
    let r = &invoice["recipient"];
    assert_eq!(r["name"], "Acme Training LLP");
    assert_eq!(r["address"], json!(["1 Marine Drive", "Mumbai 400020"]));
    assert_eq!(r["gstin"], "27AAKCT4821M1ZV");
    assert_eq!(r["state"]["code"], "29");
    let row: (String, Option<String>, String) =
        sqlx::query_as("select supply_type, recipient_gstin, place_of_supply from invoices")
            .fetch_one(&shop.app.pool)
            .await
            .unwrap();
    assert_eq!(
        row,
        ("b2b".into(), Some("27AAKCT4821M1ZV".into()), "27".into())
    );

    let cart = shop.cart(&token, &[(WEB, WEB_1M)], None).await;
    for bad in [
        json!({"country": "IN", "state": "KA", "name": "x".repeat(101)}),
        json!({"country": "IN", "state": "KA", "address_lines": ["a", "b", "c", "d", "e"]}),
        json!({"country": "IN", "state": "KA", "name": "two\nlines"}),
    ] {
        for path in ["/api/v1/cart/estimate", "/api/v1/order"] {
            let body = json!({"cart_token": cart, "billing_address": bad});
            let got = shop
                .call(Method::POST, path, Some(&token), Some(body))
                .await;
            let error = crate::fixtures::assert_error(&got, 422, 2063);
            let messages = error["validation_messages"].to_string();
            assert!(messages.contains("billing_address."), "{messages}");
        }
    }
    shop.assert_count("select count(*) from orders", 1).await;
}

/// Only the owner reads the invoice; 404 7010 before it exists, JSON after, or the PDF
/// or the HTML page by `Accept`; 406 for anything else.
#[tokio::test]
async fn the_invoice_is_its_owners_and_404_until_issued() {
    let shop = Shop::start(true, |_| {}).await;
    let (owner, other) = (shop.student(1).await, shop.student(2).await);
    let order = place(&shop, &owner, &[(WEB, WEB_1M)], None, None, KA()).await;
    shop.wait_session(&owner, &order).await;
    let got = get_invoice(&shop, Some(&owner), &order).await;
    crate::fixtures::assert_error(&got, 404, 7010);
    pay(&shop, &owner, &order).await;
    let data = wait_invoice(&shop, &owner, &order, 0).await;
    assert_eq!(data["credit_notes"], json!([]));
    crate::fixtures::assert_error(&get_invoice(&shop, Some(&other), &order).await, 404, 7001);
    let got = get_invoice(&shop, None, &order).await;
    assert_eq!(got.0, 401, "{}", got.1);
    crate::fixtures::assert_error(&get_invoice(&shop, Some(&owner), "nope").await, 404, 7001);
    let number = data["invoice"]["number"].as_str().unwrap().to_owned();
    let fetch = |accept: &'static str| {
        shop.app
            .client
            .get(shop.app.url(&format!("/api/v1/order/{order}/invoice")))
            .bearer_auth(&owner)
            .header("accept", accept)
            .send()
    };
    let pdf = fetch("application/pdf").await.unwrap();
    assert_eq!(pdf.status().as_u16(), 200);
    assert_eq!(pdf.headers()["content-type"], "application/pdf");
    assert!(pdf.bytes().await.unwrap().starts_with(b"%PDF"));
    let html = fetch("text/html,application/xhtml+xml,*/*;q=0.8")
        .await
        .unwrap();
    assert_eq!(html.status().as_u16(), 200);
    assert!(html.text().await.unwrap().contains(&number));
    let png = fetch("image/png").await.unwrap();
    assert_eq!(png.status().as_u16(), 406);
    let body: Value = png.json().await.unwrap();
    assert_eq!(body["error"]["code"], 9010, "{body}");
}

/// A free order (nothing charged) and an order refunded before enrollment (the cohort
/// filled up after the payment) get no invoice, and the check finds nothing missing.
#[tokio::test]
async fn free_and_refunded_before_enrollment_orders_get_no_invoice() {
    let shop = Shop::start(true, |_| {}).await;
    add_big_program(&shop).await;
    sqlx::query("insert into coupons (code, kind, percent) values ('FULL100', 'percent', 100)")
        .execute(&shop.app.pool)
        .await
        .unwrap();
    let token = shop.student(1).await;
    let cart = shop.cart(&token, &[(BIG, BIG_1M)], Some("FULL100")).await;
    let (status, body) = shop.order(&token, &cart, None).await;
    assert!(status == 201 || status == 202, "{body}");
    let free = body["data"]["order_token"].as_str().unwrap().to_owned();
    shop.wait_status(&token, &free, &["enrolled"], T).await;

    let refunded = place(&shop, &token, &[(WEB, WEB_1M)], None, None, KA()).await;
    shop.wait_session(&token, &refunded).await;
    lose_the_seat(&shop).await;
    pay(&shop, &token, &refunded).await;
    shop.wait_status(&token, &refunded, &["refunded"], T).await;
    shop.wait_count("select count(*) from refunds where status = 'processed'", 1)
        .await;

    // a paid order enrolled after both is invoiced, so their jobs (had any run) are done
    let payer = shop.student(2).await;
    let paid = buy(&shop, &payer, &[(BIG, BIG_1M)], None, None, KA()).await;
    wait_invoice(&shop, &payer, &paid, 0).await;
    for order in [&free, &refunded] {
        crate::fixtures::assert_error(&get_invoice(&shop, Some(&token), order).await, 404, 7010);
    }
    shop.assert_count("select count(*) from invoices", 1).await;
    shop.assert_count("select count(*) from credit_notes", 0)
        .await;
    let kinds = violations(&shop).await;
    assert!(
        !kinds.contains(&"invoice_missing") && !kinds.contains(&"credit_note_missing"),
        "{kinds:?}"
    );
}
