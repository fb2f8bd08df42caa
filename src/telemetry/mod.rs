//! Logging (tracing, JSON or pretty), traces (OpenTelemetry through `tracing`,
//! [`traces`]), metrics (Prometheus text via the `metrics` crate) and the correlation id
//! of the work in hand.

pub mod catalog;
mod filters;
pub mod on_commit;

use std::sync::OnceLock;

pub mod traces;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::{LogFormat, LogSettings, TelemetrySettings};

/// Installs the global subscriber once; later calls (tests, `dev`) are no-ops.
/// Logs go to stderr so stdout stays free for machine-readable output (admin `--json`,
/// the `listening on` line). With `role` and an exporter configured
/// ([`TelemetrySettings::export`]) spans are exported as OpenTelemetry traces too,
/// every one of ours whatever the log level; otherwise no OpenTelemetry layer, thread or
/// exporter exists.
pub fn init_logging(settings: &LogSettings, telemetry: &TelemetrySettings, role: Option<&str>) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let fmt = match settings.format {
        LogFormat::Json => fmt
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .boxed(),
        LogFormat::Pretty => fmt.boxed(),
    };
    let export = role.and_then(|role| telemetry.export(role, |k| std::env::var(k).ok()));
    let (otel, exporter_error) = match export.as_ref().map(traces::layer) {
        Some(Ok(layer)) => (Some(layer), None),
        Some(Err(e)) => (None, Some(e)),
        None => (None, None),
    };
    // Per-layer filters ([`filters`]): the log level decides only what is logged.
    let otel = otel.map(|layer| layer.with_filter(filters::exported()));
    let installed = tracing_subscriber::registry()
        .with(fmt.with_filter(filters::Fresh(filter)))
        .with(otel)
        .try_init();
    // Already installed (a second role in the same process): keep the first.
    if installed.is_ok() {
        if let Some(e) = exporter_error {
            tracing::error!(error = %e, "cannot start the trace exporter; traces are off");
        } else if let Some(export) = &export {
            tracing::info!(url = %export.traces_url, service = %export.service_name, "exporting traces");
        }
    }
}

/// The process-wide Prometheus recorder; installed on first use.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(&[
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ])
                .map(|b| b.build_recorder())
                .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
            let handle = recorder.handle();
            // Fails only if another recorder is installed; then ours just is not global.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

tokio::task_local! {
    static CORRELATION_ID: String;
}

/// The correlation id of the request (or job) this task works for, or a fresh one
/// outside any. The API sets it per request from `X-Correlation-ID`; orders keep it, so
/// error bodies, job payloads and gateway calls can quote it.
pub fn correlation_id() -> String {
    CORRELATION_ID
        .try_with(Clone::clone)
        .unwrap_or_else(|_| uuid::Uuid::new_v4().to_string())
}

/// The correlation id this task works for, None outside a request or job.
pub fn current_correlation_id() -> Option<String> {
    CORRELATION_ID.try_with(Clone::clone).ok()
}

/// Runs `work` with `id` as its [`correlation_id`].
pub async fn with_correlation_id<F: std::future::Future>(id: String, work: F) -> F::Output {
    CORRELATION_ID.scope(id, work).await
}

/// Who a change is made by, as the ledger records it: a job (queue, id, key), a
/// webhook event, an operator, or an API caller. Never a token or a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// `system`, `webhook`, `admin` or `api` (the ledger's `actor_type`).
    pub kind: &'static str,
    pub name: String,
}

impl Actor {
    pub fn system(name: impl Into<String>) -> Self {
        Actor {
            kind: "system",
            name: name.into(),
        }
    }

    pub fn webhook(event: impl Into<String>) -> Self {
        Actor {
            kind: "webhook",
            name: event.into(),
        }
    }

    pub fn admin(name: impl Into<String>) -> Self {
        Actor {
            kind: "admin",
            name: name.into(),
        }
    }

    pub fn api(caller: impl Into<String>) -> Self {
        Actor {
            kind: "api",
            name: caller.into(),
        }
    }
}

tokio::task_local! {
    static ACTOR: Actor;
}

/// The actor this task works for. Outside any scope (a test calling the store, a tool)
/// it is the system, named by the process, so a row is never written without one.
pub fn actor() -> Actor {
    ACTOR
        .try_with(Clone::clone)
        .unwrap_or_else(|_| Actor::system(format!("process {}", std::process::id())))
}

/// Runs `work` with `actor` as its [`actor`].
pub async fn with_actor<F: std::future::Future>(actor: Actor, work: F) -> F::Output {
    ACTOR.scope(actor, work).await
}
