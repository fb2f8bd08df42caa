//! The roles of the `checkout` binary; `main.rs` calls exactly one of these.
//!
//! Each role loads settings, sets up logging, runs until SIGTERM/Ctrl-C, and lets its
//! in-flight work finish within `http.shutdown_grace_secs`.

mod dev;
mod relay;
mod sandbox;
mod scheduler;
mod serve;
mod startup;
mod worker;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use secrecy::SecretString;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use dev::dev;
pub use relay::{consume, relay};
pub use sandbox::sandbox;
pub use scheduler::scheduler;
pub use serve::serve;
pub use worker::worker;

use crate::cli::GlobalArgs;
use crate::config::Settings;
use crate::{api, store, telemetry};

/// Settings from file and environment, with `--database-url`/`DATABASE_URL` on top;
/// starts logging, and exports traces as `role` (`checkout-<role>`) when configured.
pub fn load_settings(global: &GlobalArgs, role: Option<&str>) -> anyhow::Result<Settings> {
    let settings = settings_only(global)?;
    telemetry::init_logging(&settings.log, &settings.telemetry, role);
    Ok(settings)
}

/// [`load_settings`] without starting logging.
fn settings_only(global: &GlobalArgs) -> anyhow::Result<Settings> {
    let mut settings = Settings::load(global.config.as_deref())?;
    if let Some(url) = &global.database_url {
        settings.database.url = Some(SecretString::from(url.clone()));
        settings.validate()?;
    }
    Ok(settings)
}

/// A lazy pool on the configured database.
pub fn pool(settings: &Settings) -> anyhow::Result<PgPool> {
    let url = settings.database_url().context(
        "no database configured: set DATABASE_URL, --database-url or CHECKOUT__DATABASE__URL",
    )?;
    store::pool(url, &settings.database)
}

/// [`pool`], after one connection proved the database is there (and migrated, for
/// [`startup::Schema::Needed`]); a failure is one sentence naming cause and fix.
async fn checked_pool(settings: &Settings, schema: startup::Schema) -> anyhow::Result<PgPool> {
    let pool = pool(settings)?;
    if let Some(url) = settings.database_url() {
        startup::check_database(url, &pool, schema).await?;
    }
    Ok(pool)
}

/// A shutdown token cancelled by SIGINT/SIGTERM.
fn shutdown_token() -> CancellationToken {
    let token = CancellationToken::new();
    crate::shutdown::on_signal(token.clone());
    token
}

/// Every role with a pool at start: the metric catalog described and registered at zero
/// (`telemetry::catalog`), and the pool's sampler (`store::pooled::sample`) until
/// `shutdown`.
fn start_metrics(pool: &PgPool, settings: &Settings, shutdown: &CancellationToken) {
    use crate::workflows::jobs;
    let groups = api::layers::groups::RouteGroup::RATE_LIMITED.map(|g| g.name());
    let schedules = settings.scheduler.schedules().map(|(name, _)| name);
    telemetry::catalog::register(&telemetry::catalog::Known {
        jobs: &jobs::job_labels(),
        queues: jobs::QUEUES,
        webhook_kinds: &crate::gateways::WebhookKind::LABELS,
        ratelimit_groups: &groups,
        cron_schedules: &schedules,
    });
    tokio::spawn(store::pooled::sample(
        pool.clone(),
        Duration::from_secs(settings.worker.metrics_sample_secs),
        shutdown.clone(),
    ));
}

/// Runs the queues' depth sampler (`workers::depth`) until `shutdown`: the scheduler
/// role and `dev`.
fn sample_queues(pool: &PgPool, settings: &Settings, shutdown: &CancellationToken) {
    tokio::spawn(crate::workers::depth::sample(
        pool.clone(),
        crate::workflows::jobs::QUEUES,
        Duration::from_secs(settings.worker.metrics_sample_secs),
        shutdown.clone(),
    ));
}

/// Binds and announces an address on stdout (`listening on http://...`), which scripts
/// and tests read to learn the port when 0 was asked for.
async fn bind(addr: SocketAddr, what: &str) -> anyhow::Result<TcpListener> {
    let listener = TcpListener::bind(addr).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot listen on {addr} for the {what}: {e}; stop what holds it or choose another \
             address (docs/configuration.md, `http` and the health ports)"
        )
    })?;
    let local = listener.local_addr()?;
    println!("{what} listening on http://{local}");
    tracing::info!(%local, "{what} listening");
    Ok(listener)
}

/// Serves `/healthz`, `/readyz` and `/metrics` on a listener of their own: the health
/// port of a worker or scheduler, `http.metrics_addr` of `serve` and `dev`.
async fn health_server(
    pool: PgPool,
    dependency: Option<crate::health::Dependency>,
    addr: SocketAddr,
    what: &str,
    shutdown: CancellationToken,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let listener = bind(addr, what).await?;
    let router = crate::api::routes::health::port_router(pool, dependency);
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
    api::AppState::new(pool, settings.clone())
}

/// `checkout admin ...` against the configured database.
pub async fn admin(global: GlobalArgs, args: crate::admin::args::AdminArgs) -> anyhow::Result<()> {
    let settings = load_settings(&global, None)?;
    let pool = checked_pool(&settings, startup::Schema::Needed).await?;
    crate::admin::run(settings, pool, args).await
}

/// `checkout loadtest`: its database is `--database-url`, else the configured one.
pub async fn loadtest(
    global: GlobalArgs,
    args: crate::loadtest::LoadtestArgs,
) -> anyhow::Result<()> {
    let database_url = global.database_url.clone().or_else(|| {
        load_settings(&global, None)
            .ok()
            .and_then(|s| s.database_url().map(str::to_owned))
    });
    crate::loadtest::run(database_url, args).await
}

/// `checkout migrate`.
pub async fn migrate(global: GlobalArgs) -> anyhow::Result<()> {
    let settings = load_settings(&global, None)?;
    let pool = checked_pool(&settings, startup::Schema::Applies).await?;
    store::migrate(&pool).await?;
    println!("migrations applied");
    Ok(())
}
