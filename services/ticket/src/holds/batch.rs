//! Concurrent holds share one transaction.
//!
//! A hold written alone is four round trips to PostgreSQL — `BEGIN` with the buyer's lock, the
//! hold statement, its outbox row, `COMMIT` — and on a busy machine most of its cost is those
//! round trips (context switches at both ends) and the hold statement's start-up, not the rows it
//! writes. So holds that arrive while others are being written wait for the next batch and are
//! written together: one `BEGIN` taking every buyer's lock, one hold statement for all the holds,
//! one insert of all their outbox rows, one `COMMIT` — four round trips for a batch of holds on
//! different seats by different buyers.
//!
//! The holds of a batch end as if written one after the other, each seeing those before it: of
//! two asking for the same seat the first gets it, and a buyer's second hold counts the first
//! against the buyer's cap. So a batch is written in rounds, one hold statement each: a hold goes
//! in the round after the last earlier hold it shares a seat or its buyer with, and the holds of a
//! round share nothing. With more than one round, all the batch's seats are locked first. A hold
//! whose statement takes nothing wrote nothing; its answer says why (a busy seat, the cap, a seat
//! of another event), or — the sale's window changed, an expired hold to take over — it is handed
//! back after the batch's commit to be written alone by the general path. Locks are taken in one
//! order everywhere — buyers' locks sorted, then seats by id — so batches cannot deadlock each
//! other or single holds; a batch that fails before its commit anyway hands every hold back.
//!
//! A hold whose request is gone (the client disconnected) by the time its batch runs is left out;
//! one whose request went away while its batch was being written is cancelled after the commit
//! (no one would learn its reservation, and the seat caches were never told of it).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use tiketi_shared::ApiError;
use tiketi_shared::events::reservation_version;
use tiketi_shared::ids::UserId;
use tokio::sync::oneshot;

use super::{HoldRecord, HoldRow, Refusal, hold_seats};
use crate::TicketState;
use crate::model::{EventId, ReservationId, ReservedSeat};
use crate::status::ReservationStatus;

/// One hold's request, as the hold statement takes it.
pub struct AskedHold {
    pub event: EventId,
    pub user: UserId,
    pub id: ReservationId,
    pub seats: Vec<uuid::Uuid>,
    pub now: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub admitted: bool,
}

/// What became of a hold sent to a batch.
pub(super) enum Outcome {
    /// Committed: these seats are held.
    Taken(Vec<ReservedSeat>),
    /// Refused for this reason (nothing written).
    Refused(ApiError),
    /// Nothing written, for a reason the general path finds out: write it alone.
    Alone,
    /// The batch's commit failed: whether it happened is unknown.
    Failed(ApiError),
}

struct Pending {
    hold: AskedHold,
    reply: oneshot::Sender<Outcome>,
}

#[derive(Default)]
struct Queue {
    waiting: Vec<Pending>,
    /// Batches being written now.
    running: usize,
}

/// The holds waiting for a batch, and how many batches are being written.
pub struct Batcher {
    queue: Arc<Mutex<Queue>>,
    /// At most this many holds per transaction; 1 turns batching off.
    max_holds: usize,
    /// At most this many batches written at once (each on a connection of its own).
    max_running: usize,
}

impl Batcher {
    pub fn new(max_holds: usize, max_running: usize) -> Self {
        Self { queue: Arc::default(), max_holds: max_holds.max(1), max_running: max_running.max(1) }
    }

    pub fn enabled(&self) -> bool {
        self.max_holds > 1
    }

    /// Writes `hold` with the holds waiting beside it.
    pub(super) async fn hold(&self, state: &TicketState, hold: AskedHold) -> Outcome {
        let (reply, answer) = oneshot::channel();
        let start = {
            let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
            queue.waiting.push(Pending { hold, reply });
            let start = queue.running < self.max_running;
            queue.running += usize::from(start);
            start
        };
        if start {
            tokio::spawn(write_batches(state.clone(), self.queue.clone(), self.max_holds));
        }
        // A writer that ended without answering (it cannot, short of a panic) leaves the hold
        // unwritten.
        answer.await.unwrap_or(Outcome::Alone)
    }
}

/// Writes batches while holds wait; stops (one fewer running) when none do.
async fn write_batches(state: TicketState, queue: Arc<Mutex<Queue>>, max_holds: usize) {
    let _unwinding = Unwinding(queue.clone());
    loop {
        let batch: Vec<Pending> = {
            let mut queue = queue.lock().unwrap_or_else(PoisonError::into_inner);
            queue.waiting.retain(|p| !p.reply.is_closed());
            if queue.waiting.is_empty() {
                queue.running -= 1;
                return;
            }
            let n = queue.waiting.len().min(max_holds);
            queue.waiting.drain(..n).collect()
        };
        metrics::histogram!("tiketi_hold_batch_holds").record(batch.len() as f64);
        let outcomes: Vec<Outcome> = match write(&state, &batch).await {
            Ok(outcomes) => outcomes,
            Err(Failure::BeforeCommit(e)) => {
                tracing::warn!(error = %e, holds = batch.len(), "a batch of holds failed; each is written alone");
                batch.iter().map(|_| Outcome::Alone).collect()
            }
            Err(Failure::Commit(e, outcomes)) => {
                tracing::error!(error = %e, holds = batch.len(), "committing a batch of holds failed");
                // Whether the taken ones were written is unknown; the others wrote nothing either way.
                let unknown = || Outcome::Failed(ApiError::unavailable(anyhow::anyhow!("hold not committed")));
                outcomes.into_iter().map(|o| if let Outcome::Taken(_) = o { unknown() } else { o }).collect()
            }
        };
        for (pending, outcome) in batch.into_iter().zip(outcomes) {
            let taken = matches!(outcome, Outcome::Taken(_));
            if pending.reply.send(outcome).is_err() && taken {
                let (state, id) = (state.clone(), pending.hold.id);
                tokio::spawn(async move {
                    if let Err(e) = crate::reservations::end_hold(&state, id, ReservationStatus::Cancelled).await {
                        tracing::warn!(error = ?e, reservation = %id, "cancelling a hold nobody awaits failed; it expires");
                    }
                });
            }
        }
    }
}

/// Should a writer panic, it counts as stopped: the next hold to arrive starts another, which
/// writes those left waiting (the panicking writer's own holds are written alone).
struct Unwinding(Arc<Mutex<Queue>>);

impl Drop for Unwinding {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.lock().unwrap_or_else(PoisonError::into_inner).running -= 1;
        }
    }
}

/// How a batch is written, decided from its holds alone.
#[derive(Debug, PartialEq, Eq)]
pub struct Plan {
    /// The statement that takes every buyer's lock (a buyer's lock of its own, as a single hold
    /// takes it), in one order; sent with the transaction's `BEGIN`.
    pub locks: String,
    /// The holds of each round, by their place in the batch.
    pub rounds: Vec<Vec<usize>>,
    /// With more than one round, every seat of the batch in id order, to lock first: each
    /// statement locks its own seats in id order, and statements that follow one another must
    /// find all the batch's seats locked in that order already.
    pub seats: Option<Vec<uuid::Uuid>>,
}

/// Plans a batch. Holds that share no seat and no buyer do not depend on one another: one
/// statement takes them together. So the batch is written in rounds, each hold in the round
/// after the last earlier hold it shares a seat or its buyer with — it sees all of those, and
/// none of the holds it shares nothing with could change its outcome (nor it theirs).
pub fn plan(batch: &[&AskedHold]) -> Plan {
    // The ids are typed UUIDs, safe to write into SQL.
    let mut keys: Vec<String> = batch.iter().map(|h| format!("'hold:{}:{}'", h.user, h.event)).collect();
    keys.sort_unstable();
    keys.dedup();
    let locks = format!(
        "SELECT pg_advisory_xact_lock(k) FROM \
         (SELECT hashtextextended(key, 0) AS k FROM unnest(ARRAY[{}]) AS key ORDER BY 1) AS ordered",
        keys.join(",")
    );
    let mut last_round: HashMap<Shared, usize> = HashMap::new();
    let mut rounds: Vec<Vec<usize>> = Vec::new();
    for (i, hold) in batch.iter().enumerate() {
        let shared = || hold.seats.iter().map(|&seat| Shared::Seat(seat)).chain([Shared::Buyer(hold.user, hold.event)]);
        let round = shared().filter_map(|key| last_round.get(&key)).map(|r| r + 1).max().unwrap_or(0);
        for key in shared() {
            last_round.insert(key, round);
        }
        match rounds.get_mut(round) {
            Some(holds) => holds.push(i),
            None => rounds.push(vec![i]),
        }
    }
    let seats = (rounds.len() > 1).then(|| {
        let mut seats: Vec<uuid::Uuid> = batch.iter().flat_map(|h| h.seats.iter().copied()).collect();
        seats.sort_unstable();
        seats.dedup();
        seats
    });
    Plan { locks, rounds, seats }
}

/// What two holds of a batch can have in common that makes one depend on the other.
#[derive(PartialEq, Eq, Hash)]
enum Shared {
    Seat(uuid::Uuid),
    /// A buyer's holds for one event count against one cap.
    Buyer(UserId, EventId),
}

enum Failure {
    BeforeCommit(sqlx::Error),
    /// With what each hold's statement did before the commit failed.
    Commit(sqlx::Error, Vec<Outcome>),
}

/// One transaction for the batch: per hold, what became of it.
async fn write(state: &TicketState, batch: &[Pending]) -> Result<Vec<Outcome>, Failure> {
    let asked: Vec<&AskedHold> = batch.iter().map(|p| &p.hold).collect();
    let Plan { locks, rounds, seats } = plan(&asked);
    let mut tx =
        state.pool.begin_with(format!("{}{locks}", super::begin(state))).await.map_err(Failure::BeforeCommit)?;
    if let Some(seats) = seats {
        sqlx::query("SELECT 1 FROM ticket.seats WHERE id = ANY($1) ORDER BY id FOR UPDATE")
            .bind(&seats)
            .execute(&mut *tx)
            .await
            .map_err(Failure::BeforeCommit)?;
    }
    let mut rows: Vec<Vec<HoldRow>> = batch.iter().map(|_| Vec::new()).collect();
    for round in &rounds {
        let holds: Vec<&AskedHold> = round.iter().map(|&i| asked[i]).collect();
        let answers = hold_seats(&mut tx, &holds).await.map_err(Failure::BeforeCommit)?;
        for (&i, answer) in round.iter().zip(answers) {
            rows[i] = answer;
        }
    }
    let mut taken = Vec::with_capacity(batch.len());
    let mut events = Vec::new();
    for (Pending { hold, .. }, rows) in batch.iter().zip(rows) {
        let refusal = rows.first().map(|first| first.refusal(hold.seats.len()));
        let seats: Vec<ReservedSeat> = rows.into_iter().filter_map(HoldRow::taken).collect();
        if seats.is_empty() {
            taken.push(match refusal {
                Some(Err(Refusal::Api(e))) => Outcome::Refused(e),
                _ => Outcome::Alone,
            });
            continue;
        }
        let record =
            HoldRecord { id: hold.id, event: hold.event, user: hold.user, taken: &seats, expires_at: hold.expires_at };
        events.push((record.event(), reservation_version::HELD, hold.now));
        taken.push(Outcome::Taken(seats));
    }
    tiketi_shared::events::write_outbox_many(&mut tx, crate::SCHEMA, &events).await.map_err(Failure::BeforeCommit)?;
    match tx.commit().await {
        Ok(()) => Ok(taken),
        Err(e) => Err(Failure::Commit(e, taken)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked(user: UserId, event: EventId, seats: &[uuid::Uuid]) -> AskedHold {
        let now = Utc::now();
        AskedHold {
            event,
            user,
            id: ReservationId::new(),
            seats: seats.to_vec(),
            now,
            expires_at: now,
            admitted: false,
        }
    }

    #[test]
    fn a_hold_sharing_a_seat_or_its_buyer_goes_in_the_round_after_the_last_it_shares_with() {
        let event = EventId::new();
        let [a, b, c] = [(); 3].map(|()| UserId::new());
        let [s1, s2, s3, s4] = [(); 4].map(|()| uuid::Uuid::now_v7());
        let holds = [
            asked(a, event, &[s2, s1]),
            asked(b, event, &[s3]),     // shares nothing: round 0
            asked(c, event, &[s1]),     // s1 with hold 0: round 1
            asked(a, event, &[s4]),     // buyer a with hold 0: round 1
            asked(b, event, &[s4, s1]), // b in round 0, s1 and s4 in round 1: round 2
        ];
        let planned = plan(&holds.iter().collect::<Vec<_>>());
        assert_eq!(planned.rounds, [vec![0, 1], vec![2, 3], vec![4]]);
        let mut seats = vec![s1, s2, s3, s4];
        seats.sort_unstable();
        assert_eq!(planned.seats, Some(seats), "every seat, in id order, once");
        let mut buyers = [a, b, c].map(|user| format!("'hold:{user}:{event}'"));
        buyers.sort_unstable();
        assert!(planned.locks.contains(&format!("ARRAY[{}]", buyers.join(","))), "{}", planned.locks);

        let apart = [asked(a, event, &[s1]), asked(b, event, &[s2]), asked(a, EventId::new(), &[s3])];
        let planned = plan(&apart.iter().collect::<Vec<_>>());
        assert_eq!((planned.rounds, planned.seats), (vec![vec![0, 1, 2]], None), "one round locks its own seats");
    }
}
