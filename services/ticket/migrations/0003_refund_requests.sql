-- The payment role's work list after an event is cancelled: paid reservations awaiting a refund.
CREATE INDEX reservations_refund_requested ON ticket.reservations (id)
    WHERE refund_requested_at IS NOT NULL AND status = 'confirmed';
