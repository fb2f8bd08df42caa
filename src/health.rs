//! Readiness and metrics below the API: [`ready`] is the one readiness rule, answered by
//! the API's `/readyz` and by the health port of every other role
//! (`api::routes::health::port_router`); [`prometheus_text`] renders the process's
//! metrics for both.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;

use crate::store;

/// Ready for work: the database answers within 2 s and every migration this binary
/// knows is applied. `Err` says which is not so.
pub async fn ready(pool: &PgPool) -> Result<(), String> {
    let check = async {
        sqlx::query("select 1").execute(pool).await?;
        store::migrations_current(pool).await
    };
    match tokio::time::timeout(Duration::from_secs(2), check).await {
        Ok(Ok(true)) => Ok(()),
        Ok(Ok(false)) => Err("migrations pending".into()),
        Ok(Err(e)) => Err(format!("database unreachable: {e}")),
        Err(_) => Err("database did not answer in 2 s".into()),
    }
}

/// A dependency a role reports on besides the database (the relay's broker), shared
/// between the role, which says how it is, and its health port, which answers
/// `/readyz` with it.
#[derive(Debug, Clone)]
pub struct Dependency(Arc<Mutex<Option<String>>>);

impl Dependency {
    /// Not known yet: not ready until the role says otherwise.
    pub fn new(what: &str) -> Self {
        Dependency(Arc::new(Mutex::new(Some(format!(
            "{what}: not connected yet"
        )))))
    }

    pub fn up(&self) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    pub fn down(&self, why: String) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(why);
    }

    /// `Err` says why it is not usable.
    pub fn check(&self) -> Result<(), String> {
        match &*self.0.lock().unwrap_or_else(|e| e.into_inner()) {
            None => Ok(()),
            Some(why) => Err(why.clone()),
        }
    }
}

/// The process's metrics in the Prometheus text format.
pub fn prometheus_text(handle: &PrometheusHandle) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        handle.render(),
    )
        .into_response()
}
