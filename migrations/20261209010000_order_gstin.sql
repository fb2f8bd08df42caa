-- The buyer's GSTIN when the order is a B2B purchase (null for a consumer). The API
-- checks it in full (domain::gstin) before the order is inserted; this only keeps the
-- column to the shape of one, so a GSTIN written another way cannot be a stray value.
-- It is also in `billing_address` (what the buyer gave, which the price step prices)
-- and in the frozen `price_snapshot` (`tax.gstin`); this column is the one to query.
alter table orders add column gstin text
    constraint orders_gstin_shape check (gstin ~ '^[0-9]{2}[A-Z]{5}[0-9]{4}[A-Z][1-9A-Z][0-9A-Z]{2}$');
