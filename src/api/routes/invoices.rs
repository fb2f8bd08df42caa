//! An order's tax invoice and credit notes, for its owner.

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::AppState;
use crate::api::layers::bearer::Caller;
use crate::api::layers::envelope::{Envelope, Reply};
use crate::api::layers::error::{ApiError, ApiResult, ErrorEnvelope};
use crate::api::layers::extract::ApiPath;
use crate::domain::invoice::TaxDocument;
use crate::workflows::documents;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_invoice))
}

/// The order's tax invoice and its credit notes, as issued (never recomputed).
#[derive(Debug, Serialize, ToSchema)]
pub struct InvoiceView {
    /// The tax invoice (`domain::invoice::TaxDocument`; fields in docs/api.md).
    #[schema(value_type = Object)]
    pub invoice: TaxDocument,
    /// Its credit notes in issue order, one per processed refund that reversed supply.
    #[schema(value_type = Vec<Object>)]
    pub credit_notes: Vec<TaxDocument>,
}

/// A representation the client accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Representation {
    Json,
    Pdf,
    Html,
}

/// The representation the `Accept` header prefers (highest `q`, then first listed);
/// JSON without a header. `None`: nothing we can make.
fn negotiate(accept: Option<&str>) -> Option<Representation> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Some(Representation::Json);
    };
    let mut ranges: Vec<(f32, Representation)> = Vec::new();
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        let representation = match media.as_str() {
            "application/json" | "application/*" | "*/*" => Representation::Json,
            "application/pdf" => Representation::Pdf,
            "text/html" | "text/*" => Representation::Html,
            _ => continue,
        };
        if q > 0.0 {
            ranges.push((q, representation));
        }
    }
    // stable: equal q keeps the header's order
    ranges.sort_by(|a, b| b.0.total_cmp(&a.0));
    ranges.first().map(|(_, r)| *r)
}

/// The order's GST tax invoice and credit notes. Only its owner sees them (anyone else
/// gets 404 7001, as for the order). 404 7010 while there is no invoice: it is issued
/// shortly after enrollment, and never for a free order or one refunded before
/// enrollment. JSON (the invoice and its credit notes) for `Accept: application/json`
/// or none; the invoice as a PDF for `application/pdf`, as the printable page for
/// `text/html`; any other `Accept` is 406 (9010).
#[utoipa::path(get, path = "/api/v1/order/{order_token}/invoice", tag = "orders",
    params(("order_token" = String, Path)),
    responses(
        (status = 200, description = "the invoice and its credit notes (JSON), or the invoice as a PDF or an HTML page",
            content(
                (inline(Envelope<InvoiceView>) = "application/json"),
                (Vec<u8> = "application/pdf"),
                (String = "text/html"))),
        (status = 401, description = "not authenticated", body = ErrorEnvelope),
        (status = 404, description = "no such order for this caller (7001), or no invoice for it (7010)", body = ErrorEnvelope),
        (status = 406, description = "the Accept header names no representation served (9010)", body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn get_invoice(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiPath(token): ApiPath<String>,
) -> ApiResult<Response> {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let representation = negotiate(accept);
    let order = super::orders::owned(&state, &caller, &token).await?;
    let (invoice, credit_notes) = documents::of_order(&state.pool, order.id)
        .await?
        .ok_or(ApiError::InvoiceNotFound)?;
    match representation {
        Some(Representation::Json) => Ok(Reply::ok(InvoiceView {
            invoice,
            credit_notes,
        })
        .into_response()),
        Some(Representation::Pdf) => {
            let bytes = crate::documents::pdf(&invoice).map_err(anyhow::Error::new)?;
            Ok(([(header::CONTENT_TYPE, "application/pdf")], bytes).into_response())
        }
        Some(Representation::Html) => {
            let page = crate::documents::html(&invoice);
            Ok(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response())
        }
        None => Err(ApiError::NotAcceptable(
            "the invoice is served as application/json, application/pdf or text/html".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::Representation::*;
    use super::negotiate;

    #[test]
    fn accept_picks_the_preferred_representation() {
        assert_eq!(negotiate(None), Some(Json));
        assert_eq!(negotiate(Some("")), Some(Json));
        assert_eq!(negotiate(Some("application/json")), Some(Json));
        assert_eq!(negotiate(Some("*/*")), Some(Json));
        assert_eq!(negotiate(Some("application/pdf")), Some(Pdf));
        assert_eq!(
            negotiate(Some("text/html,application/xhtml+xml,*/*;q=0.8")),
            Some(Html)
        );
        assert_eq!(
            negotiate(Some("application/pdf;q=0.5, application/json")),
            Some(Json)
        );
        assert_eq!(negotiate(Some("image/png")), None);
        assert_eq!(negotiate(Some("application/json;q=0")), None);
    }
}
