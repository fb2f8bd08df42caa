//! B2B checkout with a GSTIN: the GSTIN's state is the place of supply of the estimate
//! and of the frozen price, the order keeps it, and a bad one is refused (2062) before
//! anything is written. The supplier is in Karnataka (the default `pricing.supplier_state`).

use reqwest::Method;
use serde_json::{Value, json};

use crate::fixtures::*;
use crate::helpers::TestApp;
use crate::shop::Shop;

/// Karnataka (29), the supplier's state; made-up PANs, check characters computed.
const KA_GSTIN: &str = "29AAKCT4821M1ZR";
/// Maharashtra (27).
const MH_GSTIN: &str = "27BQWPS7305K1ZY";

/// 4,999.00 + 5,999.00, tax-exclusive: 18 % is 899.82 + 1,079.82 = 1,979.64, which
/// splits into CGST 989.82 + SGST 989.82 within Karnataka.
fn two_items() -> Value {
    json!({"items": [{"internship_id": WEB, "plan_id": WEB_1M},
                     {"internship_id": DS, "plan_id": DS_1M}]})
}

async fn estimate(app: &TestApp, cart: &str, address: Value) -> (u16, Value) {
    post(
        app,
        "/api/v1/cart/estimate",
        json!({"cart_token": cart, "billing_address": address}),
    )
    .await
}

fn kinds(pricing: &Value) -> Vec<(String, i64)> {
    pricing["tax"]["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["kind"].as_str().unwrap().to_owned(),
                c["amount"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gstin_estimate_taxes_by_the_gstins_state_whatever_the_billing_state() {
    let app = TestApp::spawn().await;
    load_catalog(&app).await;
    let cart = new_cart(&app, two_items()).await;
    let cart = cart["token"].as_str().unwrap();

    // a Maharashtra GSTIN billed in Karnataka (the supplier's state): IGST
    let (status, body) = estimate(
        &app,
        cart,
        json!({"country": "IN", "state": "KA", "postal_code": "560001", "gstin": MH_GSTIN}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let p = &body["data"]["pricing"];
    assert_eq!(p["tax"]["place_of_supply"]["kind"], "inter_state", "{p}");
    assert_eq!(p["tax"]["place_of_supply"]["state"], "MH");
    assert_eq!(p["tax"]["gstin"], MH_GSTIN);
    assert_eq!(kinds(p), [("igst".to_owned(), 197_964)]);
    assert_eq!(p["totals"]["total"], 1_099_800 + 197_964);

    // a Karnataka GSTIN billed in Maharashtra: CGST + SGST
    let (status, body) = estimate(
        &app,
        cart,
        json!({"country": "IN", "state": "MH", "gstin": KA_GSTIN}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let p = &body["data"]["pricing"];
    assert_eq!(p["tax"]["place_of_supply"]["kind"], "intra_state", "{p}");
    assert_eq!(p["tax"]["gstin"], KA_GSTIN);
    assert_eq!(
        kinds(p),
        [("cgst".to_owned(), 98_982), ("sgst".to_owned(), 98_982)]
    );

    // without a GSTIN the billing state decides, as before, and no `gstin` key appears
    let (_, body) = estimate(&app, cart, json!({"country": "IN", "state": "MH"})).await;
    let p = &body["data"]["pricing"];
    assert_eq!(p["tax"]["place_of_supply"]["kind"], "inter_state");
    assert!(p["tax"].get("gstin").is_none(), "{p}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_gstin_is_2062_naming_the_field_and_the_rule() {
    let app = TestApp::spawn().await;
    load_catalog(&app).await;
    let cart = new_cart(&app, two_items()).await;
    let cart = cart["token"].as_str().unwrap();
    for (gstin, says) in [
        ("29AAKCT4821M1Z", "15 characters"),
        ("29aakct4821m1zr", "capital letters"),
        ("99AAKCT4821M1ZR", "state code"),
        ("29AAKCT48211M1R", "PAN"),
        ("29AAKCT4821M0ZR", "character 13"),
        ("29AAKCT4821M1ZQ", "check character"),
    ] {
        let got = estimate(
            &app,
            cart,
            json!({"country": "IN", "state": "KA", "gstin": gstin}),
        )
        .await;
        let error = assert_error(&got, 422, 2062);
        let message = error["validation_messages"][0].as_str().unwrap();
        assert!(
            message.starts_with("billing_address.gstin: ") && message.contains(says),
            "{gstin}: {error}"
        );
        assert!(error["message"].as_str().unwrap().contains(says), "{error}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_with_a_gstin_keeps_it_on_the_order_and_in_the_frozen_price() {
    let shop = Shop::start(true, |_| {}).await;
    let student = shop.student(1).await;
    let cart = shop
        .cart(&student, &[(WEB, WEB_1M), (DS, DS_1M)], None)
        .await;
    let (status, body) = shop
        .call(
            Method::POST,
            "/api/v1/order",
            Some(&student),
            Some(json!({"cart_token": cart, "billing_address":
                {"country": "IN", "state": "MH", "postal_code": "400001", "gstin": KA_GSTIN}})),
        )
        .await;
    assert!(status == 201 || status == 202, "{status} {body}");
    assert_eq!(body["data"]["gstin"], KA_GSTIN);
    let token = body["data"]["order_token"].as_str().unwrap().to_owned();

    // the price step froze the Karnataka place of supply, and the GSTIN with it
    let order = shop.wait_session(&student, &token).await;
    assert_eq!(order["gstin"], KA_GSTIN);
    let price = &order["price"];
    assert_eq!(price["tax"]["gstin"], KA_GSTIN, "{price}");
    assert_eq!(price["tax"]["place_of_supply"]["kind"], "intra_state");
    assert_eq!(
        kinds(price),
        [("cgst".to_owned(), 98_982), ("sgst".to_owned(), 98_982)]
    );
    assert_eq!(order["total"], 1_099_800 + 197_964);
    shop.assert_count(
        &format!("select count(*) from orders where gstin = '{KA_GSTIN}' and billing_address->>'gstin' = '{KA_GSTIN}'"),
        1,
    )
    .await;

    let shown = crate::helpers::admin(&shop.app.db, &["orders", "show", &token]);
    let text = String::from_utf8(shown.stdout).unwrap();
    assert!(
        text.contains(&format!("gstin {KA_GSTIN}")) && text.contains("Karnataka"),
        "{:?}: {text}{}",
        shown.status,
        String::from_utf8_lossy(&shown.stderr)
    );
    let shown = crate::helpers::admin(&shop.app.db, &["--json", "orders", "show", &token]);
    let shown: Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(shown["gstin"], KA_GSTIN);
}

/// `POST /order` with an `Idempotency-Key`, as a storefront sends it.
async fn order_with_key(shop: &Shop, student: &str, key: &str, body: Value) -> (u16, Value) {
    let resp = shop
        .app
        .client
        .post(shop.app.url("/api/v1/order"))
        .bearer_auth(student)
        .header("Idempotency-Key", key)
        .json(&body)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_with_a_bad_gstin_is_refused_and_writes_nothing() {
    let shop = Shop::start(true, |_| {}).await;
    let student = shop.student(1).await;
    let cart = shop.cart(&student, &[(WEB, WEB_1M)], None).await;
    let key = uuid::Uuid::new_v4().to_string();
    let body = |gstin: &str| {
        json!({"cart_token": cart, "billing_address":
            {"country": "IN", "state": "KA", "gstin": gstin}})
    };
    let got = order_with_key(&shop, &student, &key, body("29AAKCT4821M1ZQ")).await;
    let error = assert_error(&got, 422, 2062);
    assert!(
        error["validation_messages"][0]
            .as_str()
            .unwrap()
            .contains("check character"),
        "{error}"
    );
    shop.assert_count("select count(*) from orders", 0).await;
    shop.assert_count("select count(*) from sagas", 0).await;
    shop.assert_count("select count(*) from carts where status = 'converted'", 0)
        .await;

    // the refusal was not stored under the key: the corrected retry with it runs
    let (status, got) = order_with_key(&shop, &student, &key, body(MH_GSTIN)).await;
    assert!(status == 201 || status == 202, "{status} {got}");
    assert_eq!(got["data"]["gstin"], MH_GSTIN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_without_a_gstin_has_none() {
    let shop = Shop::start(true, |_| {}).await;
    let student = shop.student(1).await;
    let cart = shop.cart(&student, &[(WEB, WEB_1M)], None).await;
    let (status, body) = shop.order(&student, &cart, None).await;
    assert!(status == 201 || status == 202, "{status} {body}");
    assert!(body["data"]["gstin"].is_null(), "{body}");
    let token = body["data"]["order_token"].as_str().unwrap();
    let order = shop.wait_session(&student, token).await;
    assert!(order["price"]["tax"].get("gstin").is_none(), "{order}");
    assert!(
        shop.count(
            "select count(*) from orders where gstin is null and not billing_address ? 'gstin'"
        )
        .await
            == 1
    );
}
