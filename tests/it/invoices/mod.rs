//! GST tax invoices and credit notes, end to end through the API, the workers and the
//! sandbox gateway: every invoice checked line by line against the order's frozen price
//! snapshot; gapless numbering under concurrency and killed workers; the financial-year
//! rollover; credit notes that reverse exactly what was refunded; orders that get none.

mod lines;
mod numbering;
mod refunds;

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::eventually;
use crate::shop::{Shop, gateway_order_id};

pub const T: Duration = Duration::from_secs(40);

/// A tax-inclusive program with room for every test's orders (the fixture catalog's
/// tax-inclusive one has no cohort, so it cannot be reserved).
pub const BIG: &str = "00000000-0000-4000-8000-000000000031";
pub const BIG_1M: &str = "00000000-0000-4000-8000-000000000032";

/// Cohorts of [`BIG`], 100 seats each.
pub const COHORTS: u128 = 10;

/// The id of cohort `n` of [`BIG`].
pub fn big_cohort(n: u128) -> String {
    uuid::Uuid::from_u128(0x40 + n).to_string()
}

/// Adds [`BIG`] to the shop's catalog: 2,360.00 tax-inclusive, [`COHORTS`] cohorts.
pub async fn add_big_program(shop: &Shop) {
    let catalog = json!({"programs": [
        {"id": BIG, "slug": "bootcamp", "title": "Full-Stack Bootcamp", "plans": [
            {"id": BIG_1M, "period": {"value": 1, "unit": "month"}, "price_minor": 236_000,
             "tax_inclusive": true}],
         "cohorts": (0..COHORTS).map(|n| json!({"id": big_cohort(n),
             "starts_on": format!("2099-03-{:02}", n + 1), "capacity": 100})).collect::<Vec<_>>()}]});
    checkout::admin::catalog::import(&shop.app.pool, &catalog.to_string())
        .await
        .unwrap();
}

/// A cart of `items` for the student (priced in `currency` if given, with `coupon`),
/// ordered with `address` on Razorpay and paid; returns the order token once the
/// order is enrolled.
pub async fn buy(
    shop: &Shop,
    token: &str,
    items: &[(&str, &str)],
    coupon: Option<&str>,
    currency: Option<&str>,
    address: Value,
) -> String {
    let order = place(shop, token, items, coupon, currency, address).await;
    pay(shop, token, &order).await;
    shop.wait_status(token, &order, &["enrolled"], T).await;
    order
}

/// [`buy`] up to the payment session: returns the order token.
pub async fn place(
    shop: &Shop,
    token: &str,
    items: &[(&str, &str)],
    coupon: Option<&str>,
    currency: Option<&str>,
    address: Value,
) -> String {
    let items: Vec<Value> = items
        .iter()
        .map(|(program, plan)| json!({"internship_id": program, "plan_id": plan}))
        .collect();
    let mut body = json!({"items": items});
    if let Some(c) = currency {
        body["currency"] = json!(c);
    }
    let (status, cart) = shop
        .call(Method::POST, "/api/v1/cart", Some(token), Some(body))
        .await;
    assert_eq!(status, 201, "{cart}");
    let cart = cart["data"]["token"].as_str().unwrap().to_owned();
    if let Some(code) = coupon {
        let path = format!("/api/v1/cart/{cart}/coupon");
        let (status, body) = shop
            .call(
                Method::POST,
                &path,
                Some(token),
                Some(json!({"code": code})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    order_cart(shop, token, &cart, address).await
}

/// Orders `cart` with `address` on Razorpay; returns the order token.
pub async fn order_cart(shop: &Shop, token: &str, cart: &str, address: Value) -> String {
    let body = json!({"cart_token": cart, "billing_address": address, "gateway": "razorpay"});
    let (status, placed) = shop
        .call(Method::POST, "/api/v1/order", Some(token), Some(body))
        .await;
    assert!(status == 201 || status == 202, "{status} {placed}");
    placed["data"]["order_token"].as_str().unwrap().to_owned()
}

/// Pays the order's session at the sandbox (the webhook wakes `confirm`).
pub async fn pay(shop: &Shop, token: &str, order: &str) {
    let with_session = shop.wait_session(token, order).await;
    shop.pay(&gateway_order_id(&with_session), "captured").await;
}

/// `GET /order/{order}/invoice` as `token`: (status, body).
pub async fn get_invoice(shop: &Shop, token: Option<&str>, order: &str) -> (u16, Value) {
    let path = format!("/api/v1/order/{order}/invoice");
    shop.call(Method::GET, &path, token, None).await
}

/// Waits until the order has an invoice with `notes` credit notes; returns the data.
pub async fn wait_invoice(shop: &Shop, token: &str, order: &str, notes: usize) -> Value {
    let got = eventually(T, || async {
        let (status, body) = get_invoice(shop, Some(token), order).await;
        (status == 200 && body["data"]["credit_notes"].as_array().map(Vec::len) == Some(notes))
            .then(|| body["data"].clone())
    })
    .await;
    got.unwrap_or_else(|| panic!("no invoice with {notes} credit note(s) for order {order}"))
}

/// The consistency check's violation kinds, with no grace for work in flight.
pub async fn violations(shop: &Shop) -> Vec<&'static str> {
    use checkout::admin::check::{Limits, check};
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&shop.app.db.url).await.unwrap();
    let limits = Limits {
        grace_secs: 0,
        refund_alert_secs: 3600,
    };
    check(&mut conn, limits).await.unwrap().kinds()
}

/// The order's frozen price snapshot.
pub async fn snapshot(shop: &Shop, order: &str) -> Value {
    sqlx::query_scalar("select price_snapshot from orders where order_token = $1")
        .bind(order)
        .fetch_one(&shop.app.pool)
        .await
        .unwrap()
}

fn component(components: &Value, kind: &str) -> i64 {
    components
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == kind)
        .map(|c| c["amount"].as_i64().unwrap())
        .sum()
}

/// The invoice says exactly what the snapshot froze, line by line and in its totals.
pub fn assert_is_snapshot(invoice: &Value, snapshot: &Value) {
    let lines = invoice["lines"].as_array().unwrap();
    let priced = snapshot["lines"].as_array().unwrap();
    assert_eq!(lines.len(), priced.len(), "{invoice}");
    for (line, p) in lines.iter().zip(priced) {
        assert_eq!(line["description"], p["title"]);
        assert_eq!(line["quantity"], p["quantity"]);
        assert_eq!(line["amount"], p["amount"]);
        assert_eq!(line["discount"], p["discount"]);
        assert_eq!(line["tax_inclusive"], p["tax_inclusive"]);
        assert_eq!(line["taxable_value"], p["taxable_value"]);
        assert_eq!(line["components"], p["tax_components"]);
        assert_eq!(line["tax"], p["tax"]);
        assert_eq!(line["total"], p["total"]);
        assert_eq!(line["sac"], "999293");
    }
    let (t, s) = (&invoice["totals"], &snapshot["totals"]);
    assert_eq!(t["amount"], s["subtotal"]);
    assert_eq!(t["discount"], s["discount"]);
    assert_eq!(t["taxable_value"], s["taxable_value"]);
    assert_eq!(t["tax"], s["tax"]);
    assert_eq!(t["total"], s["total"]);
    let summary = &snapshot["tax"]["components"];
    for (field, kind) in [("cgst", "cgst"), ("sgst", "sgst"), ("igst", "igst")] {
        assert_eq!(
            t[field].as_i64().unwrap(),
            component(summary, kind),
            "{field}"
        );
    }
    assert_eq!(invoice["currency"], snapshot["currency"]);
    assert_eq!(invoice["document_type"], "tax_invoice");
}
