//! Fault injection in front of a gateway's API routes: latency, 5xx answers
//! (before or after the request took effect), hangs, and a "down" switch.
//! What a real outage looks like to our clients, on demand.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use rand::Rng;

use super::SandboxState;
use super::errors::{rzp_error, stripe_error};
use crate::gateways::GatewayKind;

fn roll(rate: f64) -> bool {
    rate > 0.0 && rand::rng().random_bool(rate.clamp(0.0, 1.0))
}

fn server_error(gateway: GatewayKind, status: StatusCode) -> Response {
    match gateway {
        GatewayKind::Razorpay => rzp_error(
            status,
            "SERVER_ERROR",
            "The server encountered an error. The incident has been reported to admins.",
            None,
        ),
        GatewayKind::Stripe => {
            stripe_error(status, "api_error", None, "An unknown error occurred", None)
        }
    }
}

enum Decision {
    Pass,
    Down,
    /// Hang, having processed the request first when `true`.
    Hang(bool),
    ErrorBefore,
    ErrorAfter,
}

pub async fn inject(
    State((state, gateway)): State<(SandboxState, GatewayKind)>,
    request: Request,
    next: Next,
) -> Response {
    let (decision, latency) = {
        let mut store = state.store();
        *store.requests.entry(gateway).or_insert(0) += 1;
        let faults = store.faults.entry(gateway).or_default();
        let latency = Duration::from_millis(faults.latency_ms);
        let targeted = faults.only_methods.is_empty()
            || faults
                .only_methods
                .iter()
                .any(|m| m.eq_ignore_ascii_case(request.method().as_str()));
        let decision = if !targeted {
            Decision::Pass
        } else if faults.down {
            Decision::Down
        } else if faults.timeout_next > 0 {
            faults.timeout_next -= 1;
            Decision::Hang(faults.errors_after_processing)
        } else if roll(faults.timeout_rate) {
            Decision::Hang(faults.errors_after_processing)
        } else if faults.error_next > 0 || roll(faults.error_rate) {
            faults.error_next = faults.error_next.saturating_sub(1);
            if faults.errors_after_processing {
                Decision::ErrorAfter
            } else {
                Decision::ErrorBefore
            }
        } else {
            Decision::Pass
        };
        (decision, latency)
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match decision {
        Decision::Pass => next.run(request).await,
        Decision::Down => server_error(gateway, StatusCode::SERVICE_UNAVAILABLE),
        Decision::Hang(processed) => {
            if processed {
                let _ = next.run(request).await;
            }
            let hang = Duration::from_millis(state.settings().fault_hang_ms);
            tokio::time::sleep(hang).await;
            server_error(gateway, StatusCode::GATEWAY_TIMEOUT)
        }
        Decision::ErrorBefore => server_error(gateway, StatusCode::INTERNAL_SERVER_ERROR),
        Decision::ErrorAfter => {
            let _ = next.run(request).await;
            server_error(gateway, StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}
