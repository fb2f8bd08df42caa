-- History for `bench/run history`: 1,000,000 finished jobs and 200,000 ended orders with
-- everything an order leaves behind (its cart and line, saga and step log, payment
-- session, seat hold, published events, a processed webhook, ledger rows), all recent
-- (the run keeps them: the job retention is raised for it), as a system has them after
-- months of work. The orders are expired ones of one user: nothing owed, nothing for
-- `admin check` to question. Every table the checkout path reads holds history, so
-- the planner sees its real size (a table analyzed empty and then grown in the run
-- would be scanned whole by plans made for an empty table, which no real day 300 has).
-- Triggers and foreign-key checks are off for this session only (bulk load): the rows
-- are written consistent, with the sequences the triggers would have given.
set session_replication_role = replica;

insert into users (id, email, name)
values ('00000000-0000-4000-8000-00000000a11c', 'history@bench.invalid', 'History');

create temporary table h as
select n,
       gen_random_uuid() as order_id,
       gen_random_uuid() as cart_id,
       gen_random_uuid() as payment_id,
       now() - make_interval(secs => n) as at
  from generate_series(1, 200000) n;

insert into orders (id, order_token, user_id, cart_token, status, billing_address,
                    currency, subtotal, discount, tax, total, event_seq, created_at, updated_at)
select order_id, 'history-order-' || n, '00000000-0000-4000-8000-00000000a11c',
       'history-cart-' || lpad(n::text, 9, '0'), 'expired',
       '{"country": "IN", "state": "KA"}'::jsonb, 'INR', 500000, 0, 90000, 590000, 2, at, at
  from h;

insert into carts (id, token, user_id, status, currency, expires_at, created_at, updated_at)
select cart_id, 'history-cart-' || lpad(n::text, 9, '0'), '00000000-0000-4000-8000-00000000a11c',
       'converted', 'INR', at + interval '1 day', at, at
  from h;

insert into cart_items (id, cart_id, program_id, plan_id, cohort_id, quantity, created_at, updated_at)
select gen_random_uuid(), h.cart_id, p.program_id, p.id, null, 1, h.at, h.at
  from h, (select id, program_id from plans order by id limit 1) p;

insert into sagas (order_id, step, state, attempts, created_at, updated_at)
select order_id, 'expire', 'compensated', 0, at, at from h;

insert into saga_steps (order_id, step, attempt, outcome, started_at, finished_at)
select h.order_id, s.step, 1, 'succeeded', h.at, h.at
  from h, unnest(array['price', 'reserve', 'payment_session']) s(step);

insert into payments (id, payment_token, order_id, gateway, gateway_order_id, amount, currency,
                      status, expires_at, created_at, updated_at)
select payment_id, 'history-payment-' || n, order_id, 'razorpay', 'order_history' || n,
       590000, 'INR', 'expired', at + interval '30 minutes', at, at
  from h;

insert into seat_holds (id, order_id, cohort_id, program_id, status, expires_at, created_at, updated_at)
select gen_random_uuid(), h.order_id, c.id, c.program_id, 'released', h.at + interval '30 minutes', h.at, h.at
  from h, (select id, program_id from cohorts order by id limit 1) c;

insert into outbox_events (event_type, payload, created_at, published_at, aggregate_type,
                           aggregate_id, sequence)
select e.event_type, '{}'::jsonb, h.at, h.at, 'order', h.order_id, e.seq
  from h, (values ('order.created', 1), ('order.expired', 2)) e(event_type, seq);

insert into webhook_events (id, gateway, event_id, event_type, gateway_order_id, order_id,
                            status, received_at, processed_at)
select gen_random_uuid(), 'razorpay', 'history-event-' || n, 'payment.failed',
       'order_history' || n, order_id, 'processed', at, at
  from h;

insert into ledger (at, aggregate_type, aggregate_id, order_id, kind, amount_minor, currency,
                    actor_type, actor)
select h.at, 'order', h.order_id::text, h.order_id, k.kind, 0, 'INR', 'system', 'history'
  from h, (values ('order_created'), ('order_status_changed')) k(kind);

insert into apalis.jobs (id, job_type, job, status, attempts, max_attempts, run_at,
                         done_at, priority, last_result)
select 'history-' || n, 'checkout.steps', '\x00'::bytea, 'Done', 1, 25,
       now() - make_interval(secs => n / 10.0), now() - make_interval(secs => n / 10.0), 0,
       '{"Ok": null}'::jsonb
  from generate_series(1, 1000000) n;

reset session_replication_role;
vacuum analyze;
-- the checkpoint of what the load wrote now, not during the measured run
checkpoint;
