//! Pages of order ids awaiting payment, for reconciliation.

use sqlx::PgConnection;
use uuid::Uuid;

/// Orders waiting for payment longer than `older_than_secs` (reconciliation).
pub async fn awaiting_payment_since(
    conn: &mut PgConnection,
    older_than_secs: i64,
    limit: i64,
) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(
        "select id from orders where status = 'awaiting_payment'
           and updated_at < now() - make_interval(secs => $1)
         order by updated_at limit $2",
        older_than_secs as f64,
        limit,
    )
    .fetch_all(conn)
    .await
}

/// A page (ids after `after`, at most `limit`) of orders awaiting payment for longer
/// than `older_than_secs`: reconciliation wakes each one's `confirm`.
pub async fn awaiting_payment_page(
    conn: &mut PgConnection,
    older_than_secs: i64,
    after: Uuid,
    limit: i64,
) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(
        "select id from orders where status = 'awaiting_payment'
           and updated_at < now() - make_interval(secs => $1) and id > $2
         order by id limit $3",
        older_than_secs as f64,
        after,
        limit,
    )
    .fetch_all(conn)
    .await
}

/// A page of orders awaiting payment whose every session has expired (and none was
/// captured): `confirm` asks the gateway a last time and expires them.
pub async fn sessions_expired_page(
    conn: &mut PgConnection,
    after: Uuid,
    limit: i64,
) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(
        "select o.id from orders o
         where o.status = 'awaiting_payment' and o.id > $1
           and exists (select 1 from payments p where p.order_id = o.id)
           and not exists (select 1 from payments p where p.order_id = o.id
                           and (p.status = 'captured'
                                or (p.status = 'created' and p.expires_at > now())))
         order by o.id limit $2",
        after,
        limit,
    )
    .fetch_all(conn)
    .await
}
