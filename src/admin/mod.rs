//! `checkout admin ...`: operator commands. Each subcommand group is a module with
//! its own `run`; add a group by adding a variant to [`crate::cli::AdminCommand`] and
//! one arm in [`run`].

pub mod catalog;
pub mod check;

use anyhow::Context;
use sqlx::PgPool;

use crate::cli::{AdminCommand, CatalogCommand, GlobalArgs};
use crate::{roles, store};

/// Runs one admin command against the configured database.
pub async fn run(global: GlobalArgs, command: AdminCommand) -> anyhow::Result<()> {
    let settings = roles::load_settings(&global)?;
    let pool = roles::pool(&settings)?;
    if !store::migrations_current(&pool).await? {
        anyhow::bail!("the database is not migrated: run `checkout migrate` first");
    }
    match command {
        AdminCommand::Catalog(command) => run_catalog(&pool, command).await,
        AdminCommand::Check(args) => check::run(&pool, &args).await,
    }
}

async fn run_catalog(pool: &PgPool, command: CatalogCommand) -> anyhow::Result<()> {
    match command {
        CatalogCommand::Import { file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let summary = catalog::import(pool, &text).await?;
            println!("{summary}");
        }
        CatalogCommand::Export => {
            let file = catalog::export(pool).await?;
            println!("{}", serde_json::to_string_pretty(&file)?);
        }
    }
    Ok(())
}
