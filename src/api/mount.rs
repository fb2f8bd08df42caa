//! API groups: which resource routers one `checkout serve` process mounts
//! (`--groups cart,catalog`), so the requirements' cart service and payment service can
//! run as separate pools behind a balancer that routes by path prefix. Not to be
//! confused with the rate-limit groups of `layers::groups`, which classify requests.
//!
//! Every process serves the operational routes (`/healthz`, `/readyz`, `/openapi.json`,
//! `/docs`, and `/metrics` on its own listener) whatever its groups, and its
//! `/openapi.json` lists only the paths it serves. A path of a group the process does
//! not mount answers 404 in the envelope (`ApiError::RouteNotFound`), as any unknown
//! path does: the balancer, not this process, owns the routing.

use utoipa_axum::router::OpenApiRouter;

use super::AppState;
use super::routes::{auth, cart_auth, carts, catalog, invoices, orders, payments};

/// One group of resource routers. Every API path belongs to exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
pub enum ApiGroup {
    /// `/api/v1/internships[/{id}]`.
    Catalog,
    /// `/api/v1/cart...` (items, plans, coupons, discounts, the estimate, cart sign-in)
    /// and the PRD's alias `/api-proxy/api/cart`.
    Cart,
    /// `/api/v1/auth/...`: register, login, refresh, logout, me, sessions.
    Auth,
    /// `/api/v1/order...` (the invoice included) and `/api/v1/enrollments`.
    Orders,
    /// `/api/v1/payments/{token}/verify`, the client's signed callback.
    Payments,
    /// `/api/v1/webhooks/{razorpay,stripe}`, the gateways' webhooks.
    Webhooks,
}

impl ApiGroup {
    pub const ALL: [ApiGroup; 6] = [
        ApiGroup::Catalog,
        ApiGroup::Cart,
        ApiGroup::Auth,
        ApiGroup::Orders,
        ApiGroup::Payments,
        ApiGroup::Webhooks,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ApiGroup::Catalog => "catalog",
            ApiGroup::Cart => "cart",
            ApiGroup::Auth => "auth",
            ApiGroup::Orders => "orders",
            ApiGroup::Payments => "payments",
            ApiGroup::Webhooks => "webhooks",
        }
    }

    /// The group's routes, with their OpenAPI operations.
    fn routes(self) -> OpenApiRouter<AppState> {
        match self {
            ApiGroup::Catalog => catalog::router(),
            ApiGroup::Cart => carts::router().merge(cart_auth::router()),
            ApiGroup::Auth => auth::router(),
            ApiGroup::Orders => orders::router().merge(invoices::router()),
            ApiGroup::Payments => payments::router(),
            ApiGroup::Webhooks => payments::webhooks_router(),
        }
    }
}

/// The groups one process mounts: a non-empty set, every group by default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiGroups(Vec<ApiGroup>);

impl Default for ApiGroups {
    fn default() -> Self {
        ApiGroups(ApiGroup::ALL.to_vec())
    }
}

impl ApiGroups {
    /// `groups`, sorted and deduplicated; empty means all.
    pub fn new(groups: &[ApiGroup]) -> Self {
        if groups.is_empty() {
            return Self::default();
        }
        let mut groups = groups.to_vec();
        groups.sort();
        groups.dedup();
        ApiGroups(groups)
    }

    pub fn contains(&self, group: ApiGroup) -> bool {
        self.0.contains(&group)
    }

    pub fn is_all(&self) -> bool {
        self.0.len() == ApiGroup::ALL.len()
    }

    /// `cart,catalog`, for logs.
    pub fn names(&self) -> String {
        self.0
            .iter()
            .map(|g| g.name())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// `base` with the routes of these groups merged in.
    pub(super) fn mount(&self, base: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
        self.0
            .iter()
            .fold(base, |router, g| router.merge(g.routes()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn paths(groups: &[ApiGroup]) -> Vec<String> {
        let doc = crate::api::openapi_for(&ApiGroups::new(groups));
        doc.paths.paths.keys().cloned().collect()
    }

    #[test]
    fn every_api_path_belongs_to_exactly_one_group() {
        let ops = ["/healthz", "/readyz", "/openapi.json", "/docs"];
        let all = paths(&[]);
        for path in all.iter().filter(|p| !ops.contains(&p.as_str())) {
            let owners: Vec<_> = ApiGroup::ALL
                .iter()
                .filter(|g| paths(&[**g]).contains(path))
                .collect();
            assert_eq!(owners.len(), 1, "{path} is in {owners:?}");
        }
        for group in ApiGroup::ALL {
            for op in ops {
                assert!(paths(&[group]).iter().any(|p| p == op), "{group:?} {op}");
            }
        }
    }

    #[test]
    fn groups_split_as_the_balancer_routes() {
        let shop = paths(&[ApiGroup::Cart, ApiGroup::Catalog, ApiGroup::Auth]);
        assert!(shop.iter().any(|p| p == "/api/v1/cart/{token}/coupon"));
        assert!(shop.iter().all(|p| !p.starts_with("/api/v1/order")));
        let pay = paths(&[ApiGroup::Orders, ApiGroup::Payments, ApiGroup::Webhooks]);
        // the prefixes bench/topology's HAProxy sends to the payment pool
        let prefixes = [
            "/api/v1/order",
            "/api/v1/enrollments",
            "/api/v1/payments",
            "/api/v1/webhooks",
        ];
        for p in pay.iter().filter(|p| p.starts_with("/api/")) {
            assert!(prefixes.iter().any(|x| p.starts_with(x)), "{p}");
        }
        for p in shop.iter() {
            assert!(!prefixes.iter().any(|x| p.starts_with(x)), "{p}");
        }
    }
}
