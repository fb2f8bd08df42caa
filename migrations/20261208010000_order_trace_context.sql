-- The W3C traceparent of the request that created the order (null when traces are not
-- exported), so later work about the order (webhooks, reconciliation, compensation) can
-- continue or link to the checkout's trace.
alter table orders add column trace_context text;
