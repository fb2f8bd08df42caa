//! `checkout admin coupons list|create|disable`. (Bulk changes: `catalog import`.)

use chrono::{DateTime, Utc};
use clap::{ArgGroup, Subcommand};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::output::{Table, emit, opt};
use super::{Admin, audit};
use crate::domain::coupon::normalize_code;
use crate::domain::{Coupon, DiscountKind};
use crate::store::coupons::{self, StoredCoupon};

#[derive(Debug, Subcommand)]
pub enum CouponsCommand {
    /// Every coupon with its usage.
    List,
    /// Creates a coupon; an existing code is refused (change it with `catalog import`).
    #[command(group(ArgGroup::new("discount").required(true).args(["percent", "fixed"])))]
    Create {
        code: String,
        /// Percent off, e.g. 10 or 12.5.
        #[arg(long)]
        percent: Option<Decimal>,
        /// Fixed amount off, in paise.
        #[arg(long)]
        fixed: Option<i64>,
        #[arg(long, default_value = "")]
        description: String,
        #[arg(long)]
        min_subtotal: Option<i64>,
        #[arg(long)]
        max_discount: Option<i64>,
        #[arg(long)]
        global_limit: Option<u32>,
        #[arg(long)]
        per_user_limit: Option<u32>,
        /// RFC 3339; the coupon stops working at this instant.
        #[arg(long)]
        valid_until: Option<DateTime<Utc>>,
        /// Shown to students in the cart's discount list.
        #[arg(long)]
        listed: bool,
    },
    /// Switches a coupon off (carts and new orders can no longer use it).
    Disable { code: String },
}

fn to_json(c: &StoredCoupon) -> Value {
    let (kind, percent, fixed) = coupons::discount_columns(&c.coupon.kind);
    json!({
        "code": c.coupon.code, "kind": kind, "percent": percent, "fixed_minor": fixed,
        "active": c.coupon.active, "listed": c.listed, "used_count": c.used_count,
        "global_limit": c.coupon.global_limit, "per_user_limit": c.coupon.per_user_limit,
        "valid_until": c.coupon.valid_until, "description": c.description,
    })
}

pub async fn run(admin: &Admin, command: CouponsCommand) -> anyhow::Result<()> {
    match command {
        CouponsCommand::List => {
            let all = admin.reader.read(|c| Box::pin(coupons::all(c))).await?;
            let out: Vec<Value> = all.iter().map(to_json).collect();
            emit(admin.json, &out, || {
                let mut t = Table::new(&[
                    "code",
                    "discount",
                    "active",
                    "listed",
                    "used",
                    "limit",
                    "valid until",
                ]);
                for c in &all {
                    let discount = match c.coupon.kind {
                        DiscountKind::Percent(p) => format!("{}%", p.normalize()),
                        DiscountKind::Fixed(f) => format!("{f} paise"),
                    };
                    t.row([
                        c.coupon.code.clone(),
                        discount,
                        c.coupon.active.to_string(),
                        c.listed.to_string(),
                        c.used_count.to_string(),
                        opt(&c.coupon.global_limit),
                        opt(&c.coupon.valid_until.map(|v| v.to_rfc3339())),
                    ]);
                }
                t.print();
            })
        }
        CouponsCommand::Create {
            code,
            percent,
            fixed,
            description,
            min_subtotal,
            max_discount,
            global_limit,
            per_user_limit,
            valid_until,
            listed,
        } => {
            let kind = match (percent, fixed) {
                (Some(p), None) if p > Decimal::ZERO && p <= Decimal::ONE_HUNDRED => {
                    DiscountKind::Percent(p)
                }
                (None, Some(f)) if f > 0 => DiscountKind::Fixed(f),
                _ => anyhow::bail!("give --percent in (0, 100] or a positive --fixed amount"),
            };
            let code = normalize_code(&code);
            if code.is_empty() {
                anyhow::bail!("the code must not be empty");
            }
            let coupon = StoredCoupon {
                coupon: Coupon {
                    code: code.clone(),
                    kind,
                    min_subtotal,
                    max_discount,
                    valid_from: None,
                    valid_until,
                    global_limit,
                    per_user_limit,
                    program_ids: Vec::new(),
                    plan_ids: Vec::new(),
                    first_order_only: false,
                    active: true,
                },
                description,
                listed,
                used_count: 0,
            };
            let mut tx = admin.pool.begin().await?;
            if let Some(existing) = coupons::find(&mut tx, &code).await? {
                if existing.coupon == coupon.coupon && existing.listed == listed {
                    let out = to_json(&existing);
                    return emit(admin.json, &out, || {
                        println!("coupon {code} exists as asked; nothing done")
                    });
                }
                anyhow::bail!(
                    "coupon {code} exists with other terms; change it with `catalog import`"
                );
            }
            coupons::upsert(&mut tx, &coupon).await?;
            let key = format!("coupons.create:{code}");
            audit::write(
                &mut tx,
                admin,
                "coupons.create",
                &code,
                &key,
                None,
                Some(to_json(&coupon)),
            )
            .await?;
            tx.commit().await?;
            let out = to_json(&coupon);
            emit(admin.json, &out, || println!("coupon {code} created"))
        }
        CouponsCommand::Disable { code } => {
            let code = normalize_code(&code);
            let mut tx = admin.pool.begin().await?;
            let before = coupons::find(&mut tx, &code)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no coupon with code `{code}`"))?;
            if !before.coupon.active {
                let out = to_json(&before);
                return emit(admin.json, &out, || {
                    println!("coupon {code} is already disabled")
                });
            }
            coupons::set_active(&mut tx, &code, false).await?;
            let mut after = before.clone();
            after.coupon.active = false;
            let key = audit::fresh_key("coupons.disable", &code);
            audit::write(
                &mut tx,
                admin,
                "coupons.disable",
                &code,
                &key,
                Some(to_json(&before)),
                Some(to_json(&after)),
            )
            .await?;
            tx.commit().await?;
            let out = to_json(&after);
            emit(admin.json, &out, || println!("coupon {code} disabled"))
        }
    }
}
