-- Idempotency-Key records (Stripe semantics, see src/api/idempotency.rs).
-- One row per (caller scope, key): the first request claims it `in_progress`, its
-- response is stored on completion and replayed to retries until `expires_at`.
create table idempotency_keys (
    -- who sent the key (user, bearer-token hash, cart-token hash or client address):
    -- two callers may use the same key without seeing each other's responses
    scope            text not null,
    key              text not null check (length(key) between 1 and 255),
    -- the request the key was first used for; a retry must match all three
    method           text not null,
    path             text not null,
    body_sha256      text not null,
    state            text not null check (state in ('in_progress', 'completed')),
    -- the claim of the request running now; a takeover after a crash replaces it, so
    -- a late completion of the crashed request cannot overwrite the new one
    lock_id          uuid not null,
    locked_at        timestamptz not null default now(),
    response_status  smallint,
    response_type    text,
    response_body    bytea,
    created_at       timestamptz not null default now(),
    expires_at       timestamptz not null,
    primary key (scope, key),
    check (state = 'in_progress' or response_status is not null)
);

-- prune_expired deletes by expiry
create index idempotency_keys_expires_at on idempotency_keys (expires_at);
