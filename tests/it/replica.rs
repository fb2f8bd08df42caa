//! The read replica (`database.replica_url`, `store::replica`) against a real streaming
//! replica of the test server, made by `scripts/replica` on a port of its own (so the
//! benchmarks' replica on the default port is left alone). The replica copies the whole
//! cluster, so each test's own database appears on it too; the tests wait for that by
//! waiting for `/readyz` to say the replica serves. They stop and pause the replica, so
//! they take it one at a time (a file lock, for nextest's processes and cargo test's
//! threads alike) and leave it running and replaying for the next.

use std::fs::File;
use std::process::Command;
use std::time::Duration;

use checkout::config::Settings;
use secrecy::SecretString;
use serde_json::Value;
use sqlx::{Connection, PgConnection};

use crate::fixtures::{WEB, WEB_1M};
use crate::helpers::eventually;
use crate::metrics::value;
use crate::shop::Shop;

/// The tests' replica's port (`scripts/replica` defaults to 5433 for the benchmarks).
const PORT: u16 = 5434;
const T: Duration = Duration::from_secs(60);

/// The replica, held by one test at a time.
struct Replica {
    _lock: File,
}

impl Replica {
    /// Started (made first when needed) and held until dropped; `None`, saying why, when
    /// PostgreSQL's server binaries are not installed.
    async fn take() -> Option<Self> {
        let installed = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .any(|v| v.path().join("bin/pg_basebackup").exists());
        if !installed {
            eprintln!("skipped: no PostgreSQL server binaries under /usr/lib/postgresql");
            return None;
        }
        let lock = tokio::task::spawn_blocking(|| {
            let file = File::create(format!("/tmp/checkout-replica-{PORT}.tests.lock")).unwrap();
            file.lock().unwrap();
            file
        })
        .await
        .unwrap();
        script("start");
        Some(Replica { _lock: lock })
    }

    fn url(db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{PORT}/{db}")
    }

    async fn sql(statement: &str) {
        let mut conn = PgConnection::connect(&Self::url("postgres")).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(statement.to_owned()))
            .execute(&mut conn)
            .await
            .unwrap();
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        // replaying and running for the next test, whatever this one left
        script("start");
    }
}

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/replica");

fn script(verb: &str) {
    let status = Command::new(SCRIPT)
        .arg(verb)
        .env("REPLICA_PORT", PORT.to_string())
        .status()
        .expect("scripts/replica runs");
    assert!(status.success(), "scripts/replica {verb} failed");
}

/// [`script`] without blocking the test's runtime, which serves the API meanwhile.
async fn script_async(verb: &str) {
    let status = tokio::process::Command::new(SCRIPT)
        .arg(verb)
        .env("REPLICA_PORT", PORT.to_string())
        .status()
        .await
        .expect("scripts/replica runs");
    assert!(status.success(), "scripts/replica {verb} failed");
}

/// A shop whose API reads through the replica, which serves once its copy of the test
/// database is current.
async fn shop(max_lag_ms: u64) -> Shop {
    let shop = Shop::start(true, |s: &mut Settings| {
        let db = s
            .database_url()
            .and_then(|u| u.rsplit('/').next())
            .unwrap()
            .to_owned();
        s.database.replica_url = Some(SecretString::from(Replica::url(&db)));
        s.database.replica_max_lag_ms = max_lag_ms;
    })
    .await;
    wait_replica(&shop, "serving").await;
    shop
}

/// `/readyz`'s replica detail once its state is `state`; the answer is 200 throughout.
async fn wait_replica(shop: &Shop, state: &str) -> Value {
    let deadline = std::time::Instant::now() + T;
    loop {
        let resp = shop
            .app
            .client
            .get(shop.app.url("/readyz"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status(),
            200,
            "a replica never makes the process unready"
        );
        let body: Value = resp.json().await.unwrap();
        let replica = &body["data"]["replica"];
        if replica["state"] == state {
            return replica.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the replica is not {state}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The WEB program as the catalog answers it (`data`).
async fn web_program(shop: &Shop) -> Value {
    let (status, body) = shop
        .call(
            reqwest::Method::GET,
            &format!("/api/v1/internships/{WEB}"),
            None,
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["data"].clone()
}

async fn web_title(shop: &Shop) -> String {
    web_program(shop).await["title"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn metric(name: &str, labels: &[(&str, &str)]) -> f64 {
    value(
        &checkout::telemetry::metrics_handle().render(),
        name,
        labels,
    )
}

fn routed(pool: &str) -> f64 {
    metric("db_reads_routed_total", &[("pool", pool)])
}

#[tokio::test]
async fn catalog_reads_come_from_the_replica_and_the_owner_reads_their_order_from_the_primary() {
    let Some(_replica) = Replica::take().await else {
        return;
    };
    // a lag limit the paused replica stays under, so it keeps serving while paused
    let shop = shop(600_000).await;
    let before = web_title(&shop).await;
    Replica::sql("select pg_wal_replay_pause()").await;
    sqlx::query("update programs set title = 'Renamed on the primary' where id = $1::uuid")
        .bind(WEB)
        .execute(&shop.app.pool)
        .await
        .unwrap();
    // only the replica, which has not replayed the rename, can still answer the old title
    let from_replica = routed("replica");
    assert_eq!(web_title(&shop).await, before);
    assert!(routed("replica") > from_replica);

    // the owner's own writes and reads go to the primary: their order is there at once,
    // though the replica has not even replayed the rename before it
    let student = shop.student(1).await;
    let cart = shop.cart(&student, &[(WEB, WEB_1M)], None).await;
    let (status, body) = shop.order(&student, &cart, None).await;
    assert!(status == 201 || status == 202, "{status} {body}");
    let order = body["data"]["order_token"].as_str().unwrap();
    let read = shop.get_order(&student, order).await;
    assert_eq!(read["order_token"], order);
    assert_eq!(web_title(&shop).await, before, "still paused");

    Replica::sql("select pg_wal_replay_resume()").await;
    let renamed = eventually(T, || async {
        (web_title(&shop).await == "Renamed on the primary").then_some(())
    })
    .await;
    assert!(renamed.is_some(), "the replica replays the rename");
}

#[tokio::test]
async fn a_stopped_replica_is_bypassed_without_failing_a_read_and_comes_back_by_itself() {
    let Some(_replica) = Replica::take().await else {
        return;
    };
    let shop = shop(1_000).await;
    assert_eq!(metric("db_replica_up", &[]), 1.0);

    // the catalog read over and over while the replica goes away and comes back
    let stop = tokio_util::sync::CancellationToken::new();
    let reads = {
        let (client, url, stop) = (
            shop.app.client.clone(),
            shop.app.url("/api/v1/internships"),
            stop.clone(),
        );
        tokio::spawn(async move {
            let mut statuses = Vec::new();
            while !stop.is_cancelled() {
                statuses.push(client.get(&url).send().await.unwrap().status().as_u16());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            statuses
        })
    };

    script_async("stop").await;
    let bypassed = wait_replica(&shop, "bypassed").await;
    assert_eq!(bypassed["reason"], "unreachable", "{bypassed}");
    assert_eq!(metric("db_replica_up", &[]), 0.0);
    assert_eq!(metric("db_replica_serving", &[]), 0.0);
    let from_primary = routed("primary");
    assert!(!web_title(&shop).await.is_empty());
    assert!(routed("primary") > from_primary, "the primary answers");

    script_async("start").await;
    wait_replica(&shop, "serving").await;
    assert_eq!(metric("db_replica_up", &[]), 1.0);
    let from_replica = routed("replica");
    web_title(&shop).await;
    assert!(routed("replica") > from_replica, "back on the replica");

    stop.cancel();
    let statuses = reads.await.unwrap();
    assert!(statuses.len() > 10, "{} reads", statuses.len());
    assert!(
        statuses.iter().all(|s| *s == 200),
        "every read answered: {statuses:?}"
    );
}

#[tokio::test]
async fn a_paused_replica_lagging_past_the_limit_is_bypassed_until_it_catches_up() {
    let Some(_replica) = Replica::take().await else {
        return;
    };
    let shop = shop(1_000).await;
    let from_primary = routed("primary");
    Replica::sql("select pg_wal_replay_pause()").await;
    // WAL the replica does not replay
    sqlx::query("update programs set description = 'changed' where id = $1::uuid")
        .bind(WEB)
        .execute(&shop.app.pool)
        .await
        .unwrap();
    let lagging = wait_replica(&shop, "bypassed").await;
    assert_eq!(lagging["reason"], "lagging", "{lagging}");
    // past the limit: over 1000 ms, which may read 1000 in whole milliseconds
    assert!(lagging["lag_ms"].as_u64().unwrap() >= 1_000, "{lagging}");
    assert!(metric("db_replica_lag_seconds", &[]) > 1.0);
    assert_eq!(metric("db_replica_up", &[]), 1.0, "up, but behind");
    // the catalog, from the primary: the change is there
    assert_eq!(web_program(&shop).await["description"], "changed");
    assert!(routed("primary") > from_primary);

    Replica::sql("select pg_wal_replay_resume()").await;
    let serving = wait_replica(&shop, "serving").await;
    assert!(serving["lag_ms"].as_u64().unwrap() <= 1_000, "{serving}");
}
