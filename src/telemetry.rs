//! Logging (tracing, JSON or pretty), metrics (Prometheus text via the `metrics` crate)
//! and the correlation id of the work in hand.

pub mod catalog;
pub mod on_commit;

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, LogSettings};

/// Installs the global subscriber once; later calls (tests, `dev`) are no-ops.
/// Logs go to stderr so stdout stays free for machine-readable output (admin `--json`,
/// the `listening on` line).
pub fn init_logging(settings: &LogSettings) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match settings.format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
    // Already installed (a second role in the same process): keep the first.
    let _ = result;
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

/// Runs `work` with `id` as its [`correlation_id`].
pub async fn with_correlation_id<F: std::future::Future>(id: String, work: F) -> F::Output {
    CORRELATION_ID.scope(id, work).await
}
