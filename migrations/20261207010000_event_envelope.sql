-- The outbox as a versioned event catalog. Each event names its aggregate (an order, or
-- a cart: carts have no order) and carries a per-aggregate sequence, assigned from a
-- counter on the aggregate's row (`event_seq`) by the statement that writes the event:
-- the counter's update takes the row lock, so sequences of one aggregate are gapless
-- and in commit order, and consumers can order by them. `event_id` is the envelope id,
-- stable across redeliveries. `dedupe_key` makes an event recorded once per fact (a
-- gateway payment seen authorized or failed by several runs).
alter table orders add column event_seq bigint not null default 0;
alter table carts add column event_seq bigint not null default 0;

alter table outbox_events
    add column event_id       uuid,
    add column aggregate_type text,
    add column aggregate_id   uuid,
    add column sequence       bigint,
    add column correlation_id text,
    add column dedupe_key     text;

update outbox_events e
   set event_id = gen_random_uuid(),
       aggregate_type = 'order',
       aggregate_id = e.order_id,
       sequence = n.seq,
       correlation_id = o.correlation_id
  from (select id, row_number() over (partition by order_id order by id) seq from outbox_events) n,
       orders o
 where n.id = e.id and o.id = e.order_id;
delete from outbox_events where aggregate_id is null;
update orders o set event_seq = coalesce((select max(sequence) from outbox_events e
                                           where e.aggregate_type = 'order' and e.aggregate_id = o.id), 0);

alter table outbox_events
    alter column event_id set not null,
    alter column aggregate_type set not null,
    alter column aggregate_id set not null,
    alter column sequence set not null,
    add constraint outbox_aggregate_type check (aggregate_type in ('order', 'cart'));

create unique index outbox_event_id on outbox_events (event_id);
create unique index outbox_aggregate_sequence on outbox_events (aggregate_type, aggregate_id, sequence);
create unique index outbox_dedupe on outbox_events (aggregate_type, aggregate_id, event_type, dedupe_key)
    where dedupe_key is not null;
