//! The event catalog (docs/events.md): every event the checkout writes is a valid
//! envelope whose `data` matches its type's JSON Schema in docs/events/, and each
//! aggregate's events are numbered 1, 2, 3, ... in order.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use reqwest::Method;
use serde_json::Value;
use sqlx::PgPool;

use crate::fixtures::{DS, DS_1M, WEB, WEB_1M};
use crate::shop::Shop;
use checkout::store::outbox::Stored;

fn schemas_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/events")
}

fn schema(name: &str) -> jsonschema::Validator {
    let path = schemas_dir().join(format!("{name}.schema.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("no schema {}: {e}", path.display()));
    let json: Value = serde_json::from_str(&text).unwrap();
    jsonschema::validator_for(&json).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Validates every event in the database; returns the types seen.
pub async fn assert_valid(pool: &PgPool) -> BTreeSet<String> {
    let rows: Vec<Stored> = sqlx::query_as(
        "select id, event_id, event_type, aggregate_type, aggregate_id, sequence,
                correlation_id, payload, created_at
           from outbox_events order by aggregate_type, aggregate_id, sequence",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let envelope = schema("envelope");
    let mut by_type: BTreeMap<String, jsonschema::Validator> = BTreeMap::new();
    let mut last: BTreeMap<(String, uuid::Uuid), i64> = BTreeMap::new();
    for row in &rows {
        let event = row.envelope();
        if let Err(e) = envelope.validate(&event) {
            panic!("envelope of {event}: {e}");
        }
        let data = by_type
            .entry(row.event_type.clone())
            .or_insert_with(|| schema(&row.event_type));
        if let Err(e) = data.validate(&event["data"]) {
            panic!("data of {event}: {e}");
        }
        let seq = last
            .entry((row.aggregate_type.clone(), row.aggregate_id))
            .or_insert(0);
        assert_eq!(row.sequence, *seq + 1, "gapless per aggregate: {event}");
        *seq = row.sequence;
    }
    rows.into_iter().map(|r| r.event_type).collect()
}

#[tokio::test]
async fn a_checkout_a_cancellation_and_an_abandoned_cart_write_valid_events_in_order() {
    let shop = Shop::start(true, |_| {}).await;
    // paid after a declined attempt, enrolled
    let token = shop.student(1).await;
    let cart = shop.cart(&token, &[(WEB, WEB_1M)], None).await;
    let (_, body) = shop.order(&token, &cart, None).await;
    let order = body["data"]["order_token"].as_str().unwrap().to_owned();
    let o = shop.wait_session(&token, &order).await;
    let session = o["payment"]["gateway_order_id"]
        .as_str()
        .unwrap()
        .to_owned();
    shop.pay(&session, "failed").await;
    shop.wait_count(
        "select count(*) from outbox_events where event_type = 'payment.failed'",
        1,
    )
    .await;
    shop.pay(&session, "captured").await;
    shop.wait_status(
        &token,
        &order,
        &["enrolled"],
        std::time::Duration::from_secs(20),
    )
    .await;
    shop.wait_count(
        "select count(*) from outbox_events where event_type = 'order.completed'",
        1,
    )
    .await;
    let order_id = shop.order_id(&order).await;
    let mut conn = shop.app.pool.acquire().await.unwrap();
    let types: Vec<String> = checkout::store::outbox::for_aggregate(&mut conn, "order", order_id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event_type)
        .collect();
    assert_eq!(
        types,
        [
            "order.created",
            "order.priced",
            "order.reserved",
            "payment.session_created",
            "payment.failed",
            "payment.captured",
            "order.paid",
            "order.enrolled",
            "order.completed"
        ]
    );

    // another student cancels: the order, its held seats, its compensation
    let other = shop.student(2).await;
    let cart = shop.cart(&other, &[(DS, DS_1M)], None).await;
    let (_, body) = shop.order(&other, &cart, None).await;
    let cancelled = body["data"]["order_token"].as_str().unwrap().to_owned();
    shop.wait_session(&other, &cancelled).await;
    let (status, _) = shop
        .call(
            Method::POST,
            &format!("/api/v1/order/{cancelled}/cancel"),
            Some(&other),
            None,
        )
        .await;
    assert_eq!(status, 200);
    shop.wait_count(
        "select count(*) from outbox_events where event_type = 'order.compensated'",
        1,
    )
    .await;

    // a third leaves a cart with an item; it expires and the cleanup marks it abandoned
    let third = shop.student(3).await;
    let abandoned = shop.cart(&third, &[(WEB, WEB_1M)], None).await;
    sqlx::query("update carts set expires_at = now() - interval '1 minute' where token = $1")
        .bind(&abandoned)
        .execute(&shop.app.pool)
        .await
        .unwrap();
    let settings = shop.app.settings.scheduler.clone();
    checkout::workflows::cron::carts::cleanup(&shop.app.pool, &settings)
        .await
        .unwrap();

    let seen = assert_valid(&shop.app.pool).await;
    for t in [
        "order.cancelled",
        "seat_hold.released",
        "order.compensated",
        "cart.abandoned",
    ] {
        assert!(seen.contains(t), "{t} missing from {seen:?}");
    }
    let abandoned_event: Value =
        sqlx::query_scalar("select payload from outbox_events where event_type = 'cart.abandoned'")
            .fetch_one(&shop.app.pool)
            .await
            .unwrap();
    assert_eq!(abandoned_event["items"].as_array().unwrap().len(), 1);
    assert!(
        !abandoned_event.to_string().contains(&abandoned),
        "no cart token"
    );
}

/// docs/events.md and the AsyncAPI document list every type that has a schema, and the
/// envelope's type list is exactly those.
#[test]
fn the_catalog_page_lists_every_schema_and_the_envelope_every_type() {
    let mut files: Vec<String> = std::fs::read_dir(schemas_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|n| n.strip_suffix(".schema.json").map(str::to_owned))
        .filter(|n| n != "envelope")
        .collect();
    files.sort();
    let page = std::fs::read_to_string(schemas_dir().with_extension("md")).unwrap();
    let asyncapi = std::fs::read_to_string(schemas_dir().join("asyncapi.yaml")).unwrap();
    for t in &files {
        assert!(
            asyncapi.contains(&format!("name: {t}\n"))
                && asyncapi.contains(&format!("'./{t}.schema.json'")),
            "asyncapi.yaml lacks {t}"
        );
        assert!(
            page.contains(&format!("`{t}`")),
            "docs/events.md lacks `{t}`"
        );
    }
    let envelope: Value = serde_json::from_str(
        &std::fs::read_to_string(schemas_dir().join("envelope.schema.json")).unwrap(),
    )
    .unwrap();
    let listed: Vec<String> = envelope["properties"]["type"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed, files);
}
