-- Waiting for an order without polling it: every change a waiting client can see (the
-- order's status or last payment error, a payment session created or changing status)
-- notifies `checkout_order_changed` with the order id, at commit. Each API process
-- LISTENs once and wakes the requests waiting on that order (`POST /order` waiting for
-- its payment session, the payment callback, `GET /order/{token}?wait_ms=`); under load
-- they re-read the order when it changed instead of every few milliseconds.
-- TG_ARGV[0] names the column holding the order id (`id` on orders, `order_id` on
-- payments). It runs only when a status changes: a few times per checkout.
create function notify_order_changed() returns trigger
language plpgsql as $$
begin
    perform pg_notify('checkout_order_changed', to_jsonb(new) ->> tg_argv[0]);
    return null;
end
$$;

create trigger orders_changed_notify
    after update of status, last_payment_error on orders
    for each row
    when (old.status is distinct from new.status
          or old.last_payment_error is distinct from new.last_payment_error)
    execute function notify_order_changed('id');

create trigger payments_created_notify
    after insert on payments
    for each row execute function notify_order_changed('order_id');

create trigger payments_changed_notify
    after update of status on payments
    for each row
    when (old.status is distinct from new.status)
    execute function notify_order_changed('order_id');
