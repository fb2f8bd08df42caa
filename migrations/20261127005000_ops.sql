-- Operations: the admin audit trail, and indexes the scheduler's cron jobs need to
-- work through large backlogs in small batches.

-- Every admin action that changes money or state, written in the same transaction as
-- the change. `request_key` is the action's idempotency key: running the same command
-- again finds it here and changes nothing.
create table admin_audit (
    id          bigint generated always as identity primary key,
    -- who ran it ($USER or --actor)
    actor       text not null,
    -- e.g. jobs.retry, orders.refund, coupons.disable
    action      text not null,
    -- what it acted on: a job id, order token, coupon code, ...
    target      text not null,
    request_key text not null unique,
    before      jsonb,
    after       jsonb,
    created_at  timestamptz not null default now()
);

create index admin_audit_target on admin_audit (target, created_at);

-- cart cleanup deletes finished carts by age
create index carts_finished on carts (updated_at) where status in ('expired', 'merged');
-- ... and must find carts merged into one it is about to delete (the FK is not indexed)
create index carts_merged_into on carts (merged_into) where merged_into is not null;

-- prune: apalis never deletes done jobs and has no index on their age
create index if not exists jobs_done_at on apalis.jobs (done_at) where status = 'Done';

-- prune: webhook events by age whatever their status
create index webhook_events_received on webhook_events (received_at);

-- prune: used refresh tokens by the time of use
create index refresh_tokens_used on refresh_tokens (used_at) where used_at is not null;

-- prune: login attempts by age (the existing indexes lead with account or address)
create index login_attempts_at on login_attempts (attempted_at);
