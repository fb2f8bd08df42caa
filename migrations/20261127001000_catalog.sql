-- Catalog: internship programs, their plans (billing periods with a price) and cohorts
-- (start dates with a seat capacity). Written by `checkout admin catalog import`, read
-- by the storefront API and by cart pricing.

create table programs (
    id          uuid primary key,
    -- the URL name; `GET /api/v1/internships/{id}` accepts it as well as the id
    slug        text not null unique check (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
    title       text not null check (btrim(title) <> ''),
    description text not null default '',
    -- archived programs stay readable (old carts and orders refer to them) but cannot
    -- be added to a cart
    status      text not null default 'active' check (status in ('active', 'archived')),
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now()
);
create trigger programs_updated_at before update on programs
    for each row execute function set_updated_at();

create table plans (
    id            uuid primary key,
    program_id    uuid not null references programs (id),
    period_value  int not null check (period_value between 1 and 120),
    period_unit   text not null check (period_unit in ('month', 'year')),
    -- catalog prices are INR paise; other currencies are converted at pricing time
    price_minor   bigint not null check (price_minor >= 0),
    currency      text not null default 'INR' check (currency = 'INR'),
    -- whether price_minor already contains GST (then the tax is backed out of it)
    tax_inclusive boolean not null default false,
    created_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now(),
    -- a cart item may name "program + period" instead of a plan id, so it must be unique
    unique (program_id, period_value, period_unit),
    -- lets cart_items prove its plan belongs to its program
    unique (id, program_id)
);
create index plans_program on plans (program_id);
create trigger plans_updated_at before update on plans
    for each row execute function set_updated_at();

create table cohorts (
    id          uuid primary key,
    program_id  uuid not null references programs (id),
    starts_on   date not null,
    capacity    int not null check (capacity >= 0),
    -- seats held by orders in flight and seats taken by enrolments. The seat-hold step
    -- changes them with one guarded update (`... set seats_held = seats_held + 1 where
    -- seats_held + seats_taken < capacity`); the check below makes overselling
    -- impossible even for a query that forgets the guard.
    seats_held  int not null default 0 check (seats_held >= 0),
    seats_taken int not null default 0 check (seats_taken >= 0),
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now(),
    constraint cohorts_seats_within_capacity check (seats_held + seats_taken <= capacity),
    -- the import's natural key when a cohort has no id
    unique (program_id, starts_on),
    unique (id, program_id)
);
create trigger cohorts_updated_at before update on cohorts
    for each row execute function set_updated_at();
