//! One complete checkout, as a storefront and a paying student would do it:
//! cart -> item -> coupon -> estimate -> register -> order -> pay (sandbox control API)
//! -> long-poll the order (`GET /order/{t}?wait_ms=&status=`) until it ends (a returning, signed-in student skips the register
//! step and sends the bearer token from the first request on). Every request's latency goes to the recorder under
//! the endpoint's name; the first one is measured from the checkout's *intended* start,
//! so a generator or server that falls behind shows up in the numbers (no coordinated
//! omission).

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use super::request::Step;
use super::stats::Recorder;
use crate::gateways::transport::urlencode;

/// The load-test catalog (`bench/catalog.json`): a program with huge cohorts and an
/// unlimited coupon, so a run measures checkouts rather than a sold-out cohort.
pub const PROGRAM: &str = "loadtest-backend-engineering";
pub const PLAN_ID: &str = "0b7c9a52-6a43-4c4e-9a55-1f3c8f1e0b01";
pub const COHORTS: [&str; 4] = [
    "0b7c9a52-6a43-4c4e-9a55-1f3c8f1e0c01",
    "0b7c9a52-6a43-4c4e-9a55-1f3c8f1e0c02",
    "0b7c9a52-6a43-4c4e-9a55-1f3c8f1e0c03",
    "0b7c9a52-6a43-4c4e-9a55-1f3c8f1e0c04",
];
pub const COUPON: &str = "LOADTEST10";
/// Meets the password rules (length, classes, not common, not the email's name).
const PASSWORD: &str = "Load-test-pw-9731";

pub struct Flow {
    pub client: reqwest::Client,
    pub base: String,
    /// The sandbox's routes, `{origin}/sandbox`, which pays sessions here.
    pub sandbox: String,
    /// Unique per run: users are `lt-{run_id}-{n}@loadtest.example`.
    pub run_id: String,
    pub recorder: Arc<Recorder>,
    /// Upper bound of one checkout, from its intended start to a terminal status.
    pub timeout: Duration,
    /// How long one long poll of the order may wait for a change.
    pub order_wait: Duration,
    /// Access tokens of students registered before the run: checkout `n` is by student
    /// `n`, signed in. Empty: every checkout registers a new student.
    pub students: Vec<String>,
    /// Send a failed request again this many times (`--retries`), with the same
    /// `Idempotency-Key` on POSTs.
    pub retries: u32,
    /// Give checkout `n`'s student an address of their own in `X-Forwarded-For`
    /// (`--forwarded-for`).
    pub forwarded_for: bool,
}

/// A failed call: the endpoint name is added by the caller for the error key.
pub(super) struct CallError(pub(super) String);

impl Flow {
    /// Runs checkout `n`, intended to start at `intended`; returns its terminal status
    /// (an order status, or `error` / `timeout`).
    pub async fn checkout(&self, n: u64, intended: Instant) -> String {
        let deadline = intended + self.timeout;
        let status = match tokio::time::timeout_at(deadline.into(), self.steps(n, intended)).await {
            Ok(Ok(status)) => status,
            Ok(Err(())) => "error".to_owned(),
            Err(_) => "timeout".to_owned(),
        };
        if status == "enrolled" {
            self.recorder
                .latency("checkout (intended start -> enrolled)", intended.elapsed());
        }
        self.recorder.terminal(&status);
        status
    }

    /// Registers students `0..count` (at most `parallel` at a time) and returns their
    /// access tokens, in order, for [`Flow::students`].
    pub async fn sign_up(&self, count: u64, parallel: usize) -> anyhow::Result<Vec<String>> {
        use futures::StreamExt;
        let tokens: Vec<Result<String, CallError>> = futures::stream::iter(0..count)
            .map(|n| async move {
                let auth = self
                    .send(
                        &Step::at(n, "sign_up", Instant::now()),
                        Method::POST,
                        "/api/v1/auth/register",
                        None,
                        Some(self.register_body(n)),
                    )
                    .await?;
                str_at(&auth, "/data/access_token").ok_or(CallError("no_token".into()))
            })
            .buffered(parallel.max(1))
            .collect()
            .await;
        tokens
            .into_iter()
            .map(|t| t.map_err(|CallError(code)| anyhow::anyhow!("signing up students: {code}")))
            .collect()
    }

    fn register_body(&self, n: u64) -> Value {
        json!({
            "email": format!("lt-{}-{n}@loadtest.example", self.run_id),
            "name": format!("Load {n}"),
            "password": PASSWORD,
        })
    }

    async fn steps(&self, n: u64, intended: Instant) -> Result<String, ()> {
        let cohort = COHORTS[(n as usize) % COHORTS.len()];
        let signed_in = usize::try_from(n)
            .ok()
            .and_then(|i| self.students.get(i))
            .cloned();
        let cart = self
            .call(
                Step::at(n, "cart", intended),
                Method::POST,
                "/api/v1/cart",
                signed_in.as_deref(),
                Some(json!({})),
            )
            .await?;
        let token = str_at(&cart, "/data/token")
            .ok_or_else(|| self.recorder.error("cart:no_token".into()))?;
        let cart_path = format!("/api/v1/cart/{token}");
        let item = json!({"internship_id": PROGRAM, "plan_id": PLAN_ID, "cohort_id": cohort});
        self.call(
            Step::at(n, "cart_items", Instant::now()),
            Method::POST,
            &format!("{cart_path}/items"),
            signed_in.as_deref(),
            Some(item),
        )
        .await?;
        self.call(
            Step::at(n, "cart_coupon", Instant::now()),
            Method::POST,
            &format!("{cart_path}/coupon"),
            signed_in.as_deref(),
            Some(json!({"code": COUPON})),
        )
        .await?;
        let address = json!({"country": "IN", "state": "MH", "postal_code": "400001"});
        let estimate = json!({"cart_token": token, "billing_address": address});
        self.call(
            Step::at(n, "estimate", Instant::now()),
            Method::POST,
            "/api/v1/cart/estimate",
            signed_in.as_deref(),
            Some(estimate),
        )
        .await?;
        let bearer = match signed_in {
            Some(bearer) => bearer,
            None => {
                let auth = self
                    .call(
                        Step::at(n, "register", Instant::now()),
                        Method::POST,
                        "/api/v1/auth/register",
                        None,
                        Some(self.register_body(n)),
                    )
                    .await?;
                str_at(&auth, "/data/access_token")
                    .ok_or_else(|| self.recorder.error("register:no_token".into()))?
            }
        };
        let order_body = json!({"cart_token": token, "billing_address": address});
        let mut order = self
            .call(
                Step::at(n, "order", Instant::now()),
                Method::POST,
                "/api/v1/order",
                Some(&bearer),
                Some(order_body),
            )
            .await?;
        let order_token = str_at(&order, "/data/order_token")
            .ok_or_else(|| self.recorder.error("order:no_token".into()))?;
        let order_path = format!("/api/v1/order/{order_token}");
        // 202: the session is not ready yet; wait for the order to change
        while str_at(&order, "/data/payment/gateway_order_id").is_none() {
            if let Some(status) = terminal(&order) {
                return Ok(status);
            }
            order = self.next_change(n, &order_path, &bearer, &order).await?;
        }
        let session = str_at(&order, "/data/payment/gateway_order_id").unwrap_or_default();
        self.call(
            Step::at(n, "sandbox_pay", Instant::now()),
            Method::POST,
            &format!("{}/control/sessions/{session}/pay", self.sandbox),
            None,
            Some(json!({"outcome": "captured"})),
        )
        .await?;
        let paid = Instant::now();
        loop {
            order = self.next_change(n, &order_path, &bearer, &order).await?;
            if let Some(status) = terminal(&order) {
                if status == "enrolled" {
                    self.recorder
                        .latency("paid -> enrolled seen by client", paid.elapsed());
                }
                return Ok(status);
            }
        }
    }

    /// The order once its status differs from `order`'s (a long poll), or as it is when
    /// the wait ran out.
    async fn next_change(
        &self,
        n: u64,
        path: &str,
        bearer: &str,
        order: &Value,
    ) -> Result<Value, ()> {
        let status = str_at(order, "/data/status").unwrap_or_default();
        let wait_ms = self.order_wait.as_millis();
        self.call(
            Step::at(n, "order_wait (long poll)", Instant::now()),
            Method::GET,
            &format!("{path}?wait_ms={wait_ms}&status={}", urlencode(&status)),
            Some(bearer),
            None,
        )
        .await
    }
}

pub(super) fn str_at(v: &Value, pointer: &str) -> Option<String> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// The order's status if it is terminal.
fn terminal(order: &Value) -> Option<String> {
    let status = str_at(order, "/data/status")?;
    matches!(
        status.as_str(),
        "enrolled" | "failed" | "expired" | "cancelled" | "refunded"
    )
    .then_some(status)
}
