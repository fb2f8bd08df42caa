-- Tables for bench/order_saga.sql (a separate database: the baseline never touches ours).
drop table if exists bench_sagas;
drop table if exists bench_orders;
create table bench_orders (
    id              bigserial primary key,
    status          text not null,
    total           bigint not null,
    billing_address jsonb not null,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now()
);
create index bench_orders_status on bench_orders (status, updated_at);
create table bench_sagas (
    order_id   bigint primary key references bench_orders (id),
    step       text not null,
    attempts   int not null default 0,
    updated_at timestamptz not null default now()
);
