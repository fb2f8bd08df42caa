-- History for `bench/run history`: 1,000,000 finished jobs and 200,000 ended orders,
-- all recent (the run keeps them: the job retention is raised for it), as a system
-- has them after months of work. The orders are expired ones of one user: nothing
-- owed, nothing for `admin check` to question.
with u as (
    insert into users (id, email, name)
    values (gen_random_uuid(), 'history@bench.invalid', 'History')
    returning id
)
insert into orders (id, order_token, user_id, cart_token, status, billing_address,
                    created_at, updated_at)
select gen_random_uuid(), 'history-order-' || n, u.id, 'history-cart-' || n, 'expired',
       '{"country": "IN", "state": "KA"}'::jsonb,
       now() - make_interval(secs => n), now() - make_interval(secs => n)
  from u, generate_series(1, 200000) n;

insert into apalis.jobs (id, job_type, job, status, attempts, max_attempts, run_at,
                         done_at, priority, last_result)
select 'history-' || n, 'checkout.steps', '\x00'::bytea, 'Done', 1, 25,
       now() - make_interval(secs => n / 10.0), now() - make_interval(secs => n / 10.0), 0,
       '{"Ok": null}'::jsonb
  from generate_series(1, 1000000) n;

analyze;
