-- An order's change notification says its new status: `{order id} {status}`. A request
-- waiting for the status to move (`POST /order`, the payment callback, the long poll
-- `GET /order/{token}?wait_ms=`) then learns it without reading the order (it was one
-- `select status` per change per waiter). A payment's change still sends the bare order
-- id, and the waiter reads the status then. Notifications are sent at commit, in commit
-- order, so the status a waiter is told is committed and the latest it heard is the
-- latest written. Payments read `order_id` directly (was `to_jsonb(new)`, the whole row).
create or replace function notify_order_changed() returns trigger
language plpgsql as $$
begin
    if tg_table_name = 'orders' then
        perform pg_notify('checkout_order_changed', new.id::text || ' ' || new.status::text);
    else
        perform pg_notify('checkout_order_changed', new.order_id::text);
    end if;
    return null;
end
$$;
