//! Domain events: what a service tells the others it changed, written to its outbox in the
//! transaction that made the change, relayed to the `domain-events` topic by the queue worker,
//! and read by every consumer from its own queue.
//!
//! The wire shape is the [`Envelope`]: `{id, kind, aggregate_id, occurred_at, version, payload}`.
//! Producers build it from a typed [`DomainEvent`] and consumers decode it back into one, so a
//! renamed field fails to compile on both sides. Delivery is at least once and may reorder:
//! consumers dedupe by `id` and compare `version` (the aggregate's, growing with every change of
//! that aggregate) so an older event never undoes a newer one.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::ids::{EventId, OrderId, ReservationId, SeatId, UserId};

/// A reservation's versions are its lifecycle steps: each step happens at most once.
pub mod reservation_version {
    /// `reservation.held`
    pub const HELD: i64 = 1;
    /// `reservation.confirmed`, `.expired` or `.cancelled` — exactly one of them.
    pub const ENDED: i64 = 2;
    /// `reservation.refunded`, after `confirmed`.
    pub const REFUNDED: i64 = 3;
}

/// One domain event as it travels (SNS message body, SQS message body, outbox row).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// UUIDv7; consumers dedupe by it.
    pub id: Uuid,
    pub kind: String,
    /// The reservation, event or order the event is about.
    pub aggregate_id: Uuid,
    pub occurred_at: DateTime<Utc>,
    /// The aggregate's version after this change.
    pub version: i64,
    pub payload: serde_json::Value,
}

impl Envelope {
    /// A new event about its aggregate at `version`.
    pub fn new(event: &DomainEvent, version: i64, occurred_at: DateTime<Utc>) -> Self {
        let Tagged { kind, payload } = event.tagged();
        Self { id: Uuid::now_v7(), kind, aggregate_id: event.aggregate_id(), occurred_at, version, payload }
    }

    /// The typed event; `Ok(None)` for a kind this build does not know (a newer producer).
    pub fn event(&self) -> Result<Option<DomainEvent>, serde_json::Error> {
        if !DomainEvent::KINDS.contains(&self.kind.as_str()) {
            return Ok(None);
        }
        let tagged = serde_json::json!({"kind": self.kind, "payload": self.payload});
        serde_json::from_value(tagged).map(Some)
    }
}

#[derive(Deserialize)]
struct Tagged {
    kind: String,
    payload: serde_json::Value,
}

/// Every domain event, by kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "payload")]
pub enum DomainEvent {
    #[serde(rename = "reservation.held")]
    ReservationHeld(ReservationHeld),
    #[serde(rename = "reservation.confirmed")]
    ReservationConfirmed(ReservationConfirmed),
    #[serde(rename = "reservation.expired")]
    ReservationExpired(ReservationEnded),
    #[serde(rename = "reservation.cancelled")]
    ReservationCancelled(ReservationEnded),
    #[serde(rename = "reservation.refunded")]
    ReservationRefunded(ReservationEnded),
    #[serde(rename = "event.created")]
    EventCreated(EventCreated),
    #[serde(rename = "event.updated")]
    EventUpdated(EventChanged),
    #[serde(rename = "event.cancelled")]
    EventCancelled(EventCancelled),
    #[serde(rename = "order.created")]
    OrderCreated(OrderSnapshot),
    #[serde(rename = "order.changed")]
    OrderChanged(OrderSnapshot),
    #[serde(rename = "event.seats")]
    EventSeats(EventSeats),
    #[serde(rename = "waiting_room.counted")]
    WaitingRoomCounted(WaitingRoomCounted),
}

impl DomainEvent {
    pub const KINDS: [&'static str; 12] = [
        "reservation.held",
        "reservation.confirmed",
        "reservation.expired",
        "reservation.cancelled",
        "reservation.refunded",
        "event.created",
        "event.updated",
        "event.cancelled",
        "order.created",
        "order.changed",
        "event.seats",
        "waiting_room.counted",
    ];

    /// The kind of [`DomainEvent::OrderChanged`], for a statement that writes one itself.
    pub const ORDER_CHANGED: &'static str = "order.changed";

    pub fn kind(&self) -> &'static str {
        match self {
            Self::ReservationHeld(_) => "reservation.held",
            Self::ReservationConfirmed(_) => "reservation.confirmed",
            Self::ReservationExpired(_) => "reservation.expired",
            Self::ReservationCancelled(_) => "reservation.cancelled",
            Self::ReservationRefunded(_) => "reservation.refunded",
            Self::EventCreated(_) => "event.created",
            Self::EventUpdated(_) => "event.updated",
            Self::EventCancelled(_) => "event.cancelled",
            Self::OrderCreated(_) => "order.created",
            Self::OrderChanged(_) => Self::ORDER_CHANGED,
            Self::EventSeats(_) => "event.seats",
            Self::WaitingRoomCounted(_) => "waiting_room.counted",
        }
    }

    pub fn aggregate_id(&self) -> Uuid {
        match self {
            Self::ReservationHeld(e) => e.reservation_id.0,
            Self::ReservationConfirmed(e) => e.reservation_id.0,
            Self::ReservationExpired(e) | Self::ReservationCancelled(e) | Self::ReservationRefunded(e) => {
                e.reservation_id.0
            }
            Self::EventCreated(e) => e.event_id.0,
            Self::EventUpdated(e) => e.event_id.0,
            Self::EventCancelled(e) => e.event_id.0,
            Self::OrderCreated(e) | Self::OrderChanged(e) => e.order_id.0,
            Self::EventSeats(e) => e.event_id.0,
            Self::WaitingRoomCounted(e) => e.event_id.0,
        }
    }

    fn tagged(&self) -> Tagged {
        // Plain data with derived Serialize: always serialises, always as {kind, payload}.
        serde_json::to_value(self)
            .and_then(serde_json::from_value)
            .unwrap_or_else(|e| unreachable!("a domain event always serialises: {e}"))
    }
}

/// Seats moved `available → held` for a new pending reservation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReservationHeld {
    pub reservation_id: ReservationId,
    pub event_id: EventId,
    pub user_id: UserId,
    pub seat_ids: Vec<SeatId>,
    /// KRW.
    pub amount: i64,
    pub expires_at: DateTime<Utc>,
}

/// A paid reservation: its seats are sold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReservationConfirmed {
    pub reservation_id: ReservationId,
    pub event_id: EventId,
    pub user_id: Option<UserId>,
    pub seat_ids: Vec<SeatId>,
    /// KRW.
    pub amount: i64,
}

/// A reservation that ended without (or after) a sale: expired, cancelled or refunded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReservationEnded {
    pub reservation_id: ReservationId,
    pub event_id: EventId,
    /// The seats this change put back on sale.
    #[serde(default)]
    pub seat_ids: Vec<SeatId>,
}

/// A new event and what analytics need of it. Its seats follow in `event.seats` parts (a
/// 50,000-seat event does not fit one message). Fields after `venue_id` are absent from events
/// written before they existed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventCreated {
    pub event_id: EventId,
    pub venue_id: Uuid,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub sale_opens_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub sections: Vec<SectionFacts>,
    /// How many `event.seats` parts carry the seats.
    #[serde(default)]
    pub seat_parts: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SectionFacts {
    pub id: Uuid,
    pub name: String,
    /// KRW per seat.
    pub price: i64,
    pub seat_count: i64,
}

/// One part (`part` of `parts`, from 1) of a new event's seats.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventSeats {
    pub event_id: EventId,
    pub part: u32,
    pub parts: u32,
    pub seats: Vec<SeatFacts>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeatFacts {
    pub id: SeatId,
    pub section_id: Uuid,
    pub label: String,
}

/// Seats per `event.seats` part: ~100 bytes each, so a part stays far below SNS's 256 KiB.
pub const SEATS_PER_PART: usize = 1000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventChanged {
    pub event_id: EventId,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub sale_opens_at: Option<DateTime<Utc>>,
}

/// An event's waiting room as counted by an admission step, sent when the counts moved. Its
/// envelope `version` is the counting time in milliseconds: the newest count wins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WaitingRoomCounted {
    pub event_id: EventId,
    /// Joins so far (a buyer who left and joined again counts twice).
    pub joined: i64,
    /// Admissions so far.
    pub admitted: i64,
    /// Waiting now (queue and pre-queue).
    pub waiting: i64,
    /// Admitted now, their admission not yet used up or expired.
    pub active: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventCancelled {
    pub event_id: EventId,
    /// Pending holds released by the cancellation.
    pub cancelled_reservations: Vec<ReservationId>,
    /// Paid reservations the payment role refunds.
    pub refund_reservations: Vec<ReservationId>,
}

/// An order as it stands after a change (its `version` orders the snapshots).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderSnapshot {
    pub order_id: OrderId,
    pub reservation_id: ReservationId,
    pub event_id: EventId,
    pub user_id: UserId,
    /// `created`, `confirming`, `awaiting_deposit`, `paid`, `failed`, `partially_refunded`, `refunded`.
    pub status: String,
    /// KRW charged.
    pub amount: i64,
    /// KRW still captured (amount less refunds).
    pub balance_amount: i64,
    pub method: Option<String>,
    pub approved_at: Option<DateTime<Utc>>,
    /// Toss's key of the payment, once there is one (absent from events written before it was).
    #[serde(default)]
    pub payment_key: Option<String>,
}

/// The outboxes the relay reads: one table per owning schema, all of this shape.
pub const OUTBOX_SCHEMAS: [&str; 2] = ["ticket", "payment"];

/// The outbox columns both writers fill, in the order they bind them.
const OUTBOX_COLUMNS: &str = "id, kind, aggregate_id, version, payload, created_at";

/// A statement that makes `change` (one data-modifying statement with `RETURNING *`, its values
/// bound as `$1` to `$first - 1`) and, if it changed a row, writes one event to `<schema>.outbox`,
/// bound by [`bind_event`] from `$first` on. It answers the changed row. A change and its event
/// are then one statement, atomic by itself: no `BEGIN` and `COMMIT` round trips, and no round
/// trip of its own for the event. The event has to be known before the change is made.
pub fn with_event(schema: &str, change: &str, first: usize) -> String {
    let insert = event_for_each(schema, "changed", first);
    format!("WITH changed AS ({change}), event AS ({insert}) SELECT * FROM changed")
}

/// [`with_event`] for an event drawn from the changed row: its aggregate, version and payload are
/// SQL over the row `changed` (e.g. `changed.version`), and only its id, kind and time are bound
/// (`$first`, `$first + 1`, `$first + 2`), as [`Envelope::new`] would make them.
pub fn with_row_event(
    schema: &str,
    change: &str,
    first: usize,
    aggregate: &str,
    version: &str,
    payload: &str,
) -> String {
    let [id, kind, at] = std::array::from_fn(|i| format!("${}", first + i));
    let insert = insert_event(schema, "changed", [&id, &kind, aggregate, version, payload, &at]);
    format!("WITH changed AS ({change}), event AS ({insert}) SELECT * FROM changed")
}

/// For a statement with more than one change: an `INSERT` of one event to `<schema>.outbox` for
/// each row of `from` (a change's `RETURNING`, so the event is written only if the change
/// happened), bound by [`bind_event`] from `$first` on. Use it as a data-modifying `WITH` query.
pub fn event_for_each(schema: &str, from: &str, first: usize) -> String {
    let [id, kind, aggregate, version, payload, at] = std::array::from_fn(|i| format!("${}", first + i));
    insert_event(schema, from, [&id, &kind, &aggregate, &version, &payload, &at])
}

fn insert_event(schema: &str, from: &str, event: [&str; 6]) -> String {
    let [id, kind, aggregate, version, payload, at] = event;
    format!(
        "INSERT INTO {schema}.outbox ({OUTBOX_COLUMNS})
           SELECT {id}::uuid, {kind}::text, {aggregate}::uuid, {version}::bigint, {payload}::jsonb,
             {at}::timestamptz FROM {from}"
    )
}

/// Binds `envelope` for a statement of [`with_event`].
pub fn bind_event<'q, O>(
    query: sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments>,
    envelope: &'q Envelope,
) -> sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments> {
    query
        .bind(envelope.id)
        .bind(&envelope.kind)
        .bind(envelope.aggregate_id)
        .bind(envelope.version)
        .bind(&envelope.payload)
        .bind(envelope.occurred_at)
}

/// Writes `event` to `<schema>.outbox` inside the caller's transaction.
pub async fn write_outbox(
    tx: &mut PgConnection,
    schema: &'static str,
    event: &DomainEvent,
    version: i64,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    let envelope = Envelope::new(event, version, now);
    sqlx::query(&format!("INSERT INTO {schema}.outbox ({OUTBOX_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"))
        .bind(envelope.id)
        .bind(&envelope.kind)
        .bind(envelope.aggregate_id)
        .bind(envelope.version)
        .bind(&envelope.payload)
        .bind(envelope.occurred_at)
        .execute(tx)
        .await
        .map(drop)
}

/// Writes each `(event, version, occurred_at)` to `<schema>.outbox` inside the caller's
/// transaction, in one statement.
pub async fn write_outbox_many(
    tx: &mut PgConnection,
    schema: &'static str,
    events: &[(DomainEvent, i64, DateTime<Utc>)],
) -> sqlx::Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let envelopes: Vec<Envelope> =
        events.iter().map(|(event, version, at)| Envelope::new(event, *version, *at)).collect();
    sqlx::query(&format!(
        "INSERT INTO {schema}.outbox ({OUTBOX_COLUMNS})
         SELECT id, kind, aggregate_id, version, payload::jsonb, created_at
         FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::bigint[], $5::text[], $6::timestamptz[])
           AS t({OUTBOX_COLUMNS})"
    ))
    .bind(envelopes.iter().map(|e| e.id).collect::<Vec<_>>())
    .bind(envelopes.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>())
    .bind(envelopes.iter().map(|e| e.aggregate_id).collect::<Vec<_>>())
    .bind(envelopes.iter().map(|e| e.version).collect::<Vec<_>>())
    .bind(envelopes.iter().map(|e| e.payload.to_string()).collect::<Vec<_>>())
    .bind(envelopes.iter().map(|e| e.occurred_at).collect::<Vec<_>>())
    .execute(tx)
    .await
    .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_envelope_round_trips_to_the_same_typed_event() {
        let event = DomainEvent::ReservationHeld(ReservationHeld {
            reservation_id: ReservationId::new(),
            event_id: EventId::new(),
            user_id: UserId::new(),
            seat_ids: vec![SeatId::new(), SeatId::new()],
            amount: 132_000,
            expires_at: Utc::now(),
        });
        let envelope = Envelope::new(&event, reservation_version::HELD, Utc::now());
        assert_eq!(envelope.kind, "reservation.held");
        assert_eq!(envelope.aggregate_id, event.aggregate_id());
        let wire = serde_json::to_string(&envelope).expect("serialise");
        let back: Envelope = serde_json::from_str(&wire).expect("parse");
        assert_eq!(back.event().expect("decode"), Some(event));
    }

    #[test]
    fn every_kind_is_listed_and_an_unknown_kind_decodes_to_none() {
        let ended =
            ReservationEnded { reservation_id: ReservationId::new(), event_id: EventId::new(), seat_ids: vec![] };
        for event in [
            DomainEvent::ReservationExpired(ended.clone()),
            DomainEvent::ReservationCancelled(ended.clone()),
            DomainEvent::ReservationRefunded(ended),
            DomainEvent::EventUpdated(EventChanged { event_id: EventId::new(), title: None, sale_opens_at: None }),
        ] {
            assert!(DomainEvent::KINDS.contains(&event.kind()));
            let envelope = Envelope::new(&event, 2, Utc::now());
            assert_eq!(envelope.event().expect("decode").map(|e| e.kind()), Some(event.kind()));
        }
        let mut future = Envelope::new(&DomainEvent::EventUpdated(changed()), 1, Utc::now());
        future.kind = "seat.repainted".into();
        assert_eq!(future.event().expect("unknown is not an error"), None);
    }

    fn changed() -> EventChanged {
        EventChanged { event_id: EventId::new(), title: None, sale_opens_at: None }
    }

    #[test]
    fn a_payload_missing_a_field_is_an_error_not_a_default() {
        let mut envelope = Envelope::new(&DomainEvent::EventUpdated(changed()), 1, Utc::now());
        envelope.payload = serde_json::json!({"event": "renamed"});
        assert!(envelope.event().is_err());
    }
}
