//! `Shop`: the API, the sandbox gateway (both on real sockets) and workers (in-process
//! or real processes) on one fresh database with the test catalog, plus typed helpers
//! for a student's checkout.

use std::sync::Arc;
use std::time::Duration;

use checkout::config::Settings;
use checkout::gateways::GatewayKind;
use checkout::sandbox::Sandbox;
use checkout::workflows::jobs::{JobContext, run_workers};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::fixtures;
use crate::helpers::{Proc, TestApp, eventually};

pub struct Shop {
    pub app: TestApp,
    /// `http://addr/sandbox`
    pub sandbox_base: String,
    stop: CancellationToken,
}

impl Drop for Shop {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

fn fast(s: &mut Settings) {
    // concurrency tests queue many requests on one row lock; a loaded CI machine must
    // not turn that wait into 503s
    s.database.max_connections = 12;
    s.database.acquire_timeout_ms = 30_000;
    s.http.request_timeout_ms = 60_000;
    s.checkout.retry_base_ms = 50;
    s.checkout.retry_cap_ms = 400;
    s.checkout.order_wait_ms = 3_000;
    s.payments.retry_base_ms = 10;
    s.payments.retry_max_ms = 50;
    s.sandbox.webhook_retry_base_ms = 20;
    s.sandbox.webhook_retry_max_ms = 200;
    s.worker.wake_interval_ms = 50;
    for group in ["auth", "cart_write", "order", "default"] {
        s.ratelimit.set_quota(group, 100_000, 10_000);
    }
}

impl Shop {
    /// API + sandbox + catalog, and an in-process worker unless `processes` workers
    /// are wanted (then call [`Shop::spawn_worker`]).
    pub async fn start(in_process_worker: bool, configure: impl FnOnce(&mut Settings)) -> Shop {
        let stop = CancellationToken::new();
        let sandbox = Sandbox::bind(Settings::default().sandbox, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let state = sandbox.state();
        let base = state.base_url();
        tokio::spawn(sandbox.run(stop.clone().cancelled_owned()));
        let app = TestApp::spawn_with(|s| {
            fast(s);
            s.razorpay = s.sandbox.razorpay_client(&base);
            s.stripe = s.sandbox.stripe_client(&base);
            configure(s);
        })
        .await;
        state.set_webhook_url(GatewayKind::Razorpay, &app.url("/api/v1/webhooks/razorpay"));
        state.set_webhook_url(GatewayKind::Stripe, &app.url("/api/v1/webhooks/stripe"));
        fixtures::load_catalog(&app).await;
        if in_process_worker {
            let ctx = JobContext::new(app.pool.clone(), Arc::new(app.settings.clone())).unwrap();
            tokio::spawn(run_workers(Arc::new(ctx), stop.clone()));
        }
        Shop {
            app,
            sandbox_base: base,
            stop,
        }
    }

    /// A real `checkout worker` process pointed at this shop's sandbox.
    pub fn spawn_worker(&self, extra: &[(&str, &str)]) -> Proc {
        self.worker(extra, false)
    }

    /// [`Shop::spawn_worker`] with its logs (stderr) captured in `Proc::log`.
    #[allow(dead_code)]
    pub fn spawn_logged_worker(&self, extra: &[(&str, &str)]) -> Proc {
        self.worker(extra, true)
    }

    fn worker(&self, extra: &[(&str, &str)], logged: bool) -> Proc {
        let s = &self.app.settings;
        let rz_base = s.razorpay.base_url.clone();
        let st_base = s.stripe.base_url.clone();
        let template = s.razorpay.checkout_url_template.clone().unwrap_or_default();
        let mut env: Vec<(&str, &str)> = vec![
            ("CHECKOUT__RAZORPAY__KEY_ID", "rzp_test_sandbox"),
            (
                "CHECKOUT__RAZORPAY__KEY_SECRET",
                "sandbox_razorpay_key_secret",
            ),
            (
                "CHECKOUT__RAZORPAY__WEBHOOK_SECRET",
                "sandbox_razorpay_webhook_secret",
            ),
            ("CHECKOUT__RAZORPAY__BASE_URL", &rz_base),
            ("CHECKOUT__RAZORPAY__CHECKOUT_URL_TEMPLATE", &template),
            ("CHECKOUT__STRIPE__SECRET_KEY", "sk_test_sandbox"),
            ("CHECKOUT__STRIPE__WEBHOOK_SECRET", "whsec_sandbox"),
            ("CHECKOUT__STRIPE__BASE_URL", &st_base),
            ("CHECKOUT__CHECKOUT__RETRY_BASE_MS", "50"),
            ("CHECKOUT__CHECKOUT__RETRY_CAP_MS", "400"),
            ("CHECKOUT__WORKER__WAKE_INTERVAL_MS", "50"),
        ];
        env.extend_from_slice(extra);
        if logged {
            Proc::spawn_logged(&["worker"], &self.app.db.url, &env)
        } else {
            Proc::spawn(&["worker"], &self.app.db.url, &env)
        }
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.app.client.request(method, self.app.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Registers a student; returns the access token.
    pub async fn student(&self, n: usize) -> String {
        let email = format!("student{n}-{}@example.com", uuid::Uuid::new_v4().simple());
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                "/api/v1/auth/register",
                None,
                Some(json!({"email": email, "name": "Student", "password": "Internship-2026!"})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["data"]["access_token"].as_str().unwrap().to_owned()
    }

    /// A cart owned by the student with one line per (program, plan, cohort).
    pub async fn cart(&self, token: &str, items: &[(&str, &str)], coupon: Option<&str>) -> String {
        let items: Vec<Value> = items
            .iter()
            .map(|(program, plan)| json!({"internship_id": program, "plan_id": plan}))
            .collect();
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                "/api/v1/cart",
                Some(token),
                Some(json!({"items": items})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let cart = body["data"]["token"].as_str().unwrap().to_owned();
        if let Some(code) = coupon {
            let (status, body) = self
                .call(
                    reqwest::Method::POST,
                    &format!("/api/v1/cart/{cart}/coupon"),
                    Some(token),
                    Some(json!({"code": code})),
                )
                .await;
            assert_eq!(status, 200, "{body}");
        }
        cart
    }

    pub async fn order(&self, token: &str, cart: &str, gateway: Option<&str>) -> (u16, Value) {
        let mut body = json!({"cart_token": cart,
            "billing_address": {"country": "IN", "state": "MH", "postal_code": "400001"}});
        if let Some(g) = gateway {
            body["gateway"] = json!(g);
        }
        self.call(
            reqwest::Method::POST,
            "/api/v1/order",
            Some(token),
            Some(body),
        )
        .await
    }

    /// Places an order for `cart` (accepted: 201 or 202) and waits for its payment
    /// session; returns (order token, the order with its session).
    pub async fn ordered_with_session(
        &self,
        token: &str,
        cart: &str,
        gateway: Option<&str>,
    ) -> (String, Value) {
        let (status, body) = self.order(token, cart, gateway).await;
        assert!(status == 201 || status == 202, "{status} {body}");
        let order = body["data"]["order_token"].as_str().unwrap().to_owned();
        let with_session = self.wait_session(token, &order).await;
        (order, with_session)
    }

    pub async fn get_order(&self, token: &str, order: &str) -> Value {
        let (status, body) = self
            .call(
                reqwest::Method::GET,
                &format!("/api/v1/order/{order}"),
                Some(token),
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["data"].clone()
    }

    /// Polls until the order's status is one of `want`; panics with the order otherwise.
    pub async fn wait_status(
        &self,
        token: &str,
        order: &str,
        want: &[&str],
        within: Duration,
    ) -> Value {
        let got = eventually(within, || async {
            let o = self.get_order(token, order).await;
            want.contains(&o["status"].as_str().unwrap_or(""))
                .then_some(o)
        })
        .await;
        match got {
            Some(o) => o,
            None => panic!(
                "order never reached {want:?}: {}",
                self.get_order(token, order).await
            ),
        }
    }

    /// Polls until the order has a payment session; returns the order.
    pub async fn wait_session(&self, token: &str, order: &str) -> Value {
        eventually(Duration::from_secs(15), || async {
            let o = self.get_order(token, order).await;
            (!o["payment"].is_null()).then_some(o)
        })
        .await
        .expect("payment session created")
    }

    /// Pays (or fails) a session through the sandbox's control API.
    pub async fn pay(&self, gateway_order_id: &str, outcome: &str) -> Value {
        let resp = self
            .app
            .client
            .post(format!(
                "{}/control/sessions/{gateway_order_id}/pay",
                self.sandbox_base
            ))
            .json(&json!({"outcome": outcome}))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "pay: {}", resp.status());
        resp.json().await.unwrap()
    }

    pub async fn control(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .app
            .client
            .request(method, format!("{}/control{path}", self.sandbox_base));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        assert!(
            resp.status().is_success(),
            "control {path}: {}",
            resp.status()
        );
        resp.json().await.unwrap_or(Value::Null)
    }

    /// An order's id, from its token.
    pub async fn order_id(&self, order_token: &str) -> uuid::Uuid {
        sqlx::query_scalar("select id from orders where order_token = $1")
            .bind(order_token)
            .fetch_one(&self.app.pool)
            .await
            .unwrap()
    }

    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(&self.app.pool)
            .await
            .unwrap()
    }

    /// Asserts that `sql` (a count) returns `n` now.
    pub async fn assert_count(&self, sql: &str, n: i64) {
        assert_eq!(self.count(sql).await, n, "{sql}");
    }

    /// Waits until `sql` (a count) returns `n`; panics with the query otherwise.
    pub async fn wait_count(&self, sql: &str, n: i64) {
        let reached = eventually(Duration::from_secs(20), || async {
            (self.count(sql).await == n).then_some(())
        })
        .await;
        assert!(reached.is_some(), "never {n}: {sql}");
    }
}

/// The gateway's order (Razorpay order, Stripe session) of an order's payment: what the
/// sandbox pays.
pub fn gateway_order_id(order: &Value) -> String {
    order["payment"]["gateway_order_id"]
        .as_str()
        .unwrap()
        .to_owned()
}
