-- Pruning published outbox events walks them oldest first by this index, so a batch
-- reads about its own size whatever the table holds.
create index outbox_created on outbox_events (created_at);
