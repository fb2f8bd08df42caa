//! The hosted page a buyer sees at `/sandbox/pay/{id}`: the amount and three
//! buttons (pay, fail, cancel), then the way back to the merchant.

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header::LOCATION};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Form, Router};
use serde::Deserialize;

use super::SandboxState;
use super::pay::{Callback, Outcome, pay};
use super::store::Store;
use crate::gateways::GatewayKind;

pub fn routes(state: SandboxState) -> Router {
    Router::new()
        .route("/pay/{id}", get(page).post(submit))
        .with_state(state)
}

#[derive(Debug, Deserialize)]
struct PageQuery {
    callback_url: Option<String>,
    cancel_url: Option<String>,
}

#[derive(Debug, Deserialize)]
struct PageForm {
    outcome: Outcome,
    callback_url: Option<String>,
    cancel_url: Option<String>,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn describe(store: &Store, id: &str) -> Option<(GatewayKind, String, i64, String, String)> {
    if let Some(o) = store.rzp_orders.get(id) {
        return Some((
            GatewayKind::Razorpay,
            o.receipt.clone().unwrap_or_default(),
            o.amount,
            o.currency.clone(),
            o.status.clone(),
        ));
    }
    store.stripe_sessions.get(id).map(|s| {
        (
            GatewayKind::Stripe,
            s.product_name.clone(),
            s.amount_total,
            s.currency.to_ascii_uppercase(),
            s.status.clone(),
        )
    })
}

fn shell(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{}</title>\
         <style>body{{font-family:sans-serif;max-width:32rem;margin:3rem auto}}\
         button{{font-size:1rem;margin:.3rem;padding:.5rem 1rem}}</style></head>\
         <body>{body}</body></html>",
        esc(title)
    )
}

async fn page(
    State(state): State<SandboxState>,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> Response {
    let Some((gateway, label, amount, currency, status)) = describe(&state.store(), &id) else {
        return (
            StatusCode::NOT_FOUND,
            Html(shell("Not found", "<h1>No such payment session</h1>")),
        )
            .into_response();
    };
    let hidden = |name: &str, value: &Option<String>| {
        value
            .as_ref()
            .map(|v| {
                format!(
                    "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
                    esc(v)
                )
            })
            .unwrap_or_default()
    };
    let button = |outcome: &str, text: &str| {
        format!(
            "<form method=\"post\" style=\"display:inline\">\
             <input type=\"hidden\" name=\"outcome\" value=\"{outcome}\">{}{}\
             <button type=\"submit\" id=\"{outcome}\">{text}</button></form>",
            hidden("callback_url", &q.callback_url),
            hidden("cancel_url", &q.cancel_url),
        )
    };
    let body = format!(
        "<h1>Sandbox {gateway} checkout</h1><p>{}</p>\
         <p><strong>{}.{:02} {}</strong> &middot; session <code>{}</code> &middot; {}</p>{}{}{}",
        esc(&label),
        amount / 100,
        amount % 100,
        esc(&currency),
        esc(&id),
        esc(&status),
        button("captured", "Pay"),
        button("failed", "Fail"),
        button("cancelled", "Cancel"),
    );
    Html(shell("Sandbox checkout", &body)).into_response()
}

async fn submit(
    State(state): State<SandboxState>,
    Path(id): Path<String>,
    Form(form): Form<PageForm>,
) -> Response {
    let result = match pay(
        &state,
        &id,
        form.outcome,
        form.callback_url.as_deref(),
        form.cancel_url.as_deref(),
    ) {
        Ok(r) => r,
        Err(e) => {
            let body = format!("<h1>Cannot pay</h1><p>{}</p>", esc(&e.message));
            return (e.status, Html(shell("Cannot pay", &body))).into_response();
        }
    };
    match result.callback {
        // Razorpay returns the buyer with a form POST carrying the signed fields.
        Some(Callback::FormPost { url, fields }) => {
            let inputs: String = fields
                .iter()
                .map(|(k, v)| {
                    format!(
                        "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                        esc(k),
                        esc(v)
                    )
                })
                .collect();
            let body = format!(
                "<form id=\"back\" method=\"post\" action=\"{}\">{inputs}\
                 <button type=\"submit\">Continue</button></form>\
                 <script>document.getElementById('back').submit()</script>",
                esc(&url)
            );
            Html(shell("Returning to merchant", &body)).into_response()
        }
        Some(Callback::Redirect { url }) => {
            (StatusCode::SEE_OTHER, [(LOCATION, url)]).into_response()
        }
        None => {
            let body = format!(
                "<h1>{:?}</h1><p>Session <code>{}</code>. <a href=\"\">Back</a></p>",
                result.outcome,
                esc(&result.session_id)
            );
            Html(shell("Sandbox checkout", &body)).into_response()
        }
    }
}
