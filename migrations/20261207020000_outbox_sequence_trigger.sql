-- One place assigns an event its sequence: a trigger on `outbox_events`, so every writer
-- only names the aggregate. It takes the next number of the aggregate's `event_seq`
-- counter (the update holds the aggregate's row lock until commit, so numbers are
-- gapless and in commit order) and, for an order, its correlation id. `order_id`
-- repeated `aggregate_id` for orders and goes.
create function outbox_assign_sequence() returns trigger
language plpgsql as $$
begin
    if new.aggregate_type = 'order' then
        update orders set event_seq = event_seq + 1 where id = new.aggregate_id
        returning event_seq, correlation_id into new.sequence, new.correlation_id;
    elsif new.aggregate_type = 'cart' then
        update carts set event_seq = event_seq + 1 where id = new.aggregate_id
        returning event_seq into new.sequence;
    end if;
    if new.sequence is null then
        raise exception 'outbox event % for a missing % %', new.event_type,
            new.aggregate_type, new.aggregate_id;
    end if;
    return new;
end
$$;

create trigger outbox_assign_sequence before insert on outbox_events
    for each row execute function outbox_assign_sequence();

alter table outbox_events
    alter column event_id set default gen_random_uuid(),
    drop column order_id;
