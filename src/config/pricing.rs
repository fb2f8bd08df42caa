//! `pricing`: the supplier's state (GST place of supply), currencies and FX age.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PricingSettings {
    /// The state of our GST registration: buyers there pay CGST + SGST, buyers in other
    /// states IGST. Code ("KA"), GST code ("29") or name.
    pub supplier_state: String,
    /// Oldest FX rate (hours) a non-INR price may use; older -> 2003 instead of a
    /// silently stale price.
    pub fx_max_age_hours: u64,
    /// Currency of a cart whose creation request names none.
    pub default_currency: String,
}

impl Default for PricingSettings {
    fn default() -> Self {
        Self {
            supplier_state: "KA".into(),
            fx_max_age_hours: 72,
            default_currency: "INR".into(),
        }
    }
}

impl PricingSettings {
    /// The supplier state (checked by `Settings::validate`).
    pub fn supplier_state(
        &self,
    ) -> Result<crate::domain::IndianState, crate::domain::india::UnknownState> {
        crate::domain::IndianState::parse(&self.supplier_state)
    }

    /// The default cart currency (checked by `Settings::validate`).
    pub fn default_currency(&self) -> Result<crate::domain::Currency, crate::domain::MoneyError> {
        crate::domain::Currency::parse(&self.default_currency)
    }

    pub fn fx_max_age(&self) -> chrono::Duration {
        chrono::Duration::hours(
            i64::try_from(self.fx_max_age_hours).unwrap_or(i64::MAX / 3_600_000),
        )
    }
}
