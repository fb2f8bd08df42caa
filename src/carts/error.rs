//! Why a cart or catalog operation failed. Each refusal has its own code ([`CartError::code`]);
//! the API adds the status and the suggested action; the pricing engine's errors are
//! split into these here, in one `From`.

use chrono::{DateTime, Utc};

use crate::domain::codes::ErrorCode;
use crate::domain::invoice::RecipientError;
use crate::domain::tax::TaxError;
use crate::domain::{CouponRefusal, Currency, FxError, GstinError, PricingError, SaleRefusal};

#[derive(Debug, thiserror::Error)]
pub enum CartError {
    /// Fields that are wrong in a way serde cannot see; each message names its field.
    #[error("validation failed")]
    Invalid(Vec<String>),
    #[error("cart not found")]
    NotFound,
    #[error("this cart has expired; start a new one")]
    Expired,
    #[error("this cart has been checked out and can no longer be changed")]
    Converted,
    #[error("cart item {0} not found")]
    ItemNotFound(String),
    #[error("a cart can hold at most {max} items")]
    TooManyItems { max: u32 },
    #[error("quantity must be between 1 and {max} (got {quantity})")]
    InvalidQuantity { quantity: i64, max: u32 },
    #[error("internship {0} not found")]
    ProgramNotFound(String),
    #[error("plan {0} not found")]
    PlanNotFound(String),
    #[error("cohort {0} not found")]
    CohortNotFound(String),
    #[error("internship {0} is no longer offered")]
    ProgramArchived(String),
    #[error("currency {0} is not supported")]
    UnsupportedCurrency(String),
    #[error("prices in {0} are not available: no exchange rate")]
    FxRateMissing(Currency),
    #[error(
        "prices in {quote} are temporarily unavailable: the exchange rate of {as_of} is out of date"
    )]
    FxRateStale {
        quote: Currency,
        as_of: DateTime<Utc>,
    },
    #[error(transparent)]
    Coupon(CouponRefusal),
    #[error(transparent)]
    Sale(SaleRefusal),
    #[error("billing address: {0}")]
    BillingAddress(TaxError),
    /// `billing_address.gstin` breaks a rule of the format; refused before pricing.
    #[error("{0}")]
    Gstin(GstinError),
    /// `billing_address.name` or `address_lines` out of bounds; refused before pricing.
    #[error("{0}")]
    Recipient(RecipientError),
    /// A pricing failure that is our fault (overflow, inconsistent data).
    #[error("pricing failed: {0}")]
    Pricing(PricingError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl CartError {
    /// The stable code of a refusal; failures that are ours (`Pricing`, `Database`,
    /// `Internal`) are `Internal`, a field the client got wrong is `ValidationFailed`.
    pub fn code(&self) -> ErrorCode {
        use CartError::*;
        match self {
            Invalid(_) => ErrorCode::ValidationFailed,
            NotFound => ErrorCode::CartNotFound,
            Expired => ErrorCode::CartExpired,
            Converted => ErrorCode::CartConverted,
            ItemNotFound(_) => ErrorCode::CartItemNotFound,
            TooManyItems { .. } => ErrorCode::TooManyItems,
            InvalidQuantity { .. } => ErrorCode::InvalidQuantity,
            ProgramNotFound(_) => ErrorCode::ProgramNotFound,
            PlanNotFound(_) => ErrorCode::PlanNotFound,
            CohortNotFound(_) => ErrorCode::CohortNotFound,
            ProgramArchived(_) => ErrorCode::ProgramArchived,
            UnsupportedCurrency(_) => ErrorCode::UnsupportedCurrency,
            FxRateMissing(_) => ErrorCode::FxRateMissing,
            FxRateStale { .. } => ErrorCode::FxRateStale,
            Coupon(r) => r.code(),
            Sale(r) => r.code(),
            BillingAddress(_) => ErrorCode::InvalidBillingAddress,
            Gstin(_) => ErrorCode::InvalidGstin,
            Recipient(_) => ErrorCode::InvalidBillingRecipient,
            Pricing(_) | Database(_) | Internal(_) => ErrorCode::Internal,
        }
    }
}

impl From<PricingError> for CartError {
    fn from(e: PricingError) -> Self {
        match e {
            PricingError::Coupon(r) => CartError::Coupon(r),
            PricingError::Sale(r) => CartError::Sale(r),
            PricingError::Fx(FxError::MissingRate { quote }) => CartError::FxRateMissing(quote),
            PricingError::Fx(FxError::StaleRate { quote, as_of }) => {
                CartError::FxRateStale { quote, as_of }
            }
            PricingError::Tax(TaxError::Money(m)) => {
                CartError::Pricing(PricingError::Tax(TaxError::Money(m)))
            }
            PricingError::Tax(TaxError::NegativeAmount) => {
                CartError::Pricing(PricingError::Tax(TaxError::NegativeAmount))
            }
            PricingError::Tax(t) => CartError::BillingAddress(t),
            other => CartError::Pricing(other),
        }
    }
}

impl From<CouponRefusal> for CartError {
    fn from(r: CouponRefusal) -> Self {
        CartError::Coupon(r)
    }
}

impl From<SaleRefusal> for CartError {
    fn from(r: SaleRefusal) -> Self {
        CartError::Sale(r)
    }
}
