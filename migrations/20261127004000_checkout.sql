-- The durable checkout: orders, their saga, seat holds, payments, refunds,
-- enrollments, gateway webhook events and the outbox.

-- An order: the frozen result of a cart. Amounts are minor units of `currency`, copied
-- from the immutable price snapshot by the `price` step (null until then).
create table orders (
    id              uuid primary key,
    -- bearer capability for the order page: >= 128 random bits, never time-ordered
    order_token     text not null unique,
    user_id         uuid not null references users (id),
    cart_token      text not null,
    status          text not null default 'pending' check (status in
        ('pending', 'awaiting_payment', 'paid', 'enrolled', 'failed', 'expired', 'cancelled', 'refunded')),
    currency        text,
    subtotal        bigint,
    discount        bigint,
    tax             bigint,
    total           bigint check (total is null or total >= 0),
    price_snapshot  jsonb,
    billing_address jsonb not null,
    coupon_code     text,
    -- the gateway the buyer asked for first, if any (else the configured order)
    gateway         text,
    return_url      text,
    cancel_url      text,
    -- why a failed/expired/cancelled/refunded order ended, for the student and support
    failure_code    int,
    failure_reason  text,
    -- the last failed payment attempt's reason (the order still awaits payment)
    last_payment_error text,
    correlation_id  text,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now()
);

-- One order per cart: 50 concurrent POST /order for one cart make one order.
create unique index orders_one_per_cart on orders (cart_token);
create index orders_user on orders (user_id, created_at desc);
create index orders_status on orders (status, updated_at);

create trigger orders_updated_at before update on orders
    for each row execute function set_updated_at();

-- The saga row: the truth about where a checkout stands. `attempts` counts runs of the
-- current step (reset when the saga advances); delayed retries are new jobs.
create table sagas (
    order_id      uuid primary key references orders (id),
    step          text not null,
    state         text not null default 'running' check (state in
        ('running', 'waiting', 'completed', 'compensating', 'compensated')),
    attempts      int not null default 0,
    last_error    text,
    -- when the current step is due to be done by (stuck detection)
    deadline_at   timestamptz,
    created_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now()
);

create index sagas_active on sagas (state, updated_at) where state in ('running', 'compensating');

create trigger sagas_updated_at before update on sagas
    for each row execute function set_updated_at();

-- The step timeline shown by GET /order and `admin orders show`.
create table saga_steps (
    id          bigserial primary key,
    order_id    uuid not null references orders (id),
    step        text not null,
    attempt     int not null,
    outcome     text not null check (outcome in ('succeeded', 'retrying', 'failed', 'waiting', 'skipped')),
    error       text,
    started_at  timestamptz not null,
    finished_at timestamptz not null default clock_timestamp()
);

create index saga_steps_order on saga_steps (order_id, id);

-- A seat held in a cohort for an order while it is being paid. The cohort's counters
-- change in the same transaction as the hold's status, so they always agree.
create table seat_holds (
    id          uuid primary key,
    order_id    uuid not null references orders (id),
    cohort_id   uuid not null,
    program_id  uuid not null,
    status      text not null default 'held' check (status in ('held', 'converted', 'released')),
    expires_at  timestamptz not null,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now(),
    unique (order_id, cohort_id)
);

create index seat_holds_expiring on seat_holds (expires_at) where status = 'held';

create trigger seat_holds_updated_at before update on seat_holds
    for each row execute function set_updated_at();

-- Every payment session created for an order, on any gateway (a failover can leave
-- more than one; each is tracked so a payment on any of them is seen and handled).
create table payments (
    id                 uuid primary key,
    -- bearer capability used by the client's signed callback: >= 128 random bits
    payment_token      text not null unique,
    order_id           uuid not null references orders (id),
    gateway            text not null check (gateway in ('razorpay', 'stripe')),
    gateway_order_id   text not null,
    checkout_url       text,
    client_params      jsonb not null default '{}',
    amount             bigint not null check (amount > 0),
    currency           text not null,
    status             text not null default 'created' check (status in
        ('created', 'captured', 'failed', 'expired', 'cancelled', 'refunded', 'partially_refunded')),
    gateway_payment_id text,
    captured_amount    bigint not null default 0,
    refunded_amount    bigint not null default 0 check (refunded_amount <= captured_amount),
    -- amount or currency captured differed from the order's: refunded, never enrolled
    flagged            text,
    expires_at         timestamptz not null,
    created_at         timestamptz not null default now(),
    updated_at         timestamptz not null default now(),
    unique (gateway, gateway_order_id)
);

create index payments_order on payments (order_id);
create index payments_open on payments (expires_at) where status = 'created';

create trigger payments_updated_at before update on payments
    for each row execute function set_updated_at();

-- Refunds. A refund is decided (and this row written) in the transaction that finds
-- it owed, then a job asks the gateway with the row's idempotency key, so a retried or
-- re-run job refunds once. `payment_id` is null for a payment we never tracked as a
-- session (a second capture on one session).
create table refunds (
    id                 uuid primary key,
    order_id           uuid not null references orders (id),
    payment_id         uuid references payments (id),
    gateway            text not null,
    gateway_payment_id text not null,
    amount             bigint not null check (amount > 0),
    currency           text not null,
    reason             text not null,
    idempotency_key    text not null unique,
    gateway_refund_id  text,
    status             text not null default 'requested' check (status in ('requested', 'processed', 'failed')),
    attempts           int not null default 0,
    last_error         text,
    created_at         timestamptz not null default now(),
    updated_at         timestamptz not null default now()
);

create index refunds_order on refunds (order_id);

create trigger refunds_updated_at before update on refunds
    for each row execute function set_updated_at();

-- The coupon use an order took, so giving it back happens once.
create table coupon_redemptions (
    order_id   uuid primary key references orders (id),
    code       text not null,
    user_id    uuid not null,
    status     text not null default 'used' check (status in ('used', 'returned')),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

-- A student enrolled in a cohort. Unique per user and cohort: enrolling is an upsert.
create table enrollments (
    id          uuid primary key,
    user_id     uuid not null references users (id),
    cohort_id   uuid not null,
    program_id  uuid not null,
    order_id    uuid not null references orders (id),
    created_at  timestamptz not null default now(),
    unique (user_id, cohort_id)
);

create index enrollments_order on enrollments (order_id);

-- Every webhook delivery we accepted (signature verified) or rejected (kept for audit
-- only). Unique per gateway event id; also per payment and status, because gateways
-- send the same fact under several event ids (payment.captured and order.paid).
create table webhook_events (
    id                 uuid primary key,
    gateway            text not null,
    event_id           text,
    event_type         text,
    gateway_order_id   text,
    gateway_payment_id text,
    payment_status     text,
    order_id           uuid references orders (id),
    status             text not null check (status in ('received', 'processed', 'ignored', 'unmatched', 'rejected')),
    error              text,
    payload            jsonb,
    received_at        timestamptz not null default now(),
    processed_at       timestamptz
);

create unique index webhook_events_once on webhook_events (gateway, event_id)
    where status <> 'rejected';
create unique index webhook_events_fact_once on webhook_events (gateway, gateway_payment_id, payment_status)
    where status <> 'rejected' and gateway_payment_id is not null;
create index webhook_events_status on webhook_events (status, received_at);

-- Events of the checkout, written in the same transaction as the state change they
-- describe, for a publisher to relay (outbox pattern).
create table outbox_events (
    id           bigserial primary key,
    order_id     uuid references orders (id),
    event_type   text not null,
    payload      jsonb not null,
    created_at   timestamptz not null default now(),
    published_at timestamptz
);

create index outbox_unpublished on outbox_events (id) where published_at is null;
