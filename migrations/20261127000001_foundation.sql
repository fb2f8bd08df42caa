-- Foundation: shared helpers and the system.ping queue's ledger.

-- Keeps updated_at honest on every table that has one (attach per table).
create or replace function set_updated_at() returns trigger as $$
begin
    new.updated_at = now();
    return new;
end;
$$ language plpgsql;

-- One row per system.ping job: proves end to end that a job enqueued by one process is
-- run by a worker process, and counts runs (a job killed mid-run is run again).
create table system_pings (
    id          uuid primary key,
    enqueued_at timestamptz not null default now(),
    started_at  timestamptz,
    finished_at timestamptz,
    runs        int not null default 0,
    -- worker name of the last run, so tests can tell which process finished it
    ran_by      text
);
