//! The relay against a real RabbitMQ on 127.0.0.1:5672: every event of the outbox
//! reaches the broker, in order per order, once per `message_id` in the happy path and
//! at least once when a relay is killed or the broker stops mid-stream. Each test
//! publishes to its own exchange and queues (named after its database) and deletes them
//! at the end. These tests share one test group (`.config/nextest.toml`): one stops the
//! broker.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::process::Command;
use std::time::Duration;

use lapin::options::{BasicAckOptions, BasicGetOptions, ExchangeDeleteOptions, QueueDeleteOptions};
use lapin::types::AMQPValue;
use lapin::{Channel, Connection, ConnectionProperties};
use tokio_util::sync::CancellationToken;

use crate::fixtures::{WEB, WEB_1M};
use crate::helpers::{Proc, eventually};
use crate::shop::Shop;
use checkout::config::EventsSettings;
use checkout::health::Dependency;

const AMQP: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
const T: Duration = Duration::from_secs(30);

/// Names of its own for one test's exchange and queues.
pub fn events_settings(shop: &Shop) -> EventsSettings {
    let base = format!("test.{}", shop.app.db.name);
    EventsSettings {
        exchange: format!("{base}.events"),
        dead_letter_exchange: format!("{base}.dlx"),
        example_queue: format!("{base}.all"),
        dead_letter_queue: format!("{base}.dead"),
        poll_interval_ms: 50,
        retry_base_ms: 50,
        retry_max_ms: 500,
        ..EventsSettings::default()
    }
}

/// The same names as `CHECKOUT__EVENTS__*` variables, for a relay process.
fn events_env(s: &EventsSettings) -> Vec<(&'static str, String)> {
    vec![
        ("CHECKOUT__EVENTS__EXCHANGE", s.exchange.clone()),
        (
            "CHECKOUT__EVENTS__DEAD_LETTER_EXCHANGE",
            s.dead_letter_exchange.clone(),
        ),
        ("CHECKOUT__EVENTS__EXAMPLE_QUEUE", s.example_queue.clone()),
        (
            "CHECKOUT__EVENTS__DEAD_LETTER_QUEUE",
            s.dead_letter_queue.clone(),
        ),
        ("CHECKOUT__EVENTS__POLL_INTERVAL_MS", "50".into()),
    ]
}

pub fn spawn_relay(shop: &Shop, s: &EventsSettings, dependency: &Dependency) -> CancellationToken {
    let stop = CancellationToken::new();
    tokio::spawn(checkout::relay::run(
        shop.app.pool.clone(),
        s.clone(),
        dependency.clone(),
        stop.clone(),
    ));
    stop
}

/// A message as a consumer sees it.
#[derive(Debug, Clone)]
struct Received {
    message_id: String,
    aggregate_id: String,
    sequence: i64,
    event_type: String,
}

/// Takes every message now in the test's queue (acking each).
async fn drain(channel: &Channel, queue: &str, into: &mut Vec<Received>) {
    while let Some(m) = channel
        .basic_get(queue.into(), BasicGetOptions::default())
        .await
        .unwrap()
    {
        let p = &m.delivery.properties;
        let headers = p.headers().clone().unwrap_or_default();
        let header = |k: &str| headers.inner().get(k).cloned();
        let sequence = match header("sequence") {
            Some(AMQPValue::LongLongInt(n)) => n,
            other => panic!("sequence header: {other:?}"),
        };
        let aggregate_id = match header("aggregate_id") {
            Some(AMQPValue::LongString(s)) => s.to_string(),
            other => panic!("aggregate_id header: {other:?}"),
        };
        let body: serde_json::Value = serde_json::from_slice(&m.delivery.data).unwrap();
        let message_id = p.message_id().as_ref().unwrap().to_string();
        assert_eq!(body["id"].as_str(), Some(message_id.as_str()));
        assert_eq!(p.delivery_mode(), &Some(2), "persistent");
        into.push(Received {
            message_id,
            aggregate_id,
            sequence,
            event_type: p.kind().as_ref().unwrap().to_string(),
        });
        m.delivery.ack(BasicAckOptions::default()).await.unwrap();
    }
}

/// Consumes until every event of the outbox has arrived at least once; returns the
/// messages in arrival order.
async fn receive_all(shop: &Shop, channel: &Channel, queue: &str) -> Vec<Received> {
    let mut received = Vec::new();
    let ids: HashSet<String> =
        sqlx::query_scalar::<_, uuid::Uuid>("select event_id from outbox_events")
            .fetch_all(&shop.app.pool)
            .await
            .unwrap()
            .into_iter()
            .map(|u| u.to_string())
            .collect();
    let deadline = std::time::Instant::now() + T;
    loop {
        drain(channel, queue, &mut received).await;
        let seen: HashSet<String> = received.iter().map(|r| r.message_id.clone()).collect();
        let missing: Vec<_> = ids.difference(&seen).collect();
        if missing.is_empty() {
            return received;
        }
        assert!(std::time::Instant::now() < deadline, "missing: {missing:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Each order's events arrive in sequence order (duplicates, from a redelivery, may
/// repeat an earlier one; none comes before one it follows the first time).
fn assert_in_order(received: &[Received]) {
    let mut last: HashMap<&str, i64> = HashMap::new();
    for r in received {
        let seen = last.entry(&r.aggregate_id).or_insert(0);
        assert!(
            r.sequence <= *seen + 1,
            "{} #{} arrived before #{}",
            r.aggregate_id,
            r.sequence,
            *seen + 1
        );
        *seen = (*seen).max(r.sequence);
    }
}

fn duplicates(received: &[Received]) -> usize {
    let unique: HashSet<&String> = received.iter().map(|r| &r.message_id).collect();
    received.len() - unique.len()
}

pub async fn broker() -> (Connection, Channel) {
    let connection = Connection::connect(AMQP, ConnectionProperties::default())
        .await
        .expect("RabbitMQ on 127.0.0.1:5672 (scripts/test starts it)");
    let channel = connection.create_channel().await.unwrap();
    (connection, channel)
}

pub async fn delete_topology(channel: &Channel, s: &EventsSettings) {
    for q in [&s.example_queue, &s.dead_letter_queue] {
        let _ = channel
            .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
            .await;
    }
    for e in [&s.exchange, &s.dead_letter_exchange] {
        let _ = channel
            .exchange_delete(e.as_str().into(), ExchangeDeleteOptions::default())
            .await;
    }
}

/// Checkouts paid and enrolled, `n` students from `first`.
pub async fn checkouts(shop: &Shop, first: usize, n: usize) {
    for i in first..first + n {
        let token = shop.student(i).await;
        let cart = shop.cart(&token, &[(WEB, WEB_1M)], None).await;
        let (_, body) = shop.order(&token, &cart, None).await;
        let order = body["data"]["order_token"].as_str().unwrap().to_owned();
        let o = shop.wait_session(&token, &order).await;
        shop.pay(
            o["payment"]["gateway_order_id"].as_str().unwrap(),
            "captured",
        )
        .await;
        shop.wait_status(&token, &order, &["enrolled"], T).await;
    }
    // `complete` runs just after `enrolled`
    shop.wait_count(
        "select count(*) from sagas where state = 'completed'",
        (first + n - 1) as i64,
    )
    .await;
}

async fn unpublished(shop: &Shop) -> i64 {
    shop.count("select count(*) from outbox_events where published_at is null")
        .await
}

#[tokio::test]
async fn a_checkout_reaches_the_broker_in_order_once_per_message_id() {
    let shop = Shop::start(true, |_| {}).await;
    let s = events_settings(&shop);
    let broker_state = Dependency::new("broker");
    let stop = spawn_relay(&shop, &s, &broker_state);
    checkouts(&shop, 1, 1).await;
    let (_conn, channel) = broker().await;
    let received = receive_all(&shop, &channel, &s.example_queue).await;
    assert_eq!(duplicates(&received), 0);
    assert_in_order(&received);
    let types: Vec<&str> = received.iter().map(|r| r.event_type.as_str()).collect();
    assert_eq!(types.first(), Some(&"order.created"));
    assert_eq!(types.last(), Some(&"order.completed"));
    eventually(T, || async {
        (unpublished(&shop).await == 0).then_some(())
    })
    .await
    .expect("every event marked published");
    assert!(broker_state.check().is_ok());
    stop.cancel();
    delete_topology(&channel, &s).await;
}

#[tokio::test]
async fn two_relays_publish_each_event_once_and_keep_each_orders_order() {
    let shop = Shop::start(true, |_| {}).await;
    let s = EventsSettings {
        batch_size: 3,
        ..events_settings(&shop)
    };
    let stops = [
        spawn_relay(&shop, &s, &Dependency::new("broker")),
        spawn_relay(&shop, &s, &Dependency::new("broker")),
    ];
    checkouts(&shop, 1, 4).await;
    let (_conn, channel) = broker().await;
    let received = receive_all(&shop, &channel, &s.example_queue).await;
    assert_eq!(duplicates(&received), 0, "{received:?}");
    assert_in_order(&received);
    let per_order: BTreeMap<&str, usize> = received.iter().fold(BTreeMap::new(), |mut m, r| {
        *m.entry(r.aggregate_id.as_str()).or_default() += 1;
        m
    });
    assert_eq!(per_order.len(), 4);
    for stop in stops {
        stop.cancel();
    }
    delete_topology(&channel, &s).await;
}

/// A relay process SIGKILLed while it publishes a backlog one event per pass: a second
/// relay publishes the rest; every event arrives (some twice), each order in order.
#[tokio::test]
async fn a_relay_killed_mid_stream_loses_nothing() {
    let shop = Shop::start(true, |_| {}).await;
    let s = events_settings(&shop);
    checkouts(&shop, 1, 3).await;
    let total = shop.count("select count(*) from outbox_events").await;
    let mut env = events_env(&s);
    env.push(("CHECKOUT__EVENTS__BATCH_SIZE", "1".into()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut relay = Proc::spawn(&["relay"], &shop.app.db.url, &env);
    eventually(T, || async {
        (unpublished(&shop).await < total - 3).then_some(())
    })
    .await
    .expect("the first relay publishes");
    relay.kill9();
    assert!(unpublished(&shop).await > 0, "killed before the end");
    let _second = Proc::spawn(&["relay"], &shop.app.db.url, &env);
    let (_conn, channel) = broker().await;
    let received = receive_all(&shop, &channel, &s.example_queue).await;
    assert_in_order(&received);
    eventually(T, || async {
        (unpublished(&shop).await == 0).then_some(())
    })
    .await
    .expect("every event marked published");
    delete_topology(&channel, &s).await;
}

fn rabbitmqctl(action: &str) {
    let ok = Command::new("rabbitmqctl")
        .arg(action)
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "rabbitmqctl {action} (needs rabbitmqctl and the right to run it)"
    );
}

/// The broker's application stopped while checkouts go on: the relay says so on its
/// readiness, the backlog waits in Postgres with nothing marked published, and after
/// `start_app` every event arrives.
#[tokio::test]
async fn the_broker_stopped_mid_stream_loses_nothing() {
    let shop = Shop::start(true, |_| {}).await;
    let s = events_settings(&shop);
    let broker_state = Dependency::new("broker");
    let stop = spawn_relay(&shop, &s, &broker_state);
    checkouts(&shop, 1, 1).await;
    eventually(T, || async {
        (unpublished(&shop).await == 0).then_some(())
    })
    .await
    .expect("published while the broker is up");

    rabbitmqctl("stop_app");
    let result = std::panic::AssertUnwindSafe(async {
        checkouts(&shop, 2, 1).await;
        eventually(T, || async { broker_state.check().err() })
            .await
            .expect("the relay reports the broker down");
        assert!(
            unpublished(&shop).await > 0,
            "nothing marked published meanwhile"
        );
    });
    let outcome = futures::FutureExt::catch_unwind(result).await;
    rabbitmqctl("start_app");
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }

    let (_conn, channel) = eventually(T, || async {
        Connection::connect(AMQP, ConnectionProperties::default())
            .await
            .ok()
    })
    .await
    .map(|c| async move {
        let ch = c.create_channel().await.unwrap();
        (c, ch)
    })
    .expect("the broker is back")
    .await;
    let received = receive_all(&shop, &channel, &s.example_queue).await;
    assert_in_order(&received);
    eventually(T, || async {
        (unpublished(&shop).await == 0).then_some(())
    })
    .await
    .expect("every event marked published");
    assert!(broker_state.check().is_ok());
    stop.cancel();
    delete_topology(&channel, &s).await;
}

/// The example consumer: every event handled once though one arrives twice, and the
/// one whose effect keeps failing lands in the dead-letter queue after its attempts.
#[tokio::test]
async fn the_example_consumer_dedupes_and_dead_letters_poison() {
    use checkout::relay::consume::{ConsumeOptions, run};
    use lapin::BasicProperties;
    use lapin::options::BasicPublishOptions;

    let shop = Shop::start(true, |_| {}).await;
    let s = events_settings(&shop);
    let relay = spawn_relay(&shop, &s, &Dependency::new("broker"));
    checkouts(&shop, 1, 1).await;
    eventually(T, || async {
        (unpublished(&shop).await == 0).then_some(())
    })
    .await
    .expect("published");
    relay.cancel();
    // a redelivery of the first event, as the broker or a relay may produce
    let (_conn, channel) = broker().await;
    let (id, envelope): (uuid::Uuid, serde_json::Value) = sqlx::query_as(
        "select event_id, payload from outbox_events where event_type = 'order.created'",
    )
    .fetch_one(&shop.app.pool)
    .await
    .unwrap();
    let properties = BasicProperties::default().with_message_id(id.to_string().as_str().into());
    let body = serde_json::to_vec(&serde_json::json!({"id": id, "type": "order.created",
        "aggregate": {"type": "order", "id": uuid::Uuid::nil()}, "sequence": 1, "data": envelope}))
    .unwrap();
    channel
        .basic_publish(
            s.exchange.as_str().into(),
            "order.created".into(),
            BasicPublishOptions::default(),
            &body,
            properties,
        )
        .await
        .unwrap()
        .await
        .unwrap();

    let options = ConsumeOptions {
        queue: s.example_queue.clone(),
        max_attempts: 3,
        fail_type: Some("order.reserved".into()),
    };
    let stop = CancellationToken::new();
    let pool = shop.app.pool.clone();
    let consumer = tokio::spawn({
        let stop = stop.clone();
        async move { run(&pool, AMQP, &options, stop).await }
    });
    let total = shop.count("select count(*) from outbox_events").await;
    // the consumer makes its tables when it starts
    shop.wait_count(
        "select count(*) from pg_tables where tablename like 'example_consumer_%'",
        2,
    )
    .await;
    shop.wait_count("select count(*) from example_consumer_inbox", total - 1)
        .await;
    shop.wait_count(
        "select count(*) from example_consumer_attempts where attempts = 3",
        1,
    )
    .await;
    shop.assert_count(
        "select count(*) from example_consumer_inbox where event_type = 'order.reserved'",
        0,
    )
    .await;
    let mut dead = Vec::new();
    let deadline = std::time::Instant::now() + T;
    while dead.is_empty() && std::time::Instant::now() < deadline {
        drain(&channel, &s.dead_letter_queue, &mut dead).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let dead_types: Vec<&str> = dead.iter().map(|r| r.event_type.as_str()).collect();
    assert_eq!(dead_types, ["order.reserved"]);
    stop.cancel();
    consumer.await.unwrap().unwrap();
    delete_topology(&channel, &s).await;
}
