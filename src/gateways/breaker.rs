//! One circuit breaker per gateway (failsafe), with its state visible.
//!
//! When a gateway is down, waiting for timeouts on every checkout makes every
//! checkout slow and still fail. The breaker notices consecutive outage-type
//! failures, rejects calls for a while (so failover moves on at once), then lets
//! a probe through and closes again when the gateway answers. State changes are
//! logged and exported as `gateway_circuit_open{gateway}` (1 open, 0.5 half
//! open, 0 closed) so operators can see a failover happening.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use failsafe::failure_policy::{ConsecutiveFailures, consecutive_failures};
use failsafe::{Config, Instrument, StateMachine};

use super::types::GatewayKind;
use crate::config::PaymentsSettings;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

/// Exponential open durations in milliseconds (failsafe's own exponential
/// backoff refuses anything under a second, which makes tests slow).
#[derive(Debug, Clone)]
pub struct OpenBackoff {
    next: Duration,
    max: Duration,
}

impl Iterator for OpenBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let current = self.next;
        self.next = (self.next * 2).min(self.max);
        Some(current)
    }
}

/// Logs transitions and publishes them; also remembers the state because
/// failsafe does not expose it.
#[derive(Debug, Clone)]
pub struct BreakerProbe {
    gateway: GatewayKind,
    state: Arc<AtomicU8>,
}

const CLOSED: u8 = 0;
const OPEN: u8 = 1;
const HALF_OPEN: u8 = 2;

impl BreakerProbe {
    fn set(&self, state: u8) {
        let previous = self.state.swap(state, Ordering::SeqCst);
        let value = match state {
            OPEN => 1.0,
            HALF_OPEN => 0.5,
            _ => 0.0,
        };
        metrics::gauge!("gateway_circuit_open", "gateway" => self.gateway.as_str()).set(value);
        if previous != state {
            match state {
                OPEN => tracing::warn!(gateway = %self.gateway, "circuit breaker opened"),
                HALF_OPEN => {
                    tracing::info!(gateway = %self.gateway, "circuit breaker half open, probing")
                }
                _ => tracing::info!(gateway = %self.gateway, "circuit breaker closed"),
            }
        }
    }
}

impl Instrument for BreakerProbe {
    fn on_call_rejected(&self) {
        metrics::counter!("gateway_circuit_rejected_total", "gateway" => self.gateway.as_str())
            .increment(1);
    }

    fn on_open(&self) {
        self.set(OPEN);
    }

    fn on_half_open(&self) {
        self.set(HALF_OPEN);
    }

    fn on_closed(&self) {
        self.set(CLOSED);
    }
}

/// A gateway's breaker. Cheap to clone; clones share state.
#[derive(Debug, Clone)]
pub struct Breaker {
    machine: StateMachine<ConsecutiveFailures<OpenBackoff>, BreakerProbe>,
    probe: BreakerProbe,
}

impl Breaker {
    pub fn new(gateway: GatewayKind, settings: &PaymentsSettings) -> Self {
        let backoff = OpenBackoff {
            next: Duration::from_millis(settings.breaker_open_ms.max(1)),
            max: Duration::from_millis(settings.breaker_max_open_ms.max(settings.breaker_open_ms)),
        };
        let probe = BreakerProbe {
            gateway,
            state: Arc::new(AtomicU8::new(CLOSED)),
        };
        let machine = Config::new()
            .failure_policy(consecutive_failures(
                settings.breaker_failures.max(1),
                backoff,
            ))
            .instrument(probe.clone())
            .build();
        Breaker { machine, probe }
    }

    /// Asks to make a call; moves an expired open breaker to half open.
    pub fn permits(&self) -> bool {
        self.machine.is_call_permitted()
    }

    pub fn record_success(&self) {
        self.machine.on_success();
    }

    pub fn record_failure(&self) {
        self.machine.on_error();
    }

    /// Last known state (an open breaker whose wait has passed reads `Open`
    /// until the next call asks).
    pub fn state(&self) -> BreakerState {
        match self.probe.state.load(Ordering::SeqCst) {
            OPEN => BreakerState::Open,
            HALF_OPEN => BreakerState::HalfOpen,
            _ => BreakerState::Closed,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn settings(failures: u32, open_ms: u64) -> PaymentsSettings {
        PaymentsSettings {
            breaker_failures: failures,
            breaker_open_ms: open_ms,
            breaker_max_open_ms: open_ms * 4,
            ..Default::default()
        }
    }

    #[test]
    fn opens_after_consecutive_failures_then_half_opens_and_closes() {
        let b = Breaker::new(GatewayKind::Razorpay, &settings(2, 40));
        assert!(b.permits());
        b.record_failure();
        b.record_success();
        b.record_failure();
        assert_eq!(
            b.state(),
            BreakerState::Closed,
            "a success resets the count"
        );
        b.record_failure();
        assert_eq!(b.state(), BreakerState::Open);
        assert!(!b.permits());
        std::thread::sleep(Duration::from_millis(60));
        assert!(b.permits());
        assert_eq!(b.state(), BreakerState::HalfOpen);
        b.record_success();
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn state_is_exported_as_a_gauge() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let gauge = |text: &str| {
            text.lines()
                .find(|l| l.starts_with("gateway_circuit_open{gateway=\"stripe\"}"))
                .map(str::to_owned)
        };
        metrics::with_local_recorder(&recorder, || {
            let b = Breaker::new(GatewayKind::Stripe, &settings(1, 10_000));
            assert_eq!(
                gauge(&handle.render()).as_deref(),
                Some("gateway_circuit_open{gateway=\"stripe\"} 0")
            );
            b.record_failure();
            assert_eq!(
                gauge(&handle.render()).as_deref(),
                Some("gateway_circuit_open{gateway=\"stripe\"} 1")
            );
        });
    }

    #[test]
    fn open_duration_grows_on_reopen() {
        let mut backoff = OpenBackoff {
            next: Duration::from_millis(10),
            max: Duration::from_millis(30),
        };
        let got: Vec<u128> = (0..4)
            .filter_map(|_| backoff.next())
            .map(|d| d.as_millis())
            .collect();
        assert_eq!(got, vec![10, 20, 30, 30]);
    }
}
