//! `checkout dev`: API, worker, scheduler and event relay in one process, on a Postgres it finds or
//! provisions: `DATABASE_URL` if set; else the server on 127.0.0.1:5432 (database
//! `checkout_dev`, created if missing); else a private cluster under `.dev/pg` started
//! from the installed PostgreSQL binaries; else one sentence saying what to install.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};
use secrecy::SecretString;
use sqlx::{Connection, PgConnection};
use tokio::sync::watch;

use crate::cli::{DevArgs, GlobalArgs};
use std::sync::Arc;

use crate::sandbox::{self, SandboxState};
use crate::workflows::jobs::{JobContext, run_workers};
use crate::workflows::leader;
use crate::{api, store};

/// The server `dev` tries before provisioning its own; `CHECKOUT_DEV_SERVER` overrides.
const LOCAL_SERVER: &str = "postgres://postgres@127.0.0.1:5432";
const DEV_DB: &str = "checkout_dev";

pub async fn dev(global: GlobalArgs, args: DevArgs) -> anyhow::Result<()> {
    let listen = args.listen;
    let mut settings = super::settings_only(&global)?;
    // On a terminal a person reads a few lines (the summary below) and only warnings;
    // elsewhere, or with --json-logs, every log line as JSON for a shipper.
    let human = !args.json_logs && std::io::stdout().is_terminal();
    if human {
        settings.log.format = crate::config::LogFormat::Pretty;
        if std::env::var_os("RUST_LOG").is_none() {
            settings.log.level = "warn,sqlx::postgres::notice=error".into();
        }
    }
    crate::telemetry::init_logging(&settings.log, &settings.telemetry, Some("dev"));
    if settings.auth.jwt_secret.is_none() {
        let random: [u8; 32] = rand::random();
        settings.auth.jwt_secret = Some(SecretString::from(hex::encode(random)));
        tracing::warn!(
            "auth.jwt_secret is not set: using a random one; tokens die with this process \
             (set CHECKOUT__AUTH__JWT_SECRET to keep them)"
        );
    }
    let (url, chosen) = match settings.database_url() {
        Some(url) => {
            let url = url.to_owned();
            let pool = super::pool(&settings)?;
            super::startup::check_database(&url, &pool, super::startup::Schema::Applies).await?;
            (url, "the configured database URL")
        }
        None => resolve_database().await?,
    };
    settings.database.url = Some(SecretString::from(url.clone()));
    tracing::info!(database = %redact(&url), "dev database");
    let pool = super::pool(&settings)?;
    store::migrate(&pool).await?;
    let summary = crate::admin::catalog::import_sample(&pool).await?;
    tracing::info!(%summary, "sample catalog loaded");

    let shutdown = super::shutdown_token();
    super::start_metrics(&pool, &settings, &shutdown);
    super::sample_queues(&pool, &settings, &shutdown);
    let port = listen.port.unwrap_or(settings.http.port);
    let listener = super::bind(SocketAddr::new(settings.http.host, port), "dev").await?;
    let local = listener.local_addr()?;
    let public = format!("http://{local}");
    let sandbox = wire_sandbox(&mut settings, &public);
    allow_own_origin(&mut settings.checkout, local);
    // webhook receivers in development run on this machine
    settings.subscriptions.allow_loopback = true;

    let context = Arc::new(JobContext::new(pool.clone(), Arc::new(settings.clone()))?);
    let worker = tokio::spawn(run_workers(context, shutdown.clone()));
    let (tx, rx) = watch::channel(false);
    tokio::spawn(crate::workflows::cron::ticker::run(
        pool.clone(),
        settings.scheduler.clone(),
        rx,
        shutdown.clone(),
    ));
    let scheduler = tokio::spawn(leader::run(
        url.clone(),
        Duration::from_millis(settings.scheduler.leader_poll_ms),
        tx,
        shutdown.clone(),
    ));
    // Events go to RabbitMQ when it answers; until then they wait in the outbox.
    tokio::spawn(crate::relay::run(
        pool.clone(),
        settings.events.clone(),
        crate::health::Dependency::new("broker"),
        shutdown.clone(),
    ));
    // A second `dev` or a `serve` may hold the metrics port; dev goes on without it.
    let metrics = super::health_server(
        pool.clone(),
        None,
        settings.http.metrics_addr,
        "metrics",
        shutdown.clone(),
    )
    .await
    .map_err(|e| tracing::warn!("metrics not served: {e:#}"))
    .ok();
    let router = api::router(super::app_state(pool, &settings)?)?
        .merge(sandbox::router(sandbox))
        .merge(crate::storefront::router());
    let grace = Duration::from_secs(settings.http.shutdown_grace_secs);
    let headers = Duration::from_millis(settings.http.header_read_timeout_ms);
    if human {
        let metrics_url = metrics
            .as_ref()
            .map(|_| format!("http://{}/metrics", settings.http.metrics_addr));
        print_summary(&public, metrics_url.as_deref(), &url, chosen);
    }
    api::serve_with(listener, router, shutdown.clone(), grace, headers).await?;
    if let Some(metrics) = metrics {
        metrics.abort();
    }
    let _ = tokio::time::timeout(grace, async {
        let _ = worker.await;
        let _ = scheduler.await;
    })
    .await;
    Ok(())
}

/// Points every gateway that has no real keys at the sandbox served on this listener
/// (`{public}/sandbox`), and the sandbox's webhooks at our own receivers.
fn wire_sandbox(settings: &mut crate::config::Settings, public: &str) -> SandboxState {
    let s = &mut settings.sandbox;
    s.razorpay_webhook_url
        .get_or_insert_with(|| format!("{public}/api/v1/webhooks/razorpay"));
    s.stripe_webhook_url
        .get_or_insert_with(|| format!("{public}/api/v1/webhooks/stripe"));
    let state = SandboxState::new(s.clone(), public);
    if !settings.razorpay.is_configured() {
        settings.razorpay = settings.sandbox.razorpay_client(&state.base_url());
    }
    if !settings.stripe.is_configured() {
        settings.stripe = settings.sandbox.stripe_client(&state.base_url());
    }
    tracing::info!(sandbox = %state.base_url(), "gateways without keys use the sandbox");
    state
}

/// The storefront `dev` serves sends buyers to the gateway with a return URL on this
/// listener, whatever port it got (`--port 0`): allow that origin (and its `localhost`
/// spelling) as a redirect target and make it the default return address, unless
/// `checkout.public_base_url` was configured.
fn allow_own_origin(checkout: &mut crate::config::CheckoutSettings, local: SocketAddr) {
    let mut origins = vec![format!("http://{local}")];
    if local.ip().is_loopback() {
        origins.push(format!("http://localhost:{}", local.port()));
    }
    for origin in &origins {
        if !checkout
            .allowed_redirect_origins
            .iter()
            .any(|o| o.trim_end_matches('/').eq_ignore_ascii_case(origin))
        {
            checkout.allowed_redirect_origins.push(origin.clone());
        }
    }
    if checkout.public_base_url == crate::config::CheckoutSettings::default().public_base_url {
        checkout.public_base_url = origins[0].clone();
    }
}

/// What runs where, for a person at a terminal.
fn print_summary(public: &str, metrics: Option<&str>, database: &str, chosen: &str) {
    println!();
    println!("checkout dev is running (Ctrl-C stops it)");
    println!("  storefront  {public}/");
    println!("  API         {public}/api/v1");
    println!("  API docs    {public}/docs");
    println!("  sandbox     {public}/sandbox (gateways without keys pay here)");
    if let Some(metrics) = metrics {
        println!("  metrics     {metrics}");
    }
    println!("  database    {} ({chosen})", redact(database));
    println!("  logs        warnings only; --json-logs for every line as JSON");
}

fn redact(url: &str) -> String {
    match url.split_once('@') {
        Some((_, rest)) => format!("postgres://…@{rest}"),
        None => url.to_owned(),
    }
}

/// A database for `dev` and how it was chosen.
async fn resolve_database() -> anyhow::Result<(String, &'static str)> {
    let local = std::env::var("CHECKOUT_DEV_SERVER").unwrap_or_else(|_| LOCAL_SERVER.into());
    if let Ok(url) = ensure_database(&local).await {
        return Ok((url, "the local server; DATABASE_URL picks another"));
    }
    tracing::info!(server = %local, "no Postgres answers; starting a private cluster under .dev/pg");
    let server = private_cluster().await?;
    Ok((
        ensure_database(&server).await?,
        "a private cluster under .dev/pg",
    ))
}

/// Connects to `server`'s `postgres` database and creates `checkout_dev` if missing.
async fn ensure_database(server: &str) -> anyhow::Result<String> {
    let admin_url = format!("{server}/postgres");
    let mut conn = tokio::time::timeout(
        Duration::from_secs(3),
        PgConnection::connect_with(&store::connect_options(&admin_url)?),
    )
    .await
    .context("timed out")??;
    let exists: bool =
        sqlx::query_scalar("select exists(select 1 from pg_database where datname = $1)")
            .bind(DEV_DB)
            .fetch_one(&mut conn)
            .await?;
    if !exists {
        // concurrent `dev` starts may race here; "already exists" is fine
        if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(format!("create database {DEV_DB}")))
            .execute(&mut conn)
            .await
            && !e.to_string().contains("already exists")
        {
            return Err(e.into());
        }
    }
    let _ = conn.close().await;
    Ok(format!("{server}/{DEV_DB}"))
}

/// The newest installed PostgreSQL's bin directory.
fn postgres_bin() -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists() && p.join("pg_ctl").exists())
        .collect();
    candidates.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    candidates.pop()
}

fn is_root() -> bool {
    nix::unistd::Uid::effective().is_root()
}

/// Runs a PostgreSQL binary; as root it runs as `postgres` (initdb refuses root).
fn run_pg(bin: &Path, args: &[&str]) -> anyhow::Result<()> {
    let mut cmd = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin);
        c
    } else {
        Command::new(bin)
    };
    let out = cmd
        .args(args)
        .output()
        .with_context(|| format!("running {}", bin.display()))?;
    if !out.status.success() {
        bail!(
            "{} failed: {}",
            bin.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Starts (initialising if needed) a cluster under `.dev/pg` and returns its server URL.
async fn private_cluster() -> anyhow::Result<String> {
    let Some(bin) = postgres_bin() else {
        bail!(
            "no PostgreSQL found: set DATABASE_URL, run a server on 127.0.0.1:5432, \
             or install PostgreSQL (e.g. `apt-get install postgresql`)"
        );
    };
    let root = std::env::current_dir()?.join(".dev");
    let data = root.join("pg");
    std::fs::create_dir_all(&root)?;
    if is_root() {
        // the postgres user must own the data directory and reach it
        let _ = Command::new("chown")
            .args(["postgres:postgres"])
            .arg(&root)
            .status();
        let _ = Command::new("chmod")
            .args(["o+x"])
            .arg(std::env::current_dir()?)
            .status();
    }
    let data_s = data.to_string_lossy().to_string();
    if !data.join("PG_VERSION").exists() {
        run_pg(
            &bin.join("initdb"),
            &[
                "-D",
                &data_s,
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
            ],
        )?;
    }
    // Already running from an earlier `dev`: reuse it (postmaster.pid line 4 is the port).
    if let Ok(pid) = std::fs::read_to_string(data.join("postmaster.pid"))
        && let Some(port) = pid.lines().nth(3)
        && let Ok(url) = ensure_database(&format!("postgres://postgres@127.0.0.1:{port}")).await
    {
        return Ok(url.trim_end_matches(&format!("/{DEV_DB}")).to_owned());
    }
    let port = free_port()?;
    let log = root.join("pg.log").to_string_lossy().to_string();
    let opts = format!("-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''");
    run_pg(
        &bin.join("pg_ctl"),
        &["-D", &data_s, "-o", &opts, "-l", &log, "-w", "start"],
    )?;
    Ok(format!("postgres://postgres@127.0.0.1:{port}"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::allow_own_origin;
    use crate::config::CheckoutSettings;

    #[test]
    fn dev_allows_its_own_origin_and_returns_there() {
        let mut c = CheckoutSettings::default();
        allow_own_origin(&mut c, "127.0.0.1:18300".parse().unwrap());
        assert!(
            c.allowed_redirect_origins
                .contains(&"http://127.0.0.1:18300".to_owned())
        );
        assert!(
            c.allowed_redirect_origins
                .contains(&"http://localhost:18300".to_owned())
        );
        assert!(
            c.allowed_redirect_origins
                .contains(&"http://127.0.0.1:8080".to_owned())
        );
        assert_eq!(c.public_base_url, "http://127.0.0.1:18300");

        // the default port: nothing added twice; a configured base URL is kept
        let mut c = CheckoutSettings {
            public_base_url: "https://shop.example".into(),
            ..CheckoutSettings::default()
        };
        allow_own_origin(&mut c, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(
            c.allowed_redirect_origins,
            CheckoutSettings::default().allowed_redirect_origins
        );
        assert_eq!(c.public_base_url, "https://shop.example");
    }
}
