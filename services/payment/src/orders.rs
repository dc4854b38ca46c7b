//! Reading and changing orders. Every status change is one guarded statement
//! (`WHERE status = ANY(<legal sources>)`), so concurrent writers (a confirm, the reconciler, a
//! webhook) can race freely: one wins, the others see the result.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use tiketi_shared::Money;
use tiketi_shared::events::{self, DomainEvent, Envelope, OrderSnapshot};

use crate::model::{Order, OrderId, OrderStatus, RefundView, ReservationId};
use crate::toss::{Payment, PaymentStatus};

/// What Toss told us about a payment, to be written with a transition.
#[derive(Debug, Default, Clone)]
pub struct Facts {
    pub payment_key: Option<String>,
    pub method: Option<String>,
    pub toss_status: Option<String>,
    pub balance_amount: Option<i64>,
    pub approved_at: Option<DateTime<Utc>>,
    pub receipt_url: Option<String>,
    pub va_bank_code: Option<String>,
    pub va_account_number: Option<String>,
    pub va_due_at: Option<DateTime<Utc>>,
    pub va_secret: Option<String>,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
}

impl Facts {
    pub fn of(payment: &Payment) -> Self {
        let account = payment.virtual_account.as_ref();
        Self {
            payment_key: Some(payment.payment_key.clone()),
            method: payment.method.clone(),
            toss_status: serde_json::to_value(payment.status).ok().and_then(|v| v.as_str().map(str::to_owned)),
            balance_amount: Some(payment.balance_amount),
            approved_at: payment.approved_at,
            receipt_url: payment.receipt.as_ref().and_then(|r| r.url.clone()),
            va_bank_code: account.and_then(|a| a.bank_code.clone()),
            va_account_number: account.and_then(|a| a.account_number.clone()),
            va_due_at: account.and_then(|a| a.due_date),
            va_secret: payment.secret.clone(),
            failure_code: payment.failure.as_ref().and_then(|f| f.code.clone()),
            failure_message: payment.failure.as_ref().and_then(|f| f.message.clone()),
        }
    }

    pub fn failure(code: &str, message: &str) -> Self {
        Self { failure_code: Some(code.to_owned()), failure_message: Some(message.to_owned()), ..Self::default() }
    }

    pub fn with_failure(mut self, code: &str, message: &str) -> Self {
        self.failure_code = Some(code.to_owned());
        self.failure_message = Some(message.to_owned());
        self
    }
}

/// Whether Toss's status says this much money is captured and not refunded.
pub fn captured_balance(payment: &Payment) -> i64 {
    match payment.status {
        PaymentStatus::Done | PaymentStatus::PartialCanceled => payment.balance_amount,
        _ => 0,
    }
}

pub async fn load(db: impl PgExecutor<'_>, id: OrderId) -> sqlx::Result<Option<Order>> {
    sqlx::query_as("SELECT * FROM payment.orders WHERE id = $1").bind(id).fetch_optional(db).await
}

/// The order of a reservation that has not failed (there is at most one).
pub async fn live_for_reservation(db: impl PgExecutor<'_>, id: ReservationId) -> sqlx::Result<Option<Order>> {
    sqlx::query_as("SELECT * FROM payment.orders WHERE reservation_id = $1 AND status <> 'failed'")
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Every order of a reservation, newest first.
pub async fn of_reservation(db: impl PgExecutor<'_>, id: ReservationId) -> sqlx::Result<Vec<Order>> {
    sqlx::query_as("SELECT * FROM payment.orders WHERE reservation_id = $1 ORDER BY created_at DESC, id DESC")
        .bind(id)
        .fetch_all(db)
        .await
}

pub struct NewOrder {
    pub id: OrderId,
    pub reservation_id: ReservationId,
    pub user_id: tiketi_shared::ids::UserId,
    pub event_id: crate::model::EventId,
    pub amount: Money,
    pub order_name: String,
    pub hold_expires_at: DateTime<Utc>,
}

/// Inserts a `created` order and its `order.created` event, or answers the reservation's live
/// order if it already has one.
pub async fn create(db: &sqlx::PgPool, new: NewOrder, now: DateTime<Utc>) -> sqlx::Result<Order> {
    static CREATE: LazyLock<String> = LazyLock::new(|| {
        events::with_event(
            crate::SCHEMA,
            "INSERT INTO payment.orders (id, reservation_id, user_id, event_id, amount, order_name, hold_expires_at,
               status, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $8, 'created', $7, $7)
             ON CONFLICT (reservation_id) WHERE status <> 'failed' DO NOTHING
             RETURNING *",
            9,
        )
    });
    let created = OrderSnapshot {
        order_id: new.id,
        reservation_id: new.reservation_id,
        event_id: new.event_id,
        user_id: new.user_id,
        status: OrderStatus::Created.as_str().to_owned(),
        amount: new.amount.as_won(),
        balance_amount: 0,
        method: None,
        approved_at: None,
        payment_key: None,
    };
    let event = Envelope::new(&DomainEvent::OrderCreated(created), FIRST_VERSION, now);
    let inserted: Option<Order> = events::bind_event(
        sqlx::query_as(&CREATE)
            .bind(new.id)
            .bind(new.reservation_id)
            .bind(new.user_id)
            .bind(new.event_id)
            .bind(new.amount)
            .bind(&new.order_name)
            .bind(now)
            .bind(new.hold_expires_at),
        &event,
    )
    .fetch_optional(db)
    .await?;
    match inserted {
        Some(order) => Ok(order),
        None => live_for_reservation(db, new.reservation_id).await?.ok_or(sqlx::Error::RowNotFound),
    }
}

/// A new order's version (the column's default).
const FIRST_VERSION: i64 = 1;

/// The order as its domain events carry it.
pub fn snapshot(order: &Order) -> OrderSnapshot {
    OrderSnapshot {
        order_id: order.id,
        reservation_id: order.reservation_id,
        event_id: order.event_id,
        user_id: order.user_id,
        status: order.status.as_str().to_owned(),
        amount: order.amount.as_won(),
        balance_amount: order.balance_amount.as_won(),
        method: order.method.clone(),
        approved_at: order.approved_at,
        payment_key: order.payment_key.clone(),
    }
}

/// [`snapshot`] in SQL, of the order row `changed`: the payload of an `order.changed` written by
/// the statement that made the change (`payment::each_order_change_writes_one_event_of_what_the_order_became`
/// checks that it reads back as [`snapshot`] of the row).
const SNAPSHOT_OF_CHANGED: &str = "jsonb_build_object('order_id', changed.id, 'reservation_id', changed.reservation_id,
    'event_id', changed.event_id, 'user_id', changed.user_id, 'status', changed.status, 'amount', changed.amount,
    'balance_amount', changed.balance_amount, 'method', changed.method, 'approved_at', changed.approved_at,
    'payment_key', changed.payment_key)";

/// `created → confirming` with the buyer's payment key, and its `order.changed` event; each call
/// is one more confirm attempt. `order` is the order as read (still `created`); `None` when it has
/// changed since.
pub async fn begin_confirm(
    db: &sqlx::PgPool,
    order: &Order,
    payment_key: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<Option<Order>> {
    static BEGIN_CONFIRM: LazyLock<String> = LazyLock::new(|| {
        events::with_event(
            crate::SCHEMA,
            "UPDATE payment.orders SET status = 'confirming', payment_key = $2, confirm_started_at = $3,
               updated_at = $3, version = version + 1
             WHERE id = $1 AND status = 'created' AND version = $4 RETURNING *",
            5,
        )
    });
    // The event is the order as read, moved as the statement moves it: the version check makes
    // the two the same.
    let mut confirming = snapshot(order);
    confirming.status = OrderStatus::Confirming.as_str().to_owned();
    confirming.payment_key = Some(payment_key.to_owned());
    let event = Envelope::new(&DomainEvent::OrderChanged(confirming), order.version + 1, now);
    let query = sqlx::query_as(&BEGIN_CONFIRM).bind(order.id).bind(payment_key).bind(now).bind(order.version);
    events::bind_event(query, &event).fetch_optional(db).await
}

/// Counts one answered confirm attempt; the next attempt uses a new Idempotency-Key.
pub async fn next_confirm_attempt(db: impl PgExecutor<'_>, id: OrderId) -> sqlx::Result<i32> {
    sqlx::query_scalar(
        "UPDATE payment.orders SET confirm_attempt = confirm_attempt + 1 WHERE id = $1 RETURNING confirm_attempt",
    )
    .bind(id)
    .fetch_one(db)
    .await
}

/// Moves the order to `to` if it is in a state that may (see [`OrderStatus::can_become`]),
/// writing `facts`. `None`: it was not (someone else moved it first).
pub async fn transition(
    db: impl PgExecutor<'_>,
    id: OrderId,
    to: OrderStatus,
    facts: &Facts,
    now: DateTime<Utc>,
) -> sqlx::Result<Option<Order>> {
    transition_from(db, id, &OrderStatus::sources_of(to), to, facts, now).await
}

/// [`transition`], narrowed to orders that are in one of `from` (each a legal source of `to`).
/// The move and its `order.changed` event, drawn from the moved row, are one statement (inside
/// the caller's transaction, if `db` is one).
pub async fn transition_from(
    db: impl PgExecutor<'_>,
    id: OrderId,
    from: &[OrderStatus],
    to: OrderStatus,
    facts: &Facts,
    now: DateTime<Utc>,
) -> sqlx::Result<Option<Order>> {
    static TRANSITION: LazyLock<String> = LazyLock::new(|| {
        events::with_row_event(
            crate::SCHEMA,
            "UPDATE payment.orders SET status = $2, updated_at = $3, version = version + 1,
               payment_key = COALESCE($4, payment_key), method = COALESCE($5, method),
               toss_status = COALESCE($6, toss_status),
               -- Once captured, the balance only goes down: a stale answer cannot raise it again.
               balance_amount = CASE WHEN status IN ('paid', 'partially_refunded')
                                     THEN LEAST(balance_amount, COALESCE($7, balance_amount))
                                     ELSE COALESCE($7, balance_amount) END,
               approved_at = COALESCE($8, approved_at), receipt_url = COALESCE($9, receipt_url),
               va_bank_code = COALESCE($10, va_bank_code), va_account_number = COALESCE($11, va_account_number),
               va_due_at = COALESCE($12, va_due_at), va_secret = COALESCE($13, va_secret),
               failure_code = COALESCE($14, failure_code), failure_message = COALESCE($15, failure_message)
             WHERE id = $1 AND status = ANY($16) RETURNING *",
            17,
            "changed.id",
            "changed.version",
            SNAPSHOT_OF_CHANGED,
        )
    });
    let from: Vec<&str> = from.iter().filter(|s| s.can_become(to)).map(|s| s.as_str()).collect();
    sqlx::query_as(&TRANSITION)
        .bind(id)
        .bind(to)
        .bind(now)
        .bind(&facts.payment_key)
        .bind(&facts.method)
        .bind(&facts.toss_status)
        .bind(facts.balance_amount)
        .bind(facts.approved_at)
        .bind(&facts.receipt_url)
        .bind(&facts.va_bank_code)
        .bind(&facts.va_account_number)
        .bind(facts.va_due_at)
        .bind(&facts.va_secret)
        .bind(&facts.failure_code)
        .bind(&facts.failure_message)
        .bind(from)
        .bind(uuid::Uuid::now_v7())
        .bind(DomainEvent::ORDER_CHANGED)
        .bind(now)
        .fetch_optional(db)
        .await
}

/// Records that the ticket role put a refunded order's seats back on sale.
pub async fn mark_released(db: impl PgExecutor<'_>, id: OrderId, now: DateTime<Utc>) -> sqlx::Result<()> {
    sqlx::query("UPDATE payment.orders SET released_at = $2 WHERE id = $1 AND released_at IS NULL")
        .bind(id)
        .bind(now)
        .execute(db)
        .await
        .map(drop)
}

/// Advances the newest applied webhook time; false if `at` is older (a late delivery). Equal
/// passes: a retry of the same delivery, or two events of one instant.
pub async fn note_webhook(db: impl PgExecutor<'_>, id: OrderId, at: DateTime<Utc>) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE payment.orders SET last_webhook_at = $2
         WHERE id = $1 AND (last_webhook_at IS NULL OR last_webhook_at <= $2)",
    )
    .bind(id)
    .bind(at)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn refunds_of(db: impl PgExecutor<'_>, id: OrderId) -> sqlx::Result<Vec<RefundView>> {
    sqlx::query_as(
        "SELECT id, amount, reason, status, created_at, completed_at FROM payment.refunds
         WHERE order_id = $1 ORDER BY created_at, id",
    )
    .bind(id)
    .fetch_all(db)
    .await
}
