-- What is still refundable on a payment sums its refunds (store::refunds::refundable):
-- by index, so an admin refund or a compensation reads a payment's few refunds and not
-- every refund ever made.
create index refunds_payment on refunds (payment_id);
