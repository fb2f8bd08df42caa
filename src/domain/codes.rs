//! The stable error codes: one code per meaning, shared by the API (the `code` of an
//! error envelope), the checkout workflow (an order's `failure.code`) and the admin CLI.
//! They are a domain vocabulary, not an HTTP detail: the API decides the status and the
//! wording of each answer, the workflow decides when an order fails with which code.
//!
//! The table in `docs/errors.md` is checked against [`ErrorCode::ALL`] by a test.

use serde::Serialize;

use super::coupon::CouponRefusal;
use super::sale::SaleRefusal;

/// Declares the enum and its list together, so [`ErrorCode::ALL`] cannot miss a code.
macro_rules! codes {
    ($($(#[$meta:meta])* $name:ident = $code:literal,)*) => {
        /// Stable error codes. The discriminant is the code clients see; the compiler keeps
        /// them unique. Ranges: 1xxx carts and catalog, 2xxx pricing and coupons, 3xxx
        /// payments, 4xxx gateways, 5xxx authentication, 6xxx idempotency and request
        /// hygiene, 7xxx orders, 9xxx generic. 429 is the PRD's rate-limit code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
        #[repr(u32)]
        pub enum ErrorCode {
            $($(#[$meta])* $name = $code,)*
        }

        impl ErrorCode {
            /// Every code, in declaration order.
            pub const ALL: &[ErrorCode] = &[$(ErrorCode::$name,)*];

            /// The variant's name, as `docs/errors.md` lists it.
            pub fn name(self) -> &'static str {
                match self {
                    $(ErrorCode::$name => stringify!($name),)*
                }
            }
        }
    };
}

codes! {
    CartNotFound = 1001,
    CartExpired = 1002,
    CartConverted = 1003,
    CartItemNotFound = 1004,
    TooManyItems = 1005,
    InvalidQuantity = 1006,
    CartEmpty = 1007,
    ProgramNotFound = 1101,
    PlanNotFound = 1102,
    CohortNotFound = 1103,
    ProgramArchived = 1104,
    UnsupportedCurrency = 2001,
    FxRateMissing = 2002,
    FxRateStale = 2003,
    /// The PRD's invalid-coupon code; the coupon does not exist.
    InvalidCoupon = 2004,
    CouponOnePerCart = 2040,
    CouponInactive = 2041,
    CouponNotYetValid = 2042,
    CouponExpired = 2043,
    CouponUsageLimitReached = 2044,
    CouponRequiresLogin = 2045,
    CouponPerUserLimitReached = 2046,
    CouponFirstOrderOnly = 2047,
    CouponNotApplicable = 2048,
    CouponMinimumNotMet = 2049,
    CouponNothingToDiscount = 2050,
    SaleUnknown = 2051,
    SaleNotActive = 2052,
    InvalidBillingAddress = 2061,
    /// A GSTIN that breaks a rule of the format (`domain::gstin`).
    InvalidGstin = 2062,
    /// A billing name or address line out of bounds (`domain::invoice::recipient`).
    InvalidBillingRecipient = 2063,
    PaymentFailed = 3001,
    InsufficientBalance = 3002,
    /// A capture whose amount or currency differs from the order's (refunded).
    PaymentMismatch = 3003,
    InvalidPaymentSignature = 3004,
    InvalidWebhookSignature = 3005,
    /// The payment session expired before a payment arrived (order expired).
    PaymentExpired = 3006,
    PaymentNotFound = 3007,
    GatewayTimeout = 4001,
    /// Every gateway refused to create a session (order failed).
    GatewayRefused = 4002,
    /// Order failure codes (shown in `failure.code` of an order) and order errors.
    OrderNotFound = 7001,
    /// No seat left in a cohort of the order (order failed, nothing held).
    CohortFull = 7002,
    /// The coupon's last use went to someone else between estimate and order.
    CouponUnavailable = 7003,
    /// The cohort filled up before the payment arrived (payment refunded, or its
    /// authorization released uncaptured).
    NoSeatAfterPayment = 7004,
    /// Already enrolled in that cohort through another order (payment refunded).
    AlreadyEnrolled = 7005,
    OrderCancelled = 7006,
    OrderNotCancellable = 7007,
    /// A workflow step kept failing (e.g. every gateway down) past its attempts.
    StepExhausted = 7008,
    NothingToPay = 7009,
    /// The order has no tax invoice (yet, or ever: free, or refunded before enrollment).
    InvoiceNotFound = 7010,
    AuthenticationRequired = 5001,
    TokenExpired = 5002,
    TokenInvalid = 5003,
    InvalidCredentials = 5004,
    EmailAlreadyRegistered = 5005,
    RefreshTokenInvalid = 5006,
    UserGone = 5007,
    SessionNotFound = 5008,
    IdempotencyKeyReused = 6001,
    IdempotencyInProgress = 6002,
    InvalidIdempotencyKey = 6003,
    CardDataRejected = 6101,
    RateLimited = 429,
    Internal = 9000,
    MalformedRequest = 9001,
    ValidationFailed = 9002,
    RouteNotFound = 9003,
    MethodNotAllowed = 9004,
    UnsupportedMediaType = 9005,
    PayloadTooLarge = 9006,
    RequestTimeout = 9007,
    ServiceUnavailable = 9008,
    HeadersTooLarge = 9009,
    /// The `Accept` header names no representation the resource has.
    NotAcceptable = 9010,
}

impl ErrorCode {
    pub fn as_u32(self) -> u32 {
        self as u32
    }

    /// Answers given before a handler could have had an effect (the request was
    /// refused as it stood, or the handler was cancelled by the timeout). The
    /// idempotency layer does not store these, so a corrected retry with the same key
    /// runs; every other answer, 5xx included, is stored and replayed.
    pub fn is_pre_execution(self) -> bool {
        use ErrorCode::*;
        matches!(
            self,
            MalformedRequest
                | ValidationFailed
                | InvalidGstin
                | InvalidBillingRecipient
                | RouteNotFound
                | MethodNotAllowed
                | UnsupportedMediaType
                | PayloadTooLarge
                | RequestTimeout
                | HeadersTooLarge
                | CardDataRejected
                | InvalidIdempotencyKey
                | IdempotencyKeyReused
                | IdempotencyInProgress
                | RateLimited
        )
    }
}

impl CouponRefusal {
    /// The code of each coupon refusal (2004 and 2040-2050).
    pub fn code(&self) -> ErrorCode {
        match self {
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
}

impl SaleRefusal {
    /// 2051 for a sale that does not exist, 2052 for one that is not running.
    pub fn code(&self) -> ErrorCode {
        match self {
            SaleRefusal::Unknown { .. } => ErrorCode::SaleUnknown,
            _ => ErrorCode::SaleNotActive,
        }
    }
}
