//! Several `checkout serve` processes on one database, requests alternating between
//! them, as a round-robin balancer sends them: what one process holds in memory
//! (session cache, idempotency in-flight claims, order-change listeners) must not make
//! the next request, on another process, answer wrongly. Rate limits shared through
//! Redis by two processes are `limits::redis_counters_are_shared_by_two_api_processes`;
//! the gateway breakers stay per process by design (docs/operations.md, "Scaling out").

use std::time::{Duration, Instant};

use reqwest::Method;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use crate::fixtures::{WEB, WEB_1M};
use crate::helpers::{Proc, eventually};
use crate::shop::Shop;

/// N `serve` processes on a [`Shop`]'s database, paying through its sandbox. The shop's
/// own in-process API is not used.
pub struct Fleet {
    pub shop: Shop,
    pub apis: Vec<Proc>,
    client: reqwest::Client,
}

/// The settings every API process of these tests gets, plus `extra`.
fn env<'a>(
    razorpay: &'a [(String, String)],
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut env: Vec<(&str, &str)> = razorpay
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    // one client address sends everything
    for (k, v) in [
        ("CHECKOUT__RATELIMIT__ADDRESS_BURST", "100000"),
        ("CHECKOUT__RATELIMIT__AUTH_BURST", "100000"),
        ("CHECKOUT__RATELIMIT__CART_WRITE_BURST", "100000"),
        ("CHECKOUT__RATELIMIT__ORDER_BURST", "100000"),
        ("CHECKOUT__RATELIMIT__DEFAULT_BURST", "100000"),
    ] {
        env.push((k, v));
    }
    env.extend_from_slice(extra);
    env
}

impl Fleet {
    pub async fn start(n: usize, extra: &[(&str, &str)]) -> Fleet {
        Self::with(&vec![&["serve", "--port", "0"][..]; n], extra).await
    }

    /// One API process per entry of `commands` (`checkout` arguments).
    pub async fn with(commands: &[&[&str]], extra: &[(&str, &str)]) -> Fleet {
        let shop = Shop::start(false, |_| {}).await;
        let rzp = shop.app.settings.razorpay.clone();
        let razorpay = vec![
            ("CHECKOUT__RAZORPAY__KEY_ID".to_owned(), rzp.key_id.clone()),
            (
                "CHECKOUT__RAZORPAY__KEY_SECRET".to_owned(),
                rzp.key_secret.as_ref().unwrap().expose_secret().to_owned(),
            ),
            (
                "CHECKOUT__RAZORPAY__WEBHOOK_SECRET".to_owned(),
                rzp.webhook_secret
                    .as_ref()
                    .unwrap()
                    .expose_secret()
                    .to_owned(),
            ),
            (
                "CHECKOUT__RAZORPAY__BASE_URL".to_owned(),
                rzp.base_url.clone(),
            ),
        ];
        let env = env(&razorpay, extra);
        let apis = commands
            .iter()
            .map(|args| Proc::spawn(args, &shop.app.db.url, &env))
            .collect();
        Fleet {
            shop,
            apis,
            client: reqwest::Client::new(),
        }
    }

    pub fn url(&self, i: usize, path: &str) -> String {
        format!(
            "http://{}{path}",
            self.apis[i % self.apis.len()].addr.unwrap()
        )
    }

    /// A request to process `i % N`, with optional bearer and idempotency key.
    pub async fn call(
        &self,
        i: usize,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value, bool) {
        let mut req = self.client.request(method, self.url(i, path));
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        if let Some(k) = key {
            req = req.header("idempotency-key", k);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let replayed = resp.headers().get("idempotent-replayed").is_some();
        (status, resp.json().await.unwrap_or(Value::Null), replayed)
    }

    /// Registers a new student named `name` on process `i`; the answer's `data`.
    async fn register(&self, i: usize, name: &str) -> Value {
        let email = format!("s-{}@example.com", uuid::Uuid::new_v4().simple());
        let (status, reg, _) = self
            .call(
                i,
                Method::POST,
                "/api/v1/auth/register",
                None,
                None,
                Some(json!({"email": email, "name": name, "password": "Internship-2026!"})),
            )
            .await;
        assert_eq!(status, 201, "{reg}");
        reg["data"].clone()
    }

    /// A signed-in student (registered on process `i`) and their cart with one line.
    async fn student_with_cart(&self, i: usize) -> (String, String) {
        let reg = self.register(i, "Student").await;
        let token = reg["access_token"].as_str().unwrap().to_owned();
        let (status, cart, _) = self
            .call(
                i + 1,
                Method::POST,
                "/api/v1/cart",
                Some(&token),
                None,
                Some(json!({"items": [{"internship_id": WEB, "plan_id": WEB_1M}]})),
            )
            .await;
        assert_eq!(status, 201, "{cart}");
        (token, cart["data"]["token"].as_str().unwrap().to_owned())
    }

    /// `POST /api/v1/order` for `cart` on process `i`, with an `Idempotency-Key` if given.
    async fn order(
        &self,
        i: usize,
        token: &str,
        key: Option<&str>,
        cart: &str,
    ) -> (u16, Value, bool) {
        let body = json!({"cart_token": cart,
            "billing_address": {"country": "IN", "state": "MH", "postal_code": "400001"}});
        self.call(
            i,
            Method::POST,
            "/api/v1/order",
            Some(token),
            key,
            Some(body),
        )
        .await
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_works_on_every_process_and_its_logout_ends_it_everywhere() {
    // a session memory far longer than the test: only the notification can end it
    let fleet = Fleet::start(2, &[("CHECKOUT__AUTH__SESSION_CACHE_MS", "60000")]).await;
    let reg = fleet.register(0, "Asha").await;
    let access = reg["access_token"].as_str().unwrap().to_owned();
    let refresh = reg["refresh_token"].clone();
    // both processes read the session now and remember it
    for i in 0..4 {
        let (status, me, _) = fleet
            .call(i, Method::GET, "/api/v1/auth/me", Some(&access), None, None)
            .await;
        assert_eq!(status, 200, "process {}: {me}", i % 2);
    }
    let (status, _, _) = fleet
        .call(
            1,
            Method::POST,
            "/api/v1/auth/logout",
            Some(&access),
            None,
            Some(json!({"refresh_token": refresh})),
        )
        .await;
    assert_eq!(status, 200);
    let logged_out = Instant::now();
    // process 0 remembered the session; process 1's revocation reaches it by NOTIFY
    let refused = eventually(Duration::from_secs(5), || async {
        let (status, _, _) = fleet
            .call(0, Method::GET, "/api/v1/auth/me", Some(&access), None, None)
            .await;
        (status == 401).then_some(())
    })
    .await;
    assert!(
        refused.is_some(),
        "process 0 still accepts a session logged out on process 1"
    );
    assert!(logged_out.elapsed() < Duration::from_secs(5));
    let (status, _, _) = fleet
        .call(1, Method::GET, "/api/v1/auth/me", Some(&access), None, None)
        .await;
    assert_eq!(status, 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idempotency_key_gets_one_order_whichever_process_answers() {
    let fleet = Fleet::start(2, &[]).await;
    // a retry sent to the other process replays the stored answer
    let (token, cart) = fleet.student_with_cart(0).await;
    let first = fleet.order(0, &token, Some("order-1"), &cart).await;
    assert!(matches!(first.0, 201 | 202), "{:?}", first.1);
    let again = fleet.order(1, &token, Some("order-1"), &cart).await;
    assert_eq!((again.0, again.2), (first.0, true), "{:?}", again.1);
    assert_eq!(
        again.1["data"]["order_token"],
        first.1["data"]["order_token"]
    );

    // the same key sent to both processes at once: one runs, the others wait or replay
    let (token, cart) = fleet.student_with_cart(1).await;
    let answers =
        futures::future::join_all((0..6).map(|i| fleet.order(i, &token, Some("order-2"), &cart)))
            .await;
    let mut tokens = std::collections::BTreeSet::new();
    for (status, body, _) in &answers {
        match status {
            201 | 202 => {
                tokens.insert(body["data"]["order_token"].as_str().unwrap().to_owned());
            }
            409 => assert_eq!(body["error"]["code"], 6002, "{body}"),
            _ => panic!("{status} {body}"),
        }
    }
    assert_eq!(tokens.len(), 1, "{answers:?}");
    fleet
        .shop
        .assert_count(
            &format!("select count(*) from orders where cart_token = '{cart}'"),
            1,
        )
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_long_poll_on_one_process_wakes_when_another_changes_the_order() {
    let fleet = Fleet::start(2, &[]).await;
    let (token, cart) = fleet.student_with_cart(0).await;
    let (status, order, _) = fleet.order(0, &token, None, &cart).await;
    assert!(matches!(status, 201 | 202), "{order}");
    let order_token = order["data"]["order_token"].as_str().unwrap().to_owned();
    let seen = order["data"]["status"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/order/{order_token}?wait_ms=9000&status={seen}");
    let poll = {
        let (fleet, token, path) = (&fleet, token.clone(), path.clone());
        async move {
            let answer = fleet
                .call(0, Method::GET, &path, Some(&token), None, None)
                .await;
            (answer, Instant::now())
        }
    };
    let cancel = async {
        // past the waiter's first re-read (1 s): from here only a notification wakes it
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        let (status, body, _) = fleet
            .call(
                1,
                Method::POST,
                &format!("/api/v1/order/{order_token}/cancel"),
                Some(&token),
                None,
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        Instant::now()
    };
    let (((status, polled, _), answered), cancelled) = tokio::join!(poll, cancel);
    assert_eq!(status, 200, "{polled}");
    assert_eq!(polled["data"]["status"], "cancelled", "{polled}");
    // woken by the change, not by the 5 s fallback re-read or the 9 s wait
    let late = answered.saturating_duration_since(cancelled);
    assert!(
        late < Duration::from_secs(2),
        "woken {late:?} after the cancel"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_process_serves_only_its_groups_and_documents_only_them() {
    let fleet = Fleet::with(
        &[
            &["serve", "--port", "0", "--groups", "cart,catalog"],
            &[
                "serve",
                "--port",
                "0",
                "--groups",
                "orders,payments,webhooks",
            ],
        ],
        &[],
    )
    .await;
    let spec = |i| {
        let url = fleet.url(i, "/openapi.json");
        async move {
            let doc: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
            let paths: Vec<String> = doc["paths"].as_object().unwrap().keys().cloned().collect();
            paths
        }
    };
    let ops = ["/healthz", "/readyz", "/openapi.json", "/docs"];
    let shop = spec(0).await;
    let pay = spec(1).await;
    for paths in [&shop, &pay] {
        for op in ops {
            assert!(paths.iter().any(|p| p == op), "{op} missing from {paths:?}");
        }
    }
    let api = |paths: &Vec<String>| -> Vec<String> {
        paths
            .iter()
            .filter(|p| !ops.contains(&p.as_str()))
            .cloned()
            .collect()
    };
    let (shop_api, pay_api) = (api(&shop), api(&pay));
    assert!(
        shop_api.iter().all(|p| p.starts_with("/api/v1/cart")
            || p.starts_with("/api/v1/internships")
            || p == "/api-proxy/api/cart"),
        "{shop_api:?}"
    );
    assert!(
        shop_api
            .iter()
            .any(|p| p.starts_with("/api/v1/internships"))
    );
    assert!(
        pay_api.iter().all(|p| p.starts_with("/api/v1/order")
            || p.starts_with("/api/v1/enrollments")
            || p.starts_with("/api/v1/payments")
            || p.starts_with("/api/v1/webhooks")),
        "{pay_api:?}"
    );
    assert!(pay_api.iter().any(|p| p.starts_with("/api/v1/webhooks")));

    // what is mounted answers; the other group's paths are unknown here
    let (status, body, _) = fleet
        .call(0, Method::GET, "/api/v1/internships", None, None, None)
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body, _) = fleet
        .call(0, Method::GET, "/api/v1/enrollments", None, None, None)
        .await;
    assert_eq!(status, 404, "{body}");
    let (status, body, _) = fleet
        .call(1, Method::GET, "/api/v1/internships", None, None, None)
        .await;
    assert_eq!(status, 404, "{body}");
    let (status, _, _) = fleet
        .call(1, Method::GET, "/api/v1/enrollments", None, None, None)
        .await;
    assert_eq!(status, 401);
    for i in 0..2 {
        let (status, _, _) = fleet
            .call(i, Method::GET, "/readyz", None, None, None)
            .await;
        assert_eq!(status, 200);
    }
}
