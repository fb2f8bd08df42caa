-- Coupons (with their usage counters), sales and FX rates: the other inputs of pricing.

create table coupons (
    -- stored normalised (trimmed, uppercase; domain::coupon::normalize_code), so the
    -- primary key makes codes unique case-insensitively
    code             text primary key check (code = upper(btrim(code)) and code <> ''),
    description      text not null default '',
    kind             text not null check (kind in ('percent', 'fixed')),
    -- percentage points (10 = 10 %) for percent coupons, INR paise for fixed ones
    percent          numeric(7, 4) check (percent > 0 and percent <= 100),
    fixed_minor      bigint check (fixed_minor > 0),
    min_subtotal     bigint check (min_subtotal >= 0),
    max_discount     bigint check (max_discount >= 0),
    valid_from       timestamptz,
    valid_until      timestamptz,
    -- null = unlimited
    global_limit     int check (global_limit >= 0),
    per_user_limit   int check (per_user_limit >= 0),
    program_ids      uuid[] not null default '{}',
    plan_ids         uuid[] not null default '{}',
    first_order_only boolean not null default false,
    active           boolean not null default true,
    -- shown by GET /cart/{token}/discounts; unlisted codes are only known to whoever
    -- was given them
    listed           boolean not null default false,
    -- redemptions so far; changed only by store::coupons::use_one / give_back with a
    -- single guarded update, so concurrent orders can never exceed global_limit
    used_count       int not null default 0 check (used_count >= 0),
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now(),
    check ((kind = 'percent') = (percent is not null)),
    check ((kind = 'fixed') = (fixed_minor is not null)),
    check (valid_until is null or valid_from is null or valid_until > valid_from)
);
create index coupons_listed on coupons (code) where listed and active;
create trigger coupons_updated_at before update on coupons
    for each row execute function set_updated_at();

-- Per-user redemptions of a coupon (per_user_limit); one row per coupon and user.
create table coupon_user_uses (
    code       text not null references coupons (code) on update cascade,
    user_id    uuid not null,
    used_count int not null check (used_count >= 0),
    updated_at timestamptz not null default now(),
    primary key (code, user_id)
);
create trigger coupon_user_uses_updated_at before update on coupon_user_uses
    for each row execute function set_updated_at();

create table sales (
    id          uuid primary key default gen_random_uuid(),
    -- what a campaign link carries (POST /cart {sale_slug})
    slug        text not null unique check (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
    title       text not null default '',
    kind        text not null check (kind in ('percent', 'fixed')),
    percent     numeric(7, 4) check (percent > 0 and percent <= 100),
    fixed_minor bigint check (fixed_minor > 0),
    valid_from  timestamptz,
    valid_until timestamptz,
    active      boolean not null default true,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now(),
    check ((kind = 'percent') = (percent is not null)),
    check ((kind = 'fixed') = (fixed_minor is not null)),
    check (valid_until is null or valid_from is null or valid_until > valid_from)
);
create trigger sales_updated_at before update on sales
    for each row execute function set_updated_at();

-- INR -> quote rates. Rows are never updated in place by pricing: a new rate is a new
-- row with a later as_of, and pricing uses the newest one already in effect, so a price
-- snapshot can always name the rate and date it used.
create table fx_rates (
    base       text not null default 'INR' check (base = 'INR'),
    quote      text not null check (quote ~ '^[A-Z]{3}$' and quote <> 'INR'),
    -- units of quote per 1 INR
    rate       numeric(20, 10) not null check (rate > 0),
    as_of      timestamptz not null,
    created_at timestamptz not null default now(),
    primary key (quote, as_of)
);
