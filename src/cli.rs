//! Command-line interface: global options and one subcommand per role.
//!
//! Every setting not named here is `CHECKOUT__SECTION__KEY` (docs/configuration.md).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub use crate::admin::args::{AdminArgs, AdminCommand, CatalogCommand};

#[derive(Debug, Parser)]
#[command(
    name = "checkout",
    version,
    about = "Checkout and enrollment backend for paid internship programs",
    long_about = "Checkout and enrollment backend for paid internship programs.\n\n\
        Settings come from defaults, then an optional TOML file (--config), then \
        CHECKOUT__SECTION__KEY environment variables (e.g. CHECKOUT__WORKER__CONCURRENCY=8)."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Optional TOML settings file (sections as in docs/configuration.md).
    #[arg(long, global = true, env = "CHECKOUT_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Postgres URL; wins over CHECKOUT__DATABASE__URL.
    #[arg(
        long,
        global = true,
        env = "DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct ListenArgs {
    /// Port to listen on (default 8080; 0 picks a free port, printed on stdout).
    #[arg(long)]
    pub port: Option<u16>,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub listen: ListenArgs,
    /// Mount only these API groups (comma-separated; default: all). Health, readiness,
    /// metrics, /openapi.json (listing only what this process serves) and /docs are on
    /// every process. See docs/operations.md, "API groups".
    #[arg(long, value_enum, value_delimiter = ',', value_name = "GROUP,...")]
    pub groups: Vec<crate::api::ApiGroup>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// REST API for frontends and gateway webhooks, with /healthz, /readyz, /openapi.json and /docs; /metrics on http.metrics_addr.
    Serve(ServeArgs),
    /// Runs workflow steps and compensations from the Postgres job queue; start more to scale.
    Worker,
    /// Runs cron jobs under a Postgres advisory-lock leader; any number may run.
    Scheduler,
    /// Publishes the outbox's events to RabbitMQ, in order per order; any number may run.
    Relay,
    /// An example consumer of the events on RabbitMQ: acks after its effect, deduplicates
    /// by event id, dead-letters poison messages (see docs/events.md).
    Consume(ConsumeArgs),
    /// Applies database migrations and exits.
    Migrate,
    /// Everything in one process on a local Postgres it finds or provisions.
    Dev(DevArgs),
    /// Operator commands (jobs, orders, webhooks, catalog, coupons, FX, users) against
    /// the configured database.
    Admin(AdminArgs),
    /// A local payment gateway speaking the Razorpay and Stripe subsets we use, with a
    /// hosted pay page, signed webhooks, a control API and fault injection.
    Sandbox(SandboxArgs),
    /// Open-loop load generator of complete checkouts (loopback only), with chaos options
    /// and the consistency check; see BENCHMARKS.md, "Method".
    Loadtest(Box<crate::loadtest::LoadtestArgs>),
}

#[derive(Debug, Clone, Args)]
pub struct DevArgs {
    #[command(flatten)]
    pub listen: ListenArgs,
    /// Log JSON lines (as when stdout is not a terminal) instead of a short summary.
    #[arg(long)]
    pub json_logs: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ConsumeArgs {
    /// The queue to read (default `events.example_queue`).
    #[arg(long)]
    pub queue: Option<String>,
    /// Runs of a failing effect before the message goes to the dead-letter queue.
    #[arg(long, default_value_t = 5)]
    pub max_attempts: i32,
    /// Make the effect fail for events of this type, to watch retries and dead letters.
    #[arg(long)]
    pub fail_type: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct SandboxArgs {
    /// Port to listen on (default 8090; 0 picks a free port, printed on stdout).
    #[arg(long, default_value_t = 8090)]
    pub port: u16,
}
