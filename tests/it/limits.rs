//! Rate limits (in process and shared through Redis by two `checkout serve` processes),
//! header, depth and card-data guards, CORS and security headers.

use std::time::Duration;

use axum::Router;
use axum::routing::post;
use checkout::api::layers::envelope::Reply;
use checkout::api::layers::extract::ApiJson;
use serde_json::{Value, json};

use crate::fixtures::{UX, UX_1M};
use crate::helpers::{ProbeServer, Proc, TestApp, TestDb};
use crate::shop::Shop;

fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

async fn echo(ApiJson(v): ApiJson<Value>) -> Reply<Value> {
    Reply::ok(v)
}

async fn status_and_code(r: reqwest::Response) -> (u16, Option<u64>) {
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    (status, body["error"]["code"].as_u64())
}

#[tokio::test]
async fn over_the_limit_is_429_with_retry_after() {
    let app = TestApp::spawn_with(|s| {
        s.ratelimit.set_quota("address", 1, 3);
    })
    .await;
    for _ in 0..3 {
        let r = app.client.get(app.url("/healthz")).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    let r = app.client.get(app.url("/healthz")).send().await.unwrap();
    let retry_after: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(status_and_code(r).await, (429, Some(429)));
}

#[tokio::test]
async fn webhooks_are_exempt_from_rate_limits() {
    let routes = Router::new().route("/api/v1/webhooks/probe", post(echo));
    let p = ProbeServer::spawn(routes, false, |s| {
        s.ratelimit.set_quota("address", 1, 1);
        s.ratelimit.set_quota("default", 1, 1);
    })
    .await;
    for _ in 0..5 {
        let r = p
            .client
            .post(p.url("/api/v1/webhooks/probe"))
            .json(&json!({"payment": {"card": {"exp_month": 12, "last4": "4242"}}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "webhook limited or refused");
    }
}

#[tokio::test]
async fn redis_counters_are_shared_by_two_api_processes() {
    let db = TestDb::create().await;
    let prefix = format!("checkout-test:{}:", uuid::Uuid::new_v4().simple());
    let redis = redis_url();
    let env = [
        ("CHECKOUT__RATELIMIT__REDIS_URL", redis.as_str()),
        ("CHECKOUT__RATELIMIT__KEY_PREFIX", prefix.as_str()),
        ("CHECKOUT__RATELIMIT__ADDRESS_PER_MINUTE", "1"),
        ("CHECKOUT__RATELIMIT__ADDRESS_BURST", "4"),
    ];
    let a = Proc::spawn(&["serve", "--port", "0"], &db.url, &env);
    let b = Proc::spawn(&["serve", "--port", "0"], &db.url, &env);
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    for i in 0..6 {
        let addr = if i % 2 == 0 { a.addr } else { b.addr }.unwrap();
        let r = client
            .get(format!("http://{addr}/healthz"))
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    // 4 in total across both processes, not 4 each
    assert_eq!(statuses, [200, 200, 200, 200, 429, 429]);
}

#[tokio::test]
async fn an_unreachable_redis_fails_open() {
    let app = TestApp::spawn_with(|s| {
        s.ratelimit.redis_url = Some("redis://127.0.0.1:1".to_owned().into());
        s.ratelimit.set_quota("address", 1, 1);
    })
    .await;
    for _ in 0..3 {
        let r = app.client.get(app.url("/healthz")).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    let metrics = checkout::telemetry::metrics_handle().render();
    assert!(
        metrics.contains("ratelimit_backend_errors_total"),
        "{metrics}"
    );
}

/// Enrollment opens and a college's students, all behind one NAT address, register,
/// log in, look at their carts and order, with the default limits and the counters in
/// Redis as in production: nobody gets 429. The calls are sent as fast as the test
/// machine allows; they fit the address ceiling's burst, so they would pass arriving
/// within any shorter time too, down to all at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_hundred_students_behind_one_address_enroll_without_429() {
    use futures::StreamExt;
    let prefix = format!("checkout-test:{}:", uuid::Uuid::new_v4().simple());
    let shop = Shop::start(true, |s| {
        s.ratelimit = checkout::config::RateLimitSettings {
            redis_url: Some(redis_url().into()),
            key_prefix: prefix,
            ..Default::default()
        };
        s.auth.login_window_secs = checkout::config::AuthSettings::default().login_window_secs;
        s.database.max_connections = 30;
    })
    .await;
    let started = std::time::Instant::now();
    let statuses: Vec<Vec<(&str, u16)>> = futures::stream::iter(0..300)
        .map(|i| student_enrolls(&shop, i))
        .buffer_unordered(40)
        .collect()
        .await;
    let elapsed = started.elapsed();
    let calls: Vec<&(&str, u16)> = statuses.iter().flatten().collect();
    let limited: Vec<_> = calls.iter().filter(|(_, s)| *s == 429).collect();
    assert!(
        limited.is_empty(),
        "{} calls got 429: {limited:?}",
        limited.len()
    );
    let failed: Vec<_> = calls.iter().filter(|(_, s)| *s >= 300).collect();
    assert!(failed.is_empty(), "{failed:?}");
    assert!(calls.len() >= 300 * 8, "{}", calls.len());
    println!("{} calls from one address in {elapsed:?}", calls.len());
}

/// One student's enrollment calls, as (what, status).
async fn student_enrolls(shop: &Shop, i: usize) -> Vec<(&'static str, u16)> {
    use reqwest::Method;
    let mut out = Vec::new();
    let email = format!("student{i}@college.example");
    let password = "Internship-2026!";
    let (status, _) = shop
        .call(
            Method::POST,
            "/api/v1/auth/register",
            None,
            Some(json!({"email": email, "name": "Student", "password": password})),
        )
        .await;
    out.push(("register", status));
    let (status, body) = shop
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": email, "password": password})),
        )
        .await;
    out.push(("login", status));
    let Some(token) = body["data"]["access_token"].as_str().map(str::to_owned) else {
        return out;
    };
    let token = Some(token.as_str());
    let (status, body) = shop
        .call(
            Method::POST,
            "/api/v1/cart",
            token,
            Some(json!({"items": [{"internship_id": UX, "plan_id": UX_1M}]})),
        )
        .await;
    out.push(("cart", status));
    let Some(cart) = body["data"]["token"].as_str().map(str::to_owned) else {
        return out;
    };
    let (status, _) = shop
        .call(
            Method::POST,
            &format!("/api/v1/cart/{cart}/auth/check"),
            token,
            None,
        )
        .await;
    out.push(("auth/check", status));
    let (status, _) = shop
        .call(Method::GET, &format!("/api/v1/cart/{cart}"), token, None)
        .await;
    out.push(("get cart", status));
    let (status, _) = shop.call(Method::GET, "/api/v1/auth/me", token, None).await;
    out.push(("me", status));
    let (status, body) = shop
        .call(
            Method::POST,
            "/api/v1/order",
            token,
            Some(json!({"cart_token": cart,
                "billing_address": {"country": "IN", "state": "MH", "postal_code": "400001"}})),
        )
        .await;
    out.push(("order", status));
    if let Some(order) = body["data"]["order_token"].as_str() {
        let (status, _) = shop
            .call(Method::GET, &format!("/api/v1/order/{order}"), token, None)
            .await;
        out.push(("get order", status));
    }
    out
}

/// 10,000 requests a minute from one address is a flood: past the ceiling (a minute's
/// worth at once, then 50 a second) it gets 429.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flood_from_one_address_is_limited() {
    use futures::StreamExt;
    let app = TestApp::spawn().await;
    let started = std::time::Instant::now();
    let statuses: Vec<u16> = futures::stream::iter(0..10_000)
        .map(|_| async {
            app.client
                .get(app.url("/healthz"))
                .send()
                .await
                .map_or(0, |r| r.status().as_u16())
        })
        .buffer_unordered(64)
        .collect()
        .await;
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(60),
        "not a flood: {elapsed:?}"
    );
    let ok = statuses.iter().filter(|s| **s == 200).count();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(ok + limited, 10_000, "other answers");
    let allowed = 3_000 + (elapsed.as_secs_f64() * 50.0).ceil() as usize + 10;
    assert!(
        (3_000..=allowed).contains(&ok),
        "{ok} passed in {elapsed:?}"
    );
}

/// The group quotas still protect each cart: one cart written from many addresses is
/// limited, while another cart from the same addresses is not.
#[tokio::test]
async fn a_cart_is_limited_whatever_address_writes_to_it() {
    let app = TestApp::spawn_with(|s| {
        s.ratelimit.trusted_proxies = vec!["127.0.0.1".into()];
        s.ratelimit.set_quota("cart_write", 1, 3);
    })
    .await;
    crate::fixtures::load_catalog(&app).await;
    let new_cart = || async {
        let r = app
            .client
            .post(app.url("/api/v1/cart"))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        let body: Value = r.json().await.unwrap();
        body["data"]["token"].as_str().unwrap().to_owned()
    };
    let write = |cart: String, i: usize| {
        app.client
            .post(app.url(&format!("/api/v1/cart/{cart}/items")))
            .header("x-forwarded-for", format!("10.4.0.{i}"))
            .json(&json!({"internship_id": UX, "plan_id": UX_1M}))
            .send()
    };
    let cart = new_cart().await;
    let mut statuses = Vec::new();
    for i in 0..5 {
        statuses.push(write(cart.clone(), i).await.unwrap().status().as_u16());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        2,
        "{statuses:?}"
    );
    let other = new_cart().await;
    let status = write(other, 0).await.unwrap().status().as_u16();
    assert_ne!(status, 429);
}

/// `/metrics` (internal names, rates, queue depths) is not on the public listener; it
/// is served on `http.metrics_addr`.
#[tokio::test]
async fn metrics_are_not_on_the_public_listener() {
    let db = TestDb::create().await;
    let metrics_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let metrics_addr = format!("127.0.0.1:{metrics_port}");
    let serve = Proc::spawn(
        &["serve", "--port", "0"],
        &db.url,
        &[("CHECKOUT__HTTP__METRICS_ADDR", metrics_addr.as_str())],
    );
    let api = serve.addr.unwrap();
    let client = reqwest::Client::new();
    client
        .get(format!("http://{api}/healthz"))
        .send()
        .await
        .unwrap();
    let public = client
        .get(format!("http://{api}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), 404);
    let private = client
        .get(format!("http://{metrics_addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(private.status(), 200);
    let text = private.text().await.unwrap();
    assert!(text.contains("http_requests_total"), "{text}");
}

#[tokio::test]
async fn too_many_or_too_large_headers_are_431() {
    let app = TestApp::spawn().await;
    let mut req = app.client.get(app.url("/healthz"));
    for i in 0..70 {
        req = req.header(format!("x-h{i}"), "v");
    }
    assert_eq!(
        status_and_code(req.send().await.unwrap()).await,
        (431, Some(9009))
    );
    let r = app
        .client
        .get(app.url("/healthz"))
        .header("x-big", "v".repeat(20 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(status_and_code(r).await, (431, Some(9009)));
}

async fn echo_probe() -> ProbeServer {
    ProbeServer::spawn(Router::new().route("/echo", post(echo)), false, |_| {}).await
}

#[tokio::test]
async fn deeply_nested_json_is_422() {
    let p = echo_probe().await;
    let deep = format!("{}1{}", "[".repeat(40), "]".repeat(40));
    let r = p
        .client
        .post(p.url("/echo"))
        .header("content-type", "application/json")
        .body(deep)
        .send()
        .await
        .unwrap();
    assert_eq!(status_and_code(r).await, (422, Some(9002)));
    let ok = format!("{}1{}", "[".repeat(10), "]".repeat(10));
    let r = p
        .client
        .post(p.url("/echo"))
        .header("content-type", "application/json")
        .body(ok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn card_data_is_refused() {
    let p = echo_probe().await;
    for body in [
        json!({"payment": {"card_number": "4111111111111111"}}),
        json!({"cvv": "123"}),
        json!({"note": "5555 5555 5555 4444"}),
    ] {
        let r = p
            .client
            .post(p.url("/echo"))
            .json(&body)
            .send()
            .await
            .unwrap();
        let json: Value = r.json().await.unwrap();
        assert_eq!(json["error"]["code"], 6101, "{body}: {json}");
        let message = json["error"]["message"].as_str().unwrap();
        assert!(message.contains("hosted checkout"), "{message}");
        assert!(!json.to_string().contains("4111") && !json.to_string().contains("5555"));
    }
    let r = p
        .client
        .post(p.url("/echo"))
        .json(&json!({"name": "ok", "phone": "+919876543210"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn card_data_never_reaches_the_logs() {
    let db = TestDb::create().await;
    let env = [("CHECKOUT__LOG__LEVEL", "trace"), ("RUST_LOG", "trace")];
    let mut serve = Proc::spawn_logged(&["serve", "--port", "0"], &db.url, &env);
    let addr = serve.addr.unwrap();
    let r = reqwest::Client::new()
        .post(format!("http://{addr}/api/v1/order"))
        .header("x-correlation-id", "card-probe-1")
        .header("authorization", "Bearer secret-bearer-token")
        .json(&json!({"card_number": "4242424242424242", "cvv": "918", "exp_month": 4}))
        .send()
        .await
        .unwrap();
    assert_eq!(status_and_code(r).await, (422, Some(6101)));
    tokio::time::sleep(Duration::from_millis(300)).await;
    serve.terminate();
    let log = serve.log.as_ref().unwrap().lock().unwrap().clone();
    assert!(
        log.contains("card-probe-1"),
        "logs were not captured: {log}"
    );
    for secret in ["4242424242424242", "\"918\"", "secret-bearer-token"] {
        assert!(!log.contains(secret), "{secret} logged:\n{log}");
    }
}

#[tokio::test]
async fn cors_allows_listed_origins_only() {
    let app = TestApp::spawn_with(|s| {
        s.cors.allowed_origins = vec!["https://shop.example".into()];
    })
    .await;
    let get = |origin: &'static str| {
        app.client
            .get(app.url("/healthz"))
            .header("origin", origin)
            .send()
    };
    let r = get("https://shop.example").await.unwrap();
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://shop.example"
    );
    assert!(
        r.headers()
            .get("access-control-allow-credentials")
            .is_none()
    );
    let r = get("https://evil.example").await.unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());

    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/api/v1/order"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type,idempotency-key",
            )
            .send()
    };
    let r = preflight("https://shop.example").await.unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let h = r.headers();
    assert_eq!(h["access-control-allow-origin"], "https://shop.example");
    assert!(
        h["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );
    assert!(
        h["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("idempotency-key")
    );
    let r = preflight("https://evil.example").await.unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn security_headers_on_every_response() {
    let app = TestApp::spawn_with(|s| s.security.hsts_max_age_secs = Some(31_536_000)).await;
    for path in ["/healthz", "/no/such/route", "/docs"] {
        let r = app.client.get(app.url(path)).send().await.unwrap();
        let h = r.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(
            h["strict-transport-security"],
            "max-age=31536000; includeSubDomains"
        );
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'none'"), "{path}: {csp}");
        // the docs page runs its scripts, from this origin only
        assert_eq!(
            csp.contains("script-src 'self'"),
            path == "/docs",
            "{path}: {csp}"
        );
    }
    let plain = TestApp::spawn().await;
    let r = plain
        .client
        .get(plain.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("strict-transport-security").is_none());
}

/// Found by the contract test: PostgreSQL cannot store U+0000 in `text` or `jsonb`, so
/// a NUL in cart analytics (here in a key) used to fail at the insert with a 500.
#[tokio::test]
async fn nul_characters_in_a_body_are_422_not_500() {
    let app = TestApp::spawn().await;
    let r = app
        .client
        .post(app.url("/api/v1/cart"))
        .header("content-type", "application/json")
        .body(r#"{"analytics": {"k\u0000": {"v": "x\u0000y"}}, "device_id": "d"}"#)
        .send()
        .await
        .unwrap();
    let (status, code) = status_and_code(r).await;
    assert_eq!((status, code), (422, Some(9002)));
    let carts: i64 = sqlx::query_scalar("select count(*) from carts")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(carts, 0, "nothing was stored");
    // the same body without the NUL is accepted, so the refusal is about the NUL
    let r = app
        .client
        .post(app.url("/api/v1/cart"))
        .header("content-type", "application/json")
        .body(r#"{"analytics": {"k": {"v": "xy"}}, "device_id": "d"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
}

/// Found by the contract test: a `%00` in a path token reached PostgreSQL (500).
#[tokio::test]
async fn nul_characters_in_a_path_are_400_not_500() {
    let app = TestApp::spawn().await;
    for path in ["/api/v1/cart/a%00b", "/api/v1/internships/%00"] {
        let r = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(status_and_code(r).await, (400, Some(9001)), "{path}");
    }
    let r = app
        .client
        .get(app.url("/api/v1/internships/no-such-program"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404, "other unknown ids are still 404");
}
