//! Cart, catalog and pricing errors on the wire: the one place that maps them into
//! [`ApiError`] and gives each its code, status and suggested action.

use axum::http::StatusCode;

use super::error::{ApiError, ErrorCode, Spec};
use crate::carts::CartError;
use crate::domain::{CouponRefusal, SaleRefusal};

/// A [`CartError`] that is the client's to fix (infrastructure failures become
/// [`ApiError::Database`] / [`ApiError::Internal`] instead).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct CartRefusal(CartError);

impl From<CartError> for ApiError {
    fn from(e: CartError) -> Self {
        match e {
            CartError::Database(e) => ApiError::Database(e),
            CartError::Internal(e) => ApiError::Internal(e),
            CartError::Pricing(e) => ApiError::Internal(anyhow::Error::new(e)),
            CartError::Invalid(messages) => ApiError::Validation(messages),
            other => ApiError::Cart(CartRefusal(other)),
        }
    }
}

/// The code of each coupon refusal (2004 and 2040-2050).
pub fn coupon_code(refusal: &CouponRefusal) -> ErrorCode {
    match refusal {
        CouponRefusal::NotFound { .. } => ErrorCode::InvalidCoupon,
        CouponRefusal::OneCouponPerCart { .. } => ErrorCode::CouponOnePerCart,
        CouponRefusal::Inactive => ErrorCode::CouponInactive,
        CouponRefusal::NotYetValid { .. } => ErrorCode::CouponNotYetValid,
        CouponRefusal::Expired { .. } => ErrorCode::CouponExpired,
        CouponRefusal::UsageLimitReached => ErrorCode::CouponUsageLimitReached,
        CouponRefusal::RequiresLogin => ErrorCode::CouponRequiresLogin,
        CouponRefusal::PerUserLimitReached { .. } => ErrorCode::CouponPerUserLimitReached,
        CouponRefusal::FirstOrderOnly => ErrorCode::CouponFirstOrderOnly,
        CouponRefusal::NotApplicableToItems => ErrorCode::CouponNotApplicable,
        CouponRefusal::MinimumNotMet { .. } => ErrorCode::CouponMinimumNotMet,
        CouponRefusal::NothingToDiscount => ErrorCode::CouponNothingToDiscount,
    }
}

impl CartRefusal {
    pub(super) fn spec(&self) -> Spec {
        use CartError::*;
        const GONE: StatusCode = StatusCode::GONE;
        const NOT_FOUND: StatusCode = StatusCode::NOT_FOUND;
        const UNPROCESSABLE: StatusCode = StatusCode::UNPROCESSABLE_ENTITY;
        let (status, code, retryable, action) = match &self.0 {
            NotFound => (
                NOT_FOUND,
                ErrorCode::CartNotFound,
                false,
                Some("create a new cart"),
            ),
            Expired => (
                GONE,
                ErrorCode::CartExpired,
                false,
                Some("create a new cart"),
            ),
            Converted => (
                StatusCode::CONFLICT,
                ErrorCode::CartConverted,
                false,
                Some("this cart is read-only; create a new cart"),
            ),
            ItemNotFound(_) => (
                NOT_FOUND,
                ErrorCode::CartItemNotFound,
                false,
                Some("reload the cart"),
            ),
            TooManyItems { .. } => (
                UNPROCESSABLE,
                ErrorCode::TooManyItems,
                false,
                Some("remove an item first"),
            ),
            InvalidQuantity { .. } => (UNPROCESSABLE, ErrorCode::InvalidQuantity, false, None),
            ProgramNotFound(_) => (NOT_FOUND, ErrorCode::ProgramNotFound, false, None),
            PlanNotFound(_) => (NOT_FOUND, ErrorCode::PlanNotFound, false, None),
            CohortNotFound(_) => (NOT_FOUND, ErrorCode::CohortNotFound, false, None),
            ProgramArchived(_) => (
                UNPROCESSABLE,
                ErrorCode::ProgramArchived,
                false,
                Some("choose another internship"),
            ),
            UnsupportedCurrency(_) => (
                UNPROCESSABLE,
                ErrorCode::UnsupportedCurrency,
                false,
                Some("choose INR or another supported currency"),
            ),
            FxRateMissing(_) => (
                UNPROCESSABLE,
                ErrorCode::FxRateMissing,
                false,
                Some("choose INR or another currency"),
            ),
            FxRateStale { .. } => (
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::FxRateStale,
                true,
                Some("retry later or pay in INR"),
            ),
            Coupon(r) => (
                UNPROCESSABLE,
                coupon_code(r),
                false,
                Some("remove or change the coupon"),
            ),
            Sale(SaleRefusal::Unknown { .. }) => {
                (UNPROCESSABLE, ErrorCode::SaleUnknown, false, None)
            }
            Sale(_) => (
                UNPROCESSABLE,
                ErrorCode::SaleNotActive,
                false,
                Some("create the cart without the sale"),
            ),
            BillingAddress(_) => (
                UNPROCESSABLE,
                ErrorCode::InvalidBillingAddress,
                false,
                Some("correct the billing address"),
            ),
            // mapped to other ApiError variants in `From<CartError>`; kept total
            Invalid(_) | Pricing(_) | Database(_) | Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::Internal,
                true,
                None,
            ),
        };
        Spec {
            status,
            code,
            retryable,
            action,
        }
    }

    /// Field-level messages for the errors that are about one field.
    pub(super) fn validation_messages(&self) -> Vec<String> {
        match &self.0 {
            CartError::InvalidQuantity { .. } => vec![format!("quantity: {}", self.0)],
            CartError::BillingAddress(e) => vec![format!("billing_address: {e}")],
            _ => Vec::new(),
        }
    }
}

/// Logging in to a cart fails as a login or as a cart.
impl From<crate::carts::auth::CartLoginError> for ApiError {
    fn from(e: crate::carts::auth::CartLoginError) -> Self {
        match e {
            crate::carts::auth::CartLoginError::Auth(e) => e.into(),
            crate::carts::auth::CartLoginError::Cart(e) => e.into(),
        }
    }
}
