//! Coupon usage counters in the store: atomic use and give-back.

use checkout::domain::CouponRefusal;
use checkout::store::coupons::{UseError, give_back, use_one};
use uuid::Uuid;

use crate::fixtures::load_catalog;
use crate::helpers::TestApp;

async fn used(app: &TestApp, code: &str) -> i32 {
    sqlx::query_scalar("select used_count from coupons where code = $1")
        .bind(code)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn limit_one_under_a_hundred_concurrent_uses_gives_exactly_one() {
    let app = TestApp::spawn_with(|s| s.database.max_connections = 20).await;
    load_catalog(&app).await;
    let attempts = (0..100).map(|_| {
        let pool = app.pool.clone();
        tokio::spawn(async move {
            let mut tx = pool.begin().await.unwrap();
            let result = use_one(&mut tx, "once", None).await;
            tx.commit().await.unwrap();
            result
        })
    });
    let results = futures::future::join_all(attempts).await;
    let won = results.iter().filter(|r| matches!(r, Ok(Ok(())))).count();
    let refused = results
        .iter()
        .filter(|r| {
            matches!(
                r,
                Ok(Err(UseError::Refused(CouponRefusal::UsageLimitReached)))
            )
        })
        .count();
    assert_eq!((won, refused), (1, 99));
    assert_eq!(used(&app, "ONCE").await, 1);

    let mut conn = app.pool.acquire().await.unwrap();
    give_back(&mut conn, "ONCE", None).await.unwrap();
    assert_eq!(used(&app, "ONCE").await, 0);
    give_back(&mut conn, "ONCE", None).await.unwrap();
    assert_eq!(used(&app, "ONCE").await, 0, "never below zero");
    use_one(&mut conn, "ONCE", None).await.unwrap();
    assert!(matches!(
        use_one(&mut conn, "NOSUCH", None).await,
        Err(UseError::Refused(CouponRefusal::NotFound { .. }))
    ));
}

#[tokio::test]
async fn per_user_limit_is_atomic_and_leaves_the_global_counter_alone_when_refused() {
    let app = TestApp::spawn().await;
    load_catalog(&app).await;
    let user = Uuid::new_v4();
    let attempts = (0..20).map(|_| {
        let pool = app.pool.clone();
        tokio::spawn(async move {
            let mut conn = pool.acquire().await.unwrap();
            use_one(&mut conn, "PERUSER", Some(user)).await
        })
    });
    let results = futures::future::join_all(attempts).await;
    let won = results.iter().filter(|r| matches!(r, Ok(Ok(())))).count();
    assert_eq!(won, 2, "per_user_limit is 2");
    assert!(results.iter().all(|r| matches!(
        r,
        Ok(Ok(()))
            | Ok(Err(UseError::Refused(CouponRefusal::PerUserLimitReached {
                limit: 2
            })))
    )));
    assert_eq!(
        used(&app, "PERUSER").await,
        2,
        "refused uses were given back"
    );
    let mut conn = app.pool.acquire().await.unwrap();
    use_one(&mut conn, "PERUSER", Some(Uuid::new_v4()))
        .await
        .unwrap();
    give_back(&mut conn, "PERUSER", Some(user)).await.unwrap();
    let mine: i32 =
        sqlx::query_scalar("select used_count from coupon_user_uses where user_id = $1")
            .bind(user)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(mine, 1);
    assert_eq!(used(&app, "PERUSER").await, 2);
}

/// The student's counter is taken first and the coupon's own last (the shared row is
/// locked for less); when the coupon's global limit refuses, the student's use just
/// taken is given back.
#[tokio::test]
async fn a_global_refusal_gives_the_students_use_back() {
    let app = TestApp::spawn().await;
    load_catalog(&app).await;
    let (first, second) = (Uuid::new_v4(), Uuid::new_v4());
    let mut conn = app.pool.acquire().await.unwrap();
    use_one(&mut conn, "ONCE", Some(first)).await.unwrap();
    assert!(matches!(
        use_one(&mut conn, "ONCE", Some(second)).await,
        Err(UseError::Refused(CouponRefusal::UsageLimitReached))
    ));
    let uses: Vec<(Uuid, i32)> =
        sqlx::query_as("select user_id, used_count from coupon_user_uses where code = 'ONCE'")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert!(uses.contains(&(first, 1)), "{uses:?}");
    assert!(
        uses.iter().all(|(u, n)| *u == first || *n == 0),
        "the refused student's use was given back: {uses:?}"
    );
    assert_eq!(used(&app, "ONCE").await, 1);
    assert!(matches!(
        use_one(&mut conn, "NOSUCH", Some(second)).await,
        Err(UseError::Refused(CouponRefusal::NotFound { .. }))
    ));
}
