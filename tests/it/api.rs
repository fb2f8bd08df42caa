//! The API skeleton: envelope, errors, correlation ids, health, metrics, spec, shutdown.

use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use checkout::api::layers::extract::ApiJson;
use checkout::api::{self, layers::envelope::Reply};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::helpers::{ProbeServer, TestApp};

async fn json(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

#[tokio::test]
async fn unknown_route_is_404_in_the_envelope_with_correlation_id() {
    let app = TestApp::spawn().await;
    let resp = app
        .client
        .get(app.url("/api/v1/nope"))
        .header("x-correlation-id", "trace-123")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-correlation-id"], "trace-123");
    let (status, body) = json(resp).await;
    assert_eq!(status, 404);
    assert_eq!(body["success"], false);
    assert_eq!(body["status"], 404);
    assert_eq!(body["error"]["code"], 9003);
    assert_eq!(body["error"]["correlation_id"], "trace-123");
}

#[tokio::test]
async fn correlation_id_is_generated_and_unsafe_ones_replaced() {
    let app = TestApp::spawn().await;
    let resp = app.client.get(app.url("/healthz")).send().await.unwrap();
    let generated = resp.headers()["x-correlation-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(uuid::Uuid::parse_str(&generated).is_ok(), "{generated}");

    let resp = app
        .client
        .get(app.url("/nope"))
        .header("x-correlation-id", "evil\tvalue with spaces")
        .send()
        .await
        .unwrap();
    let echoed = resp.headers()["x-correlation-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_ne!(echoed, "evil\tvalue with spaces");
    let (_, body) = json(resp).await;
    assert_eq!(body["error"]["correlation_id"], echoed.as_str());
}

#[tokio::test]
async fn wrong_method_is_405_in_the_envelope() {
    let app = TestApp::spawn().await;
    let (status, body) = json(app.client.post(app.url("/healthz")).send().await.unwrap()).await;
    assert_eq!(status, 405);
    assert_eq!(body["error"]["code"], 9004);
}

#[tokio::test]
async fn health_and_readiness() {
    let app = TestApp::spawn().await;
    let (status, body) = json(app.client.get(app.url("/healthz")).send().await.unwrap()).await;
    assert_eq!((status, body["data"]["status"].as_str()), (200, Some("ok")));
    let (status, _) = json(app.client.get(app.url("/readyz")).send().await.unwrap()).await;
    assert_eq!(status, 200);

    // a migration this binary knows but the database lacks -> not ready
    sqlx::query("delete from _checkout_migrations")
        .execute(&app.pool)
        .await
        .unwrap();
    let (status, body) = json(app.client.get(app.url("/readyz")).send().await.unwrap()).await;
    assert_eq!(status, 503);
    assert_eq!(body["error"]["code"], 9008);
    assert_eq!(body["error"]["retryable"], true);
}

#[tokio::test]
async fn metrics_count_requests_by_route_template_and_status() {
    let app = TestApp::spawn().await;
    app.client.get(app.url("/healthz")).send().await.unwrap();
    app.client
        .get(app.url("/no/such/route"))
        .send()
        .await
        .unwrap();
    // this process's recorder, which the metrics listener renders
    let text = checkout::telemetry::metrics_handle().render();
    assert!(
        text.contains(r#"http_requests_total{route="/healthz",method="GET",status="200"}"#),
        "{text}"
    );
    assert!(
        text.contains(r#"route="unmatched",method="GET",status="404""#),
        "{text}"
    );
    assert!(
        text.contains("http_request_duration_seconds_bucket"),
        "{text}"
    );
}

#[tokio::test]
async fn openapi_spec_and_docs_are_served() {
    let app = TestApp::spawn().await;
    let (status, spec) = json(
        app.client
            .get(app.url("/openapi.json"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(spec["openapi"], "3.1.0");
    for path in ["/healthz", "/readyz", "/openapi.json", "/docs"] {
        assert!(
            spec["paths"].get(path).is_some(),
            "{path} missing from spec"
        );
    }
    let resp = app.client.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let page = resp.text().await.unwrap();
    // the page's initializer points the UI at the spec
    let initializer = app
        .client
        .get(app.url("/docs/swagger-initializer.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(initializer.status(), 200, "{page}");
    assert!(initializer.text().await.unwrap().contains("/openapi.json"));
}

/// `/docs` is Swagger UI, its files served by this process: the page and every file
/// it loads carry the docs policy (scripts, styles and requests from this origin only,
/// nothing inline); everything else keeps the API's `default-src 'none'`.
#[tokio::test]
async fn docs_and_their_files_carry_their_own_policy_and_the_rest_stays_strict() {
    let app = TestApp::spawn().await;
    let get = |path: String| {
        let request = app.client.get(app.url(&path));
        async move { request.send().await.unwrap() }
    };
    let policy = |r: &reqwest::Response| {
        r.headers()
            .get("content-security-policy")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };

    let page = get("/docs".into()).await;
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let docs_policy = policy(&page);
    let directives: Vec<&str> = docs_policy.split(';').map(str::trim).collect();
    for needed in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(directives.contains(&needed), "{needed}: {docs_policy}");
    }
    for loose in ["'unsafe-inline'", "'unsafe-eval'", "*", "http:", "https:"] {
        assert!(
            !directives.iter().any(|d| d.split(' ').any(|s| s == loose)),
            "{loose} in {docs_policy}"
        );
    }

    // every file the page references, by path on this server
    let html = page.text().await.unwrap();
    assert!(
        !html.contains("<script>") && !html.contains("<style"),
        "{html}"
    );
    let files: Vec<String> = html
        .split(['"', '\''])
        .filter(|s| s.starts_with("/docs/"))
        .map(str::to_owned)
        .collect();
    for file in [
        "/docs/swagger-ui-bundle.js",
        "/docs/swagger-initializer.js",
        "/docs/swagger-ui.css",
    ] {
        assert!(files.iter().any(|f| f == file), "{file} not loaded: {html}");
    }
    for file in &files {
        let r = get(file.clone()).await;
        assert_eq!(r.status(), 200, "{file}");
        assert_eq!(policy(&r), docs_policy, "{file}");
        let kind = r.headers()["content-type"].to_str().unwrap().to_owned();
        let expected = match file.rsplit('.').next() {
            Some("js") => "javascript",
            Some("css") => "text/css",
            Some("png") => "image/png",
            _ => "",
        };
        assert!(kind.contains(expected), "{file}: {kind}");
        assert_eq!(r.headers()["x-content-type-options"], "nosniff", "{file}");
    }
    let initializer = get("/docs/swagger-initializer.js".into())
        .await
        .text()
        .await
        .unwrap();
    assert!(
        initializer.contains(r#""url": "/openapi.json""#),
        "{initializer}"
    );
    // no badge from validator.swagger.io: the page asks nothing of another origin
    assert!(
        initializer.contains(r#""validatorUrl": "none""#),
        "{initializer}"
    );

    for path in [
        "/openapi.json",
        "/healthz",
        "/docs/no-such-file",
        "/api/v1/nope",
    ] {
        let r = get(path.into()).await;
        assert_eq!(
            policy(&r),
            "default-src 'none'; frame-ancestors 'none'",
            "{path}"
        );
    }
}

// --- the layers, exercised through probe routes behind the same stack ----------------

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Probe {
    name: String,
    quantity: u32,
}

async fn echo(ApiJson(p): ApiJson<Probe>) -> Reply<String> {
    Reply::ok(p.name)
}

async fn boom() -> Reply<()> {
    panic!("secret internal detail");
}

async fn slow() -> Reply<&'static str> {
    tokio::time::sleep(Duration::from_millis(600)).await;
    Reply::ok("done")
}

async fn probe_server() -> (String, ProbeServer) {
    let routes = Router::new()
        .route("/echo", post(echo))
        .route("/boom", get(boom))
        .route("/slow", get(slow));
    let probe = ProbeServer::spawn(routes, false, |s| s.http.request_timeout_ms = 300).await;
    (probe.base.clone(), probe)
}

#[tokio::test]
async fn malformed_json_is_400_naming_the_problem() {
    let (base, _t) = probe_server().await;
    let client = reqwest::Client::new();
    let (status, body) = json(
        client
            .post(format!("{base}/echo"))
            .header("content-type", "application/json")
            .body("{\"name\": \"x\",")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], 9001);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("line 1"),
        "{body}"
    );
}

#[tokio::test]
async fn unknown_or_mistyped_fields_are_422_naming_the_field() {
    let (base, _t) = probe_server().await;
    let client = reqwest::Client::new();
    let (status, body) = json(
        client
            .post(format!("{base}/echo"))
            .json(&serde_json::json!({"name": "x", "quantity": 1, "total": 0}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 422);
    assert!(
        body["error"]["validation_messages"][0]
            .as_str()
            .unwrap()
            .contains("total"),
        "{body}"
    );
    let (status, body) = json(
        client
            .post(format!("{base}/echo"))
            .json(&serde_json::json!({"name": "x", "quantity": "many"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 422);
    assert!(
        body["error"]["validation_messages"][0]
            .as_str()
            .unwrap()
            .contains("quantity"),
        "{body}"
    );
    let (status, _) = json(
        client
            .post(format!("{base}/echo"))
            .body("{}")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 415);
}

#[tokio::test]
async fn panic_is_500_in_the_envelope_without_internals() {
    let (base, _t) = probe_server().await;
    let resp = reqwest::get(format!("{base}/boom")).await.unwrap();
    let cid = resp.headers()["x-correlation-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let (status, body) = json(resp).await;
    assert_eq!(status, 500);
    assert_eq!(body["error"]["code"], 9000);
    assert_eq!(body["error"]["correlation_id"], cid.as_str());
    assert!(!body.to_string().contains("secret internal detail"));
}

#[tokio::test]
async fn slow_request_times_out_in_the_envelope() {
    let (base, _t) = probe_server().await;
    let (status, body) = json(reqwest::get(format!("{base}/slow")).await.unwrap()).await;
    assert_eq!(status, 503);
    assert_eq!(body["error"]["code"], 9007);
    assert_eq!(body["error"]["retryable"], true);
}

#[tokio::test]
async fn oversized_body_is_413() {
    let (base, _t) = probe_server().await;
    let big = format!(
        "{{\"name\": \"{}\", \"quantity\": 1}}",
        "x".repeat(100 * 1024)
    );
    let (status, body) = json(
        reqwest::Client::new()
            .post(format!("{base}/echo"))
            .header("content-type", "application/json")
            .body(big)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 413);
    assert_eq!(body["error"]["code"], 9006);
}

#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish() {
    let url = format!("{}/postgres", crate::helpers::server_url());
    let settings = crate::helpers::test_settings(&url);
    let pool = checkout::store::pool(&url, &settings.database).unwrap();
    let state = api::AppState::new(pool, settings).unwrap();
    let router = api::with_layers(Router::new().route("/slow", get(slow)), &state).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let token = CancellationToken::new();
    let server = tokio::spawn(api::serve(
        listener,
        router,
        token.clone(),
        Duration::from_secs(5),
    ));
    let request = tokio::spawn(reqwest::get(format!("{base}/slow")));
    tokio::time::sleep(Duration::from_millis(150)).await;
    token.cancel();
    let resp = request.await.unwrap().unwrap();
    assert_eq!(resp.status(), 200);
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_client_trickling_its_headers_is_disconnected() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let router = Router::new().route("/slow", get(slow));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let token = CancellationToken::new();
    tokio::spawn(api::serve_with(
        listener,
        router,
        token.clone(),
        Duration::from_secs(1),
        Duration::from_millis(300),
    ));
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // never finish the headers: the server must hang up within the header timeout
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "connection still open after 5 s");
    token.cancel();
}
