//! Carts: every endpoint, status and error code, pricing through the API, and
//! concurrent writes.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use crate::fixtures::*;
use crate::helpers::TestApp;

fn two_items() -> Value {
    json!({"items": [
        {"internship_id": WEB, "plan_id": WEB_1M},
        {"internship_id": "data-science", "period": {"value": 1, "unit": "month"}, "cohort_id": DS_COHORT}
    ]})
}

async fn app_with_catalog() -> TestApp {
    let app = TestApp::spawn().await;
    load_catalog(&app).await;
    app
}

async fn item_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("select count(*) from cart_items")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

async fn cart_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("select count(*) from carts")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn create_returns_token_items_pricing_and_expiry() {
    let app = app_with_catalog().await;
    let mut body = two_items();
    body["device_id"] = json!("device-42");
    body["analytics"] = json!({"utm_source": "newsletter"});
    let cart = new_cart(&app, body).await;
    let token = cart["token"].as_str().unwrap();
    assert_eq!(token.len(), 43, "256 random bits, base64url");
    assert_eq!(cart["status"], "active");
    assert_eq!(cart["currency"], "INR");
    assert_eq!(cart["device_id"], "device-42");
    let items = cart["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["plan_id"], WEB_1M);
    assert_eq!(items[0]["title"], "Web Development (1 month)");
    assert_eq!(items[1]["plan_id"], DS_1M);
    assert_eq!(items[1]["cohort_id"], DS_COHORT);
    assert_eq!(cart["pricing"]["totals"]["subtotal"], 499_900 + 599_900);
    assert_eq!(cart["pricing"]["totals"]["total"], 499_900 + 599_900);
    assert!(cart["pricing"]["tax"].is_null(), "no address, no tax yet");
    let expires: DateTime<Utc> = cart["expires_at"].as_str().unwrap().parse().unwrap();
    let ttl = expires - Utc::now();
    assert!(
        ttl > Duration::hours(23) && ttl <= Duration::hours(24),
        "{ttl}"
    );

    let (analytics, pricing): (Value, Value) =
        sqlx::query_as("select analytics_data, pricing from carts where token = $1")
            .bind(token)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(analytics[0]["data"]["utm_source"], "newsletter");
    assert_eq!(pricing["totals"]["subtotal"], 1_099_800);

    let (status, got) = get(&app, &format!("/api/v1/cart/{token}")).await;
    assert_eq!(status, 200);
    assert_eq!(got["data"]["items"], cart["items"]);
    assert_eq!(got["data"]["pricing"]["totals"], cart["pricing"]["totals"]);
}

#[tokio::test]
async fn prd_proxy_path_creates_a_draft_cart_and_ttl_is_configurable() {
    let app = TestApp::spawn_with(|s| s.cart.ttl_secs = 3600).await;
    let (status, body) = post(&app, "/api-proxy/api/cart", json!({})).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["data"]["status"], "draft");
    assert_eq!(body["data"]["items"], json!([]));
    let expires: DateTime<Utc> = body["data"]["expires_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(expires - Utc::now() <= Duration::hours(1));
}

#[tokio::test]
async fn add_same_plan_raises_quantity_and_status_follows_items() {
    let app = app_with_catalog().await;
    let cart = new_cart(&app, json!({})).await;
    let token = cart["token"].as_str().unwrap();
    let v0 = cart["version"].as_i64().unwrap();
    let path = format!("/api/v1/cart/{token}/items");
    let (status, body) = post(
        &app,
        &path,
        json!({"internship_id": "web", "plan_id": WEB_1M}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["status"], "active");
    let (_, body) = post(
        &app,
        &path,
        json!({"internship_id": WEB, "plan_id": WEB_1M, "quantity": 2}),
    )
    .await;
    let items = body["data"]["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "one row per program and plan");
    assert_eq!(items[0]["quantity"], 3);
    assert_eq!(body["data"]["pricing"]["totals"]["subtotal"], 3 * 499_900);
    assert!(body["data"]["version"].as_i64().unwrap() >= v0 + 2);
    assert!(body["data"]["updated_at"].as_str() > cart["updated_at"].as_str());

    let item = items[0]["id"].as_str().unwrap();
    let (status, body) = delete(&app, &format!("/api/v1/cart/{token}/item/{item}")).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["status"], "draft");
    assert_eq!(item_count(&app).await, 0);
    let got = delete(&app, &format!("/api/v1/cart/{token}/item/{item}")).await;
    assert_error(&got, 404, 1004);
}

#[tokio::test]
async fn quantity_out_of_range_is_422_1006_and_changes_nothing() {
    let app = app_with_catalog().await;
    let cart = new_cart(
        &app,
        json!({"items": [{"internship_id": WEB, "plan_id": WEB_1M, "quantity": 4}]}),
    )
    .await;
    let path = format!("/api/v1/cart/{}/items", cart["token"].as_str().unwrap());
    for quantity in [0, -1, 6] {
        let got = post(
            &app,
            &path,
            json!({"internship_id": DS, "plan_id": DS_1M, "quantity": quantity}),
        )
        .await;
        let err = assert_error(&got, 422, 1006);
        assert!(
            err["validation_messages"][0]
                .as_str()
                .unwrap()
                .starts_with("quantity")
        );
    }
    // 4 + 2 exceeds the default maximum of 5
    let got = post(
        &app,
        &path,
        json!({"internship_id": WEB, "plan_id": WEB_1M, "quantity": 2}),
    )
    .await;
    assert_error(&got, 422, 1006);
    let quantities: Vec<i32> = sqlx::query_scalar("select quantity from cart_items")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(quantities, [4]);
    // on create too: no cart is made
    let got = post(
        &app,
        "/api/v1/cart",
        json!({"items": [{"internship_id": WEB, "plan_id": WEB_1M, "quantity": 0}]}),
    )
    .await;
    assert_error(&got, 422, 1006);
    assert_eq!(cart_count(&app).await, 1);
}

#[tokio::test]
async fn too_many_items_is_422_1005() {
    let app = TestApp::spawn_with(|s| s.cart.max_items = 2).await;
    load_catalog(&app).await;
    let cart = new_cart(&app, two_items()).await;
    let path = format!("/api/v1/cart/{}/items", cart["token"].as_str().unwrap());
    let got = post(&app, &path, json!({"internship_id": UX, "plan_id": UX_1M})).await;
    assert_error(&got, 422, 1005);
    assert_eq!(item_count(&app).await, 2);
    // more of an item already there is fine
    let (status, _) = post(
        &app,
        &path,
        json!({"internship_id": WEB, "plan_id": WEB_1M}),
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn unknown_catalog_entries_are_404_with_their_codes_and_archived_is_1104() {
    let app = app_with_catalog().await;
    let cart = new_cart(&app, json!({})).await;
    let path = format!("/api/v1/cart/{}/items", cart["token"].as_str().unwrap());
    let unknown = "00000000-0000-4000-8000-00000000ffff";
    let got = post(
        &app,
        &path,
        json!({"internship_id": "nope", "plan_id": WEB_1M}),
    )
    .await;
    assert_error(&got, 404, 1101);
    let got = post(
        &app,
        &path,
        json!({"internship_id": WEB, "plan_id": unknown}),
    )
    .await;
    assert_error(&got, 404, 1102);
    let got = post(&app, &path, json!({"internship_id": WEB, "plan_id": DS_1M})).await;
    assert_error(&got, 404, 1102);
    let got = post(
        &app,
        &path,
        json!({"internship_id": WEB, "period": {"value": 2, "unit": "year"}}),
    )
    .await;
    assert_error(&got, 404, 1102);
    let got = post(
        &app,
        &path,
        json!({"internship_id": WEB, "plan_id": WEB_1M, "cohort_id": unknown}),
    )
    .await;
    assert_error(&got, 404, 1103);
    let got = post(
        &app,
        &path,
        json!({"internship_id": WEB, "plan_id": WEB_1M, "cohort_id": DS_COHORT}),
    )
    .await;
    assert_error(&got, 404, 1103);
    let got = post(
        &app,
        &path,
        json!({"internship_id": OLD, "plan_id": OLD_3M}),
    )
    .await;
    assert_error(&got, 422, 1104);
    let got = post(&app, &path, json!({"internship_id": WEB})).await;
    assert_error(&got, 422, 9002);
    assert_eq!(item_count(&app).await, 0);
    let got = get(&app, "/api/v1/cart/not-a-token").await;
    assert_error(&got, 404, 1001);
    let got = post(
        &app,
        "/api/v1/cart/not-a-token/items",
        json!({"internship_id": WEB, "plan_id": WEB_1M}),
    )
    .await;
    assert_error(&got, 404, 1001);
}

#[tokio::test]
async fn client_cannot_send_prices_totals_or_statuses() {
    let app = app_with_catalog().await;
    let cart = new_cart(&app, json!({})).await;
    let token = cart["token"].as_str().unwrap();
    for field in ["price", "total", "tax", "discount", "status"] {
        let mut body = json!({"internship_id": WEB, "plan_id": WEB_1M});
        body[field] = json!(1);
        let got = post(&app, &format!("/api/v1/cart/{token}/items"), body).await;
        let err = assert_error(&got, 422, 9002);
        assert!(
            err["validation_messages"][0]
                .as_str()
                .unwrap()
                .contains(field),
            "{err}"
        );
        let got = post(&app, "/api/v1/cart", json!({"items": [], field: 1})).await;
        assert_error(&got, 422, 9002);
    }
    let got = post(
        &app,
        "/api/v1/cart/estimate",
        json!({"cart_token": token, "billing_address": {"country": "IN", "state": "KA", "tax": 0}}),
    )
    .await;
    assert_error(&got, 422, 9002);
    let resp = app
        .client
        .post(app.url(&format!("/api/v1/cart/{token}/items")))
        .header("content-type", "application/json")
        .body("{\"internship_id\": ")
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap();
    assert_error(&(status, body), 400, 9001);
    assert_eq!(item_count(&app).await, 0);
}

#[tokio::test]
async fn expired_cart_answers_1002_everywhere() {
    let app = app_with_catalog().await;
    for how in [
        "update carts set expires_at = now() - interval '1 second'",
        "update carts set status = 'expired'",
    ] {
        let cart = new_cart(&app, two_items()).await;
        let token = cart["token"].as_str().unwrap().to_owned();
        let item = cart["items"][0]["id"].as_str().unwrap().to_owned();
        sqlx::query(sqlx::AssertSqlSafe(format!("{how} where token = $1")))
            .bind(&token)
            .execute(&app.pool)
            .await
            .unwrap();
        let base = format!("/api/v1/cart/{token}");
        assert_error(&get(&app, &base).await, 410, 1002);
        assert_error(
            &post(
                &app,
                &format!("{base}/items"),
                json!({"internship_id": UX, "plan_id": UX_1M}),
            )
            .await,
            410,
            1002,
        );
        assert_error(
            &put(&app, &format!("{base}/plan/{WEB_3M}")).await,
            410,
            1002,
        );
        assert_error(
            &delete(&app, &format!("{base}/item/{item}")).await,
            410,
            1002,
        );
        assert_error(
            &post(&app, &format!("{base}/coupon"), json!({"code": "SAVE10"})).await,
            410,
            1002,
        );
        assert_error(&delete(&app, &format!("{base}/coupon")).await, 410, 1002);
        assert_error(&get(&app, &format!("{base}/discounts")).await, 410, 1002);
        assert_error(
            &post(
                &app,
                "/api/v1/cart/estimate",
                json!({"cart_token": token, "billing_address": {"country": "IN", "state": "KA"}}),
            )
            .await,
            410,
            1002,
        );
    }
    assert_eq!(item_count(&app).await, 4, "nothing changed");
}

#[tokio::test]
async fn converted_cart_is_readable_but_read_only() {
    let app = app_with_catalog().await;
    let cart = new_cart(&app, two_items()).await;
    let token = cart["token"].as_str().unwrap();
    let item = cart["items"][0]["id"].as_str().unwrap();
    sqlx::query("update carts set status = 'converted' where token = $1")
        .bind(token)
        .execute(&app.pool)
        .await
        .unwrap();
    let base = format!("/api/v1/cart/{token}");
    let (status, body) = get(&app, &base).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["status"], "converted");
    let (status, _) = get(&app, &format!("{base}/discounts")).await;
    assert_eq!(status, 200);
    let (status, _) = post(
        &app,
        "/api/v1/cart/estimate",
        json!({"cart_token": token, "billing_address": {"country": "IN", "state": "KA"}}),
    )
    .await;
    assert_eq!(status, 200);
    assert_error(
        &post(
            &app,
            &format!("{base}/items"),
            json!({"internship_id": UX, "plan_id": UX_1M}),
        )
        .await,
        409,
        1003,
    );
    assert_error(
        &put(&app, &format!("{base}/plan/{WEB_3M}")).await,
        409,
        1003,
    );
    assert_error(
        &delete(&app, &format!("{base}/item/{item}")).await,
        409,
        1003,
    );
    assert_error(
        &post(&app, &format!("{base}/coupon"), json!({"code": "SAVE10"})).await,
        409,
        1003,
    );
    assert_error(&delete(&app, &format!("{base}/coupon")).await, 409, 1003);
    assert_eq!(item_count(&app).await, 2);
}

#[tokio::test]
async fn switching_plan_moves_the_programs_item() {
    let app = app_with_catalog().await;
    let cart = new_cart(&app, two_items()).await;
    let token = cart["token"].as_str().unwrap();
    let (status, body) = put(&app, &format!("/api/v1/cart/{token}/plan/{WEB_3M}")).await;
    assert_eq!(status, 200, "{body}");
    let items = body["data"]["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(
        items[0]["id"], cart["items"][0]["id"],
        "same item, new plan"
    );
    assert_eq!(items[0]["plan_id"], WEB_3M);
    assert_eq!(
        body["data"]["pricing"]["totals"]["subtotal"],
        1_299_900 + 599_900
    );
    // the cart has no UI/UX item
    assert_error(
        &put(&app, &format!("/api/v1/cart/{token}/plan/{UX_1M}")).await,
        404,
        1004,
    );
    assert_error(
        &put(
            &app,
            &format!("/api/v1/cart/{token}/plan/00000000-0000-4000-8000-00000000ffff"),
        )
        .await,
        404,
        1102,
    );
    let (status, body) = put(&app, &format!("/api/v1/cart/{token}/plan/not-a-uuid")).await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn coupons_apply_refuse_with_their_codes_and_come_off() {
    let app = app_with_catalog().await;
    let cart = new_cart(&app, two_items()).await;
    let token = cart["token"].as_str().unwrap();
    let path = format!("/api/v1/cart/{token}/coupon");
    assert_error(&post(&app, &path, json!({"code": "NOPE"})).await, 422, 2004);
    let err = assert_error(
        &post(&app, &path, json!({"code": "oldcode"})).await,
        422,
        2043,
    );
    assert!(
        err["message"].as_str().unwrap().contains("expired"),
        "{err}"
    );
    let err = assert_error(
        &post(&app, &path, json!({"code": "BIGSPEND"})).await,
        422,
        2049,
    );
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("minimum order is"),
        "{err}"
    );
    assert_error(
        &post(&app, &path, json!({"code": "PERUSER"})).await,
        422,
        2045,
    );

    let (status, body) = post(&app, &path, json!({"code": " save10 "})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["coupon_code"], "SAVE10");
    assert_eq!(
        body["data"]["pricing"]["totals"]["coupon_discount"],
        109_980
    );
    assert_eq!(
        body["data"]["pricing"]["lines"][0]["coupon_discount"],
        49_990
    );
    assert_eq!(
        body["data"]["pricing"]["totals"]["total"],
        1_099_800 - 109_980
    );
    let (status, _) = post(&app, &path, json!({"code": "SAVE10"})).await;
    assert_eq!(status, 200, "the same code again is fine");
    let err = assert_error(
        &post(&app, &path, json!({"code": "SECRET"})).await,
        422,
        2040,
    );
    assert!(err["message"].as_str().unwrap().contains("SAVE10"));
    let used: i32 = sqlx::query_scalar("select used_count from coupons where code = 'SAVE10'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(used, 0, "applying does not use the coupon");

    let (status, body) = delete(&app, &path).await;
    assert_eq!(status, 200);
    assert!(body["data"]["coupon_code"].is_null());
    assert_eq!(body["data"]["pricing"]["totals"]["coupon_discount"], 0);

    // a restricted coupon on a cart without its program
    let web_only = new_cart(
        &app,
        json!({"items": [{"internship_id": WEB, "plan_id": WEB_1M}]}),
    )
    .await;
    let web_path = format!(
        "/api/v1/cart/{}/coupon",
        web_only["token"].as_str().unwrap()
    );
    assert_error(
        &post(&app, &web_path, json!({"code": "DSONLY"})).await,
        422,
        2048,
    );
}

#[tokio::test]
async fn coupon_that_stops_applying_stays_with_a_notice() {
    let app = app_with_catalog().await;
    let cart = new_cart(&app, two_items()).await;
    let token = cart["token"].as_str().unwrap();
    let (status, _) = post(
        &app,
        &format!("/api/v1/cart/{token}/coupon"),
        json!({"code": "DSONLY"}),
    )
    .await;
    assert_eq!(status, 200);
    let ds_item = cart["items"][1]["id"].as_str().unwrap();
    let (status, body) = delete(&app, &format!("/api/v1/cart/{token}/item/{ds_item}")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["coupon_code"], "DSONLY");
    assert_eq!(body["data"]["pricing"]["totals"]["coupon_discount"], 0);
    assert_eq!(body["data"]["notices"][0]["subject"], "coupon");
    assert_eq!(
        body["data"]["notices"][0]["reason"],
        "not_applicable_to_items"
    );
}

#[tokio::test]
async fn sales_apply_automatically_and_unknown_or_ended_ones_create_nothing() {
    let app = app_with_catalog().await;
    let mut body =
        json!({"items": [{"internship_id": WEB, "plan_id": WEB_1M}], "sale_slug": "spring"});
    let cart = new_cart(&app, body.clone()).await;
    assert_eq!(cart["sale_slug"], "spring");
    assert_eq!(cart["pricing"]["totals"]["sale_discount"], 99_980);
    assert_eq!(cart["pricing"]["totals"]["total"], 399_920);
    body["sale_slug"] = json!("nope");
    assert_error(&post(&app, "/api/v1/cart", body.clone()).await, 422, 2051);
    body["sale_slug"] = json!("over");
    let err = assert_error(&post(&app, "/api/v1/cart", body).await, 422, 2052);
    assert!(err["message"].as_str().unwrap().contains("ended"), "{err}");
    assert_eq!(cart_count(&app).await, 1);
}

#[tokio::test]
async fn discounts_list_sale_and_applicable_listed_coupons_with_savings() {
    let app = app_with_catalog().await;
    let cart = new_cart(
        &app,
        json!({"items": [{"internship_id": WEB, "plan_id": WEB_1M}], "sale_slug": "spring"}),
    )
    .await;
    let token = cart["token"].as_str().unwrap();
    let (status, body) = get(&app, &format!("/api/v1/cart/{token}/discounts")).await;
    assert_eq!(status, 200, "{body}");
    let d = &body["data"];
    assert_eq!(d["currency"], "INR");
    assert_eq!(d["sale"]["slug"], "spring");
    assert_eq!(d["sale"]["saves"], 99_980);
    let codes: Vec<&str> = d["coupons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        ["SAVE10"],
        "BIGSPEND's minimum is not met; unlisted ones are hidden"
    );
    // 10 % of what the sale left
    assert_eq!(d["coupons"][0]["saves"], 39_992);
    assert_eq!(d["coupons"][0]["applied"], false);

    let (status, _) = post(
        &app,
        &format!("/api/v1/cart/{token}/coupon"),
        json!({"code": "SECRET"}),
    )
    .await;
    assert_eq!(status, 200);
    let (_, body) = get(&app, &format!("/api/v1/cart/{token}/discounts")).await;
    let coupons = body["data"]["coupons"].as_array().unwrap();
    let secret = coupons.iter().find(|c| c["code"] == "SECRET").unwrap();
    assert_eq!(secret["applied"], true);
    assert_eq!(secret["listed"], false);
    assert_eq!(secret["saves"], 10_000);
    assert!(coupons.iter().any(|c| c["code"] == "SAVE10"));
}

async fn estimate(
    app: &TestApp,
    token: &str,
    address: Value,
    currency: Option<&str>,
) -> (u16, Value) {
    let mut body = json!({"cart_token": token, "billing_address": address});
    if let Some(c) = currency {
        body["currency"] = json!(c);
    }
    post(app, "/api/v1/cart/estimate", body).await
}

#[tokio::test]
async fn estimate_intra_state_inter_state_and_export() {
    let app = app_with_catalog().await;
    let cart = new_cart(&app, two_items()).await;
    let token = cart["token"].as_str().unwrap();

    // Karnataka is the supplier state: CGST 9 % + SGST 9 %. 18 % of 4,999.00 is
    // 899.82 (CGST 449.91 + SGST 449.91); of 5,999.00 is 1,079.82.
    let (status, body) = estimate(
        &app,
        token,
        json!({"country": "IN", "state": "Karnataka", "postal_code": "560001"}),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let p = &body["data"]["pricing"];
    assert_eq!(p["tax"]["place_of_supply"]["kind"], "intra_state");
    assert_eq!(p["totals"]["tax"], 89_982 + 107_982);
    assert_eq!(p["totals"]["total"], 1_099_800 + 197_964);
    let components = p["tax"]["components"].as_array().unwrap();
    assert_eq!(components.len(), 2);
    assert_eq!(components[0]["kind"], "cgst");
    assert_eq!(components[0]["amount"], 98_982);
    assert_eq!(components[1]["kind"], "sgst");
    assert_eq!(components[1]["amount"], 98_982);

    let (_, body) = estimate(&app, token, json!({"country": "IN", "state": "MH"}), None).await;
    let p = &body["data"]["pricing"];
    assert_eq!(p["tax"]["place_of_supply"]["kind"], "inter_state");
    assert_eq!(p["tax"]["components"][0]["kind"], "igst");
    assert_eq!(p["tax"]["components"][0]["amount"], 197_964);
    assert_eq!(p["totals"]["total"], 1_297_764);

    let (_, body) = estimate(
        &app,
        token,
        json!({"country": "US", "postal_code": "94105"}),
        None,
    )
    .await;
    let p = &body["data"]["pricing"];
    assert_eq!(p["tax"]["place_of_supply"]["kind"], "export");
    assert_eq!(p["totals"]["tax"], 0);
    assert_eq!(p["totals"]["total"], 1_099_800);

    assert_error(
        &estimate(
            &app,
            token,
            json!({"country": "IN", "state": "Atlantis"}),
            None,
        )
        .await,
        422,
        2061,
    );
    assert_error(
        &estimate(&app, token, json!({"country": "IN"}), None).await,
        422,
        2061,
    );
    assert_error(
        &estimate(&app, "nope", json!({"country": "IN", "state": "KA"}), None).await,
        404,
        1001,
    );
}

#[tokio::test]
async fn tax_inclusive_plan_backs_tax_out_and_keeps_the_total() {
    let app = app_with_catalog().await;
    let cart = new_cart(
        &app,
        json!({"items": [{"internship_id": UX, "plan_id": UX_1M}]}),
    )
    .await;
    let (_, body) = estimate(
        &app,
        cart["token"].as_str().unwrap(),
        json!({"country": "IN", "state": "TN"}),
        None,
    )
    .await;
    let p = &body["data"]["pricing"];
    // 1,180.00 including 18 %: taxable 1,000.00, IGST 180.00
    assert_eq!(p["totals"]["taxable_value"], 100_000);
    assert_eq!(p["totals"]["tax"], 18_000);
    assert_eq!(p["totals"]["total"], 118_000);
}

#[tokio::test]
async fn currencies_convert_per_line_and_missing_or_stale_rates_are_errors() {
    let app = app_with_catalog().await;
    let cart = new_cart(
        &app,
        json!({"items": two_items()["items"], "currency": "usd"}),
    )
    .await;
    assert_eq!(cart["currency"], "USD");
    // 4,999.00 x 0.012 = 59.988 -> 59.99; 5,999.00 x 0.012 = 71.988 -> 71.99
    assert_eq!(cart["pricing"]["lines"][0]["amount"], 5_999);
    assert_eq!(cart["pricing"]["lines"][1]["amount"], 7_199);
    assert_eq!(cart["pricing"]["totals"]["subtotal"], 13_198);
    assert_eq!(cart["pricing"]["fx"]["quote"], "USD");
    assert_eq!(cart["pricing"]["fx"]["rate"], "0.0120000000");

    let token = cart["token"].as_str().unwrap();
    let (status, body) = estimate(&app, token, json!({"country": "SG"}), None).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["currency"], "USD");
    assert_eq!(body["data"]["pricing"]["totals"]["total"], 13_198);
    // an INR cart estimated in USD
    let inr = new_cart(&app, two_items()).await;
    let (_, body) = estimate(
        &app,
        inr["token"].as_str().unwrap(),
        json!({"country": "US"}),
        Some("USD"),
    )
    .await;
    assert_eq!(body["data"]["pricing"]["totals"]["total"], 13_198);
    assert_error(
        &estimate(&app, token, json!({"country": "US"}), Some("EUR")).await,
        422,
        2002,
    );
    assert_error(
        &estimate(&app, token, json!({"country": "US"}), Some("XYZ")).await,
        422,
        2001,
    );

    assert_error(
        &post(&app, "/api/v1/cart", json!({"currency": "XYZ"})).await,
        422,
        2001,
    );
    assert_error(
        &post(&app, "/api/v1/cart", json!({"currency": "EUR"})).await,
        422,
        2002,
    );
    let err = assert_error(
        &post(&app, "/api/v1/cart", json!({"currency": "GBP"})).await,
        503,
        2003,
    );
    assert_eq!(err["retryable"], true);
    assert_eq!(cart_count(&app).await, 2, "failed creations leave no cart");
}

#[tokio::test]
async fn fifty_concurrent_additions_lose_none() {
    let app = TestApp::spawn_with(|s| {
        s.cart.max_items = 100;
        // 50 writes at once from one address are above the cart-write burst
        s.ratelimit.cart_write_burst = 1_000;
        s.ratelimit.cart_write_per_minute = 100_000;
    })
    .await;
    let plans: Vec<String> = (0..50).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    let catalog = json!({"programs": [{"slug": "bulk", "title": "Bulk", "plans": plans.iter().enumerate()
        .map(|(i, id)| json!({"id": id, "period": {"value": i + 1, "unit": "month"}, "price_minor": 1_000 * (i as i64 + 1)}))
        .collect::<Vec<_>>()}]});
    checkout::admin::catalog::import(&app.pool, &catalog.to_string())
        .await
        .unwrap();
    let cart = new_cart(&app, json!({})).await;
    let path = format!("/api/v1/cart/{}/items", cart["token"].as_str().unwrap());
    let adds = plans.iter().map(|plan| {
        let app = &app;
        let path = path.clone();
        async move {
            post(
                app,
                &path,
                json!({"internship_id": "bulk", "plan_id": plan}),
            )
            .await
            .0
        }
    });
    let statuses = futures::future::join_all(adds).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let (_, body) = get(
        &app,
        &format!("/api/v1/cart/{}", cart["token"].as_str().unwrap()),
    )
    .await;
    assert_eq!(body["data"]["items"].as_array().unwrap().len(), 50);
    assert_eq!(
        body["data"]["pricing"]["totals"]["subtotal"],
        (1..=50).map(|i| 1_000 * i).sum::<i64>()
    );
    // 1 at insert, 2 after the creation write, then one per addition
    assert_eq!(body["data"]["version"], 52);
    assert_eq!(item_count(&app).await, 50);
}
