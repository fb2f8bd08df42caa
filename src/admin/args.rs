//! The arguments of `checkout admin`: one group per subcommand, each implemented in its
//! own `admin::<group>` module.

use std::path::PathBuf;

use clap::{Args, Subcommand};

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
    Jobs(super::jobs::JobsCommand),
    /// Orders and their checkout workflow: show, retry, cancel, refund, reconcile.
    #[command(subcommand)]
    Orders(super::orders::OrdersCommand),
    /// Gateway webhook events: list, replay.
    #[command(subcommand)]
    Webhooks(super::webhooks::WebhooksCommand),
    /// Webhook endpoints receiving the events: add, list, disable, enable,
    /// rotate-secret, deliveries, redeliver.
    #[command(subcommand)]
    Subscriptions(super::subscriptions::SubscriptionsCommand),
    /// Coupons: list, create, disable.
    #[command(subcommand)]
    Coupons(super::coupons::CouponsCommand),
    /// FX rates (INR -> quote): set, list.
    #[command(subcommand)]
    Fx(super::fx::FxCommand),
    /// Student accounts: list, show.
    #[command(subcommand)]
    Users(super::users::UsersCommand),
    /// Issued tax invoices and credit notes: list, show (json, html, pdf, einvoice),
    /// export (the GSTR-1 summary as CSV).
    #[command(subcommand)]
    Invoices(super::invoices::InvoicesCommand),
    /// Consistency check of orders, seats, coupons, money and webhooks; violations -> exit 1.
    Check(super::check::CheckArgs),
    /// An order's whole story in time order: its ledger rows (money and states, with
    /// their actors) and the operator commands run on it; with --events, its outbox
    /// events too.
    Audit(super::story::AuditArgs),
}

#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Validates FILE completely, then inserts or updates everything in it in one
    /// transaction (idempotent). Any problem: nothing is written, every problem is
    /// listed with its JSON path, exit status 1.
    Import {
        /// The catalog JSON file (format: docs/operations.md, "Catalog file"; examples/catalog.json).
        file: PathBuf,
    },
    /// Prints the stored catalog as JSON in the import format.
    Export,
}
