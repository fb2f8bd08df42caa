-- Carts and their items.

create table carts (
    id             uuid primary key,
    -- the bearer capability clients hold: 256 random bits, base64url, never derived
    -- from time or the id (which other tables may reference without leaking the token)
    token          text not null unique check (length(token) >= 22),
    -- set when a student logs in to the cart (ownership is checked in carts::load_cart)
    user_id        uuid,
    -- draft: no items; active: has items; expired: past expires_at (set by the cleanup
    -- cron, but expires_at alone already makes the API answer 1002); converted: an
    -- order was made from it, read-only
    status         text not null default 'draft'
        check (status in ('draft', 'active', 'expired', 'converted')),
    currency       text not null default 'INR' check (currency ~ '^[A-Z]{3}$'),
    sale_id        uuid references sales (id),
    coupon_code    text references coupons (code) on update cascade,
    device_id      text check (length(device_id) <= 255),
    -- events sent by the storefront with cart requests, appended in order
    analytics_data jsonb not null default '[]' check (jsonb_typeof(analytics_data) = 'array'),
    -- the last pricing computed on a write; a cache for operators, never trusted:
    -- every read and write prices again from the catalog
    pricing        jsonb,
    expires_at     timestamptz not null,
    created_at     timestamptz not null default now(),
    updated_at     timestamptz not null default now(),
    -- bumped by every write, so a client can tell that its copy is stale
    version        bigint not null default 1
);
create index carts_expiry on carts (expires_at) where status in ('draft', 'active');
create index carts_user on carts (user_id) where user_id is not null;
create index carts_device on carts (device_id) where device_id is not null;
create trigger carts_updated_at before update on carts
    for each row execute function set_updated_at();

create table cart_items (
    -- uuid v7, so ordering by id is the order items were added
    id         uuid primary key,
    cart_id    uuid not null references carts (id) on delete cascade,
    program_id uuid not null references programs (id),
    plan_id    uuid not null,
    -- the cohort the student picked, if any; seats are held by the order, not here
    cohort_id  uuid,
    quantity   int not null check (quantity > 0),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    -- adding the same program and plan again raises the quantity instead
    unique (cart_id, program_id, plan_id),
    -- the plan and cohort must belong to the item's program
    foreign key (plan_id, program_id) references plans (id, program_id),
    foreign key (cohort_id, program_id) references cohorts (id, program_id)
);
create trigger cart_items_updated_at before update on cart_items
    for each row execute function set_updated_at();
