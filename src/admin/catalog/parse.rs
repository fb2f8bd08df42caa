//! Reading a catalog file: parse every entry, validate every rule, resolve ids against
//! the database, and collect *all* problems with their JSON paths before anything is
//! written. Structural errors inside one entry (a wrong type, an unknown field) stop at
//! the first in that entry; every other entry is still checked.

use std::collections::{HashMap, HashSet};
use std::fmt;

use chrono::{NaiveTime, Utc};
use serde::de::DeserializeOwned;
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use super::format::{
    CatalogFile, CohortEntry, CouponEntry, FxEntry, PlanEntry, ProgramEntry, SaleEntry,
};
use crate::domain::coupon::normalize_code;
use crate::domain::discount::DefinitionError;
use crate::domain::{Coupon, Currency, FxRate, Sale};
use crate::store::catalog::{self, CohortRow, PlanRow, ProgramRow};
use crate::store::coupons::StoredCoupon;

/// One thing wrong with the file, at a JSON path such as `programs[1].plans[0].price_minor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

#[derive(Default)]
struct Problems(Vec<Problem>);

impl Problems {
    fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem {
            path: path.into(),
            message: message.into(),
        });
    }
}

/// What the import writes, with every id resolved.
#[derive(Debug, Default)]
pub struct Resolved {
    pub programs: Vec<ProgramRow>,
    pub plans: Vec<PlanRow>,
    pub cohorts: Vec<CohortRow>,
    pub coupons: Vec<StoredCoupon>,
    pub sales: Vec<(String, Sale)>,
    pub rates: Vec<FxRate>,
}

/// Entries that parsed, each with its path.
#[derive(Default)]
struct Parsed {
    programs: Vec<(String, ProgramEntry)>,
    coupons: Vec<(String, CouponEntry)>,
    sales: Vec<(String, SaleEntry)>,
    rates: Vec<(String, FxEntry)>,
}

/// Parses `text` and resolves it against the database `conn` sees.
pub async fn read(
    conn: &mut PgConnection,
    text: &str,
) -> anyhow::Result<Result<Resolved, Vec<Problem>>> {
    let mut problems = Problems::default();
    let parsed = parse(text, &mut problems);
    let resolved = resolve(conn, parsed, &mut problems).await?;
    Ok(if problems.0.is_empty() {
        Ok(resolved)
    } else {
        Err(problems.0)
    })
}

fn parse(text: &str, problems: &mut Problems) -> Parsed {
    let doc: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            problems.add("$", format!("not valid JSON: {e}"));
            return Parsed::default();
        }
    };
    let Some(map) = doc.as_object() else {
        problems.add(
            "$",
            "must be an object with programs, coupons, sales and fx_rates",
        );
        return Parsed::default();
    };
    let known: HashSet<&str> = ["programs", "coupons", "sales", "fx_rates"].into();
    for key in map.keys().filter(|k| !known.contains(k.as_str())) {
        problems.add(
            key.clone(),
            "unknown field (expected programs, coupons, sales, fx_rates)",
        );
    }
    Parsed {
        programs: entries(map.get("programs"), "programs", problems),
        coupons: entries(map.get("coupons"), "coupons", problems),
        sales: entries(map.get("sales"), "sales", problems),
        rates: entries(map.get("fx_rates"), "fx_rates", problems),
    }
}

/// Deserialises each element of the array at `key` on its own, so one bad entry does
/// not hide the others; the error path inside the entry is kept.
fn entries<T: DeserializeOwned>(
    value: Option<&Value>,
    key: &str,
    problems: &mut Problems,
) -> Vec<(String, T)> {
    let Some(value) = value else {
        return Vec::new();
    };
    let Some(items) = value.as_array() else {
        problems.add(key, "must be an array");
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let path = format!("{key}[{i}]");
        match serde_path_to_error::deserialize::<_, T>(item) {
            Ok(entry) => out.push((path, entry)),
            Err(e) => {
                let inner = e.path().to_string();
                let at = if inner == "." {
                    path
                } else {
                    format!("{path}.{inner}")
                };
                problems.add(at, e.into_inner().to_string());
            }
        }
    }
    out
}

fn valid_slug(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('-')
        && !s.ends_with('-')
        && !s.contains("--")
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Where a definition error points inside its entry.
fn definition_field(e: &DefinitionError) -> &'static str {
    match e {
        DefinitionError::PercentOutOfRange(_) | DefinitionError::FixedNotPositive(_) => "discount",
        DefinitionError::Negative(field) | DefinitionError::Empty(field) => field,
        DefinitionError::EmptyWindow => "valid_until",
    }
}

/// The database's catalog, for resolving natural keys and checking ownership.
struct Existing {
    programs: Vec<ProgramRow>,
    plans: Vec<PlanRow>,
    cohorts: Vec<CohortRow>,
}

async fn resolve(
    conn: &mut PgConnection,
    parsed: Parsed,
    problems: &mut Problems,
) -> anyhow::Result<Resolved> {
    let existing = Existing {
        programs: catalog::programs(conn, true).await?,
        plans: catalog::all_plans(conn).await?,
        cohorts: catalog::all_cohorts(conn).await?,
    };
    let mut out = Resolved::default();
    let mut program_keys: HashMap<String, Uuid> = existing
        .programs
        .iter()
        .flat_map(|p| [(p.slug.clone(), p.id), (p.id.to_string(), p.id)])
        .collect();
    let mut plan_ids: HashSet<Uuid> = existing.plans.iter().map(|p| p.id).collect();
    let mut seen_slugs = HashSet::new();
    let mut seen_ids = HashSet::new();
    for (path, entry) in parsed.programs {
        let id = program(
            &path,
            &entry,
            &existing,
            &mut seen_slugs,
            &mut seen_ids,
            problems,
        );
        program_keys.insert(entry.slug.clone(), id);
        program_keys.insert(id.to_string(), id);
        for (j, plan) in entry.plans.iter().enumerate() {
            let row = plan_row(
                &format!("{path}.plans[{j}]"),
                id,
                plan,
                &existing,
                &out.plans,
                problems,
            );
            plan_ids.insert(row.id);
            out.plans.push(row);
        }
        for (j, cohort) in entry.cohorts.iter().enumerate() {
            let row = cohort_row(
                &format!("{path}.cohorts[{j}]"),
                id,
                cohort,
                &existing,
                &out.cohorts,
                problems,
            );
            out.cohorts.push(row);
        }
        out.programs.push(ProgramRow {
            id,
            slug: entry.slug,
            title: entry.title,
            description: entry.description,
            status: entry.status,
        });
    }
    let mut seen = HashSet::new();
    for (path, entry) in parsed.coupons {
        if !seen.insert(normalize_code(&entry.code)) {
            problems.add(format!("{path}.code"), "the same code appears twice");
        }
        out.coupons
            .push(coupon(&path, entry, &program_keys, &plan_ids, problems));
    }
    let mut seen = HashSet::new();
    for (path, entry) in parsed.sales {
        if !valid_slug(&entry.slug) {
            problems.add(
                format!("{path}.slug"),
                "must be lowercase letters, digits and single dashes",
            );
        }
        if !seen.insert(entry.slug.clone()) {
            problems.add(format!("{path}.slug"), "the same slug appears twice");
        }
        let sale = Sale {
            slug: entry.slug,
            kind: entry.discount,
            valid_from: entry.valid_from,
            valid_until: entry.valid_until,
            active: entry.active,
        };
        if let Err(e) = sale.validate() {
            problems.add(format!("{path}.{}", definition_field(&e)), e.to_string());
        }
        out.sales.push((entry.title, sale));
    }
    let mut seen = HashSet::new();
    let today = Utc::now().date_naive().and_time(NaiveTime::MIN).and_utc();
    for (path, entry) in parsed.rates {
        let as_of = entry.as_of.unwrap_or(today);
        match Currency::parse(&entry.quote) {
            Ok(quote) if quote != Currency::INR => {
                if !seen.insert((quote, as_of)) {
                    problems.add(
                        format!("{path}.as_of"),
                        "the same quote and date appear twice",
                    );
                }
                let rate = FxRate {
                    base: Currency::INR,
                    quote,
                    rate: entry.rate,
                    as_of,
                };
                if rate.validate().is_err() {
                    problems.add(format!("{path}.rate"), "must be more than 0");
                }
                out.rates.push(rate);
            }
            Ok(_) => problems.add(
                format!("{path}.quote"),
                "rates are from INR; the quote cannot be INR",
            ),
            Err(e) => problems.add(format!("{path}.quote"), e.to_string()),
        }
    }
    Ok(out)
}

/// Checks a program entry and decides its id: given, else the stored one with its
/// slug, else a new one.
fn program(
    path: &str,
    entry: &ProgramEntry,
    existing: &Existing,
    seen_slugs: &mut HashSet<String>,
    seen_ids: &mut HashSet<Uuid>,
    problems: &mut Problems,
) -> Uuid {
    if !valid_slug(&entry.slug) {
        problems.add(
            format!("{path}.slug"),
            "must be lowercase letters, digits and single dashes",
        );
    }
    if !seen_slugs.insert(entry.slug.clone()) {
        problems.add(format!("{path}.slug"), "the same slug appears twice");
    }
    if entry.title.trim().is_empty() {
        problems.add(format!("{path}.title"), "must not be empty");
    }
    if !matches!(entry.status.as_str(), "active" | "archived") {
        problems.add(format!("{path}.status"), "must be active or archived");
    }
    let by_slug = existing.programs.iter().find(|p| p.slug == entry.slug);
    let id = match (entry.id, by_slug) {
        (Some(id), Some(other)) if other.id != id => {
            problems.add(
                format!("{path}.slug"),
                format!("already used by program {}", other.id),
            );
            id
        }
        (Some(id), _) => id,
        (None, Some(p)) => p.id,
        (None, None) => Uuid::new_v4(),
    };
    if !seen_ids.insert(id) {
        problems.add(format!("{path}.id"), "the same id appears twice");
    }
    id
}

fn plan_row(
    path: &str,
    program_id: Uuid,
    entry: &PlanEntry,
    existing: &Existing,
    so_far: &[PlanRow],
    problems: &mut Problems,
) -> PlanRow {
    let period = entry.period;
    if !(1..=120).contains(&period.value) {
        problems.add(format!("{path}.period.value"), "must be between 1 and 120");
    }
    if entry.price_minor < 0 {
        problems.add(format!("{path}.price_minor"), "must not be negative");
    }
    if entry.currency != "INR" {
        problems.add(format!("{path}.currency"), "catalog prices are in INR");
    }
    let same_period = |p: &&PlanRow| p.program_id == program_id && p.period() == period;
    if so_far.iter().any(|p| same_period(&p)) {
        problems.add(
            format!("{path}.period"),
            format!("the program has two plans for {period}"),
        );
    }
    let stored_for_period = existing.plans.iter().find(same_period);
    let id = match (entry.id, stored_for_period) {
        (Some(id), Some(other)) if other.id != id => {
            problems.add(
                format!("{path}.period"),
                format!("the program already has plan {} for {period}", other.id),
            );
            id
        }
        (Some(id), _) => id,
        (None, Some(p)) => p.id,
        (None, None) => Uuid::new_v4(),
    };
    if existing
        .plans
        .iter()
        .any(|p| p.id == id && p.program_id != program_id)
    {
        problems.add(format!("{path}.id"), "belongs to another program");
    }
    if so_far.iter().any(|p| p.id == id) {
        problems.add(format!("{path}.id"), "the same id appears twice");
    }
    PlanRow {
        id,
        program_id,
        period_value: period.value,
        period_unit: period.unit.as_str().to_owned(),
        price_minor: entry.price_minor,
        currency: entry.currency.clone(),
        tax_inclusive: entry.tax_inclusive,
    }
}

fn cohort_row(
    path: &str,
    program_id: Uuid,
    entry: &CohortEntry,
    existing: &Existing,
    so_far: &[CohortRow],
    problems: &mut Problems,
) -> CohortRow {
    if entry.capacity < 0 {
        problems.add(format!("{path}.capacity"), "must not be negative");
    }
    let same_day = |c: &&CohortRow| c.program_id == program_id && c.starts_on == entry.starts_on;
    if so_far.iter().any(|c| same_day(&c)) {
        problems.add(
            format!("{path}.starts_on"),
            "the program has two cohorts starting that day",
        );
    }
    let stored = match entry.id {
        Some(id) => existing.cohorts.iter().find(|c| c.id == id),
        None => existing.cohorts.iter().find(same_day),
    };
    let id = entry
        .id
        .or(stored.map(|c| c.id))
        .unwrap_or_else(Uuid::new_v4);
    if let Some(c) = stored {
        if c.program_id != program_id {
            problems.add(format!("{path}.id"), "belongs to another program");
        }
        if entry.capacity < c.seats_held + c.seats_taken {
            problems.add(
                format!("{path}.capacity"),
                format!(
                    "{} seats are already held or taken",
                    c.seats_held + c.seats_taken
                ),
            );
        }
    }
    if let Some(id) = entry.id
        && existing.cohorts.iter().any(|c| same_day(&c) && c.id != id)
    {
        problems.add(
            format!("{path}.starts_on"),
            "the program already has another cohort starting that day",
        );
    }
    if so_far.iter().any(|c| c.id == id) {
        problems.add(format!("{path}.id"), "the same id appears twice");
    }
    CohortRow {
        id,
        program_id,
        starts_on: entry.starts_on,
        capacity: entry.capacity,
        seats_held: 0,
        seats_taken: 0,
    }
}

fn coupon(
    path: &str,
    entry: CouponEntry,
    program_keys: &HashMap<String, Uuid>,
    plan_ids: &HashSet<Uuid>,
    problems: &mut Problems,
) -> StoredCoupon {
    let mut program_ids = Vec::new();
    for (k, key) in entry.programs.iter().enumerate() {
        match program_keys.get(key) {
            Some(id) => program_ids.push(*id),
            None => problems.add(format!("{path}.programs[{k}]"), format!("no program {key}")),
        }
    }
    for (k, id) in entry.plan_ids.iter().enumerate() {
        if !plan_ids.contains(id) {
            problems.add(format!("{path}.plan_ids[{k}]"), format!("no plan {id}"));
        }
    }
    let too_big = |v: Option<u32>| v.is_some_and(|v| i32::try_from(v).is_err());
    if too_big(entry.global_limit) {
        problems.add(format!("{path}.global_limit"), "too large");
    }
    if too_big(entry.per_user_limit) {
        problems.add(format!("{path}.per_user_limit"), "too large");
    }
    let coupon = Coupon {
        code: normalize_code(&entry.code),
        kind: entry.discount,
        min_subtotal: entry.min_subtotal,
        max_discount: entry.max_discount,
        valid_from: entry.valid_from,
        valid_until: entry.valid_until,
        global_limit: entry.global_limit,
        per_user_limit: entry.per_user_limit,
        program_ids,
        plan_ids: entry.plan_ids,
        first_order_only: entry.first_order_only,
        active: entry.active,
    };
    if let Err(e) = coupon.validate() {
        problems.add(format!("{path}.{}", definition_field(&e)), e.to_string());
    }
    StoredCoupon {
        coupon,
        description: entry.description,
        listed: entry.listed,
        used_count: 0,
    }
}

/// The file form of what is stored (export).
pub fn to_file(
    programs: Vec<ProgramRow>,
    plans: Vec<PlanRow>,
    cohorts: Vec<CohortRow>,
    coupons: Vec<StoredCoupon>,
    sales: Vec<(String, Sale)>,
    rates: Vec<FxRate>,
) -> CatalogFile {
    let slug_of: HashMap<Uuid, String> = programs.iter().map(|p| (p.id, p.slug.clone())).collect();
    CatalogFile {
        programs: programs
            .into_iter()
            .map(|p| ProgramEntry {
                id: Some(p.id),
                plans: plans
                    .iter()
                    .filter(|pl| pl.program_id == p.id)
                    .map(|pl| PlanEntry {
                        id: Some(pl.id),
                        period: pl.period(),
                        price_minor: pl.price_minor,
                        currency: pl.currency.clone(),
                        tax_inclusive: pl.tax_inclusive,
                    })
                    .collect(),
                cohorts: cohorts
                    .iter()
                    .filter(|c| c.program_id == p.id)
                    .map(|c| CohortEntry {
                        id: Some(c.id),
                        starts_on: c.starts_on,
                        capacity: c.capacity,
                    })
                    .collect(),
                slug: p.slug,
                title: p.title,
                description: p.description,
                status: p.status,
            })
            .collect(),
        coupons: coupons
            .into_iter()
            .map(|s| CouponEntry {
                code: s.coupon.code,
                description: s.description,
                discount: normalized(s.coupon.kind),
                min_subtotal: s.coupon.min_subtotal,
                max_discount: s.coupon.max_discount,
                valid_from: s.coupon.valid_from,
                valid_until: s.coupon.valid_until,
                global_limit: s.coupon.global_limit,
                per_user_limit: s.coupon.per_user_limit,
                programs: s
                    .coupon
                    .program_ids
                    .iter()
                    .map(|id| slug_of.get(id).cloned().unwrap_or_else(|| id.to_string()))
                    .collect(),
                plan_ids: s.coupon.plan_ids,
                first_order_only: s.coupon.first_order_only,
                active: s.coupon.active,
                listed: s.listed,
            })
            .collect(),
        sales: sales
            .into_iter()
            .map(|(title, s)| SaleEntry {
                slug: s.slug,
                title,
                discount: normalized(s.kind),
                valid_from: s.valid_from,
                valid_until: s.valid_until,
                active: s.active,
            })
            .collect(),
        fx_rates: rates
            .into_iter()
            .map(|r| FxEntry {
                quote: r.quote.code().to_owned(),
                rate: r.rate.normalize(),
                as_of: Some(r.as_of),
            })
            .collect(),
    }
}

/// "10.0000" from a numeric column back to "10".
fn normalized(kind: crate::domain::DiscountKind) -> crate::domain::DiscountKind {
    match kind {
        crate::domain::DiscountKind::Percent(p) => {
            crate::domain::DiscountKind::Percent(p.normalize())
        }
        other => other,
    }
}
