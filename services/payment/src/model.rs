//! Orders, their states, and the bodies of the payment API.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tiketi_shared::ids::UserId;
pub use tiketi_shared::ids::{EventId, OrderId, ReservationId};
use tiketi_shared::reservations::Reservation;
use tiketi_shared::{Money, id_type};
use utoipa::{IntoParams, ToSchema};

id_type!(
    /// One refund (a Toss cancel); also its Idempotency-Key.
    RefundId
);

/// Where an order is. Legal moves are [`OrderStatus::can_become`]; every change in the database is
/// a guarded `UPDATE … WHERE status = ANY(<sources>)`, so racing writers cannot skip a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type, ToSchema)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum OrderStatus {
    /// Checked out; the buyer is in the payment window.
    Created,
    /// We asked Toss to approve; the answer (or its effect on the reservation) is not settled yet.
    Confirming,
    /// A virtual account was issued; the hold waits for the deposit.
    AwaitingDeposit,
    /// Toss captured the money and the reservation is confirmed.
    Paid,
    /// Nothing was captured (rejected, expired, or the hold ended before paying). A capture Toss
    /// reports for it later reopens it (`→ confirming`), so that money too ends confirmed or refunded.
    Failed,
    PartiallyRefunded,
    /// Everything captured was given back: a refund, or a capture cancelled because the hold was lost.
    Refunded,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 7] = [
        Self::Created,
        Self::Confirming,
        Self::AwaitingDeposit,
        Self::Paid,
        Self::Failed,
        Self::PartiallyRefunded,
        Self::Refunded,
    ];

    pub fn can_become(self, next: OrderStatus) -> bool {
        use OrderStatus::*;
        matches!(
            (self, next),
            (Created | Failed, Confirming)
                | (Created, Failed)
                | (Confirming, Paid | AwaitingDeposit | Failed | Refunded)
                | (AwaitingDeposit, Paid | Failed | Refunded)
                | (Paid, PartiallyRefunded | Refunded)
                | (PartiallyRefunded, PartiallyRefunded | Refunded)
        )
    }

    /// The states `next` may be reached from.
    pub fn sources_of(next: OrderStatus) -> Vec<OrderStatus> {
        Self::ALL.into_iter().filter(|s| s.can_become(next)).collect()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Confirming => "confirming",
            Self::AwaitingDeposit => "awaiting_deposit",
            Self::Paid => "paid",
            Self::Failed => "failed",
            Self::PartiallyRefunded => "partially_refunded",
            Self::Refunded => "refunded",
        }
    }

    /// Money is held for this order at Toss.
    pub fn is_captured(self) -> bool {
        matches!(self, Self::Paid | Self::PartiallyRefunded)
    }
}

/// An order as stored. Its `Debug` leaves out the payment details (the deposit secret above all).
#[derive(Clone, sqlx::FromRow)]
pub struct Order {
    pub id: OrderId,
    pub reservation_id: ReservationId,
    pub user_id: UserId,
    pub event_id: EventId,
    pub amount: Money,
    pub order_name: String,
    pub hold_expires_at: DateTime<Utc>,
    pub status: OrderStatus,
    pub payment_key: Option<String>,
    pub method: Option<String>,
    pub toss_status: Option<String>,
    pub balance_amount: Money,
    pub approved_at: Option<DateTime<Utc>>,
    pub receipt_url: Option<String>,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    pub confirm_attempt: i32,
    pub confirm_started_at: Option<DateTime<Utc>>,
    pub va_bank_code: Option<String>,
    pub va_account_number: Option<String>,
    pub va_due_at: Option<DateTime<Utc>>,
    pub va_secret: Option<String>,
    pub last_webhook_at: Option<DateTime<Utc>>,
    pub released_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Grows with every change; the version of the order's domain events.
    pub version: i64,
}

impl std::fmt::Debug for Order {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Order")
            .field("id", &self.id)
            .field("reservation_id", &self.reservation_id)
            .field("status", &self.status)
            .field("amount", &self.amount)
            .field("balance_amount", &self.balance_amount)
            .finish_non_exhaustive()
    }
}

impl Order {
    pub fn is_virtual_account(&self) -> bool {
        self.va_account_number.is_some() || self.method.as_deref() == Some(crate::toss::model::METHOD_VIRTUAL_ACCOUNT)
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CheckoutRequest {
    pub reservation_id: ReservationId,
}

/// What the browser needs to open the payment window.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckoutResponse {
    pub order_id: OrderId,
    pub amount: Money,
    pub order_name: String,
    pub client_key: String,
    /// The payment window (the sandbox locally), with order, amount and return URLs filled in.
    pub checkout_url: String,
    pub success_url: String,
    pub fail_url: String,
    pub status: OrderStatus,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ConfirmRequest {
    pub payment_key: String,
    pub order_id: String,
    pub amount: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CancelRequest {
    pub reason: String,
    /// Partial refund of this many won; absent = the whole remaining balance.
    pub amount: Option<i64>,
    /// Required to refund a virtual-account payment: where the money goes back.
    pub refund_account: Option<RefundAccount>,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct RefundAccount {
    /// Toss bank code, e.g. "20".
    pub bank: String,
    pub account_number: String,
    pub holder_name: String,
}

/// A virtual account waiting for the buyer's transfer.
#[derive(Debug, Serialize, ToSchema)]
pub struct VirtualAccountView {
    pub bank_code: Option<String>,
    pub account_number: Option<String>,
    pub due_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct RefundView {
    pub id: RefundId,
    pub amount: Money,
    pub reason: String,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

/// An order and its payment, as buyers and admins see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentView {
    pub order_id: OrderId,
    pub reservation_id: ReservationId,
    pub status: OrderStatus,
    pub amount: Money,
    /// What is still captured (amount minus refunds).
    pub balance_amount: Money,
    pub order_name: String,
    /// Toss's method ("카드", "가상계좌", …) once known.
    pub method: Option<String>,
    pub approved_at: Option<DateTime<Utc>>,
    pub receipt_url: Option<String>,
    pub failure_code: Option<String>,
    pub virtual_account: Option<VirtualAccountView>,
    pub refunds: Vec<RefundView>,
    pub created_at: DateTime<Utc>,
}

impl PaymentView {
    pub fn of(order: &Order, refunds: Vec<RefundView>) -> Self {
        Self {
            order_id: order.id,
            reservation_id: order.reservation_id,
            status: order.status,
            amount: order.amount,
            balance_amount: order.balance_amount,
            order_name: order.order_name.clone(),
            method: order.method.clone(),
            approved_at: order.approved_at,
            receipt_url: order.receipt_url.clone(),
            failure_code: order.failure_code.clone(),
            virtual_account: order.va_account_number.as_ref().map(|number| VirtualAccountView {
                bank_code: order.va_bank_code.clone(),
                account_number: Some(number.clone()),
                due_at: order.va_due_at,
            }),
            refunds,
            created_at: order.created_at,
        }
    }
}

/// `POST /api/payments/confirm`'s answer: the payment and the reservation it paid for.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConfirmResponse {
    pub payment: PaymentView,
    pub reservation: Reservation,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentEnvelope {
    pub payment: PaymentView,
}

/// A reservation's orders, newest first (a failed checkout leaves its order behind).
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentList {
    pub items: Vec<PaymentView>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct PaymentQuery {
    /// The reservation whose orders to list.
    pub reservation_id: String,
}

#[cfg(test)]
mod tests {
    use super::OrderStatus::*;
    use super::*;

    #[test]
    fn money_is_never_left_behind_by_a_transition() {
        // Refunded goes nowhere, failed only back to confirming (a late capture); a captured order
        // only moves towards refunded.
        for next in OrderStatus::ALL {
            assert!(!Refunded.can_become(next));
            assert_eq!(Failed.can_become(next), next == Confirming);
            if Paid.can_become(next) {
                assert!(matches!(next, PartiallyRefunded | Refunded));
            }
        }
        assert!(!Created.can_become(Paid), "paid only after a confirm");
        assert!(!Paid.can_become(Failed), "a capture never becomes 'nothing captured'");
        assert_eq!(OrderStatus::sources_of(Paid), vec![Confirming, AwaitingDeposit]);
        assert_eq!(OrderStatus::sources_of(Refunded), vec![Confirming, AwaitingDeposit, Paid, PartiallyRefunded]);
    }

    #[test]
    fn names_match_the_database() {
        for status in OrderStatus::ALL {
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
        }
    }
}
