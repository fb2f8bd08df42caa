//! The success half of the envelope: `{status, success: true, data}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct Envelope<T> {
    pub status: u16,
    pub success: bool,
    pub data: T,
}

/// A handler's successful answer: status and data, wrapped in the envelope.
#[derive(Debug)]
pub struct Reply<T>(pub StatusCode, pub T);

impl<T> Reply<T> {
    pub fn ok(data: T) -> Self {
        Reply(StatusCode::OK, data)
    }

    pub fn created(data: T) -> Self {
        Reply(StatusCode::CREATED, data)
    }
}

impl<T: Serialize> IntoResponse for Reply<T> {
    fn into_response(self) -> Response {
        let Reply(status, data) = self;
        (
            status,
            axum::Json(Envelope {
                status: status.as_u16(),
                success: status.is_success(),
                data,
            }),
        )
            .into_response()
    }
}
