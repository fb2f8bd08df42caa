//! `checkout admin fx set|list`.

use chrono::{DateTime, Utc};
use clap::Subcommand;
use rust_decimal::Decimal;
use serde_json::json;

use super::output::{Table, emit};
use super::{Admin, audit};
use crate::domain::{Currency, FxRate};
use crate::store::fx;

#[derive(Debug, Subcommand)]
pub enum FxCommand {
    /// Every stored rate (units of QUOTE per 1 INR).
    List,
    /// Stores a rate for QUOTE as of --as-of (default now); the same date corrects it.
    Set {
        /// e.g. USD
        quote: String,
        /// units of QUOTE per 1 INR, e.g. 0.012
        rate: Decimal,
        /// RFC 3339 time the rate is in effect from.
        #[arg(long)]
        as_of: Option<DateTime<Utc>>,
    },
}

pub async fn run(admin: &Admin, command: FxCommand) -> anyhow::Result<()> {
    match command {
        FxCommand::List => {
            let rates = admin.reader.read(|c| Box::pin(fx::all(c))).await?;
            let out: Vec<_> = rates
                .iter()
                .map(|r| json!({"quote": r.quote.code(), "rate": r.rate.normalize(), "as_of": r.as_of}))
                .collect();
            emit(admin.json, &out, || {
                let mut t = Table::new(&["quote", "rate", "as of"]);
                for r in &rates {
                    t.row([
                        r.quote.code().to_owned(),
                        r.rate.normalize().to_string(),
                        r.as_of.to_rfc3339(),
                    ]);
                }
                t.print();
            })
        }
        FxCommand::Set { quote, rate, as_of } => {
            let quote = Currency::parse(&quote).map_err(|e| anyhow::anyhow!("{quote}: {e}"))?;
            if quote == Currency::INR {
                anyhow::bail!("INR is the base currency: rates are INR -> another currency");
            }
            if rate <= Decimal::ZERO {
                anyhow::bail!("the rate must be positive");
            }
            let as_of = as_of.unwrap_or_else(Utc::now);
            let mut tx = admin.pool.begin().await?;
            let before: Option<Decimal> =
                sqlx::query_scalar("select rate from fx_rates where quote = $1 and as_of = $2")
                    .bind(quote.code())
                    .bind(as_of)
                    .fetch_optional(&mut *tx)
                    .await?;
            fx::upsert(
                &mut tx,
                &FxRate {
                    base: Currency::INR,
                    quote,
                    rate,
                    as_of,
                },
            )
            .await?;
            let target = format!("{}@{}", quote.code(), as_of.to_rfc3339());
            let key = audit::fresh_key("fx.set", &target);
            audit::write(
                &mut tx,
                admin,
                "fx.set",
                &target,
                &key,
                before.map(|r| json!({"rate": r})),
                Some(json!({"rate": rate})),
            )
            .await?;
            tx.commit().await?;
            let out = json!({"quote": quote.code(), "rate": rate, "as_of": as_of});
            emit(admin.json, &out, || {
                println!(
                    "INR -> {} = {rate} as of {}",
                    quote.code(),
                    as_of.to_rfc3339()
                )
            })
        }
    }
}
