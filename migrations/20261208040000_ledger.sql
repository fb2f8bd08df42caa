-- The money ledger: one row per money movement and per state change of an order, a
-- payment, a refund, a coupon or a price, written in the transaction of the change.
-- `admin_audit` stays the record of operator commands and `outbox_events` the
-- integration feed (pruned once published); this table is never changed nor pruned.
create table ledger (
    -- the order of rows written in one transaction (they share `at`)
    id             bigint generated always as identity primary key,
    -- transaction time: every row of one change carries the same instant
    at             timestamptz not null default now(),
    aggregate_type text not null
        check (aggregate_type in ('order', 'payment', 'refund', 'coupon', 'plan')),
    -- the order's, payment's or refund's uuid, a coupon's code, a plan's uuid
    aggregate_id   text not null,
    -- set on every row about an order, so an order's story is one index scan
    order_id       uuid,
    kind           text not null check (kind in (
        'opening_balance', 'order_created', 'price_frozen', 'order_status_changed',
        'coupon_redeemed', 'coupon_given_back', 'payment_session_created',
        'payment_session_closed', 'payment_authorized', 'payment_captured',
        'payment_failed', 'payment_voided', 'refund_requested', 'refund_pending',
        'refund_processed', 'refund_failed', 'refund_retried', 'price_changed',
        'coupon_changed')),
    -- the money this row moves, in minor units: + captured, - refunded, 0 for state
    amount_minor   bigint not null default 0,
    currency       text,
    before         jsonb,
    after          jsonb,
    -- who: a job (queue, id, key), a webhook event, an operator, an API caller
    actor_type     text not null check (actor_type in ('system', 'webhook', 'admin', 'api')),
    actor          text not null,
    correlation_id text
);

create index ledger_order on ledger (order_id, id) where order_id is not null;
create index ledger_aggregate on ledger (aggregate_type, aggregate_id, id);

create function ledger_append_only() returns trigger language plpgsql as $$
begin
    raise exception 'the ledger is append-only: % is not allowed', tg_op
        using errcode = 'restrict_violation';
end $$;

create trigger ledger_no_update before update or delete on ledger
    for each row execute function ledger_append_only();
create trigger ledger_no_truncate before truncate on ledger
    for each statement execute function ledger_append_only();

-- Orders from before the ledger start from what they hold now, so the consistency
-- check (ledger sum = captured - processed refunds) holds for them too.
insert into ledger (at, aggregate_type, aggregate_id, order_id, kind, amount_minor, currency,
                    after, actor_type, actor, correlation_id)
select now(), 'order', o.id::text, o.id, 'opening_balance', m.captured - m.refunded, o.currency,
       jsonb_build_object('status', o.status, 'captured', m.captured, 'refunded', m.refunded),
       'system', 'migration 20261208040000', o.correlation_id
  from orders o
  cross join lateral (
      select coalesce((select sum(captured_amount) from payments p where p.order_id = o.id), 0)
           + coalesce((select sum(amount) from refunds r
                        where r.order_id = o.id and r.payment_id is null), 0) as captured,
             coalesce((select sum(amount) from refunds r
                        where r.order_id = o.id and r.status = 'processed'), 0) as refunded
  ) m;
