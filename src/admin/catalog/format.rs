//! The catalog file format (docs/operations.md, "Catalog file"; `examples/catalog.json`). Import
//! reads it, export writes it, so the two round-trip. Every object denies unknown
//! fields, so a typo is a listed problem, not a silently ignored key.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::DiscountKind;
use crate::store::catalog::Period;

fn yes() -> bool {
    true
}

fn inr() -> String {
    "INR".into()
}

fn active() -> String {
    "active".into()
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogFile {
    #[serde(default)]
    pub programs: Vec<ProgramEntry>,
    #[serde(default)]
    pub coupons: Vec<CouponEntry>,
    #[serde(default)]
    pub sales: Vec<SaleEntry>,
    #[serde(default)]
    pub fx_rates: Vec<FxEntry>,
}

/// A program; matched by `id`, else by `slug`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgramEntry {
    #[serde(default)]
    pub id: Option<Uuid>,
    pub slug: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// `active` (default) or `archived`.
    #[serde(default = "active")]
    pub status: String,
    #[serde(default)]
    pub plans: Vec<PlanEntry>,
    #[serde(default)]
    pub cohorts: Vec<CohortEntry>,
}

/// A plan; matched by `id`, else by its program and period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanEntry {
    #[serde(default)]
    pub id: Option<Uuid>,
    pub period: Period,
    /// INR paise.
    pub price_minor: i64,
    /// Must be INR.
    #[serde(default = "inr")]
    pub currency: String,
    #[serde(default)]
    pub tax_inclusive: bool,
}

/// A cohort; matched by `id`, else by its program and start date.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CohortEntry {
    #[serde(default)]
    pub id: Option<Uuid>,
    pub starts_on: NaiveDate,
    pub capacity: i32,
}

/// A coupon; matched by code (case-insensitive). Usage counters are not part of the
/// file: import never changes them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CouponEntry {
    pub code: String,
    #[serde(default)]
    pub description: String,
    /// `{"type": "percent", "value": "10"}` or `{"type": "fixed", "value": 50000}` (paise).
    pub discount: DiscountKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_subtotal: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_discount: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub global_limit: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_user_limit: Option<u32>,
    /// Programs (slug or id) it is restricted to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub programs: Vec<String>,
    /// Plans (id) it is restricted to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plan_ids: Vec<Uuid>,
    #[serde(default)]
    pub first_order_only: bool,
    #[serde(default = "yes")]
    pub active: bool,
    /// Shown in `GET /cart/{token}/discounts`.
    #[serde(default)]
    pub listed: bool,
}

/// A sale; matched by slug.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaleEntry {
    pub slug: String,
    #[serde(default)]
    pub title: String,
    pub discount: DiscountKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<DateTime<Utc>>,
    #[serde(default = "yes")]
    pub active: bool,
}

/// An INR -> `quote` rate; matched by quote and `as_of`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FxEntry {
    pub quote: String,
    /// Units of `quote` per 1 INR, as a string ("0.01198").
    pub rate: Decimal,
    /// When the rate was quoted. Left out: the start of the importing day (UTC), so a
    /// catalog without dates (the sample one) imports rates that are current, and
    /// importing it again the same day updates them instead of adding more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_of: Option<DateTime<Utc>>,
}
