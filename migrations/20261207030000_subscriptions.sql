-- Webhook subscriptions (docs/events.md, "Webhook subscriptions"): operators register
-- HTTPS endpoints per event type; every event the relay publishes becomes one delivery
-- per matching active subscription, signed per Standard Webhooks and retried with
-- backoff until it succeeds or is dead.
create table webhook_subscriptions (
    id                   uuid primary key,
    url                  text not null,
    -- null: every event type
    event_types          text[],
    description          text,
    -- `whsec_` + base64 of the key; needed in clear to sign
    secret               text not null,
    -- the secret before the last rotation, still signed with until it expires
    previous_secret      text,
    previous_secret_expires_at timestamptz,
    status               text not null default 'active'
                         check (status in ('active', 'disabled')),
    disabled_reason      text,
    -- failed attempts since the last success; reaching the threshold disables
    consecutive_failures integer not null default 0,
    created_at           timestamptz not null default now(),
    updated_at           timestamptz not null default now()
);

create table webhook_deliveries (
    id               uuid primary key,
    subscription_id  uuid not null references webhook_subscriptions (id),
    -- the outbox event's envelope id (`webhook-id`); no foreign key: the outbox is pruned
    event_id         uuid not null,
    event_type       text not null,
    -- the envelope as sent, so a delivery outlives the outbox row
    payload          jsonb not null,
    status           text not null default 'pending'
                     check (status in ('pending', 'succeeded', 'failed', 'dead')),
    attempts         integer not null default 0,
    last_status_code integer,
    last_latency_ms  integer,
    last_error       text,
    -- at most 256 bytes of the endpoint's last answer
    last_response    text,
    next_attempt_at  timestamptz,
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now(),
    unique (subscription_id, event_id)
);

-- `admin subscriptions deliveries` newest first, and `redeliver --since`
create index webhook_deliveries_created on webhook_deliveries (created_at);
create index webhook_deliveries_subscription on webhook_deliveries (subscription_id, created_at);
