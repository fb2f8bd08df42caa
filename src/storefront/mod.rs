//! The demo storefront `checkout dev` serves at `/`: one HTML page, its CSS and its
//! JavaScript, compiled into the binary so `dev` needs no Node and no build step. The
//! page talks to the public API (`/api/v1/...`) and the sandbox's hosted pay page like
//! any frontend would; nothing here reads the database. Only `dev` merges this router:
//! `serve` is an API and serves no pages.
//!
//! The one server-side piece is the gateway's return: Razorpay's checkout (and so the
//! sandbox) POSTs its signed fields as a form to the callback URL, which a static page
//! cannot read. [`gateway_return`] turns that POST into a redirect to the same order
//! page with the fields in the query, where the script verifies them through
//! `POST /api/v1/payments/{payment_token}/verify`.

use std::collections::BTreeMap;

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Form, Router};

use crate::gateways::transport::urlencode;

const INDEX: &str = include_str!("index.html");
const SCRIPT: &str = include_str!("app.js");
const STYLE: &str = include_str!("app.css");

/// Scripts and styles come from this origin only; no inline script, no framing, forms
/// post only here (the gateway's page is reached by navigation, not by a form of ours).
const PAGE_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

/// Fields of the gateway's return POST that are passed on to the page; anything else
/// is dropped (the page never needs it, and it keeps the redirect small).
const RETURN_FIELDS: [&str; 7] = [
    "razorpay_payment_id",
    "razorpay_order_id",
    "razorpay_signature",
    "error[code]",
    "error[description]",
    "error[reason]",
    "error[source]",
];

/// `/`, `/order/{token}` (GET: the page; POST: the gateway's return) and the assets.
pub fn router() -> Router {
    Router::new()
        .route("/", get(index))
        .route("/order/{token}", get(index).post(gateway_return))
        .route("/storefront/app.js", get(script))
        .route("/storefront/app.css", get(style))
}

fn page(content_type: &'static str, body: &'static str) -> Response {
    let mut response = (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        body,
    )
        .into_response();
    if content_type.starts_with("text/html") {
        let h = response.headers_mut();
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(PAGE_CSP),
        );
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    response
}

async fn index() -> Response {
    page("text/html; charset=utf-8", INDEX)
}

async fn script() -> Response {
    page("text/javascript; charset=utf-8", SCRIPT)
}

async fn style() -> Response {
    page("text/css; charset=utf-8", STYLE)
}

/// The gateway's form POST back to the order page -> 303 to `GET /order/{token}?...`.
async fn gateway_return(
    Path(token): Path<String>,
    Form(fields): Form<BTreeMap<String, String>>,
) -> Response {
    if token.is_empty() || !token.bytes().all(is_token_byte) {
        return (StatusCode::NOT_FOUND, "no such order").into_response();
    }
    let query: Vec<String> = RETURN_FIELDS
        .iter()
        .filter_map(|k| {
            fields
                .get(*k)
                .map(|v| format!("{}={}", urlencode(k), urlencode(v)))
        })
        .collect();
    let mut location = format!("/order/{token}");
    if !query.is_empty() {
        location.push('?');
        location.push_str(&query.join("&"));
    }
    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
}

/// Order tokens are base64url.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use axum::body::Body;
    use axum::http::{Request, StatusCode, header};
    use tower::ServiceExt;

    use super::*;

    async fn post(path: &str, body: &str) -> Response {
        router()
            .oneshot(
                Request::post(path)
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(Body::from(body.to_owned()))
                    .unwrap(),
            )
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn gateway_return_redirects_with_known_fields_only() {
        let r = post(
            "/order/abc_D-9",
            "razorpay_payment_id=pay_1&razorpay_order_id=order_2&razorpay_signature=a%2Bb&x=1",
        )
        .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            r.headers()[header::LOCATION],
            "/order/abc_D-9?razorpay_payment_id=pay_1&razorpay_order_id=order_2&razorpay_signature=a%2Bb"
        );
        let r = post(
            "/order/t",
            "error%5Bcode%5D=BAD&error%5Bdescription%5D=Payment+failed",
        )
        .await;
        assert_eq!(
            r.headers()[header::LOCATION],
            "/order/t?error%5Bcode%5D=BAD&error%5Bdescription%5D=Payment%20failed"
        );
    }

    #[tokio::test]
    async fn pages_carry_a_policy_and_assets_their_types() {
        let r = router()
            .oneshot(Request::get("/order/x").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(
            r.headers()[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .contains("script-src 'self'")
        );
        let r = router()
            .oneshot(
                Request::get("/storefront/app.js")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert!(
            r.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/javascript")
        );
    }
}
