//! `/openapi.json` (generated from the handlers' annotations, so it cannot drift from
//! the routes) and `/docs`, Swagger UI rendering it, with "Try it out" requests sent to
//! this server. The UI's files are built into the binary (`utoipa-swagger-ui`, whose
//! `vendored` build reads them from a crate instead of downloading them), so the page
//! works with no network and loads nothing from another origin. Every answer here
//! carries [`DOCS_CSP`](crate::api::layers::security::DOCS_CSP), the one policy looser than the
//! API's.

use std::sync::{Arc, LazyLock};

use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use utoipa_swagger_ui::Config;

use crate::api::ApiError;
use crate::api::layers::security::DOCS_CSP;

/// The page's own frame: the UI's files by absolute path, so `/docs` needs no trailing
/// slash to find them.
const PAGE: &str = include_str!("docs.html");

static CONFIG: LazyLock<Arc<Config<'static>>> = LazyLock::new(|| {
    Arc::new(
        Config::new(["/openapi.json"])
            // no spec URL box: the page shows this server's API only
            .use_base_layout()
            // the default asks validator.swagger.io for a badge: a request elsewhere
            .validator_url("none")
            .try_it_out_enabled(true)
            .display_request_duration(true)
            .filter(true),
    )
});

/// Interactive API documentation (Swagger UI) for `/openapi.json`.
#[utoipa::path(get, path = "/docs", tag = "ops",
    responses((status = 200, description = "HTML page rendering /openapi.json", content_type = "text/html")))]
pub async fn page() -> Response {
    with_policy("text/html; charset=utf-8", PAGE)
}

/// One of the UI's files (scripts, styles, icons, and the initializer that points the
/// UI at `/openapi.json`).
pub async fn asset(Path(file): Path<String>) -> Result<Response, ApiError> {
    let found = utoipa_swagger_ui::serve(&file, CONFIG.clone())
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("swagger ui file {file}: {e}")))?;
    let swagger = found.ok_or_else(|| ApiError::RouteNotFound(format!("/docs/{file}")))?;
    Ok(with_policy(
        swagger.content_type,
        swagger.bytes.into_owned(),
    ))
}

fn with_policy(content_type: impl Into<String>, body: impl IntoResponse) -> Response {
    let mut response = body.into_response();
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&content_type.into()) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(DOCS_CSP),
    );
    response
}
