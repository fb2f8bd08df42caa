//! Idempotency-Key through the real layer stack: probe POST handlers that count their
//! runs, behind `api::with_layers`, on a real database.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use checkout::api::layers::extract::ApiJson;
use checkout::api::{ApiError, ApiResult, layers::envelope::Reply};
use checkout::store::idempotency as store;
use serde_json::{Value, json};

use crate::helpers::{ProbeServer, TestApp};

#[derive(Clone, Default)]
struct Runs(Arc<AtomicUsize>);

impl Runs {
    fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct NewOrder {
    name: String,
}

/// Slow enough that concurrent retries arrive while it runs.
async fn create(State(runs): State<Runs>, ApiJson(o): ApiJson<NewOrder>) -> Reply<Value> {
    runs.0.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(300)).await;
    Reply::created(json!({"id": uuid::Uuid::new_v4(), "name": o.name}))
}

async fn fail(State(runs): State<Runs>) -> ApiResult<Reply<()>> {
    runs.0.fetch_add(1, Ordering::SeqCst);
    Err(ApiError::Internal(anyhow::anyhow!("the database exploded")))
}

async fn probe() -> (ProbeServer, Runs) {
    let runs = Runs::default();
    let routes = Router::new()
        .route("/probe/orders", post(create))
        .route("/probe/fail", post(fail))
        .with_state(runs.clone());
    (ProbeServer::spawn(routes, true, |_| {}).await, runs)
}

async fn post_json(p: &ProbeServer, path: &str, key: &str, body: &Value) -> reqwest::Response {
    p.client
        .post(p.url(path))
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn parts(r: reqwest::Response) -> (u16, Option<String>, Value) {
    let status = r.status().as_u16();
    let replayed = r
        .headers()
        .get("idempotent-replayed")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, replayed, r.json().await.unwrap())
}

#[tokio::test]
async fn twenty_concurrent_retries_run_the_handler_once() {
    let (p, runs) = probe().await;
    let p = Arc::new(p);
    let body = json!({"name": "order-1"});
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (p, body) = (p.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let r = post_json(&p, "/probe/orders", "key-concurrent", &body).await;
            let retry_after = r.headers().get("retry-after").is_some();
            let (status, _, json) = parts(r).await;
            (status, retry_after, json)
        }));
    }
    let (mut created, mut conflicts) = (Vec::new(), 0);
    for t in tasks {
        let (status, retry_after, json) = t.await.unwrap();
        match status {
            201 => created.push(json),
            409 => {
                assert_eq!(json["error"]["code"], 6002, "{json}");
                assert_eq!(json["error"]["retryable"], true);
                assert!(retry_after);
                conflicts += 1;
            }
            other => panic!("unexpected {other}: {json}"),
        }
    }
    assert_eq!(runs.get(), 1, "the handler ran more than once");
    assert!(!created.is_empty());
    assert!(conflicts > 0, "no retry arrived while the first ran");
    assert!(created.iter().all(|c| c == &created[0]), "{created:?}");

    // after completion: the stored answer, marked as a replay
    let (status, replayed, json) =
        parts(post_json(&p, "/probe/orders", "key-concurrent", &body).await).await;
    assert_eq!((status, replayed.as_deref()), (201, Some("true")));
    assert_eq!(json, created[0]);
    assert_eq!(runs.get(), 1);
    let state: String =
        sqlx::query_scalar("select state from idempotency_keys where key = 'key-concurrent'")
            .fetch_one(&p.pool)
            .await
            .unwrap();
    assert_eq!(state, "completed");
}

#[tokio::test]
async fn a_used_key_with_another_request_is_422() {
    let (p, runs) = probe().await;
    let (status, _, _) =
        parts(post_json(&p, "/probe/orders", "k1", &json!({"name": "a"})).await).await;
    assert_eq!(status, 201);
    let (status, _, json) =
        parts(post_json(&p, "/probe/orders", "k1", &json!({"name": "b"})).await).await;
    assert_eq!(status, 422);
    assert_eq!(json["error"]["code"], 6001);
    // another path with the same key is another request too
    let (status, _, json) =
        parts(post_json(&p, "/probe/fail", "k1", &json!({"name": "a"})).await).await;
    assert_eq!((status, json["error"]["code"].as_u64()), (422, Some(6001)));
    assert_eq!(runs.get(), 1);
}

#[tokio::test]
async fn server_errors_are_stored_and_replayed() {
    let (p, runs) = probe().await;
    let (s1, r1, first) = parts(post_json(&p, "/probe/fail", "k5", &json!({})).await).await;
    let (s2, r2, second) = parts(post_json(&p, "/probe/fail", "k5", &json!({})).await).await;
    assert_eq!((s1, r1), (500, None));
    assert_eq!((s2, r2.as_deref()), (500, Some("true")));
    assert_eq!(first, second);
    assert_eq!(first["error"]["code"], 9000);
    assert_eq!(runs.get(), 1);
}

#[tokio::test]
async fn validation_failures_are_not_stored() {
    let (p, runs) = probe().await;
    let (status, _, json) =
        parts(post_json(&p, "/probe/orders", "k7", &json!({"name": 5})).await).await;
    assert_eq!((status, json["error"]["code"].as_u64()), (422, Some(9002)));
    let rows: i64 = sqlx::query_scalar("select count(*) from idempotency_keys")
        .fetch_one(&p.pool)
        .await
        .unwrap();
    assert_eq!(rows, 0);
    // the corrected retry with the same key runs
    let (status, replayed, _) =
        parts(post_json(&p, "/probe/orders", "k7", &json!({"name": "ok"})).await).await;
    assert_eq!((status, replayed), (201, None));
    assert_eq!(runs.get(), 1);
}

#[tokio::test]
async fn invalid_keys_are_422() {
    let (p, runs) = probe().await;
    for key in [
        reqwest::header::HeaderValue::from_str(&"k".repeat(256)).unwrap(),
        reqwest::header::HeaderValue::from_bytes("clé".as_bytes()).unwrap(),
        reqwest::header::HeaderValue::from_static(""),
    ] {
        let r = p
            .client
            .post(p.url("/probe/orders"))
            .header("idempotency-key", key)
            .json(&json!({"name": "a"}))
            .send()
            .await
            .unwrap();
        let (status, _, json) = parts(r).await;
        assert_eq!(
            (status, json["error"]["code"].as_u64()),
            (422, Some(6003)),
            "{json}"
        );
    }
    assert_eq!(runs.get(), 0);
}

#[tokio::test]
async fn keys_are_scoped_to_the_caller() {
    let (p, runs) = probe().await;
    for token in ["alice-token", "bob-token"] {
        let r = p
            .client
            .post(p.url("/probe/orders"))
            .bearer_auth(token)
            .header("idempotency-key", "shared")
            .json(&json!({"name": "x"}))
            .send()
            .await
            .unwrap();
        assert_eq!(parts(r).await.1, None, "a replay across callers");
    }
    assert_eq!(runs.get(), 2);
    let scopes: Vec<String> = sqlx::query_scalar("select scope from idempotency_keys")
        .fetch_all(&p.pool)
        .await
        .unwrap();
    assert!(
        scopes
            .iter()
            .all(|s| s.starts_with("bearer:") && !s.contains("token")),
        "{scopes:?}"
    );
}

/// Inserts an `in_progress` claim for `key` as the probe's client would make it.
async fn claim_row(p: &ProbeServer, key: &str, body: &Value, locked_secs_ago: i64) {
    let fingerprint = store::Fingerprint {
        method: "POST".into(),
        path: "/probe/orders".into(),
        body_sha256: checkout::api::layers::caller::sha256_hex(body.to_string().as_bytes()),
    };
    assert!(
        store::claim(
            &p.pool,
            "addr:127.0.0.1",
            key,
            &fingerprint,
            uuid::Uuid::new_v4(),
            3600
        )
        .await
        .unwrap()
    );
    sqlx::query(
        "update idempotency_keys set locked_at = now() - make_interval(secs => $2) where key = $1",
    )
    .bind(key)
    .bind(locked_secs_ago as f64)
    .execute(&p.pool)
    .await
    .unwrap();
}

#[tokio::test]
async fn a_crashed_claim_is_taken_over_after_the_lock_timeout() {
    let (p, runs) = probe().await;
    let body = json!({"name": "x"});
    claim_row(&p, "fresh", &body, 1).await;
    claim_row(&p, "stale", &body, 120).await;
    let (status, _, json) = parts(post_json(&p, "/probe/orders", "fresh", &body).await).await;
    assert_eq!((status, json["error"]["code"].as_u64()), (409, Some(6002)));
    let (status, _, _) = parts(post_json(&p, "/probe/orders", "stale", &body).await).await;
    assert_eq!(status, 201);
    assert_eq!(runs.get(), 1);
}

#[tokio::test]
async fn expired_keys_are_pruned() {
    let (p, _) = probe().await;
    let body = json!({"name": "x"});
    claim_row(&p, "old", &body, 0).await;
    claim_row(&p, "new", &body, 0).await;
    sqlx::query(
        "update idempotency_keys set expires_at = now() - interval '1 minute' where key = 'old'",
    )
    .execute(&p.pool)
    .await
    .unwrap();
    let pruned = store::prune_expired(&p.pool, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(pruned, 1);
    let left: Vec<String> = sqlx::query_scalar("select key from idempotency_keys")
        .fetch_all(&p.pool)
        .await
        .unwrap();
    assert_eq!(left, ["new"]);
}

#[tokio::test]
async fn routing_errors_on_the_real_router_are_not_stored() {
    let app = TestApp::spawn().await;
    let r = app
        .client
        .post(app.url("/healthz"))
        .header("idempotency-key", "k")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    let rows: i64 = sqlx::query_scalar("select count(*) from idempotency_keys")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(rows, 0);
}
