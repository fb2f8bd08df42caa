-- Refunds as the gateways move them: `requested` (decided, the gateway not asked yet or
-- asked again after a failure) -> `pending` (the gateway accepted it, the money has not
-- moved) -> `processed` (it went back) or `failed` (it did not and will not be retried
-- by itself: raised to an operator). A failure the gateway allows to be retried goes
-- back to `requested` with the next `generation`, whose gateway idempotency key differs
-- (the same key would only replay the failed refund).
alter table refunds drop constraint refunds_status_check;
alter table refunds add constraint refunds_status_check
    check (status in ('requested', 'pending', 'processed', 'failed'));
alter table refunds
    add column generation    int not null default 0,
    -- reads of the gateway while pending, for the backoff
    add column polls         int not null default 0,
    -- when the scheduled read runs; a read woken sooner (a webhook) schedules none
    add column next_check_at timestamptz,
    -- the gateway's reason for the last failure (Stripe `failure_reason`)
    add column failure_reason text,
    add column settled_at    timestamptz;

create index refunds_unsettled on refunds (created_at) where status in ('requested', 'pending');
create index refunds_gateway_payment on refunds (gateway, gateway_payment_id);

-- Authorizations we did not capture (the order could no longer be fulfilled, or the
-- amount differed): Stripe cancels the PaymentIntent (`voided`); Razorpay has no void,
-- the authorization lapses and Razorpay returns the money by itself (`left_to_lapse`).
-- One row per gateway payment, so a re-run releases once; operators see them.
create table authorization_releases (
    id                 uuid primary key,
    order_id           uuid not null references orders (id),
    payment_id         uuid references payments (id),
    gateway            text not null,
    gateway_payment_id text not null,
    amount             bigint not null,
    currency           text not null,
    outcome            text not null check (outcome in ('voided', 'left_to_lapse')),
    reason             text not null,
    created_at         timestamptz not null default now(),
    unique (gateway, gateway_payment_id)
);

create index authorization_releases_order on authorization_releases (order_id);
