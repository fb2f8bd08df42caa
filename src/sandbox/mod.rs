//! The sandbox: a local payment gateway that speaks the subset of the Razorpay
//! and Stripe APIs checkout uses, so tests, `checkout dev` and users' own
//! development run the real client code without reaching the real services.
//!
//! # Layout
//! - `store`: in-memory objects, in the shapes the real APIs return.
//! - `faults`: per-gateway fault injection in front of the API routes.
//! - `errors`: the two APIs' error bodies, for their routes and for `faults`.
//! - `razorpay_api`, `stripe_api`: the API subsets, same paths, auth, bodies
//!   and error shapes as the real ones.
//! - `pay`: paying a session (hosted page or control API) and what follows:
//!   the signed callback / redirect and the webhooks; `page`: the hosted page.
//! - `money`: what happens to money after payment: capture, void, refunds that
//!   settle later, authorizations that lapse.
//! - `webhooks`: signed event delivery with bounded exponential retries.
//! - `control`: the test and demo API under `/sandbox/control`.
//!
//! # Paths
//! Razorpay `/sandbox/razorpay/v1/...`, Stripe `/sandbox/stripe/v1/...`,
//! hosted page `/sandbox/pay/{id}`, control `/sandbox/control/...`.
//!
//! # Mounting
//! - `checkout sandbox`: [`run`]`(settings, addr, shutdown)`, or
//!   [`Sandbox::bind`] then [`Sandbox::run`] to learn the port first.
//! - `checkout dev`: `let sb = SandboxState::new(settings.sandbox.clone(), "http://127.0.0.1:8080")`,
//!   merge [`router`]`(sb.clone())` into the app (or nest [`routes`] under
//!   `/sandbox`), point the clients at it with
//!   `settings.sandbox.razorpay_client(&sb.base_url())` /
//!   `stripe_client(..)`, and the webhooks at our own receivers with
//!   `sandbox.razorpay_webhook_url` / `stripe_webhook_url` (or
//!   [`SandboxState::set_webhook_url`]).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;

use crate::config::SandboxSettings;
use crate::gateways::GatewayKind;

mod control;
mod errors;
mod faults;
mod money;
mod page;
mod pay;
mod razorpay_api;
mod store;
mod stripe_api;
mod stripe_money;
mod webhooks;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod testkit;
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;

pub use pay::{Callback, Outcome, PayResult};
pub use store::{Delivery, DeliveryState, Faults};
pub use webhooks::{RAZORPAY_EVENTS, STRIPE_EVENTS};

/// Shared sandbox state. Cheap to clone.
#[derive(Clone)]
pub struct SandboxState {
    inner: Arc<Inner>,
}

struct Inner {
    settings: SandboxSettings,
    /// Origin the buyer's browser reaches us at; pages live under `{public_url}/sandbox/`.
    public_url: String,
    store: Mutex<store::Store>,
    http: reqwest::Client,
}

impl std::fmt::Debug for SandboxState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxState")
            .field("public_url", &self.inner.public_url)
            .finish_non_exhaustive()
    }
}

impl SandboxState {
    /// `default_public_url` (e.g. `http://127.0.0.1:8080`) is used unless the
    /// settings name one.
    pub fn new(settings: SandboxSettings, default_public_url: &str) -> Self {
        let public_url = settings
            .public_url
            .clone()
            .unwrap_or_else(|| default_public_url.to_owned())
            .trim_end_matches('/')
            .to_owned();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(settings.webhook_timeout_ms))
            .build()
            .unwrap_or_default();
        let store = Mutex::new(store::Store::new(&settings));
        SandboxState {
            inner: Arc::new(Inner {
                settings,
                public_url,
                store,
                http,
            }),
        }
    }

    pub fn settings(&self) -> &SandboxSettings {
        &self.inner.settings
    }

    /// `{public_url}/sandbox`: the base client settings point at
    /// (see [`SandboxSettings::razorpay_client`]).
    pub fn base_url(&self) -> String {
        format!("{}/sandbox", self.inner.public_url)
    }

    fn store(&self) -> MutexGuard<'_, store::Store> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        self.inner
            .store
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Replaces the fault settings of one gateway.
    pub fn set_faults(&self, gateway: GatewayKind, faults: Faults) {
        self.store().faults.insert(gateway, faults);
    }

    /// Points one gateway's webhooks at `url` (overrides the settings).
    pub fn set_webhook_url(&self, gateway: GatewayKind, url: &str) {
        self.store().webhook_urls.insert(gateway, url.to_owned());
    }

    fn webhook_url(&self, gateway: GatewayKind) -> Option<String> {
        if let Some(url) = self.store().webhook_urls.get(&gateway) {
            return Some(url.clone());
        }
        match gateway {
            GatewayKind::Razorpay => self.inner.settings.razorpay_webhook_url.clone(),
            GatewayKind::Stripe => self.inner.settings.stripe_webhook_url.clone(),
        }
    }

    /// All webhook deliveries so far.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.store().deliveries.clone()
    }

    /// API requests seen by one gateway.
    pub fn request_count(&self, gateway: GatewayKind) -> u64 {
        self.store().requests.get(&gateway).copied().unwrap_or(0)
    }
}

/// The sandbox routes without prefix, for `Router::nest("/sandbox", …)`.
pub fn routes(state: SandboxState) -> Router {
    Router::new()
        .nest("/razorpay", razorpay_api::routes(state.clone()))
        .nest("/stripe", stripe_api::routes(state.clone()))
        .merge(page::routes(state.clone()))
        .nest("/control", control::routes(state))
}

/// The sandbox under `/sandbox`, ready to serve or to merge into `dev`.
pub fn router(state: SandboxState) -> Router {
    Router::new().nest("/sandbox", routes(state))
}

/// Serves the sandbox on a bound listener until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    state: SandboxState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// A sandbox bound to its port, not yet serving: build, read the real port
/// (tests bind port 0), then run.
#[derive(Debug)]
pub struct Sandbox {
    listener: TcpListener,
    state: SandboxState,
}

impl Sandbox {
    pub async fn bind(settings: SandboxSettings, addr: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let state = SandboxState::new(settings, &format!("http://{local}"));
        Ok(Sandbox { listener, state })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn state(&self) -> SandboxState {
        self.state.clone()
    }

    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        tracing::info!(addr = ?self.listener.local_addr().ok(), "sandbox gateway listening");
        serve(self.listener, self.state, shutdown).await
    }
}

/// The `checkout sandbox` role: bind `addr` and serve until `shutdown`.
pub async fn run(
    settings: SandboxSettings,
    addr: SocketAddr,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    Sandbox::bind(settings, addr).await?.run(shutdown).await
}
