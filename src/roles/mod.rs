//! The roles of the `checkout` binary; `main.rs` calls exactly one of these.
//!
//! Each role loads settings, sets up logging, runs until SIGTERM/Ctrl-C, and lets its
//! in-flight work finish within `http.shutdown_grace_secs`.

mod dev;
mod sandbox;
mod scheduler;
mod serve;
mod worker;

use std::net::SocketAddr;

use anyhow::Context;
use secrecy::SecretString;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use dev::dev;
pub use sandbox::sandbox;
pub use scheduler::scheduler;
pub use serve::serve;
pub use worker::worker;

use crate::cli::GlobalArgs;
use crate::config::Settings;
use crate::{api, store, telemetry};

/// Settings from file and environment, with `--database-url`/`DATABASE_URL` on top.
pub fn load_settings(global: &GlobalArgs) -> anyhow::Result<Settings> {
    let mut settings = Settings::load(global.config.as_deref())?;
    if let Some(url) = &global.database_url {
        settings.database.url = Some(SecretString::from(url.clone()));
        settings.validate()?;
    }
    telemetry::init_logging(&settings.log);
    Ok(settings)
}

/// A lazy pool on the configured database.
pub fn pool(settings: &Settings) -> anyhow::Result<PgPool> {
    let url = settings.database_url().context(
        "no database configured: set DATABASE_URL, --database-url or CHECKOUT__DATABASE__URL",
    )?;
    store::pool(url, &settings.database)
}

/// A shutdown token cancelled by SIGINT/SIGTERM.
fn shutdown_token() -> CancellationToken {
    let token = CancellationToken::new();
    crate::shutdown::on_signal(token.clone());
    token
}

/// Binds and announces an address on stdout (`listening on http://...`), which scripts
/// and tests read to learn the port when 0 was asked for.
async fn bind(addr: SocketAddr, what: &str) -> anyhow::Result<TcpListener> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    println!("{what} listening on http://{local}");
    tracing::info!(%local, "{what} listening");
    Ok(listener)
}

/// Serves `/healthz` and `/readyz` for a worker or scheduler on its own port.
async fn health_server(
    pool: PgPool,
    host: std::net::IpAddr,
    port: u16,
    what: &str,
    shutdown: CancellationToken,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let listener = bind(SocketAddr::new(host, port), what).await?;
    let router = crate::health::router(pool);
    Ok(tokio::spawn(async move {
        if let Err(e) = crate::server::serve(
            listener,
            router,
            shutdown,
            std::time::Duration::from_secs(1),
        )
        .await
        {
            tracing::error!(error = %e, "health server failed");
        }
    }))
}

fn app_state(pool: PgPool, settings: &Settings) -> anyhow::Result<api::AppState> {
    api::AppState::new(pool, settings.clone(), telemetry::metrics_handle())
}

/// `checkout admin ...` against the configured database.
pub async fn admin(global: GlobalArgs, args: crate::admin::args::AdminArgs) -> anyhow::Result<()> {
    let settings = load_settings(&global)?;
    let pool = pool(&settings)?;
    crate::admin::run(settings, pool, args).await
}

/// `checkout loadtest`: its database is `--database-url`, else the configured one.
pub async fn loadtest(
    global: GlobalArgs,
    args: crate::loadtest::LoadtestArgs,
) -> anyhow::Result<()> {
    let database_url = global.database_url.clone().or_else(|| {
        load_settings(&global)
            .ok()
            .and_then(|s| s.database_url().map(str::to_owned))
    });
    crate::loadtest::run(database_url, args).await
}

/// `checkout migrate`.
pub async fn migrate(global: GlobalArgs) -> anyhow::Result<()> {
    let settings = load_settings(&global)?;
    let pool = pool(&settings)?;
    store::migrate(&pool).await?;
    println!("migrations applied");
    Ok(())
}
