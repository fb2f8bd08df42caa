//! Test helpers: a sandbox and a webhook receiver on real sockets (port 0),
//! and fast settings so retries and breakers act in milliseconds.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use tokio::sync::oneshot;

use super::{Faults, Sandbox, SandboxState};
use crate::config::{PaymentsSettings, RazorpaySettings, SandboxSettings, StripeSettings};
use crate::gateways::{CreateSession, GatewayKind};

pub struct TestSandbox {
    pub state: SandboxState,
    /// `http://addr/sandbox`
    pub base: String,
    pub http: reqwest::Client,
    _stop: oneshot::Sender<()>,
}

pub fn fast_sandbox_settings() -> SandboxSettings {
    SandboxSettings {
        webhook_max_attempts: 4,
        webhook_retry_base_ms: 20,
        webhook_retry_max_ms: 100,
        webhook_timeout_ms: 1_000,
        fault_hang_ms: 1_000,
        ..Default::default()
    }
}

pub async fn spawn_sandbox(settings: SandboxSettings) -> TestSandbox {
    let sandbox = Sandbox::bind(settings, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let state = sandbox.state();
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(sandbox.run(async move {
        let _ = rx.await;
    }));
    TestSandbox {
        base: state.base_url(),
        state,
        http: reqwest::Client::new(),
        _stop: tx,
    }
}

impl TestSandbox {
    pub fn razorpay_settings(&self) -> RazorpaySettings {
        RazorpaySettings {
            timeout_ms: 500,
            ..self.state.settings().razorpay_client(&self.base)
        }
    }

    pub fn stripe_settings(&self) -> StripeSettings {
        StripeSettings {
            timeout_ms: 500,
            ..self.state.settings().stripe_client(&self.base)
        }
    }

    pub fn faults(&self, gateway: GatewayKind, faults: Faults) {
        self.state.set_faults(gateway, faults);
    }

    pub async fn control_get(&self, path: &str) -> serde_json::Value {
        self.http
            .get(format!("{}/control{path}", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn control_post(
        &self,
        path: &str,
        body: serde_json::Value,
    ) -> (StatusCode, serde_json::Value) {
        let response = self
            .http
            .post(format!("{}/control{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
        (status, response.json().await.unwrap_or_default())
    }

    pub async fn pay(&self, id: &str, outcome: &str) -> serde_json::Value {
        let (status, body) = self
            .control_post(
                &format!("/sessions/{id}/pay"),
                serde_json::json!({"outcome": outcome, "callback_url": "http://shop.test/cb"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }
}

/// Fast retries and a breaker that opens after `breaker_failures` outages for
/// 300 ms.
pub fn fast_payments(order: &[&str]) -> PaymentsSettings {
    PaymentsSettings {
        gateways: order.iter().map(|s| s.to_string()).collect(),
        max_attempts: 3,
        retry_base_ms: 5,
        retry_max_ms: 20,
        breaker_failures: 3,
        breaker_open_ms: 300,
        breaker_max_open_ms: 1_200,
    }
}

pub fn order_request(token: &str) -> CreateSession {
    CreateSession {
        order_token: token.to_owned(),
        amount: 50_000,
        currency: "INR".into(),
        idempotency_key: format!("{token}:payment_session"),
        description: "Rust internship, summer cohort".into(),
        return_url: "http://shop.test/return?session_id={CHECKOUT_SESSION_ID}".into(),
        cancel_url: "http://shop.test/cancel".into(),
        notes: [("cart".to_string(), "c1".to_string())]
            .into_iter()
            .collect(),
        expires_at: Some(chrono::Utc::now() + chrono::Duration::hours(1)),
        customer_email: Some("student@example.com".into()),
    }
}

/// A webhook endpoint that answers 500 to its first `fail_first` requests.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    pub received: Arc<std::sync::Mutex<Vec<(HeaderMap, Bytes)>>>,
    _stop: Arc<oneshot::Sender<()>>,
}

#[derive(Clone)]
struct ReceiverState {
    received: Arc<std::sync::Mutex<Vec<(HeaderMap, Bytes)>>>,
    hits: Arc<AtomicUsize>,
    fail_first: usize,
}

async fn receive(State(s): State<ReceiverState>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let n = s.hits.fetch_add(1, Ordering::SeqCst);
    if n < s.fail_first {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    s.received.lock().unwrap().push((headers, body));
    StatusCode::OK
}

pub async fn spawn_receiver(fail_first: usize) -> Receiver {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = ReceiverState {
        received: Default::default(),
        hits: Default::default(),
        fail_first,
    };
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(state.clone());
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await;
    });
    Receiver {
        url: format!("http://{addr}/hook"),
        received: state.received,
        _stop: Arc::new(tx),
    }
}

impl Receiver {
    pub fn bodies(&self) -> Vec<(HeaderMap, Bytes)> {
        self.received.lock().unwrap().clone()
    }
}

/// Polls `check` every 10 ms until it holds or `within` passes.
pub async fn eventually(within: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if check() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
