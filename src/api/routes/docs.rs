//! `/openapi.json` (generated from the handlers' annotations, so it cannot drift from
//! the routes) and `/docs`, a self-contained page that renders it without any CDN.

use axum::response::Html;

/// Renders the spec as a list of operations with their parameters and responses.
#[utoipa::path(get, path = "/docs", tag = "ops",
    responses((status = 200, description = "HTML page rendering /openapi.json", content_type = "text/html")))]
pub async fn page() -> Html<&'static str> {
    Html(include_str!("docs.html"))
}
