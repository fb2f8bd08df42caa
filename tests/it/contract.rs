//! The routes served and the paths in `/openapi.json` are the same set: every operation
//! in the spec answers (not the 9003 unknown-route or 9004 wrong-method error), and
//! every route of the design's list that answers is in the spec. This fails loudly
//! when a handler is registered without its `#[utoipa::path]` annotation.

use serde_json::Value;

use crate::helpers::TestApp;

/// The routes a frontend needs (docs/api.md); more are fine, fewer in the spec are not.
const DESIGN_ROUTES: &[(&str, &str)] = &[
    ("POST", "/api/v1/cart"),
    ("POST", "/api-proxy/api/cart"),
    ("GET", "/api/v1/cart/{token}"),
    ("POST", "/api/v1/cart/{token}/items"),
    ("PUT", "/api/v1/cart/{token}/plan/{plan_id}"),
    ("DELETE", "/api/v1/cart/{token}/item/{item_id}"),
    ("POST", "/api/v1/cart/{token}/auth/check"),
    ("POST", "/api/v1/cart/{token}/auth/login"),
    ("POST", "/api/v1/cart/estimate"),
    ("GET", "/api/v1/cart/{token}/discounts"),
    ("POST", "/api/v1/cart/{token}/coupon"),
    ("DELETE", "/api/v1/cart/{token}/coupon"),
    ("POST", "/api/v1/order"),
    ("GET", "/api/v1/order/{order_token}"),
    ("POST", "/api/v1/order/{order_token}/cancel"),
    ("POST", "/api/v1/payments/{payment_token}/verify"),
    ("POST", "/api/v1/webhooks/razorpay"),
    ("POST", "/api/v1/webhooks/stripe"),
    ("POST", "/api/v1/auth/register"),
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/refresh"),
    ("GET", "/api/v1/internships"),
    ("GET", "/api/v1/internships/{id}"),
    ("GET", "/api/v1/enrollments"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
];

/// Always served, so the check below cannot pass vacuously.
const KNOWN_SERVED: &[&str] = &["/healthz", "/readyz", "/openapi.json", "/docs"];

fn concrete(path: &str) -> String {
    path.split('/')
        .map(|s| if s.starts_with('{') { "probe0000" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

fn shape(path: &str) -> String {
    path.split('/')
        .map(|s| if s.starts_with('{') { "{}" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

/// The error code of an answer, if it is an error envelope.
async fn answer_code(app: &TestApp, method: &str, path: &str) -> Option<u64> {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let r = app
        .client
        .request(method, app.url(&concrete(path)))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    body["error"]["code"].as_u64()
}

#[tokio::test]
async fn served_routes_and_spec_paths_are_the_same_set() {
    let app = TestApp::spawn_with(|s| {
        for group in checkout::config::LIMITED_GROUPS {
            s.ratelimit.set_quota(group, 10_000, 10_000);
        }
    })
    .await;
    let spec: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = spec["paths"].as_object().unwrap();
    // parameter names may differ from the design's ({token} vs {cart_token})
    let in_spec = |method: &str, path: &str| {
        paths
            .iter()
            .any(|(p, ops)| shape(p) == shape(path) && ops.get(method.to_lowercase()).is_some())
    };

    for (path, ops) in paths {
        for method in ops.as_object().unwrap().keys() {
            if !["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                continue;
            }
            let code = answer_code(&app, &method.to_uppercase(), path).await;
            assert!(
                !matches!(code, Some(9003 | 9004)),
                "{method} {path} is in /openapi.json but not served (code {code:?})"
            );
        }
    }
    for path in KNOWN_SERVED {
        assert!(
            in_spec("GET", path),
            "GET {path} is served but not in the spec"
        );
    }
    for (method, path) in DESIGN_ROUTES {
        let code = answer_code(&app, method, path).await;
        let served = !matches!(code, Some(9003 | 9004));
        assert!(
            !served || in_spec(method, path),
            "{method} {path} is served (code {code:?}) but missing from /openapi.json: \
             annotate its handler with #[utoipa::path] and register it with routes!()"
        );
    }
}
