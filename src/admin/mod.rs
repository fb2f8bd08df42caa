//! `checkout admin ...`: operator commands against the database (same settings as the
//! other roles). Each group is a module with its clap command enum and its `run`; add a
//! group by adding a variant to [`args::AdminCommand`] and one arm in [`run`].
//!
//! Shared rules, in one place each: output is a table, or one JSON document with
//! `--json` ([`output`]); every action that changes money or state writes an
//! `admin_audit` row in the same transaction as the change ([`audit`]) and is
//! idempotent (state guards, or idempotency keys for refunds); an unknown id or a
//! refused action is an error, so the process exits non-zero with the reason.

pub mod args;
pub mod audit;
pub mod catalog;
pub mod check;
pub mod coupons;
pub mod fx;
pub mod invoices;
pub mod jobs;
pub mod orders;
pub mod output;
pub mod refund;
pub mod story;
pub mod subscriptions;
pub mod users;
pub mod webhooks;

use anyhow::Context;
use sqlx::PgPool;

use crate::config::Settings;
use crate::store::Reader;
use args::{AdminArgs, AdminCommand, CatalogCommand};

/// What every admin command gets.
pub struct Admin {
    /// The primary: every action, and every read an action depends on or that shows
    /// what the operator just changed.
    pub pool: PgPool,
    /// Listings and reports: the replica while it is healthy (`store::replica`).
    pub reader: Reader,
    pub settings: Settings,
    /// `--json`
    pub json: bool,
    /// Who runs it (`--actor`, else $USER), for the audit trail.
    pub actor: String,
}

impl Admin {
    /// The order with this token, or a clear error.
    pub async fn order(&self, token: &str) -> anyhow::Result<crate::store::orders::Order> {
        let mut conn = self.pool.acquire().await?;
        crate::store::orders::by_token(&mut conn, token)
            .await?
            .ok_or_else(|| anyhow::anyhow!("no order with token `{token}`"))
    }
}

/// Runs one admin command against the database of `pool`, which the caller checked is
/// reachable and migrated (`roles::admin`).
pub async fn run(settings: Settings, pool: PgPool, args: AdminArgs) -> anyhow::Result<()> {
    let actor = crate::telemetry::Actor::admin(args.actor.clone());
    let reader = Reader::new(pool.clone(), &settings.database)?;
    // one look at the replica: a one-shot command runs no sampler
    reader.sample_now().await;
    let admin = Admin {
        reader,
        pool,
        settings,
        json: args.json,
        actor: args.actor,
    };
    // what the command changes is recorded in the ledger as done by this operator
    crate::telemetry::with_actor(actor, dispatch(&admin, args.command)).await
}

async fn dispatch(admin: &Admin, command: AdminCommand) -> anyhow::Result<()> {
    match command {
        AdminCommand::Catalog(command) => run_catalog(&admin.pool, command).await,
        AdminCommand::Jobs(command) => jobs::run(admin, command).await,
        AdminCommand::Orders(command) => orders::run(admin, command).await,
        AdminCommand::Webhooks(command) => webhooks::run(admin, command).await,
        AdminCommand::Subscriptions(command) => subscriptions::run(admin, command).await,
        AdminCommand::Coupons(command) => coupons::run(admin, command).await,
        AdminCommand::Fx(command) => fx::run(admin, command).await,
        AdminCommand::Users(command) => users::run(admin, command).await,
        AdminCommand::Invoices(command) => invoices::run(admin, command).await,
        AdminCommand::Check(args) => check::run(&admin.pool, &args, &admin.settings).await,
        AdminCommand::Audit(args) => story::run(admin, &args).await,
    }
}

async fn run_catalog(pool: &PgPool, command: CatalogCommand) -> anyhow::Result<()> {
    match command {
        CatalogCommand::Import { file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let mut progress = output::Progress::quiet(0, "importing");
            let summary = catalog::import_reporting(pool, &text, &mut progress).await?;
            drop(progress);
            println!("{summary}");
        }
        CatalogCommand::Export => {
            let file = catalog::export(pool).await?;
            println!("{}", serde_json::to_string_pretty(&file)?);
        }
    }
    Ok(())
}

/// Parses an age like `90`, `90s`, `15m`, `2h` or `7d` into seconds.
pub fn parse_age(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is not an age like 90s, 15m, 2h or 7d"))?;
    let unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return Err(format!("`{text}`: the unit must be s, m, h or d")),
    };
    Ok(n * unit)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    #[test]
    fn ages() {
        assert_eq!(super::parse_age("90").unwrap(), 90);
        assert_eq!(super::parse_age("15m").unwrap(), 900);
        assert_eq!(super::parse_age("2h").unwrap(), 7_200);
        assert_eq!(super::parse_age("7d").unwrap(), 604_800);
        assert!(super::parse_age("soon").is_err());
        assert!(super::parse_age("5y").is_err());
    }
}
