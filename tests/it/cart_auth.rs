//! Cart ownership and cart-level login: guest carts by token, bound carts only for
//! their owner (404 for anyone else), carts created while logged in, the auth check,
//! binding at login (a no-op when already owned) and merging the student's carts.

use reqwest::Method;
use serde_json::{Value, json};

use crate::auth::{PASSWORD, register, spawn};
use crate::fixtures::*;
use crate::helpers::TestApp;

async fn app() -> TestApp {
    let app = spawn().await;
    load_catalog(&app).await;
    app
}

/// A request with an optional bearer token: (status, body).
async fn call_as(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = app.client.request(method, app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

fn one_item(program: &str, plan: &str, quantity: u32) -> Value {
    json!({"internship_id": program, "plan_id": plan, "quantity": quantity})
}

async fn cart_login(app: &TestApp, token: &str, email: &str) -> (u16, Value) {
    let path = format!("/api/v1/cart/{token}/auth/login");
    call_as(
        app,
        Method::POST,
        &path,
        None,
        Some(json!({"email": email, "password": PASSWORD})),
    )
    .await
}

async fn owner_of(app: &TestApp, token: &str) -> Option<uuid::Uuid> {
    sqlx::query_scalar("select user_id from carts where token = $1")
        .bind(token)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_bound_cart_opens_only_for_its_owner_and_is_404_for_anyone_else() {
    let app = app().await;
    let asha = register(&app, "asha@example.com").await;
    let ravi = register(&app, "ravi@example.com").await;
    let asha_at = asha["access_token"].as_str().unwrap();
    let ravi_at = ravi["access_token"].as_str().unwrap();
    let cart = new_cart(&app, json!({"items": [one_item(WEB, WEB_1M, 1)]})).await;
    let token = cart["token"].as_str().unwrap();
    let path = format!("/api/v1/cart/{token}");
    // a guest cart: the token alone opens it, whoever asks
    assert_eq!(call_as(&app, Method::GET, &path, None, None).await.0, 200);
    assert_eq!(
        call_as(&app, Method::GET, &path, Some(ravi_at), None)
            .await
            .0,
        200
    );

    let (status, body) = cart_login(&app, token, "asha@example.com").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        owner_of(&app, token).await.unwrap().to_string(),
        asha["user"]["id"]
    );

    let (status, body) = call_as(&app, Method::GET, &path, Some(asha_at), None).await;
    assert_eq!(status, 200, "{body}");
    for who in [None, Some(ravi_at)] {
        assert_error(
            &call_as(&app, Method::GET, &path, who, None).await,
            404,
            1001,
        );
        let add = call_as(
            &app,
            Method::POST,
            &format!("{path}/items"),
            who,
            Some(one_item(UX, UX_1M, 1)),
        )
        .await;
        assert_error(&add, 404, 1001);
        let estimate = call_as(
            &app,
            Method::POST,
            "/api/v1/cart/estimate",
            who,
            Some(json!({"cart_token": token, "billing_address": {"country": "IN", "state": "KA"}})),
        )
        .await;
        assert_error(&estimate, 404, 1001);
        let coupon = call_as(&app, Method::DELETE, &format!("{path}/coupon"), who, None).await;
        assert_error(&coupon, 404, 1001);
    }
    let items: i64 = sqlx::query_scalar("select count(*) from cart_items")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(items, 1, "nobody else changed the cart");
    // a bad token is refused as such, not treated as a guest
    let (status, body) = call_as(&app, Method::GET, &path, Some("garbage"), None).await;
    assert_eq!((status, body["error"]["code"].as_u64()), (401, Some(5003)));
}

#[tokio::test]
async fn a_cart_created_with_a_bearer_token_belongs_to_that_user() {
    let app = app().await;
    let asha = register(&app, "asha@example.com").await;
    let asha_at = asha["access_token"].as_str().unwrap();
    let (status, body) = call_as(
        &app,
        Method::POST,
        "/api/v1/cart",
        Some(asha_at),
        Some(json!({"items": [one_item(WEB, WEB_1M, 1)]})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["data"]["user_id"], asha["user"]["id"]);
    let token = body["data"]["token"].as_str().unwrap();
    let path = format!("/api/v1/cart/{token}");
    assert_error(
        &call_as(&app, Method::GET, &path, None, None).await,
        404,
        1001,
    );
    assert_eq!(
        call_as(&app, Method::GET, &path, Some(asha_at), None)
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn auth_check_reports_caller_ownership_and_guest_status() {
    let app = app().await;
    let asha = register(&app, "asha@example.com").await;
    let ravi = register(&app, "ravi@example.com").await;
    let asha_at = asha["access_token"].as_str().unwrap();
    let cart = new_cart(&app, json!({"items": [one_item(WEB, WEB_1M, 1)]})).await;
    let token = cart["token"].as_str().unwrap();
    let path = format!("/api/v1/cart/{token}/auth/check");
    let check = |who: Option<String>| {
        let app = &app;
        let path = path.clone();
        async move { call_as(app, Method::POST, &path, who.as_deref(), None).await }
    };

    let (status, body) = check(None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"],
        json!({"authenticated": false, "owns_cart": false, "guest_cart": true, "user_id": null})
    );
    let (_, body) = check(Some(asha_at.to_owned())).await;
    assert_eq!(body["data"]["authenticated"], true);
    assert_eq!(body["data"]["owns_cart"], false);
    assert_eq!(body["data"]["guest_cart"], true);

    cart_login(&app, token, "asha@example.com").await;
    let (_, body) = check(Some(asha_at.to_owned())).await;
    assert_eq!(body["data"]["owns_cart"], true);
    assert_eq!(body["data"]["guest_cart"], false);
    assert_error(&check(None).await, 404, 1001);
    assert_error(
        &check(Some(ravi["access_token"].as_str().unwrap().to_owned())).await,
        404,
        1001,
    );
}

#[tokio::test]
async fn cart_login_binds_once_and_again_is_a_no_op() {
    let app = app().await;
    register(&app, "asha@example.com").await;
    let cart = new_cart(
        &app,
        json!({"items": [one_item(WEB, WEB_1M, 1)], "device_id": "tablet-9"}),
    )
    .await;
    let token = cart["token"].as_str().unwrap();

    let (status, body) = cart_login(&app, token, "asha@example.com").await;
    assert_eq!(status, 200, "{body}");
    let data = &body["data"];
    assert_eq!(data["cart"]["token"], token, "the guest token survives");
    assert_eq!(data["cart"]["user_id"], data["auth"]["user"]["id"]);
    assert_eq!(data["merged_carts"], 0);
    assert!(data["auth"]["access_token"].is_string());
    let version = data["cart"]["version"].as_i64().unwrap();
    let session = data["auth"]["session_id"].as_str().unwrap();
    let device: Option<String> =
        sqlx::query_scalar("select device_id from auth_sessions where id = $1::uuid")
            .bind(session)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        device.as_deref(),
        Some("tablet-9"),
        "the session takes the cart's device"
    );

    let (status, again) = cart_login(&app, token, "asha@example.com").await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["data"]["cart"]["version"], version, "nothing changed");
    assert_eq!(again["data"]["merged_carts"], 0);

    // wrong password: refused, and another student cannot take the bound cart
    let (status, body) = call_as(
        &app,
        Method::POST,
        &format!("/api/v1/cart/{token}/auth/login"),
        None,
        Some(json!({"email": "asha@example.com", "password": "Wrong-Password-1"})),
    )
    .await;
    assert_eq!((status, body["error"]["code"].as_u64()), (401, Some(5004)));
    register(&app, "ravi@example.com").await;
    assert_error(
        &cart_login(&app, token, "ravi@example.com").await,
        404,
        1001,
    );
}

#[tokio::test]
async fn logging_in_to_a_guest_cart_merges_the_students_open_cart() {
    let app = app().await;
    let asha = register(&app, "asha@example.com").await;
    let asha_at = asha["access_token"].as_str().unwrap();
    // the student's existing cart: Web 3 months, Data Science x1, coupon SAVE10
    let (status, old) = call_as(
        &app,
        Method::POST,
        "/api/v1/cart",
        Some(asha_at),
        Some(json!({"items": [one_item(WEB, WEB_3M, 1), one_item(DS, DS_1M, 1)]})),
    )
    .await;
    assert_eq!(status, 201, "{old}");
    let old_token = old["data"]["token"].as_str().unwrap().to_owned();
    let (status, body) = call_as(
        &app,
        Method::POST,
        &format!("/api/v1/cart/{old_token}/coupon"),
        Some(asha_at),
        Some(json!({"code": "SAVE10"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // later, as a guest: Web 1 month, Data Science x2, UI/UX
    let guest = new_cart(
        &app,
        json!({"items": [one_item(WEB, WEB_1M, 1), one_item(DS, DS_1M, 2), one_item(UX, UX_1M, 1)]}),
    )
    .await;
    let token = guest["token"].as_str().unwrap();

    let (status, body) = cart_login(&app, token, "asha@example.com").await;
    assert_eq!(status, 200, "{body}");
    let cart = &body["data"]["cart"];
    assert_eq!(body["data"]["merged_carts"], 1);
    assert_eq!(cart["token"], token);
    let lines: Vec<(String, i64)> = cart["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["plan_id"].as_str().unwrap().to_owned(),
                i["quantity"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        vec![(WEB_1M.into(), 1), (DS_1M.into(), 2), (UX_1M.into(), 1)],
        "newer cart's plan for Web, max quantity for Data Science, union otherwise"
    );
    assert_eq!(
        cart["coupon_code"], "SAVE10",
        "the other cart's coupon, still valid"
    );
    let (status, merged): (String, Option<uuid::Uuid>) =
        sqlx::query_as("select status, merged_into from carts where token = $1")
            .bind(&old_token)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(status, "merged");
    let guest_id: uuid::Uuid = sqlx::query_scalar("select id from carts where token = $1")
        .bind(token)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(merged, Some(guest_id));
    assert_error(
        &call_as(
            &app,
            Method::GET,
            &format!("/api/v1/cart/{old_token}"),
            Some(asha_at),
            None,
        )
        .await,
        404,
        1001,
    );
}
