//! Rows for scheduler and admin tests, inserted with SQL: users, carts, orders in a
//! chosen state with their saga, payments, holds and jobs.

use chrono::{DateTime, Duration, Utc};
use sqlx::PgPool;
use uuid::Uuid;

pub async fn user(pool: &PgPool) -> Uuid {
    let id = Uuid::now_v7();
    sqlx::query("insert into users (id, email, name) values ($1, $2, 'Asha')")
        .bind(id)
        .bind(format!("{}@example.com", id.simple()))
        .execute(pool)
        .await
        .unwrap();
    id
}

/// An order in `status` with its saga at `step` in `state`, on a converted cart of a
/// new user, priced at `total` INR paise. Returns (order id, order token).
pub async fn order(
    pool: &PgPool,
    status: &str,
    step: &str,
    state: &str,
    total: i64,
) -> (Uuid, String) {
    let user = user(pool).await;
    let id = Uuid::now_v7();
    let token = format!("ord{}", Uuid::new_v4().simple());
    let cart = format!("cart{}", Uuid::new_v4().simple());
    sqlx::query(
        "insert into carts (id, token, user_id, status, expires_at)
         values ($1, $2, $3, 'converted', now() + interval '1 day')",
    )
    .bind(Uuid::now_v7())
    .bind(&cart)
    .bind(user)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "insert into orders (id, order_token, user_id, cart_token, status, billing_address,
                             currency, subtotal, discount, tax, total)
         values ($1, $2, $3, $4, $5, '{\"country\":\"IN\",\"state\":\"KA\"}', 'INR', $6, 0, 0, $6)",
    )
    .bind(id)
    .bind(&token)
    .bind(user)
    .bind(&cart)
    .bind(status)
    .bind(total)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query("insert into sagas (order_id, step, state) values ($1, $2, $3)")
        .bind(id)
        .bind(step)
        .bind(state)
        .execute(pool)
        .await
        .unwrap();
    (id, token)
}

/// Makes a saga look unchanged since `ago`.
pub async fn age_saga(pool: &PgPool, order_id: Uuid, ago: Duration) {
    sqlx::query("alter table sagas disable trigger sagas_updated_at")
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("update sagas set updated_at = $2 where order_id = $1")
        .bind(order_id)
        .bind(Utc::now() - ago)
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("alter table sagas enable trigger sagas_updated_at")
        .execute(pool)
        .await
        .unwrap();
}

/// A payment session on the sandbox's Razorpay: `status`, `captured` of `amount`.
pub async fn payment(
    pool: &PgPool,
    order_id: Uuid,
    status: &str,
    amount: i64,
    captured: i64,
    expires_at: DateTime<Utc>,
) -> Uuid {
    let id = Uuid::now_v7();
    sqlx::query(
        "insert into payments (id, payment_token, order_id, gateway, gateway_order_id, amount,
                               currency, status, gateway_payment_id, captured_amount, expires_at)
         values ($1, $2, $3, 'razorpay', $4, $5, 'INR', $6, $7, $8, $9)",
    )
    .bind(id)
    .bind(format!("pay{}", Uuid::new_v4().simple()))
    .bind(order_id)
    .bind(format!("order_{}", id.simple()))
    .bind(amount)
    .bind(status)
    .bind((captured > 0).then(|| format!("pay_{}", id.simple())))
    .bind(captured)
    .bind(expires_at)
    .execute(pool)
    .await
    .unwrap();
    id
}

/// A seat held in `cohort` (counter included), expiring at `expires_at`.
pub async fn hold(pool: &PgPool, order_id: Uuid, cohort: Uuid, expires_at: DateTime<Utc>) {
    sqlx::query("update cohorts set seats_held = seats_held + 1 where id = $1")
        .bind(cohort)
        .execute(pool)
        .await
        .unwrap();
    sqlx::query(
        "insert into seat_holds (id, order_id, cohort_id, program_id, expires_at)
         select $1, $2, id, program_id, $4 from cohorts where id = $3",
    )
    .bind(Uuid::now_v7())
    .bind(order_id)
    .bind(cohort)
    .bind(expires_at)
    .execute(pool)
    .await
    .unwrap();
}

/// Enqueues `job` like the app does; returns its apalis id.
pub async fn job(pool: &PgPool, job: &checkout::workflows::jobs::Job, key: &str) -> String {
    let mut tx = pool.begin().await.unwrap();
    let options = checkout::workers::EnqueueOptions {
        idempotency_key: Some(key.to_owned()),
        ..Default::default()
    };
    assert!(
        checkout::workers::enqueue(&mut tx, job, options)
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();
    sqlx::query_scalar("select id from apalis.jobs where idempotency_key = $1")
        .bind(key)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Live (Pending) step jobs of an order whose key contains `part`.
pub async fn step_jobs(pool: &PgPool, order_id: Uuid, part: &str) -> Vec<String> {
    sqlx::query_scalar(
        "select idempotency_key from apalis.jobs
         where idempotency_key like $1 || '%' and idempotency_key like '%' || $2 || '%'
         order by idempotency_key",
    )
    .bind(order_id.to_string())
    .bind(part)
    .fetch_all(pool)
    .await
    .unwrap()
}
