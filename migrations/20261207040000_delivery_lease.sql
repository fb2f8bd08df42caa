-- A delivery attempt holds no transaction (nor database connection) while it waits on
-- the endpoint: it takes a lease instead, in a short transaction, and records the
-- result in another. A second run of its job meanwhile finds the lease and does
-- nothing; a run whose worker died leaves a lease that expires after the timeout.
alter table webhook_deliveries add column sending_until timestamptz;
