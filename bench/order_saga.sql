-- pgbench baseline: the shape of the writes that start a checkout (POST /order):
-- insert the order, insert its saga row, advance the saga, in one transaction.
-- Run by bench/run with `pgbench -n -M prepared -f bench/order_saga.sql`.
\set total random(100000, 5000000)
begin;
insert into bench_orders (status, total, billing_address) values ('pending', :total, '{"country":"IN","state":"MH"}') returning id \gset
insert into bench_sagas (order_id, step) values (:id, 'price');
update bench_sagas set step = 'reserve', attempts = attempts + 1, updated_at = now() where order_id = :id;
commit;
