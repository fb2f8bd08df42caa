//! The error answers the layers give on any route, added to every operation of the
//! OpenAPI document in one place ([`GenericErrors`]), so handlers annotate only their
//! own outcomes and the spec still names every status a client can see (the contract
//! test, `scripts/contract`, fails on an undocumented one).

use axum::http::Method;
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn};
use utoipa::openapi::response::{ResponseBuilder, Responses};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::{ContentBuilder, HeaderBuilder, OpenApi, Ref, Required};

use crate::api::layers::groups::{self, RouteGroup};

/// Adds to every operation the statuses its layers and extractors can answer, unless
/// the handler already documents that status (its description is more specific):
///
/// - every route: 431 (headers), 500 (internal), 503 (timeout, database), 429 (rate
///   limit, with `Retry-After`) except webhooks, which are exempt;
/// - writes (`POST`/`PUT`/`DELETE`/`PATCH`): 413 (body size), 422 (JSON depth, card
///   data outside webhooks, `Idempotency-Key` on POST); POST also 409 (a request with
///   the same `Idempotency-Key` still running) and the `Idempotency-Key` header;
/// - a JSON request body (not webhooks, which take raw bytes): 400 (syntax), 415;
/// - path parameters: 400 (unparsable);
/// - a security requirement (`Caller` or `Option<Caller>`): 401.
pub struct GenericErrors;

impl utoipa::Modify for GenericErrors {
    fn modify(&self, openapi: &mut OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let operations = [
                (Method::GET, item.get.as_mut()),
                (Method::PUT, item.put.as_mut()),
                (Method::POST, item.post.as_mut()),
                (Method::DELETE, item.delete.as_mut()),
                (Method::PATCH, item.patch.as_mut()),
            ];
            for (method, operation) in operations {
                if let Some(operation) = operation {
                    add_generic(path, &method, operation);
                }
            }
        }
    }
}

fn add_generic(path: &str, method: &Method, op: &mut Operation) {
    let group = groups::classify(method, path);
    let webhook = group == RouteGroup::Webhook;
    let write = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    let post = *method == Method::POST;
    let json_body = op.request_body.is_some() && !webhook;
    let path_params = path.contains('{');
    let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());

    let mut bad_request = Vec::new();
    if json_body {
        bad_request.push("9001 malformed JSON");
    }
    if path_params {
        bad_request.push("9001 unparsable path parameter");
    }
    let mut unprocessable = Vec::new();
    if json_body {
        unprocessable.push("9002 validation failed");
    }
    if write {
        unprocessable.push("9002 JSON nested too deep");
    }
    if write && !webhook {
        unprocessable.push("6101 card data");
    }
    if post {
        unprocessable
            .push("6001 Idempotency-Key reused for another request, 6003 invalid Idempotency-Key");
    }

    let r = &mut op.responses;
    if !bad_request.is_empty() {
        add(r, "400", &bad_request.join(", "));
    }
    if secured {
        add(
            r,
            "401",
            "5001 authentication required, 5002 token expired, 5003 token invalid, 5007 user gone",
        );
    }
    if post {
        add(
            r,
            "409",
            "6002 a request with this Idempotency-Key is still in progress (retryable)",
        );
    }
    if write {
        add(r, "413", "9006 body too large");
    }
    if json_body {
        add(r, "415", "9005 body is not application/json");
    }
    if !unprocessable.is_empty() {
        add(r, "422", &unprocessable.join(", "));
    }
    if !webhook {
        add_rate_limited(r);
    }
    add(r, "431", "9009 request headers too many or too large");
    add(
        r,
        "500",
        "9000 internal error (details in the log, by correlation id)",
    );
    add(
        r,
        "503",
        "9007 request timed out, 9008 database unavailable",
    );

    if post {
        add_idempotency_header(op);
    }
}

fn envelope() -> utoipa::openapi::Content {
    ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("ErrorEnvelope")))
        .build()
}

fn add(responses: &mut Responses, status: &str, description: &str) {
    responses
        .responses
        .entry(status.to_owned())
        .or_insert_with(|| {
            ResponseBuilder::new()
                .description(description)
                .content("application/json", envelope())
                .build()
                .into()
        });
}

fn add_rate_limited(responses: &mut Responses) {
    responses
        .responses
        .entry("429".to_owned())
        .or_insert_with(|| {
            let seconds = ObjectBuilder::new()
                .schema_type(Type::Integer)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
                .minimum(Some(1));
            ResponseBuilder::new()
                .description("429 rate limited: retry after `Retry-After` seconds")
                .header(
                    "Retry-After",
                    HeaderBuilder::new()
                        .schema(seconds)
                        .description(Some("seconds to wait"))
                        .build(),
                )
                .content("application/json", envelope())
                .build()
                .into()
        });
}

/// Every POST accepts `Idempotency-Key` (the idempotency layer, Stripe semantics).
fn add_idempotency_header(op: &mut Operation) {
    let params = op.parameters.get_or_insert_with(Vec::new);
    if params.iter().any(|p| {
        p.parameter_in == ParameterIn::Header && p.name.eq_ignore_ascii_case("idempotency-key")
    }) {
        return;
    }
    // Printable ASCII without leading or trailing blanks (HTTP strips those).
    let schema = ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(255))
        .pattern(Some("^[!-~]([ -~]*[!-~])?$"));
    params.push(
        ParameterBuilder::new()
            .name("Idempotency-Key")
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some(
                "retries with the same key and request get the first answer (24 h)",
            ))
            .schema(Some(schema))
            .build(),
    );
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use crate::api::openapi;

    fn statuses(path: &str, method: &str) -> Vec<String> {
        let doc = serde_json::to_value(openapi()).unwrap();
        doc["paths"][path][method]["responses"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    }

    #[test]
    fn every_operation_documents_the_layers_answers() {
        let doc = serde_json::to_value(openapi()).unwrap();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let responses = op["responses"].as_object().unwrap();
                for status in ["431", "500", "503"] {
                    assert!(
                        responses.contains_key(status),
                        "{method} {path} lacks {status}"
                    );
                }
                if !path.contains("/webhooks/") {
                    assert!(responses.contains_key("429"), "{method} {path} lacks 429");
                }
            }
        }
    }

    #[test]
    fn bodies_paths_posts_and_bearer_get_their_statuses() {
        let register = statuses("/api/v1/auth/register", "post");
        for s in ["400", "409", "413", "415", "422", "429"] {
            assert!(register.contains(&s.to_owned()), "register lacks {s}");
        }
        let switch = statuses("/api/v1/cart/{token}/plan/{plan_id}", "put");
        assert!(switch.contains(&"400".to_owned()));
        assert!(!switch.contains(&"415".to_owned()), "no body, no 415");
        let me = statuses("/api/v1/auth/me", "get");
        assert!(me.contains(&"401".to_owned()));
        let webhook = statuses("/api/v1/webhooks/stripe", "post");
        assert!(
            !webhook.contains(&"429".to_owned()),
            "webhooks are not rate limited"
        );
        assert!(
            !webhook.contains(&"415".to_owned()),
            "webhooks take raw bytes"
        );
    }

    #[test]
    fn every_post_declares_the_idempotency_key_header() {
        let doc = serde_json::to_value(openapi()).unwrap();
        for (path, item) in doc["paths"].as_object().unwrap() {
            if let Some(post) = item.get("post") {
                let has = post["parameters"]
                    .as_array()
                    .is_some_and(|ps| ps.iter().any(|p| p["name"] == "Idempotency-Key"));
                assert!(has, "POST {path} lacks Idempotency-Key");
            }
        }
    }
}
