//! A small test catalog (fixed ids, dates relative to now) and JSON request helpers.

use chrono::{Duration, Utc};
use serde_json::{Value, json};

use crate::helpers::TestApp;

pub const WEB: &str = "00000000-0000-4000-8000-000000000001";
pub const DS: &str = "00000000-0000-4000-8000-000000000002";
pub const UX: &str = "00000000-0000-4000-8000-000000000003";
pub const OLD: &str = "00000000-0000-4000-8000-000000000004";
pub const WEB_1M: &str = "00000000-0000-4000-8000-000000000011";
pub const WEB_3M: &str = "00000000-0000-4000-8000-000000000012";
pub const DS_1M: &str = "00000000-0000-4000-8000-000000000013";
pub const UX_1M: &str = "00000000-0000-4000-8000-000000000014";
pub const OLD_3M: &str = "00000000-0000-4000-8000-000000000015";
pub const WEB_COHORT: &str = "00000000-0000-4000-8000-000000000021";
pub const WEB_PAST_COHORT: &str = "00000000-0000-4000-8000-000000000022";
pub const DS_COHORT: &str = "00000000-0000-4000-8000-000000000023";

/// The catalog: web (1 and 3 months, tax-exclusive), data science (1 month), UI/UX
/// (1 month, tax-inclusive), an archived program; coupons, sales, USD (fresh) and GBP
/// (stale) rates.
pub fn catalog() -> Value {
    let now = Utc::now();
    json!({
        "programs": [
            {"id": WEB, "slug": "web", "title": "Web Development", "plans": [
                {"id": WEB_3M, "period": {"value": 3, "unit": "month"}, "price_minor": 1_299_900},
                {"id": WEB_1M, "period": {"value": 1, "unit": "month"}, "price_minor": 499_900}],
             "cohorts": [
                {"id": WEB_COHORT, "starts_on": "2099-01-04", "capacity": 10},
                {"id": WEB_PAST_COHORT, "starts_on": "2020-01-06", "capacity": 10}]},
            {"id": DS, "slug": "data-science", "title": "Data Science", "plans": [
                {"id": DS_1M, "period": {"value": 1, "unit": "month"}, "price_minor": 599_900}],
             "cohorts": [{"id": DS_COHORT, "starts_on": "2099-02-01", "capacity": 5}]},
            {"id": UX, "slug": "ui-ux", "title": "UI/UX Design", "plans": [
                {"id": UX_1M, "period": {"value": 1, "unit": "month"}, "price_minor": 118_000,
                 "tax_inclusive": true}]},
            {"id": OLD, "slug": "android", "title": "Android", "status": "archived", "plans": [
                {"id": OLD_3M, "period": {"value": 3, "unit": "month"}, "price_minor": 100_000}]}
        ],
        "coupons": [
            {"code": "SAVE10", "discount": {"type": "percent", "value": "10"}, "listed": true,
             "description": "10% off"},
            {"code": "BIGSPEND", "discount": {"type": "fixed", "value": 50_000},
             "min_subtotal": 10_000_000, "listed": true},
            {"code": "SECRET", "discount": {"type": "fixed", "value": 10_000}},
            {"code": "ONCE", "discount": {"type": "percent", "value": "5"}, "global_limit": 1},
            {"code": "PERUSER", "discount": {"type": "percent", "value": "5"}, "per_user_limit": 2},
            {"code": "OLDCODE", "discount": {"type": "percent", "value": "5"},
             "valid_until": "2020-01-01T00:00:00Z"},
            {"code": "DSONLY", "discount": {"type": "percent", "value": "20"}, "programs": ["data-science"]}
        ],
        "sales": [
            {"slug": "spring", "discount": {"type": "percent", "value": "20"},
             "valid_from": (now - Duration::days(1)).to_rfc3339()},
            {"slug": "over", "discount": {"type": "percent", "value": "20"},
             "valid_from": "2019-01-01T00:00:00Z", "valid_until": "2020-01-01T00:00:00Z"}
        ],
        "fx_rates": [
            {"quote": "USD", "rate": "0.012", "as_of": (now - Duration::hours(1)).to_rfc3339()},
            {"quote": "GBP", "rate": "0.0095", "as_of": (now - Duration::days(30)).to_rfc3339()}
        ]
    })
}

pub async fn load_catalog(app: &TestApp) {
    checkout::admin::catalog::import(&app.pool, &catalog().to_string())
        .await
        .unwrap();
}

pub async fn call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = app.client.request(method, app.url(path));
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

pub async fn get(app: &TestApp, path: &str) -> (u16, Value) {
    call(app, reqwest::Method::GET, path, None).await
}

pub async fn post(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    call(app, reqwest::Method::POST, path, Some(body)).await
}

pub async fn put(app: &TestApp, path: &str) -> (u16, Value) {
    call(app, reqwest::Method::PUT, path, None).await
}

pub async fn delete(app: &TestApp, path: &str) -> (u16, Value) {
    call(app, reqwest::Method::DELETE, path, None).await
}

/// Creates a cart and returns its data.
pub async fn new_cart(app: &TestApp, body: Value) -> Value {
    let (status, body) = post(app, "/api/v1/cart", body).await;
    assert_eq!(status, 201, "{body}");
    body["data"].clone()
}

/// Asserts an error envelope with `status` and `code`; returns the error object.
#[track_caller]
pub fn assert_error(got: &(u16, Value), status: u16, code: u32) -> Value {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(got.1["success"], false, "{}", got.1);
    assert_eq!(got.1["error"]["code"], code, "{}", got.1);
    assert!(got.1["error"]["correlation_id"].is_string());
    got.1["error"].clone()
}
