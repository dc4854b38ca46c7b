-- Money Toss captured (DONE) on an order that is neither paid (reservation confirmed) nor refunded:
-- the reconciler settles these, and `tiketi_payment_captured_unsettled` counts the ones it has not
-- within a minute. The index holds only such rows, normally none.
CREATE INDEX orders_captured_unsettled ON payment.orders (updated_at)
    WHERE toss_status = 'DONE' AND status NOT IN ('paid', 'partially_refunded', 'refunded');
