//! OpenTelemetry traces end to end: an OTLP/HTTP receiver in the test decodes what the
//! API (this process, as in every `Shop`), the sandbox and real worker processes
//! export, and a checkout reads as one trace.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use checkout::config::{LogSettings, TelemetrySettings};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message;
use serde_json::{Value, json};

use crate::fixtures::{DS, DS_1M, WEB, WEB_1M};
use crate::helpers::{Proc, eventually};
use crate::shop::Shop;

const T: Duration = Duration::from_secs(30);

/// One exported span, ids in hex.
#[derive(Debug, Clone)]
struct Exported {
    trace: String,
    id: String,
    parent: String,
    name: String,
    kind: i32,
    service: String,
    /// Trace ids of the span's links.
    links: Vec<String>,
    attributes: HashMap<String, String>,
}

impl Exported {
    fn attr(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }
}

type Spans = Arc<Mutex<Vec<Exported>>>;

/// A collector's OTLP/HTTP trace endpoint (`POST /v1/traces`, protobuf) on port 0.
struct Receiver {
    url: String,
    spans: Spans,
}

impl Receiver {
    async fn start() -> Receiver {
        let spans = Spans::default();
        let app = axum::Router::new()
            .route("/v1/traces", axum::routing::post(collect))
            .with_state(spans.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { url, spans }
    }

    fn in_trace(&self, trace: &str) -> Vec<Exported> {
        let spans = self.spans.lock().unwrap();
        spans.iter().filter(|s| s.trace == trace).cloned().collect()
    }

    fn all(&self) -> Vec<Exported> {
        self.spans.lock().unwrap().clone()
    }

    /// Environment that points a `checkout` process at this receiver, exporting every
    /// span within 100 ms.
    fn env(&self) -> [(&str, &str); 3] {
        [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", self.url.as_str()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("OTEL_TRACES_SAMPLER", "parentbased_always_on"),
        ]
    }
}

fn text(value: &Option<AnyValue>) -> String {
    match value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        other => format!("{other:?}"),
    }
}

fn attributes(kvs: &[KeyValue]) -> HashMap<String, String> {
    kvs.iter()
        .map(|kv| (kv.key.clone(), text(&kv.value)))
        .collect()
}

async fn collect(State(spans): State<Spans>, body: Bytes) -> impl IntoResponse {
    let request = ExportTraceServiceRequest::decode(body).unwrap();
    let mut got = Vec::new();
    for resource in request.resource_spans {
        let service = resource
            .resource
            .map(|r| attributes(&r.attributes))
            .and_then(|a| a.get("service.name").cloned())
            .unwrap_or_default();
        for scope in resource.scope_spans {
            for span in scope.spans {
                got.push(Exported {
                    trace: hex::encode(&span.trace_id),
                    id: hex::encode(&span.span_id),
                    parent: hex::encode(&span.parent_span_id),
                    name: span.name,
                    kind: span.kind,
                    service: service.clone(),
                    links: span
                        .links
                        .iter()
                        .map(|l| hex::encode(&l.trace_id))
                        .collect(),
                    attributes: attributes(&span.attributes),
                });
            }
        }
    }
    spans.lock().unwrap().extend(got);
    (
        [(CONTENT_TYPE, "application/x-protobuf")],
        ExportTraceServiceResponse::default().encode_to_vec(),
    )
}

/// This process serves the API and the sandbox: it exports as `checkout serve` would.
fn export_from_this_process(receiver: &Receiver) {
    // the log level decides only what is logged: every span of ours is exported
    let log = LogSettings {
        level: "warn".into(),
        ..Default::default()
    };
    let telemetry = TelemetrySettings {
        otlp_endpoint: Some(receiver.url.clone()),
        ..Default::default()
    };
    checkout::telemetry::init_logging(&log, &telemetry, Some("api"));
}

/// A student's two-program order, sent with `traceparent` and `correlation_id`; returns
/// (access token, order token).
async fn traced_order(shop: &Shop, traceparent: &str, correlation_id: &str) -> (String, String) {
    let token = shop.student(1).await;
    let cart = shop.cart(&token, &[(WEB, WEB_1M), (DS, DS_1M)], None).await;
    let response = shop
        .app
        .client
        .post(shop.app.url("/api/v1/order"))
        .bearer_auth(&token)
        .header("traceparent", traceparent)
        .header("x-correlation-id", correlation_id)
        .json(&json!({"cart_token": cart,
            "billing_address": {"country": "IN", "state": "MH", "postal_code": "400001"}}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert!(status == 201 || status == 202, "{status} {body}");
    let order = body["data"]["order_token"].as_str().unwrap().to_owned();
    (token, order)
}

/// A fresh trace id and caller span id, as a client's `traceparent` holds them.
fn caller_context() -> (String, String) {
    let trace = uuid::Uuid::new_v4().simple().to_string();
    let span = uuid::Uuid::new_v4().simple().to_string()[..16].to_owned();
    (trace, span)
}

/// Waits until the spans of `trace` satisfy `done`; panics listing what arrived.
async fn wait_for_trace(
    receiver: &Receiver,
    trace: &str,
    what: &str,
    done: impl Fn(&[Exported]) -> bool,
) -> Vec<Exported> {
    let found = eventually(T, || async {
        // off this runtime's thread: the export goes to the receiver it serves
        tokio::task::spawn_blocking(checkout::telemetry::traces::flush)
            .await
            .unwrap();
        let spans = receiver.in_trace(trace);
        done(&spans).then_some(spans)
    })
    .await;
    found.unwrap_or_else(|| {
        let mine = receiver.in_trace(trace);
        panic!("trace {trace} never had {what}; received {mine:#?}")
    })
}

const STEPS: [&str; 6] = [
    "step.price",
    "step.reserve",
    "step.payment_session",
    "step.confirm",
    "step.enroll",
    "step.complete",
];

#[tokio::test]
async fn a_checkout_is_one_trace_from_order_request_through_jobs_gateway_and_webhook() {
    let receiver = Receiver::start().await;
    export_from_this_process(&receiver);
    let shop = Shop::start(false, |_| {}).await;
    let mut env = receiver.env().to_vec();
    env.push(("CHECKOUT__LOG__LEVEL", "warn,checkout::workers=debug"));
    let worker = shop.spawn_logged_worker(&env);

    let (trace, caller) = caller_context();
    let correlation_id = format!("trace-test-{}", &trace[..8]);
    let (token, order) =
        traced_order(&shop, &format!("00-{trace}-{caller}-01"), &correlation_id).await;
    let o = shop.wait_session(&token, &order).await;
    let gateway_order = o["payment"]["gateway_order_id"]
        .as_str()
        .unwrap()
        .to_owned();
    shop.pay(&gateway_order, "captured").await;
    shop.wait_status(&token, &order, &["enrolled"], T).await;

    // the order keeps its request's trace, which continued the caller's
    let stored: Option<String> =
        sqlx::query_scalar("select trace_context from orders where order_token = $1")
            .bind(&order)
            .fetch_one(&shop.app.pool)
            .await
            .unwrap();
    let stored = stored.expect("orders.trace_context written");
    assert_eq!(stored.split('-').nth(1), Some(trace.as_str()), "{stored}");

    let spans = wait_for_trace(&receiver, &trace, "every step and the webhook", |spans| {
        STEPS
            .iter()
            .all(|step| spans.iter().any(|s| s.name == *step))
            && spans.iter().any(|s| s.name == "order event")
    })
    .await;

    let request = spans
        .iter()
        .find(|s| s.name == "POST /api/v1/order")
        .unwrap_or_else(|| panic!("no order request span in {spans:#?}"));
    assert_eq!(
        request.parent, caller,
        "the incoming traceparent is the parent"
    );
    assert_eq!(request.kind, SpanKind::Server as i32);
    assert_eq!(request.service, "checkout-api");
    assert_eq!(
        request.attr("correlation_id"),
        Some(correlation_id.as_str())
    );
    assert_eq!(request.attr("route"), Some("/api/v1/order"));
    assert!(
        matches!(request.attr("status"), Some("201" | "202")),
        "{request:?}"
    );

    for step in STEPS {
        let run = spans.iter().find(|s| s.name == step).unwrap();
        assert_eq!(run.service, "checkout-worker", "{run:?}");
        assert_eq!(run.kind, SpanKind::Consumer as i32, "{run:?}");
        assert_eq!(run.attr("queue"), Some("checkout.steps"));
        assert_eq!(run.attr("correlation_id"), Some(correlation_id.as_str()));
        assert!(run.attr("attempt").is_some(), "{run:?}");
        assert!(run.attr("job_id").is_some_and(|id| !id.is_empty()));
    }
    // the first step is a child of the order request: the API enqueued it
    let price = spans.iter().find(|s| s.name == "step.price").unwrap();
    let ids: Vec<&str> = spans.iter().map(|s| s.id.as_str()).collect();
    assert!(ids.contains(&price.parent.as_str()), "{price:?}");

    // the gateway calls are client spans inside the steps, and the sandbox saw them
    // as their callers
    let calls: Vec<&Exported> = spans
        .iter()
        .filter(|s| s.kind == SpanKind::Client as i32)
        .collect();
    assert!(
        calls
            .iter()
            .any(|c| c.attr("gateway") == Some("razorpay") && c.attr("status") == Some("200")),
        "{calls:#?}"
    );
    for call in &calls {
        assert_eq!(call.service, "checkout-worker");
        assert!(ids.contains(&call.parent.as_str()), "{call:?}");
    }

    // the webhook's request began its own trace and links to the order's; what it did
    // about the order (waking confirm) is in the order's trace
    let all = receiver.all();
    let intake = all
        .iter()
        .find(|s| s.name.starts_with("POST /api/v1/webhooks/") && s.links.contains(&trace))
        .unwrap_or_else(|| panic!("no webhook span linking to {trace}"));
    assert_eq!(intake.kind, SpanKind::Server as i32);
    let events: Vec<&str> = spans
        .iter()
        .filter(|s| s.name == "order event")
        .map(|s| s.id.as_str())
        .collect();
    assert!(
        spans
            .iter()
            .any(|s| s.name == "step.confirm" && events.contains(&s.parent.as_str())),
        "confirm continues the webhook's order event: {spans:#?}"
    );

    // the worker's log lines about the order carry its correlation id
    let log = worker.log.as_ref().unwrap().lock().unwrap().clone();
    assert!(
        log.lines()
            .any(|l| l.contains("job ran") && l.contains(&correlation_id)),
        "{log}"
    );
    drop(worker);
}

/// SIGKILL the worker right after `price` committed, while it holds its job (paused
/// before the ack) or the next one it claimed: the replacement runs that job again
/// (orphan rescue), and the re-run, exported by the new process, is in the checkout's
/// trace with its attempt counted. The killed run never ended, so it was never exported.
#[tokio::test]
async fn a_step_rerun_after_its_worker_was_killed_stays_in_the_checkouts_trace() {
    let receiver = Receiver::start().await;
    export_from_this_process(&receiver);
    let shop = Shop::start(false, |_| {}).await;
    let mut env = receiver.env().to_vec();
    env.extend([
        ("CHECKOUT__CHECKOUT__PAUSE_AFTER_SIDE_EFFECT_MS", "1500"),
        ("CHECKOUT__WORKER__CONCURRENCY", "1"),
        ("CHECKOUT__LOG__LEVEL", "warn"),
    ]);
    let mut worker: Proc = shop.spawn_worker(&env);

    let (trace, caller) = caller_context();
    let (token, order) = traced_order(&shop, &format!("00-{trace}-{caller}-01"), "kill-9").await;
    let price_done = "select count(*) from saga_steps where step = 'price' \
                      and outcome in ('succeeded', 'waiting')";
    eventually(T, || async {
        (shop.count(price_done).await > 0).then_some(())
    })
    .await
    .expect("price committed");
    worker.kill9();
    let replacement = shop.spawn_worker(&env);
    shop.wait_session(&token, &order).await;

    let rerun_of =
        |s: &Exported| s.name.starts_with("step.") && s.attr("attempt").is_some_and(|a| a != "1");
    let spans = wait_for_trace(&receiver, &trace, "a re-run step", |spans| {
        spans.iter().any(rerun_of) && spans.iter().any(|s| s.name == "step.payment_session")
    })
    .await;
    let rerun = spans.iter().find(|s| rerun_of(s)).unwrap();
    let attempt: u32 = rerun.attr("attempt").unwrap().parse().unwrap();
    assert!(attempt >= 2, "{rerun:?}");
    assert_eq!(rerun.service, "checkout-worker");
    assert_eq!(rerun.attr("correlation_id"), Some("kill-9"));
    // its parent is the span that enqueued the job (the order request or the step
    // before), exported in the same trace
    assert!(
        spans.iter().any(|s| s.id == rerun.parent),
        "{rerun:?} {spans:#?}"
    );
    // one run of each step reached its end: the killed one is not among them
    let ended = spans.iter().filter(|s| s.name == rerun.name).count();
    assert_eq!(ended, 1, "{spans:#?}");
    drop(replacement);
}
