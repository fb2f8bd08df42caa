//! Gapless numbers: per series and financial year, under 200 concurrent orders with
//! workers killed while they hold a number, and across 31 March in India.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde_json::json;

use super::*;
use crate::helpers::{Proc, TestApp};
use checkout::domain::invoice::{DocumentKind, Series};
use checkout::store::invoices::take_number;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

async fn take(app: &TestApp, series: &Series, when: DateTime<Utc>, commit: bool) -> String {
    let mut tx = app.pool.begin().await.unwrap();
    let number = take_number(&mut tx, series, when)
        .await
        .unwrap()
        .to_string();
    if commit {
        tx.commit().await.unwrap();
    } else {
        tx.rollback().await.unwrap();
    }
    number
}

/// 31 March 23:59 in India is still the old financial year, 1 April 00:00 starts the
/// new one at 1; invoices and credit notes count apart; a number taken in a
/// transaction that rolls back is taken again by the next document.
#[tokio::test]
async fn the_series_restarts_on_1_april_in_india_and_a_rolled_back_number_is_reused() {
    let app = TestApp::spawn().await;
    let invoices = Series::new("KA", DocumentKind::Invoice).unwrap();
    let credits = Series::new("KA", DocumentKind::CreditNote).unwrap();
    let last_minute = at("2027-03-31T18:29:00Z"); // 23:59 IST
    let new_year = at("2027-03-31T18:30:00Z"); // 00:00 IST, 1 April
    assert_eq!(
        take(&app, &invoices, last_minute, true).await,
        "KA/I2627/000001"
    );
    assert_eq!(
        take(&app, &invoices, last_minute, true).await,
        "KA/I2627/000002"
    );
    assert_eq!(
        take(&app, &credits, last_minute, true).await,
        "KA/C2627/000001"
    );
    assert_eq!(
        take(&app, &invoices, new_year, true).await,
        "KA/I2728/000001"
    );
    assert_eq!(
        take(&app, &invoices, new_year, false).await,
        "KA/I2728/000002"
    );
    assert_eq!(
        take(&app, &invoices, new_year, true).await,
        "KA/I2728/000002"
    );
    assert_eq!(
        take(&app, &credits, new_year, true).await,
        "KA/C2728/000001"
    );
    // a late document of the old year continues the old series
    assert_eq!(
        take(&app, &invoices, last_minute, true).await,
        "KA/I2627/000003"
    );
    let other = Series::new("MH", DocumentKind::Invoice).unwrap();
    assert_eq!(take(&app, &other, new_year, true).await, "MH/I2728/000001");
}

/// Whether a worker's issuing transaction is open, its documents inserted and its
/// number held, not committed (`invoices.pause_before_commit_ms` holds it there).
async fn issuing(shop: &Shop) -> bool {
    shop.count(
        "select count(*) from pg_stat_activity where datname = current_database()
            and state = 'idle in transaction' and query ilike 'insert into invoices%'",
    )
    .await
        > 0
}

/// 200 paid orders at once give invoices numbered 1 to 200, no gap and no duplicate,
/// though the worker processes are SIGKILLed twice while one holds a number it has not
/// committed.
#[tokio::test]
async fn two_hundred_concurrent_orders_are_numbered_without_gaps_though_workers_die_mid_issue() {
    const ORDERS: usize = 200;
    let shop = Shop::start(false, |_| {}).await;
    add_big_program(&shop).await;
    let env = [("CHECKOUT__INVOICES__PAUSE_BEFORE_COMMIT_MS", "30")];
    let mut workers: Vec<Proc> = (0..2).map(|_| shop.spawn_worker(&env)).collect();
    // 20 students, each in 10 cohorts (one enrollment per student and cohort)
    let students: Vec<String> = futures::future::join_all((0..20).map(|n| shop.student(n))).await;
    let address = json!({"country": "IN", "state": "KA"});

    let orders = futures::stream::iter(0..ORDERS)
        .map(|i| {
            let (token, address) = (students[i % 20].clone(), address.clone());
            let cohort = big_cohort((i / 20) as u128);
            let shop = &shop;
            async move {
                let items = json!({"items": [{"internship_id": BIG, "plan_id": BIG_1M,
                                              "cohort_id": cohort}]});
                let (status, cart) = shop
                    .call(
                        reqwest::Method::POST,
                        "/api/v1/cart",
                        Some(&token),
                        Some(items),
                    )
                    .await;
                assert_eq!(status, 201, "{cart}");
                let cart = cart["data"]["token"].as_str().unwrap();
                let order = order_cart(shop, &token, cart, address).await;
                pay(shop, &token, &order).await;
                order
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<String>>();
    let killer = async {
        let mut kills = 0;
        for _ in 0..2 {
            let caught = eventually(Duration::from_secs(120), || async {
                issuing(&shop).await.then_some(())
            })
            .await;
            if caught.is_none() {
                break;
            }
            for w in &mut workers {
                w.kill9();
            }
            kills += 1;
            workers = (0..2).map(|_| shop.spawn_worker(&env)).collect();
        }
        kills
    };
    let (orders, kills) = tokio::join!(orders, killer);
    assert_eq!(kills, 2, "workers were killed while holding a number");
    assert_eq!(orders.len(), ORDERS);

    let all = "select count(*) from invoices where number like 'KA/I%'";
    let reached = eventually(Duration::from_secs(180), || async {
        (shop.count(all).await == ORDERS as i64).then_some(())
    })
    .await;
    assert!(reached.is_some(), "only {} invoices", shop.count(all).await);
    let rows: Vec<(i64, String)> =
        sqlx::query_as("select sequence, number from invoices order by sequence")
            .fetch_all(&shop.app.pool)
            .await
            .unwrap();
    let sequences: Vec<i64> = rows.iter().map(|r| r.0).collect();
    assert_eq!(sequences, (1..=ORDERS as i64).collect::<Vec<_>>());
    for (sequence, number) in &rows {
        assert!(number.ends_with(&format!("/{sequence:06}")), "{number}");
    }
    shop.assert_count(
        "select count(distinct order_id) from invoices",
        ORDERS as i64,
    )
    .await;
    shop.assert_count(
        "select count(*) from document_series where kind = 'invoice' and last_sequence = 200",
        1,
    )
    .await;
    drop(workers);
}
