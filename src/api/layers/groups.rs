//! Route groups: which rate limit, CSP and body checks apply to a request, decided by
//! method and path in [`classify`], in one place, so resource modules get the right
//! hardening without per-handler code. A new route that needs a group other than
//! `Default` adds its path pattern here (and a case to the tests below).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

use super::caller::{self, ClientAddr, IpNet};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteGroup {
    /// Login, registration, refresh: the strictest limit per cart and per user.
    Auth,
    /// Writes to a cart.
    CartWrite,
    /// Starting, cancelling and verifying orders and payments.
    Order,
    /// Gateway webhooks: no rate limit (gateways retry; signatures are verified), no
    /// card-data check (gateway payloads carry masked card details); body limit applies.
    Webhook,
    /// Everything else.
    Default,
}

impl RouteGroup {
    /// The groups with a rate limit (`ratelimit_rejected_total{group}`): all but
    /// `Webhook`.
    pub const RATE_LIMITED: [RouteGroup; 4] = [
        RouteGroup::Auth,
        RouteGroup::CartWrite,
        RouteGroup::Order,
        RouteGroup::Default,
    ];

    pub fn name(self) -> &'static str {
        match self {
            RouteGroup::Auth => "auth",
            RouteGroup::CartWrite => "cart_write",
            RouteGroup::Order => "order",
            RouteGroup::Webhook => "webhook",
            RouteGroup::Default => "default",
        }
    }
}

/// The group of a request. Paths are matched with and without the `/api/v1` prefix
/// and under `/api-proxy/api` (the PRD's proxy alias).
pub fn classify(method: &Method, path: &str) -> RouteGroup {
    let rest = path
        .strip_prefix("/api/v1")
        .or_else(|| path.strip_prefix("/api-proxy/api"))
        .unwrap_or(path);
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let write = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    match segments.as_slice() {
        ["webhooks", ..] => RouteGroup::Webhook,
        // reads (`GET /auth/me`, `/auth/sessions`) are ordinary traffic, and so is
        // `auth/check`, which frontends call to learn a cart's auth state
        ["cart", _, "auth", "check"] => RouteGroup::Default,
        ["auth", ..] | ["cart", _, "auth", ..] if write => RouteGroup::Auth,
        ["order" | "orders" | "payments", ..] if write => RouteGroup::Order,
        ["cart", ..] if write => RouteGroup::CartWrite,
        _ => RouteGroup::Default,
    }
}

/// First layer after the correlation id: tags the request with its [`RouteGroup`] and
/// [`ClientAddr`] for every later layer.
pub async fn context(
    State(trusted): State<Arc<Vec<IpNet>>>,
    mut request: Request,
    next: Next,
) -> Response {
    let group = classify(request.method(), request.uri().path());
    let addr = caller::client_addr(&request, &trusted);
    request.extensions_mut().insert(group);
    if let Some(addr) = addr {
        request.extensions_mut().insert(ClientAddr(addr));
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_by_path() {
        let post = Method::POST;
        let get = Method::GET;
        assert_eq!(classify(&post, "/api/v1/auth/login"), RouteGroup::Auth);
        assert_eq!(
            classify(&Method::GET, "/api/v1/auth/me"),
            RouteGroup::Default
        );
        assert_eq!(
            classify(&post, "/api/v1/cart/t/auth/login"),
            RouteGroup::Auth
        );
        assert_eq!(
            classify(&post, "/api/v1/cart/t/auth/check"),
            RouteGroup::Default
        );
        assert_eq!(classify(&post, "/api/v1/cart"), RouteGroup::CartWrite);
        assert_eq!(
            classify(&post, "/api-proxy/api/cart"),
            RouteGroup::CartWrite
        );
        assert_eq!(
            classify(&Method::DELETE, "/api/v1/cart/t/coupon"),
            RouteGroup::CartWrite
        );
        assert_eq!(classify(&get, "/api/v1/cart/t"), RouteGroup::Default);
        assert_eq!(classify(&post, "/api/v1/order"), RouteGroup::Order);
        assert_eq!(
            classify(&post, "/api/v1/payments/p/verify"),
            RouteGroup::Order
        );
        assert_eq!(classify(&get, "/api/v1/order/o"), RouteGroup::Default);
        assert_eq!(
            classify(&post, "/api/v1/webhooks/stripe"),
            RouteGroup::Webhook
        );
        assert_eq!(classify(&get, "/healthz"), RouteGroup::Default);
    }
}
