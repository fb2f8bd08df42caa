//! Command-line interface: global options and one subcommand per role.
//!
//! Every setting not named here is `CHECKOUT__SECTION__KEY` (see the README's table).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

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
    /// Optional TOML settings file (sections as in the README's settings table).
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

#[derive(Debug, Subcommand)]
pub enum Command {
    /// REST API for frontends and gateway webhooks, with /healthz, /readyz, /metrics, /openapi.json and /docs.
    Serve(ListenArgs),
    /// Runs workflow steps and compensations from the Postgres job queue; start more to scale.
    Worker,
    /// Runs cron jobs under a Postgres advisory-lock leader; any number may run.
    Scheduler,
    /// Applies database migrations and exits.
    Migrate,
    /// Everything in one process on a local Postgres it finds or provisions.
    Dev(ListenArgs),
    /// Operator commands (jobs, orders, webhooks, catalog, coupons, FX, users) against
    /// the configured database.
    Admin(AdminArgs),
    /// A local payment gateway speaking the Razorpay and Stripe subsets we use, with a
    /// hosted pay page, signed webhooks, a control API and fault injection.
    Sandbox(SandboxArgs),
    /// Open-loop load generator of complete checkouts (loopback only), with chaos options
    /// and the consistency check; see BENCHMARKS.md.
    Loadtest(Box<crate::loadtest::LoadtestArgs>),
}

/// `checkout admin [--json] [--actor NAME] GROUP ...`.
#[derive(Debug, Args)]
pub struct AdminArgs {
    /// Machine output: one JSON document on stdout instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// Who runs the command, written to the audit trail (default: $USER).
    #[arg(long, global = true, env = "USER", default_value = "unknown")]
    pub actor: String,
    #[command(subcommand)]
    pub command: AdminCommand,
}

/// One variant per group, each implemented in its own `admin::<group>` module.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Programs, plans, cohorts, coupons, sales and FX rates as one JSON file.
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// Background jobs (apalis): list, show, retry, cancel, stats.
    #[command(subcommand)]
    Jobs(crate::admin::jobs::JobsCommand),
    /// Orders and their checkout workflow: show, retry, cancel, refund, reconcile.
    #[command(subcommand)]
    Orders(crate::admin::orders::OrdersCommand),
    /// Gateway webhook events: list, replay.
    #[command(subcommand)]
    Webhooks(crate::admin::webhooks::WebhooksCommand),
    /// Coupons: list, create, disable.
    #[command(subcommand)]
    Coupons(crate::admin::coupons::CouponsCommand),
    /// FX rates (INR -> quote): set, list.
    #[command(subcommand)]
    Fx(crate::admin::fx::FxCommand),
    /// Student accounts: list, show.
    #[command(subcommand)]
    Users(crate::admin::users::UsersCommand),
    /// Consistency check of orders, seats, coupons, money and webhooks; violations -> exit 1.
    Check(crate::admin::check::CheckArgs),
}

#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Validates FILE completely, then inserts or updates everything in it in one
    /// transaction (idempotent). Any problem: nothing is written, every problem is
    /// listed with its JSON path, exit status 1.
    Import {
        /// The catalog JSON file (format: README "Catalog file", examples/catalog.json).
        file: PathBuf,
    },
    /// Prints the stored catalog as JSON in the import format.
    Export,
}

#[derive(Debug, Clone, Args)]
pub struct SandboxArgs {
    /// Port to listen on (default 8090; 0 picks a free port, printed on stdout).
    #[arg(long, default_value_t = 8090)]
    pub port: u16,
}
