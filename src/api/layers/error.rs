//! The one API error enum, its stable codes and the JSON error envelope.
//!
//! Every failure a client can see is an [`ApiError`]. Each variant maps to exactly one
//! [`ErrorCode`] (the numeric code in the body, stable across releases), an HTTP status,
//! whether a retry can succeed, and a suggested action. 5xx details are logged with the
//! correlation id and answered with a generic message, never the internal text.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::correlation;

pub use crate::domain::codes::ErrorCode;

/// Every error the API answers with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body or a parameter cannot be parsed at all (bad JSON syntax, wrong type of
    /// path parameter). The message names the problem.
    #[error("malformed request: {0}")]
    Malformed(String),
    /// Parsed, but some fields are wrong; each message names its field.
    #[error("validation failed")]
    Validation(Vec<String>),
    #[error("no route for {0}")]
    RouteNotFound(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    #[error("request body too large")]
    PayloadTooLarge,
    #[error("request timed out")]
    Timeout,
    /// A dependency (the database) is down or saturated; retry later.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    #[error("rate limit exceeded")]
    RateLimited { retry_after_secs: u64 },
    /// No bearer token where one is required.
    #[error("authentication required")]
    AuthRequired,
    #[error("access token expired")]
    TokenExpired,
    /// Bad signature, `alg: none`, wrong key, tampered, wrong `aud`/`iss`, ended session.
    #[error("access token invalid: {0}")]
    TokenInvalid(&'static str),
    /// Unknown email and wrong password alike (no account enumeration).
    #[error("invalid email or password")]
    InvalidCredentials,
    #[error("email already registered")]
    EmailTaken,
    /// Unknown, expired, revoked or already used (replay: the session is revoked).
    #[error("refresh token invalid, expired, revoked or already used")]
    RefreshTokenInvalid,
    /// A valid token whose user was deleted.
    #[error("the user of this token no longer exists")]
    UserGone,
    #[error("session not found")]
    SessionNotFound,
    #[error("this Idempotency-Key was used with a different request")]
    IdempotencyKeyReused,
    #[error("a request with this Idempotency-Key is still in progress")]
    IdempotencyInProgress,
    #[error("invalid Idempotency-Key: {0}")]
    InvalidIdempotencyKey(&'static str),
    /// Names the field (never its value): we never accept card data (PCI SAQ A).
    #[error(
        "card data is not accepted (field `{0}`): we never handle card numbers, CVV or \
         expiry; pay through the gateway's hosted checkout"
    )]
    CardData(String),
    #[error("request headers too large")]
    HeadersTooLarge,
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("internal error: {0}")]
    Internal(#[from] anyhow::Error),
    #[error("the request handler panicked")]
    Panic,
    #[error("the cart is empty; add an internship first")]
    CartEmpty,
    #[error("order not found")]
    OrderNotFound,
    #[error("the order is {0} and can no longer be cancelled")]
    OrderNotCancellable(String),
    /// The order has no tax invoice (yet, or ever).
    #[error("this order has no tax invoice")]
    InvoiceNotFound,
    /// The `Accept` header names no representation served; the message says which are.
    #[error("not acceptable: {0}")]
    NotAcceptable(String),
    #[error("payment not found")]
    PaymentNotFound,
    #[error("the payment signature does not match")]
    InvalidPaymentSignature,
    #[error("webhook rejected: {0}")]
    InvalidWebhook(String),
    /// A cart, catalog or pricing refusal; codes 1xxx and 2xxx (see `domain_errors`).
    #[error(transparent)]
    Cart(super::domain_errors::CartRefusal),
}

/// What a variant means on the wire.
pub(super) struct Spec {
    pub(super) status: StatusCode,
    pub(super) code: ErrorCode,
    pub(super) retryable: bool,
    pub(super) action: Option<&'static str>,
}

impl ApiError {
    fn spec(&self) -> Spec {
        use ApiError::*;
        let (status, code, retryable, action) = match self {
            Malformed(_) => (
                StatusCode::BAD_REQUEST,
                ErrorCode::MalformedRequest,
                false,
                Some("fix the request body and send it again"),
            ),
            Validation(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::ValidationFailed,
                false,
                Some("correct the fields named in validation_messages"),
            ),
            RouteNotFound(_) => (
                StatusCode::NOT_FOUND,
                ErrorCode::RouteNotFound,
                false,
                Some("check the path against /openapi.json"),
            ),
            MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                ErrorCode::MethodNotAllowed,
                false,
                Some("check the method against /openapi.json"),
            ),
            UnsupportedMediaType(_) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::UnsupportedMediaType,
                false,
                Some("send Content-Type: application/json"),
            ),
            PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::PayloadTooLarge,
                false,
                None,
            ),
            Timeout => (
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::RequestTimeout,
                true,
                Some("retry with the same Idempotency-Key"),
            ),
            Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::ServiceUnavailable,
                true,
                Some("retry later"),
            ),
            RateLimited { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::RateLimited,
                true,
                Some("wait for Retry-After seconds"),
            ),
            AuthRequired => (
                StatusCode::UNAUTHORIZED,
                ErrorCode::AuthenticationRequired,
                false,
                Some("send Authorization: Bearer <access token>"),
            ),
            TokenExpired => (
                StatusCode::UNAUTHORIZED,
                ErrorCode::TokenExpired,
                false,
                Some("get a new access token from /api/v1/auth/refresh"),
            ),
            TokenInvalid(_) => (
                StatusCode::UNAUTHORIZED,
                ErrorCode::TokenInvalid,
                false,
                Some("log in again"),
            ),
            InvalidCredentials => (
                StatusCode::UNAUTHORIZED,
                ErrorCode::InvalidCredentials,
                false,
                Some("check the email and password"),
            ),
            EmailTaken => (
                StatusCode::CONFLICT,
                ErrorCode::EmailAlreadyRegistered,
                false,
                Some("log in instead"),
            ),
            RefreshTokenInvalid => (
                StatusCode::UNAUTHORIZED,
                ErrorCode::RefreshTokenInvalid,
                false,
                Some("log in again"),
            ),
            UserGone => (
                StatusCode::UNAUTHORIZED,
                ErrorCode::UserGone,
                false,
                Some("log in with an existing account"),
            ),
            SessionNotFound => (
                StatusCode::NOT_FOUND,
                ErrorCode::SessionNotFound,
                false,
                Some("list sessions at /api/v1/auth/sessions"),
            ),
            IdempotencyKeyReused => (
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::IdempotencyKeyReused,
                false,
                Some("use a new Idempotency-Key for a different request"),
            ),
            IdempotencyInProgress => (
                StatusCode::CONFLICT,
                ErrorCode::IdempotencyInProgress,
                true,
                Some("retry shortly with the same Idempotency-Key"),
            ),
            InvalidIdempotencyKey(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::InvalidIdempotencyKey,
                false,
                Some("send 1-255 printable ASCII characters, e.g. a UUID"),
            ),
            CardData(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::CardDataRejected,
                false,
                Some("remove card fields; the gateway's hosted checkout collects card details"),
            ),
            HeadersTooLarge => (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                ErrorCode::HeadersTooLarge,
                false,
                Some("send fewer or smaller headers"),
            ),
            // a retryable 503, not an internal error: a request cut off this way may or may
            // not have committed; every write the API takes is safe to repeat
            Database(e) if crate::store::unavailable(e) => (
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::ServiceUnavailable,
                true,
                Some("retry later"),
            ),
            CartEmpty => (
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::CartEmpty,
                false,
                Some("add an internship to the cart"),
            ),
            OrderNotFound => (StatusCode::NOT_FOUND, ErrorCode::OrderNotFound, false, None),
            OrderNotCancellable(_) => (
                StatusCode::CONFLICT,
                ErrorCode::OrderNotCancellable,
                false,
                Some("a paid order is refunded by support, not cancelled"),
            ),
            InvoiceNotFound => (
                StatusCode::NOT_FOUND,
                ErrorCode::InvoiceNotFound,
                true,
                Some(
                    "an invoice is issued shortly after enrollment; a free order or one \
                     refunded before enrollment has none",
                ),
            ),
            NotAcceptable(_) => (
                StatusCode::NOT_ACCEPTABLE,
                ErrorCode::NotAcceptable,
                false,
                Some("send Accept: application/json"),
            ),
            PaymentNotFound => (
                StatusCode::NOT_FOUND,
                ErrorCode::PaymentNotFound,
                false,
                None,
            ),
            InvalidPaymentSignature => (
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidPaymentSignature,
                false,
                Some("send the fields exactly as the gateway's checkout returned them"),
            ),
            InvalidWebhook(_) => (
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidWebhookSignature,
                false,
                Some("check the webhook secret configured at the gateway"),
            ),
            Database(_) | Internal(_) | Panic => (
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::Internal,
                true,
                Some("retry later; quote the correlation id to support if it persists"),
            ),
            Cart(refusal) => return refusal.spec(),
        };
        Spec {
            status,
            code,
            retryable,
            action,
        }
    }

    pub fn status(&self) -> StatusCode {
        self.spec().status
    }

    pub fn code(&self) -> ErrorCode {
        self.spec().code
    }

    /// The message clients see: the error's own text for 4xx, a generic sentence for 5xx
    /// (the detail goes to the log, keyed by correlation id). Which 5xx is which was
    /// decided once, by [`ApiError::spec`]: the message follows its code.
    fn public_message(&self, status: StatusCode, code: ErrorCode) -> String {
        if !status.is_server_error() {
            return self.to_string();
        }
        match code {
            ErrorCode::RequestTimeout => self.to_string(),
            ErrorCode::ServiceUnavailable => "the service is temporarily unavailable".into(),
            _ => "internal error".into(),
        }
    }
}

/// The error half of the envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable numeric code; see docs/errors.md.
    pub code: u32,
    pub message: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub validation_messages: Vec<String>,
    pub correlation_id: String,
    pub retryable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggested_action: Option<String>,
}

/// `{status, success: false, error: {...}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorEnvelope {
    pub status: u16,
    pub success: bool,
    pub error: ErrorBody,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let spec = self.spec();
        let correlation_id = correlation::current();
        if spec.status.is_server_error() {
            tracing::error!(error = %self, code = spec.code.as_u32(), "request failed");
        } else {
            tracing::info!(error = %self, code = spec.code.as_u32(), "request rejected");
        }
        let validation_messages = match &self {
            ApiError::Validation(messages) => messages.clone(),
            ApiError::Cart(refusal) => refusal.validation_messages(),
            _ => Vec::new(),
        };
        let body = ErrorEnvelope {
            status: spec.status.as_u16(),
            success: false,
            error: ErrorBody {
                code: spec.code.as_u32(),
                message: self.public_message(spec.status, spec.code),
                validation_messages,
                correlation_id,
                retryable: spec.retryable,
                suggested_action: spec.action.map(str::to_owned),
            },
        };
        let mut response = (spec.status, axum::Json(body)).into_response();
        if spec.status == StatusCode::UNAUTHORIZED {
            // RFC 6750: a 401 names the scheme, and says when the token was the problem.
            let challenge = match spec.code {
                ErrorCode::TokenExpired | ErrorCode::TokenInvalid | ErrorCode::UserGone => {
                    r#"Bearer error="invalid_token""#
                }
                _ => "Bearer",
            };
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        // Lets outer layers (idempotency) know which error this was without parsing.
        response.extensions_mut().insert(spec.code);
        let retry_after = match self {
            ApiError::RateLimited { retry_after_secs } => Some(retry_after_secs),
            ApiError::IdempotencyInProgress => Some(1),
            _ => None,
        };
        if let Some(secs) = retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Auth failures keep their meaning; each becomes its own code.
impl From<crate::auth::AuthError> for ApiError {
    fn from(error: crate::auth::AuthError) -> Self {
        use crate::auth::{AuthError as A, TokenError};
        match error {
            A::Required => ApiError::AuthRequired,
            A::Token(TokenError::Expired) => ApiError::TokenExpired,
            A::Token(TokenError::Invalid(why)) => ApiError::TokenInvalid(why),
            A::InvalidCredentials => ApiError::InvalidCredentials,
            A::EmailTaken => ApiError::EmailTaken,
            A::RefreshInvalid => ApiError::RefreshTokenInvalid,
            A::UserGone => ApiError::UserGone,
            A::SessionNotFound => ApiError::SessionNotFound,
            A::Invalid(messages) => ApiError::Validation(messages),
            A::RateLimited { retry_after_secs } => ApiError::RateLimited { retry_after_secs },
            A::Database(e) => ApiError::Database(e),
            A::Internal(e) => ApiError::Internal(e),
        }
    }
}

/// A workflow refusal keeps its meaning; cart refusals keep their own codes.
impl From<crate::workflows::FlowError> for ApiError {
    fn from(error: crate::workflows::FlowError) -> Self {
        use crate::workflows::FlowError as F;
        match error {
            F::Validation(messages) => ApiError::Validation(messages),
            F::CartEmpty => ApiError::CartEmpty,
            F::OrderNotFound => ApiError::OrderNotFound,
            F::OrderNotCancellable(status) => ApiError::OrderNotCancellable(status),
            F::Cart(e) => e.into(),
            F::Database(e) => ApiError::Database(e),
            F::Internal(e) => ApiError::Internal(e),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn a_lost_database_is_a_retryable_503() {
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        for e in [sqlx::Error::PoolTimedOut, sqlx::Error::Io(reset)] {
            let (status, json) = body_json(ApiError::Database(e)).await;
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(json["error"]["code"], 9008);
            assert_eq!(json["error"]["retryable"], true);
            assert_eq!(
                json["error"]["message"],
                "the service is temporarily unavailable"
            );
        }
        let (status, json) = body_json(ApiError::Database(sqlx::Error::RowNotFound)).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(json["error"]["code"], 9000);
    }

    async fn body_json(err: ApiError) -> (StatusCode, serde_json::Value) {
        let response = err.into_response();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn envelope_shape_is_pinned() {
        let (status, json) =
            body_json(ApiError::Validation(vec!["quantity: must be >= 1".into()])).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(json["status"], 422);
        assert_eq!(json["success"], false);
        assert_eq!(json["error"]["code"], 9002);
        assert_eq!(
            json["error"]["validation_messages"][0],
            "quantity: must be >= 1"
        );
        assert_eq!(json["error"]["retryable"], false);
        assert!(json["error"]["correlation_id"].is_string());
        assert!(json.get("data").is_none());
    }

    #[tokio::test]
    async fn server_errors_hide_internals() {
        let (status, json) = body_json(ApiError::Internal(anyhow::anyhow!(
            "password=hunter2 at db.rs:12"
        )))
        .await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(json["error"]["message"], "internal error");
        assert!(!json.to_string().contains("hunter2"));
    }

    #[tokio::test]
    async fn auth_errors_are_401_with_a_challenge() {
        let response = ApiError::TokenExpired.into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response.headers()[header::WWW_AUTHENTICATE],
            r#"Bearer error="invalid_token""#
        );
        let (status, json) = body_json(ApiError::EmailTaken).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(json["error"]["code"], 5005);
    }

    #[tokio::test]
    async fn rate_limit_sets_retry_after() {
        let response = ApiError::RateLimited {
            retry_after_secs: 7,
        }
        .into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "7");
    }
}
