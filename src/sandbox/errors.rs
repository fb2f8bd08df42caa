//! The error bodies of the two APIs, shared by their routes and by fault injection
//! (which answers for whichever gateway it stands in front of).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Razorpay's error body.
pub fn rzp_error(
    status: StatusCode,
    code: &str,
    description: &str,
    field: Option<&str>,
) -> Response {
    let mut error = json!({
        "code": code,
        "description": description,
        "source": "NA",
        "step": "NA",
        "reason": "NA",
        "metadata": {},
    });
    if let Some(field) = field {
        error["field"] = json!(field);
        error["source"] = json!("business");
        error["reason"] = json!("input_validation_failed");
    }
    (status, Json(json!({ "error": error }))).into_response()
}

/// Stripe's error body.
pub fn stripe_error(
    status: StatusCode,
    kind: &str,
    code: Option<&str>,
    message: &str,
    param: Option<&str>,
) -> Response {
    let mut error = json!({"type": kind, "message": message});
    if let Some(code) = code {
        error["code"] = json!(code);
    }
    if let Some(param) = param {
        error["param"] = json!(param);
    }
    (status, Json(json!({ "error": error }))).into_response()
}
