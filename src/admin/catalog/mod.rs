//! `checkout admin catalog import FILE` and `checkout admin catalog export`.
//!
//! Import is idempotent: programs match by id (else slug), plans by id (else program
//! and period), cohorts by id (else program and start date), coupons by code, sales by
//! slug, FX rates by quote and date. Matching entries are updated, new ones inserted;
//! nothing absent from the file is deleted (archive a program with `"status":
//! "archived"`), and usage and seat counters are never touched. Everything is
//! validated first, in the same transaction as the writes: one bad entry -> nothing is
//! written and every problem is listed with its JSON path.

pub mod format;
pub mod parse;

use std::fmt;

use sqlx::PgPool;

pub use format::CatalogFile;
pub use parse::Problem;

use super::output::Progress;
use crate::store::{catalog, coupons, fx, sales};

/// The realistic sample catalog `checkout dev` loads at start.
pub const SAMPLE: &str = include_str!("../../../examples/catalog.json");

/// Serialises concurrent imports (two admins at once would race on natural keys).
const IMPORT_LOCK: i64 = 0x0063_6f74_616c_6f67; // "catalog" in ASCII

/// What an import wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub programs: usize,
    pub plans: usize,
    pub cohorts: usize,
    pub coupons: usize,
    pub sales: usize,
    pub fx_rates: usize,
}

impl Summary {
    /// Entries written, of every kind.
    pub fn entries(&self) -> usize {
        self.programs + self.plans + self.cohorts + self.coupons + self.sales + self.fx_rates
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "catalog imported: {} programs, {} plans, {} cohorts, {} coupons, {} sales, {} FX rates",
            self.programs, self.plans, self.cohorts, self.coupons, self.sales, self.fx_rates
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file has problems; nothing was written.
    #[error("{}", describe(.0))]
    Invalid(Vec<Problem>),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

fn describe(problems: &[Problem]) -> String {
    let mut out = format!(
        "catalog not imported, nothing was written; {} problem(s):",
        problems.len()
    );
    for p in problems {
        out.push_str(&format!("\n  {p}"));
    }
    out
}

impl From<sqlx::Error> for ImportError {
    fn from(e: sqlx::Error) -> Self {
        ImportError::Other(e.into())
    }
}

/// Validates `text` and writes it, all in one transaction.
pub async fn import(pool: &PgPool, text: &str) -> Result<Summary, ImportError> {
    import_reporting(pool, text, &mut Progress::hidden()).await
}

/// [`import`], stepping `progress` once per entry written.
pub async fn import_reporting(
    pool: &PgPool,
    text: &str,
    progress: &mut Progress,
) -> Result<Summary, ImportError> {
    let mut tx = pool.begin().await?;
    sqlx::query("select pg_advisory_xact_lock($1)")
        .bind(IMPORT_LOCK)
        .execute(&mut *tx)
        .await?;
    let resolved = match parse::read(&mut tx, text).await? {
        Ok(resolved) => resolved,
        Err(problems) => {
            // release the import lock now, not whenever the pool gets to it
            tx.rollback().await?;
            return Err(ImportError::Invalid(problems));
        }
    };
    let summary = Summary {
        programs: resolved.programs.len(),
        plans: resolved.plans.len(),
        cohorts: resolved.cohorts.len(),
        coupons: resolved.coupons.len(),
        sales: resolved.sales.len(),
        fx_rates: resolved.rates.len(),
    };
    progress.set_total(summary.entries());
    for p in &resolved.programs {
        catalog::upsert_program(&mut tx, p).await?;
        progress.step("programs");
    }
    for p in &resolved.plans {
        catalog::upsert_plan(&mut tx, p).await?;
        progress.step("plans");
    }
    for c in &resolved.cohorts {
        catalog::upsert_cohort(&mut tx, c).await?;
        progress.step("cohorts");
    }
    for c in &resolved.coupons {
        coupons::upsert(&mut tx, c).await?;
        progress.step("coupons");
    }
    for (title, s) in &resolved.sales {
        sales::upsert(&mut tx, title, s).await?;
        progress.step("sales");
    }
    for r in &resolved.rates {
        fx::upsert(&mut tx, r).await?;
        progress.step("FX rates");
    }
    tx.commit().await?;
    Ok(summary)
}

/// Loads [`SAMPLE`] (idempotent; `checkout dev` calls it at every start).
pub async fn import_sample(pool: &PgPool) -> Result<Summary, ImportError> {
    import(pool, SAMPLE).await
}

/// Everything stored, in the import format.
pub async fn export(pool: &PgPool) -> anyhow::Result<CatalogFile> {
    let mut conn = pool.acquire().await?;
    let sales = sales::all(&mut conn)
        .await?
        .into_iter()
        .map(|s| (s.title, s.sale))
        .collect();
    Ok(parse::to_file(
        catalog::programs(&mut conn, true).await?,
        catalog::all_plans(&mut conn).await?,
        catalog::all_cohorts(&mut conn).await?,
        coupons::all(&mut conn).await?,
        sales,
        fx::all(&mut conn).await?,
    ))
}
