//! Authorizations we released instead of capturing (`authorization_releases`).

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::ledger::{self, Entry, Kind};

pub struct NewRelease<'a> {
    pub order_id: Uuid,
    pub payment_id: Option<Uuid>,
    pub gateway: &'a str,
    pub gateway_payment_id: &'a str,
    pub amount: i64,
    pub currency: &'a str,
    /// `voided` or `left_to_lapse`.
    pub outcome: &'a str,
    pub reason: &'a str,
}

#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct Release {
    pub gateway: String,
    pub gateway_payment_id: String,
    pub amount: i64,
    pub currency: String,
    pub outcome: String,
    pub reason: String,
    pub created_at: DateTime<Utc>,
}

/// Records a release once per gateway payment, with its ledger row (no money moved: an
/// authorization is never ours until captured); returns whether it is new.
pub async fn record(conn: &mut PgConnection, r: &NewRelease<'_>) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "insert into authorization_releases (id, order_id, payment_id, gateway,
                    gateway_payment_id, amount, currency, outcome, reason)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         on conflict (gateway, gateway_payment_id) do nothing",
        Uuid::now_v7(),
        r.order_id,
        r.payment_id,
        r.gateway,
        r.gateway_payment_id,
        r.amount,
        r.currency,
        r.outcome,
        r.reason,
    )
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if done {
        let after = serde_json::json!({"status": r.outcome, "gateway": r.gateway,
            "gateway_payment_id": r.gateway_payment_id, "amount": r.amount,
            "session": r.payment_id, "reason": r.reason});
        let entry = Entry::about("payment", r.gateway_payment_id, Kind::PaymentVoided)
            .for_order(r.order_id)
            .currency(Some(r.currency))
            .before(serde_json::json!({"status": "authorized"}))
            .after(after);
        ledger::append(conn, &entry).await?;
    }
    Ok(done)
}

pub async fn for_order(conn: &mut PgConnection, order_id: Uuid) -> sqlx::Result<Vec<Release>> {
    sqlx::query_as!(
        Release,
        "select gateway, gateway_payment_id, amount, currency, outcome, reason, created_at
           from authorization_releases where order_id = $1 order by created_at",
        order_id
    )
    .fetch_all(conn)
    .await
}
