//! Why a workflow call made on a client's behalf (starting a checkout, reading an order)
//! was refused. Each variant has its stable code; the API adds the HTTP status, and the
//! saga records the code as the order's failure when a step is refused the same way.

use crate::carts::CartError;
use crate::domain::codes::ErrorCode;

#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// Fields that are wrong; each message names its field.
    #[error("validation failed")]
    Validation(Vec<String>),
    #[error("the cart is empty; add an internship first")]
    CartEmpty,
    #[error("order not found")]
    OrderNotFound,
    #[error("the order is {0} and can no longer be cancelled")]
    OrderNotCancellable(String),
    #[error(transparent)]
    Cart(#[from] CartError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("internal error: {0}")]
    Internal(#[from] anyhow::Error),
}

impl FlowError {
    pub fn code(&self) -> ErrorCode {
        match self {
            FlowError::Validation(_) => ErrorCode::ValidationFailed,
            FlowError::CartEmpty => ErrorCode::CartEmpty,
            FlowError::OrderNotFound => ErrorCode::OrderNotFound,
            FlowError::OrderNotCancellable(_) => ErrorCode::OrderNotCancellable,
            FlowError::Cart(e) => e.code(),
            FlowError::Database(_) | FlowError::Internal(_) => ErrorCode::Internal,
        }
    }
}

pub type FlowResult<T> = Result<T, FlowError>;
