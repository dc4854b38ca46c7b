//! The process's subscriptions and fan-out. One Redis subscription per channel per process
//! (the pump asks the hub which channels are wanted); every message is turned into socket
//! messages here and queued on each socket's bounded [`Outbox`] without waiting for anyone.
//!
//! Seat changes: coalesced per event into windows. The first change after a quiet spell goes out at
//! once; later ones gather until `seats_every` has passed since the last message, then leave as one
//! `seats.changed` carrying every change of the window (`from_version`..=`version`, each seat's
//! latest status), serialized once and shared by every socket. A socket whose outbox is backed up
//! skips windows instead of queueing them; once it drains it is sent the latest window, whose
//! `from_version` shows the gap, and the client reloads the snapshot (the latest state). A window
//! too big to push (a bulk change) goes out as `seats.reload` (reload the snapshot) instead.
//!
//! Queue positions: a waiter's position is read exactly (in batches, through the ticket role's
//! watch call) when they subscribe and every `presence_every`, and moved in between by the growth
//! of `served` in the progress messages admission steps publish. Admission tokens are fetched the
//! moment a step names a local waiter among the admitted.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use tiketi_shared::ids::{SeatId, UserId};
use tiketi_shared::seat_changes::{SeatDelta, SeatsChanged};
use tiketi_shared::waiting_room::{Progress, Standing, WatchReply};
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;
use uuid::Uuid;

use crate::protocol::{Channel, ServerMessage};

/// A socket's outgoing queue: bounded, never waited on by the sender. A client that lets it fill
/// up is dropped (its session sees [`Outbox::is_dropped`]).
pub struct Outbox {
    pub id: u64,
    pub user: UserId,
    queue: Mutex<VecDeque<Utf8Bytes>>,
    capacity: usize,
    ready: Notify,
    gone: Notify,
    dropped: AtomicBool,
}

impl Outbox {
    pub fn new(user: UserId, capacity: usize) -> Arc<Self> {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Arc::new(Self {
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            user,
            queue: Mutex::new(VecDeque::new()),
            capacity,
            ready: Notify::new(),
            gone: Notify::new(),
            dropped: AtomicBool::new(false),
        })
    }

    /// Queues `message`; answers false (and marks the socket for dropping) if it is full.
    pub fn push(&self, message: Utf8Bytes) -> bool {
        if self.dropped.load(Ordering::Relaxed) {
            return false;
        }
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        if queue.len() >= self.capacity {
            drop(queue);
            self.dropped.store(true, Ordering::Relaxed);
            self.ready.notify_one();
            self.gone.notify_one();
            return false;
        }
        queue.push_back(message);
        drop(queue);
        self.ready.notify_one();
        true
    }

    pub fn pop(&self) -> Option<Utf8Bytes> {
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        let message = queue.pop_front();
        if queue.is_empty() && queue.capacity() > 4 {
            // An idle socket keeps no buffer from a burst.
            queue.shrink_to(0);
        }
        message
    }

    /// Half full or more: the client reads more slowly than messages come.
    pub fn is_backed_up(&self) -> bool {
        let queued = self.queue.lock().unwrap_or_else(PoisonError::into_inner).len();
        queued * 2 >= self.capacity.max(2)
    }

    pub fn is_dropped(&self) -> bool {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Resolves when something was queued or the socket was dropped.
    pub async fn ready(&self) {
        self.ready.notified().await;
    }

    /// Resolves when the socket is dropped for being too slow (also mid-write).
    pub async fn dropped(&self) {
        if !self.is_dropped() {
            self.gone.notified().await;
        }
    }
}

/// Timings of position pushes.
#[derive(Debug, Clone, Copy)]
pub struct Pacing {
    /// A waiter hears at least this often, even when nothing moved.
    pub heartbeat: Duration,
    /// A moved position goes out at once, but no more often than this per socket.
    pub min_gap: Duration,
    /// A move smaller than this percentage of the place last told waits for the heartbeat: far
    /// back in a long queue every admission step moves everyone a little, and telling 50,000
    /// sockets each step what they could not tell apart is what made the pushes late. Every move
    /// of the first places still goes out (at least one place is always a move worth telling).
    pub min_move_percent: u32,
    /// Exact positions are re-read (and presence refreshed) this often.
    pub presence_every: Duration,
    /// How often [`Hub::tick`] runs.
    pub tick: Duration,
    /// A socket hears at most one `seats.changed` per event this often.
    pub seats_every: Duration,
}

impl Pacing {
    /// The smallest move from place `last` that goes out before the heartbeat.
    fn min_move(&self, last: i64) -> i64 {
        (last.saturating_mul(i64::from(self.min_move_percent)) / 100).max(1)
    }
}

/// What a waiter's socket knows of their place.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Place {
    /// Looked up, no answer yet.
    Unknown,
    /// `position` when `served` admissions had been made.
    Waiting {
        position: i64,
        served: i64,
    },
    PreQueue {
        size: i64,
    },
    Admitted,
}

struct Waiter {
    outbox: Arc<Outbox>,
    place: Place,
    last_sent: Option<(i64, Instant)>,
    /// The latest receipt the ticket role gave for this waiter's place.
    receipt: Option<String>,
    /// The receipt was shown since the last standing read: absent now means the place is gone.
    shown: bool,
}

struct Room {
    /// The room's generation as last heard (0: not yet).
    epoch: i64,
    served: i64,
    queue_size: i64,
    rate: f64,
    waiters: HashMap<u64, Waiter>,
    refreshed_at: Instant,
    /// When the last admission step was heard, and the time between the last two (at most a
    /// heartbeat): a small move is told with the step nearest its heartbeat.
    stepped_at: Option<Instant>,
    step_gap: Duration,
}

/// Why positions are being looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flush {
    /// An admission step moved every waiter.
    Step,
    /// The periodic tick, or exact positions just read.
    Other,
}

/// Where `place` stands once `served` admissions have been made: moved by those admitted since
/// it was read, never below 1 (the next lookup corrects it).
fn position(place: Place, served: i64) -> Option<i64> {
    match place {
        Place::Waiting { position, served: at } => Some((position - (served - at)).max(1)),
        Place::PreQueue { size } => Some(size.max(1)),
        Place::Unknown | Place::Admitted => None,
    }
}

impl Room {
    /// Queues a read of every waiter not yet admitted, showing the receipt of each that has one.
    fn show_receipts(
        &mut self,
        event: Uuid,
        pending: &mut HashMap<Uuid, HashSet<UserId>>,
        showing: &mut HashMap<Uuid, HashMap<UserId, String>>,
    ) {
        for waiter in self.waiters.values_mut().filter(|w| w.place != Place::Admitted) {
            pending.entry(event).or_default().insert(waiter.outbox.user);
            if let Some(receipt) = &waiter.receipt {
                waiter.shown = true;
                showing.entry(event).or_default().insert(waiter.outbox.user, receipt.clone());
            }
        }
    }

    /// Pushes positions that moved enough (at most every `min_gap`) or are due a heartbeat.
    ///
    /// A heartbeat that carries a move rides the admission step nearest to it, so it is as fresh
    /// as the step, and the steps share the heartbeats out between them; a tick sends only
    /// heartbeats of places that did not move (or, should steps stop, late ones).
    fn flush(&mut self, event: Uuid, now: Instant, pacing: Pacing, why: Flush) -> u64 {
        let mut sent = 0;
        let (served, queue_size, rate) = (self.served, self.queue_size, self.rate);
        let tick_heartbeat = pacing.heartbeat.saturating_sub(pacing.tick);
        for waiter in self.waiters.values_mut() {
            let Some(position) = position(waiter.place, served) else { continue };
            let due = match waiter.last_sent {
                None => true,
                Some((last, at)) => {
                    let since = now.saturating_duration_since(at);
                    let worth_telling = (last - position).abs() >= pacing.min_move(last);
                    let heartbeat = match why {
                        // The step nearest the heartbeat: late by at most half a step's gap.
                        Flush::Step => since + self.step_gap / 2 > pacing.heartbeat,
                        Flush::Other if last == position => since >= tick_heartbeat,
                        Flush::Other => since >= pacing.heartbeat + self.step_gap,
                    };
                    (worth_telling && since >= pacing.min_gap) || heartbeat
                }
            };
            if !due {
                continue;
            }
            let ahead = position - 1;
            #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
            let eta_seconds = (rate > 0.001).then(|| (ahead as f64 / rate).ceil() as i64);
            let text =
                ServerMessage::QueuePosition { event_id: event, position, ahead, eta_seconds, queue_size, served }
                    .text();
            if waiter.outbox.push(text.into()) {
                sent += 1;
            }
            waiter.last_sent = Some((position, now));
        }
        sent
    }
}

/// A window bigger than this goes out as `seats.reload` instead (well under the socket's write
/// buffer limit).
pub const MAX_WINDOW_BYTES: usize = 64 * 1024;

/// The changes gathered since an event's last `seats.changed`: versions `from..=to`, contiguous.
struct Window {
    from: i64,
    to: i64,
    seats: Vec<SeatDelta>,
    /// Where each seat is in `seats` (a seat that changes again keeps its place, new status).
    at: HashMap<SeatId, usize>,
}

impl Window {
    fn new(change: SeatsChanged) -> Self {
        let mut window = Window { from: change.version, to: change.version, seats: Vec::new(), at: HashMap::new() };
        window.merge(change.seats);
        window
    }

    fn merge(&mut self, seats: Vec<SeatDelta>) {
        for delta in seats {
            match self.at.get(&delta.id) {
                Some(&i) => self.seats[i] = delta,
                None => {
                    self.at.insert(delta.id, self.seats.len());
                    self.seats.push(delta);
                }
            }
        }
    }
}

struct SeatSub {
    outbox: Arc<Outbox>,
    /// Skipped a window while backed up: owed the latest window once it drains.
    behind: bool,
}

/// An event's seat-map subscribers and the window being gathered for them.
#[derive(Default)]
struct SeatRoom {
    subs: HashMap<u64, SeatSub>,
    /// The newest seat-map version this process knows of: read when the channel went live, then
    /// every pushed change. A subscriber is told it, so a snapshot older than the subscription
    /// (changes published before it) is refetched instead of staying stale while nothing moves.
    version: i64,
    window: Option<Window>,
    last_sent: Option<Instant>,
    /// The last window sent, for sockets that skipped windows.
    latest: Option<Utf8Bytes>,
}

impl SeatRoom {
    /// Adds a published change; sends the window when it is due. Answers messages queued.
    fn add(&mut self, event: Uuid, change: SeatsChanged, now: Instant, every: Duration) -> u64 {
        let mut sent = 0;
        match &mut self.window {
            Some(window) if change.version == window.to + 1 => {
                window.to = change.version;
                window.merge(change.seats);
            }
            Some(_) => {
                // Not contiguous (a Redis restart or a lost subscription): the window before the
                // gap leaves alone, so clients see the gap in `from_version` and reload.
                sent += self.send(event, now);
                self.window = Some(Window::new(change));
            }
            None => self.window = Some(Window::new(change)),
        }
        if self.last_sent.is_none_or(|at| now.saturating_duration_since(at) >= every) {
            sent += self.send(event, now);
        }
        sent
    }

    /// Sends the gathered window (if due) and what sockets that skipped windows are owed.
    fn tick(&mut self, event: Uuid, now: Instant, every: Duration) -> u64 {
        let mut sent = 0;
        if self.window.is_some() && self.last_sent.is_none_or(|at| now.saturating_duration_since(at) >= every) {
            sent += self.send(event, now);
        }
        if let Some(latest) = &self.latest {
            for sub in self.subs.values_mut().filter(|s| s.behind && !s.outbox.is_backed_up()) {
                sub.behind = false;
                sent += u64::from(sub.outbox.push(latest.clone()));
            }
        }
        sent
    }

    fn send(&mut self, event: Uuid, now: Instant) -> u64 {
        let Some(window) = self.window.take() else { return 0 };
        let mut text = ServerMessage::SeatsChanged {
            event_id: event,
            from_version: window.from,
            version: window.to,
            seats: &window.seats,
        }
        .text();
        if text.len() > MAX_WINDOW_BYTES {
            // A bulk change: cheaper to reload the snapshot than to push it to every socket.
            text = ServerMessage::SeatsReload { event_id: event, version: window.to }.text();
        }
        let text = Utf8Bytes::from(text);
        self.last_sent = Some(now);
        let mut sent = 0;
        for sub in self.subs.values_mut() {
            if sub.outbox.is_backed_up() {
                sub.behind = true;
                metrics::counter!("tiketi_realtime_seat_windows_skipped_total").increment(1);
            } else {
                sub.behind = false;
                sent += u64::from(sub.outbox.push(text.clone()));
            }
        }
        self.latest = Some(text);
        sent
    }
}

#[derive(Default)]
struct Inner {
    seats: HashMap<Uuid, SeatRoom>,
    rooms: HashMap<Uuid, Room>,
    /// Buyers whose standing to read, per event.
    pending: HashMap<Uuid, HashSet<UserId>>,
    /// Receipts to show with the next read of their buyers, per event (the room lost its state).
    showing: HashMap<Uuid, HashMap<UserId, String>>,
    /// Channels the pump has subscribed to in Redis.
    live: HashSet<Channel>,
    /// Sockets waiting for a channel to go live before hearing `subscribed`.
    awaiting: HashMap<Channel, Vec<Arc<Outbox>>>,
}

pub struct Hub {
    inner: Mutex<Inner>,
    pacing: Pacing,
    /// Channels whose wanted-ness changed, for the pump to reconcile.
    pump: mpsc::UnboundedSender<Channel>,
    /// Wakes the lookup task.
    lookups: Notify,
}

impl Hub {
    /// A hub and the receiver of channels the Redis pump must reconcile.
    pub fn new(pacing: Pacing) -> (Arc<Self>, mpsc::UnboundedReceiver<Channel>) {
        let (pump, changes) = mpsc::unbounded_channel();
        (Arc::new(Self { inner: Mutex::default(), pacing, pump, lookups: Notify::new() }), changes)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn subscribe(&self, outbox: &Arc<Outbox>, channel: Channel) {
        let mut inner = self.lock();
        let first = match channel {
            Channel::Seats(event) => {
                let room = inner.seats.entry(event).or_default();
                room.subs.insert(outbox.id, SeatSub { outbox: outbox.clone(), behind: false });
                room.subs.len() == 1
            }
            Channel::Queue(event) => {
                let room = inner.rooms.entry(event).or_insert_with(|| Room {
                    epoch: 0,
                    served: 0,
                    queue_size: 0,
                    rate: 0.0,
                    waiters: HashMap::new(),
                    refreshed_at: Instant::now(),
                    stepped_at: None,
                    step_gap: Duration::ZERO,
                });
                let waiter = Waiter {
                    outbox: outbox.clone(),
                    place: Place::Unknown,
                    last_sent: None,
                    receipt: None,
                    shown: false,
                };
                room.waiters.insert(outbox.id, waiter);
                let first = room.waiters.len() == 1;
                inner.pending.entry(event).or_default().insert(outbox.user);
                self.lookups.notify_one();
                first
            }
        };
        if inner.live.contains(&channel) {
            let version = seats_version(&inner, channel);
            outbox.push(subscribed(channel, version));
        } else {
            inner.awaiting.entry(channel).or_default().push(outbox.clone());
        }
        drop(inner);
        if first {
            let _ = self.pump.send(channel);
        }
    }

    pub fn unsubscribe(&self, outbox_id: u64, channel: Channel) {
        let mut inner = self.lock();
        let last = match channel {
            Channel::Seats(event) => remove_from(&mut inner.seats, event, |room| {
                room.subs.remove(&outbox_id);
                room.subs.is_empty()
            }),
            Channel::Queue(event) => remove_from(&mut inner.rooms, event, |room| {
                room.waiters.remove(&outbox_id);
                room.waiters.is_empty()
            }),
        };
        if let Some(waiting) = inner.awaiting.get_mut(&channel) {
            waiting.retain(|o| o.id != outbox_id);
        }
        drop(inner);
        if last {
            let _ = self.pump.send(channel);
        }
    }

    /// The seat map version a subscriber of `channel` is told.
    pub fn seats_version_of(&self, channel: Channel) -> Option<i64> {
        seats_version(&self.lock(), channel)
    }

    /// Whether some local socket wants `channel` (asked by the pump).
    pub fn wants(&self, channel: Channel) -> bool {
        let inner = self.lock();
        match channel {
            Channel::Seats(event) => inner.seats.contains_key(&event),
            Channel::Queue(event) => inner.rooms.contains_key(&event),
        }
    }

    pub fn wanted(&self) -> Vec<Channel> {
        let inner = self.lock();
        inner.seats.keys().map(|&e| Channel::Seats(e)).chain(inner.rooms.keys().map(|&e| Channel::Queue(e))).collect()
    }

    /// The pump subscribed to `channel` in Redis: everything published from now on arrives. For
    /// a seat channel, `version` is the seat map's version read after that.
    pub fn live(&self, channel: Channel, version: Option<i64>) {
        let mut inner = self.lock();
        inner.live.insert(channel);
        if let (Channel::Seats(event), Some(version)) = (channel, version)
            && let Some(room) = inner.seats.get_mut(&event)
        {
            room.version = room.version.max(version);
        }
        let version = seats_version(&inner, channel);
        for outbox in inner.awaiting.remove(&channel).unwrap_or_default() {
            outbox.push(subscribed(channel, version));
        }
    }

    /// The pump unsubscribed (or lost its connection: `channel` None = all).
    pub fn not_live(&self, channel: Option<Channel>) {
        let mut inner = self.lock();
        match channel {
            Some(channel) => {
                inner.live.remove(&channel);
            }
            None => {
                inner.live.clear();
                // Progress may have been missed: re-read every waiter.
                let Inner { rooms, pending, .. } = &mut *inner;
                for (event, room) in rooms.iter() {
                    pending.entry(*event).or_default().extend(room.waiters.values().map(|w| w.outbox.user));
                }
                self.lookups.notify_one();
            }
        }
    }

    /// A message published on `channel`. Answers how many sockets it was queued for.
    pub fn deliver(&self, channel: Channel, payload: &str) -> u64 {
        match channel {
            Channel::Seats(event) => match serde_json::from_str::<SeatsChanged>(payload) {
                Ok(change) => self.seats_changed(event, change, Instant::now()),
                Err(e) => {
                    tracing::warn!(%event, error = %e, "unreadable seat change message");
                    0
                }
            },
            Channel::Queue(event) => match serde_json::from_str::<Progress>(payload) {
                Ok(progress) => self.progress(event, &progress, Instant::now()),
                Err(e) => {
                    tracing::warn!(%event, error = %e, "unreadable queue progress message");
                    0
                }
            },
        }
    }

    fn seats_changed(&self, event: Uuid, change: SeatsChanged, now: Instant) -> u64 {
        let mut inner = self.lock();
        let Some(room) = inner.seats.get_mut(&event) else { return 0 };
        room.version = room.version.max(change.version);
        room.add(event, change, now, self.pacing.seats_every)
    }

    /// Sends seat-change windows that are due (run every few tens of milliseconds).
    pub fn tick_seats(&self, now: Instant) -> u64 {
        let mut inner = self.lock();
        inner.seats.iter_mut().map(|(event, room)| room.tick(*event, now, self.pacing.seats_every)).sum()
    }

    fn progress(&self, event: Uuid, progress: &Progress, now: Instant) -> u64 {
        let mut inner = self.lock();
        let Inner { rooms, pending, showing, .. } = &mut *inner;
        let Some(room) = rooms.get_mut(&event) else { return 0 };
        if progress.epoch < room.epoch {
            return 0; // a lost generation's message
        }
        if progress.epoch > room.epoch {
            if room.epoch > 0 {
                // Redis lost the room: show every waiter's receipt with its next read.
                room.served = progress.served;
                room.show_receipts(event, pending, showing);
                self.lookups.notify_one();
            }
            room.epoch = progress.epoch;
        }
        if progress.served < room.served {
            return 0; // an older step's message
        }
        room.served = progress.served;
        room.queue_size = progress.queue_size;
        room.rate = progress.rate;
        if let Some(at) = room.stepped_at.replace(now) {
            room.step_gap = now.saturating_duration_since(at).min(self.pacing.heartbeat);
        }
        let mut wanted: Vec<UserId> = Vec::new();
        let admitted: HashSet<&UserId> = progress.admitted.iter().collect();
        for waiter in room.waiters.values() {
            // Admitted ones get their token; the pre-queue has been drawn by now.
            if admitted.contains(&waiter.outbox.user) || matches!(waiter.place, Place::PreQueue { .. }) {
                wanted.push(waiter.outbox.user);
            }
        }
        if !wanted.is_empty() {
            pending.entry(event).or_default().extend(wanted);
            self.lookups.notify_one();
        }
        room.flush(event, now, self.pacing, Flush::Step)
    }

    /// Periodic work: heartbeats and delayed moves, and presence refresh. Answers messages queued.
    pub fn tick(&self, now: Instant) -> u64 {
        let mut inner = self.lock();
        let Inner { rooms, pending, .. } = &mut *inner;
        let mut sent = 0;
        for (event, room) in rooms.iter_mut() {
            if now.saturating_duration_since(room.refreshed_at) >= self.pacing.presence_every {
                room.refreshed_at = now;
                let users = room.waiters.values().filter(|w| w.place != Place::Admitted).map(|w| w.outbox.user);
                pending.entry(*event).or_default().extend(users);
                self.lookups.notify_one();
            }
            sent += room.flush(*event, now, self.pacing, Flush::Other);
        }
        sent
    }

    /// Resolves when there are standings to read.
    pub async fn lookups_wanted(&self) {
        self.lookups.notified().await;
    }

    pub fn wake_lookups(&self) {
        self.lookups.notify_one();
    }

    /// The standings to read, per event (taken: a failed read is put back with [`Hub::retry`]).
    pub fn take_pending(&self) -> Vec<(Uuid, Vec<UserId>)> {
        let mut inner = self.lock();
        inner.pending.drain().map(|(event, users)| (event, users.into_iter().collect())).collect()
    }

    /// A read that failed, to try again (with the receipts it was to show).
    pub fn retry(&self, event: Uuid, users: &[UserId], receipts: Vec<(UserId, String)>) {
        let mut inner = self.lock();
        inner.pending.entry(event).or_default().extend(users.iter().copied());
        if !receipts.is_empty() {
            inner.showing.entry(event).or_default().extend(receipts);
        }
    }

    /// The receipts to show with a read of `users` (taken: see [`Hub::retry`]).
    pub fn receipts_for(&self, event: Uuid, users: &[UserId]) -> Vec<(UserId, String)> {
        let mut inner = self.lock();
        let Some(shown) = inner.showing.get_mut(&event) else { return Vec::new() };
        let receipts = users.iter().filter_map(|user| Some((*user, shown.remove(user)?))).collect();
        if shown.is_empty() {
            inner.showing.remove(&event);
        }
        receipts
    }

    /// Applies standings read for `users` (in order).
    pub fn apply(&self, event: Uuid, users: &[UserId], reply: &WatchReply, now: Instant) -> u64 {
        let mut inner = self.lock();
        let Inner { rooms, pending, showing, .. } = &mut *inner;
        let Some(room) = rooms.get_mut(&event) else { return 0 };
        if reply.epoch > room.epoch {
            // A new generation: its count of admissions starts from the checkpoint.
            if room.epoch > 0 {
                room.served = reply.served;
            }
            room.epoch = reply.epoch;
        }
        room.served = room.served.max(reply.served);
        room.queue_size = reply.queue_size;
        room.rate = reply.rate;
        let by_user: HashMap<&UserId, &Standing> = users.iter().zip(&reply.standings).collect();
        let mut gone = Vec::new();
        let mut sent = 0;
        for (id, waiter) in &mut room.waiters {
            let Some(standing) = by_user.get(&waiter.outbox.user) else { continue };
            let shown = std::mem::take(&mut waiter.shown);
            match standing {
                Standing::Waiting { position, receipt } => {
                    waiter.place = Place::Waiting { position: *position, served: reply.served };
                    waiter.receipt = receipt.clone().or(waiter.receipt.take());
                }
                Standing::PreQueue { size, receipt } => {
                    waiter.place = Place::PreQueue { size: *size };
                    waiter.receipt = receipt.clone().or(waiter.receipt.take());
                }
                // Admitted and told: in, whatever the room holds now (a lost room forgets
                // admissions; the buyer's token brings theirs back).
                Standing::Absent if waiter.place == Place::Admitted => {}
                Standing::Absent if !shown && waiter.receipt.is_some() => {
                    // Not found, but holding a receipt: the room may have lost its state. Show it.
                    let user = waiter.outbox.user;
                    waiter.shown = true;
                    showing.entry(event).or_default().insert(user, waiter.receipt.clone().unwrap_or_default());
                    pending.entry(event).or_default().insert(user);
                    self.lookups.notify_one();
                }
                Standing::Admitted { admission_token, expires_at } => {
                    if waiter.place != Place::Admitted {
                        waiter.place = Place::Admitted;
                        // The receipt was for a place in line: spent once admitted. Shown again
                        // after a loss, it would put this buyer back in line.
                        waiter.receipt = None;
                        let text =
                            ServerMessage::QueueAdmitted { event_id: event, admission_token, expires_at: *expires_at };
                        sent += u64::from(waiter.outbox.push(text.text().into()));
                    }
                }
                Standing::Absent => {
                    let channel = Channel::Queue(event).topic();
                    let text = ServerMessage::Error {
                        code: "NOT_IN_QUEUE",
                        detail: "not in this event's waiting room: join it (POST /api/events/{id}/queue), then subscribe",
                        channel: Some(&channel),
                    };
                    waiter.outbox.push(text.text().into());
                    gone.push(*id);
                }
            }
        }
        for id in gone {
            room.waiters.remove(&id);
        }
        let empty = room.waiters.is_empty();
        sent += room.flush(event, now, self.pacing, Flush::Other);
        if empty {
            inner.rooms.remove(&event);
            drop(inner);
            let _ = self.pump.send(Channel::Queue(event));
        }
        sent
    }

    /// Per-event counts, for tests and metrics: (seat subscribers, queue subscribers).
    pub fn counts(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.seats.values().map(|r| r.subs.len()).sum(), inner.rooms.values().map(|r| r.waiters.len()).sum())
    }

    /// The position a queue subscriber was last told, if any (tests).
    pub fn position_of(&self, event: Uuid, outbox_id: u64) -> Option<i64> {
        let inner = self.lock();
        let room = inner.rooms.get(&event)?;
        position(room.waiters.get(&outbox_id)?.place, room.served)
    }
}

fn subscribed(channel: Channel, version: Option<i64>) -> Utf8Bytes {
    ServerMessage::Subscribed { channel: &channel.topic(), version }.text().into()
}

/// The seat map version a seat channel's subscriber is told (none for other channels).
fn seats_version(inner: &Inner, channel: Channel) -> Option<i64> {
    match channel {
        Channel::Seats(event) => inner.seats.get(&event).map(|room| room.version),
        Channel::Queue(_) => None,
    }
}

/// Applies `change` to `map[key]`; removes the entry if it answers true (now empty).
fn remove_from<V>(map: &mut HashMap<Uuid, V>, key: Uuid, change: impl FnOnce(&mut V) -> bool) -> bool {
    let empty = map.get_mut(&key).is_some_and(change);
    if empty {
        map.remove(&key);
    }
    empty
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use serde_json::{Value, json};
    use tiketi_shared::seat_changes::SeatStatus;

    use super::*;

    fn hub() -> Arc<Hub> {
        let pacing = Pacing {
            heartbeat: Duration::from_secs(2),
            min_gap: Duration::from_millis(500),
            min_move_percent: 1,
            presence_every: Duration::from_secs(20),
            tick: Duration::from_millis(250),
            seats_every: Duration::from_millis(100),
        };
        Hub::new(pacing).0
    }

    fn drain(outbox: &Outbox) -> Vec<Value> {
        std::iter::from_fn(|| outbox.pop()).map(|m| serde_json::from_str(&m).unwrap()).collect()
    }

    fn reply(served: i64, standings: Vec<Standing>) -> WatchReply {
        WatchReply { served, queue_size: 100, rate: 2.0, epoch: 1, standings }
    }

    fn waiting(position: i64, receipt: Option<&str>) -> Standing {
        Standing::Waiting { position, receipt: receipt.map(str::to_owned) }
    }

    #[test]
    fn after_the_room_lost_its_state_waiters_receipts_are_shown_once_then_absence_is_told() {
        let hub = hub();
        let event = Uuid::now_v7();
        let (a, b) = (Outbox::new(UserId::new(), 64), Outbox::new(UserId::new(), 64));
        hub.subscribe(&a, Channel::Queue(event));
        hub.subscribe(&b, Channel::Queue(event));
        hub.take_pending();
        let t0 = Instant::now();
        let users = [a.user, b.user];
        hub.apply(event, &users, &reply(50, vec![waiting(3, Some("ra")), waiting(9, Some("rb"))]), t0);
        drain(&a);
        drain(&b);

        // A step of the next generation: every waiter is read again, showing its receipt.
        let progress = Progress { event_id: event, served: 48, queue_size: 0, rate: 0.0, admitted: vec![], epoch: 2 };
        hub.progress(event, &progress, t0 + Duration::from_millis(100));
        let mut pending = hub.take_pending();
        pending[0].1.sort();
        let mut both = users.to_vec();
        both.sort();
        assert_eq!(pending, vec![(event, both)]);
        let mut shown = hub.receipts_for(event, &users);
        shown.sort();
        let mut expected = vec![(a.user, "ra".to_owned()), (b.user, "rb".to_owned())];
        expected.sort();
        assert_eq!(shown, expected);
        assert!(hub.receipts_for(event, &users).is_empty(), "taken once");
        let older = Progress { event_id: event, served: 60, queue_size: 5, rate: 1.0, admitted: vec![], epoch: 1 };
        assert_eq!(hub.progress(event, &older, t0 + Duration::from_millis(150)), 0, "the lost generation is ignored");

        // a came back; b's receipt did not bring it back: told, unsubscribed.
        let mut next = reply(48, vec![waiting(3, Some("ra2")), Standing::Absent]);
        next.epoch = 2;
        hub.apply(event, &users, &next, t0 + Duration::from_millis(200));
        assert_eq!(hub.position_of(event, a.id), Some(3));
        assert_eq!(drain(&b).last().unwrap()["code"], "NOT_IN_QUEUE");
        assert_eq!(hub.counts(), (0, 1));

        // Found absent without a loss being announced (say the pump reconnected first): the
        // receipt is shown before giving up.
        hub.apply(
            event,
            &[a.user],
            &{
                let mut r = reply(48, vec![Standing::Absent]);
                r.epoch = 2;
                r
            },
            t0 + Duration::from_millis(300),
        );
        assert!(drain(&a).is_empty(), "not told yet");
        assert_eq!(hub.take_pending(), vec![(event, vec![a.user])]);
        assert_eq!(hub.receipts_for(event, &[a.user]), vec![(a.user, "ra2".to_owned())]);
        hub.apply(
            event,
            &[a.user],
            &{
                let mut r = reply(48, vec![Standing::Absent]);
                r.epoch = 2;
                r
            },
            t0 + Duration::from_millis(400),
        );
        assert_eq!(drain(&a).last().unwrap()["code"], "NOT_IN_QUEUE");
    }

    #[test]
    fn positions_move_with_progress_paced_and_admission_and_absence_are_told() {
        let hub = hub();
        let event = Uuid::now_v7();
        let (a, b) = (Outbox::new(UserId::new(), 64), Outbox::new(UserId::new(), 64));
        hub.subscribe(&a, Channel::Queue(event));
        hub.subscribe(&b, Channel::Queue(event));
        let mut pending = hub.take_pending();
        assert_eq!(pending.len(), 1, "both waiters are looked up in one batch");
        pending[0].1.sort();
        let t0 = Instant::now();
        let users = [a.user, b.user];
        hub.apply(event, &users, &reply(5, vec![waiting(10, None), waiting(40, None)]), t0);
        let first = drain(&a);
        assert_eq!(first[0]["type"], "queue.position");
        assert_eq!((first[0]["position"].as_i64(), first[0]["ahead"].as_i64()), (Some(10), Some(9)));
        assert_eq!(first[0]["eta_seconds"], 5, "9 ahead at 2 admissions a second");
        assert_eq!(drain(&b)[0]["position"], 40);

        // Three admitted ahead, 100 ms later: moved, but inside the minimum gap.
        let progress = Progress { event_id: event, served: 8, queue_size: 97, rate: 2.0, admitted: vec![], epoch: 1 };
        hub.progress(event, &progress, t0 + Duration::from_millis(100));
        assert!(drain(&a).is_empty());
        hub.tick(t0 + Duration::from_millis(600));
        assert_eq!(drain(&a)[0]["position"], 7, "sent once the gap passed");
        assert_eq!(drain(&b)[0]["position"], 37);
        hub.tick(t0 + Duration::from_millis(1000));
        assert!(drain(&a).is_empty(), "nothing new and no heartbeat due yet");
        hub.tick(t0 + Duration::from_millis(2400));
        assert_eq!(drain(&a)[0]["position"], 7, "heartbeat while nothing moves");

        // An admission naming a waits for the token lookup; b is found gone.
        let progress =
            Progress { event_id: event, served: 20, queue_size: 80, rate: 2.0, admitted: vec![a.user], epoch: 1 };
        hub.progress(event, &progress, t0 + Duration::from_millis(3000));
        assert_eq!(hub.take_pending(), vec![(event, vec![a.user])]);
        let admitted = Standing::Admitted { admission_token: "tok".into(), expires_at: chrono::Utc::now() };
        hub.apply(event, &users, &reply(20, vec![admitted, Standing::Absent]), t0 + Duration::from_millis(3100));
        let told = drain(&a);
        assert_eq!(told.last().unwrap()["type"], "queue.admitted");
        assert_eq!(told.last().unwrap()["admission_token"], "tok");
        let gone = drain(&b);
        assert_eq!(gone.last().unwrap()["code"], "NOT_IN_QUEUE");
        assert_eq!(hub.counts(), (0, 1), "the absent waiter is unsubscribed");
        hub.tick(t0 + Duration::from_secs(10));
        assert!(drain(&a).is_empty(), "no positions after admission");
    }

    #[test]
    fn far_back_a_small_move_waits_for_the_heartbeat_near_the_front_every_move_goes() {
        let hub = hub();
        let event = Uuid::now_v7();
        let (near, far) = (Outbox::new(UserId::new(), 64), Outbox::new(UserId::new(), 64));
        hub.subscribe(&near, Channel::Queue(event));
        hub.subscribe(&far, Channel::Queue(event));
        hub.take_pending();
        let t0 = Instant::now();
        hub.apply(event, &[near.user, far.user], &reply(0, vec![waiting(150, None), waiting(20_000, None)]), t0);
        drain(&near);
        drain(&far);

        let step = |served: i64, at_ms: u64| {
            let progress =
                Progress { event_id: event, served, queue_size: 20_000, rate: 10.0, admitted: vec![], epoch: 1 };
            hub.progress(event, &progress, t0 + Duration::from_millis(at_ms));
        };
        step(10, 600);
        assert_eq!(drain(&near)[0]["position"], 140, "near the front one step is worth telling");
        assert!(drain(&far).is_empty(), "10 of 20,000 places: not yet");
        step(150, 1200);
        assert_eq!(drain(&near)[0]["position"], 1, "never below the first place");
        assert!(drain(&far).is_empty(), "150 of 20,000 places: still under 1 %");
        step(210, 1800);
        assert_eq!(drain(&far)[0]["position"], 19_790, "210 places is 1 %: told at once");
        step(220, 2400);
        step(230, 3000);
        hub.tick(t0 + Duration::from_millis(3500));
        assert!(drain(&far).is_empty(), "small moves, and no heartbeat late before the next step");
        step(240, 3600);
        assert_eq!(drain(&far)[0]["position"], 19_760, "the step before the heartbeat would be late");

        // Steps stop after a small move: a tick tells it once the heartbeat is a step's gap late.
        step(250, 4200);
        hub.tick(t0 + Duration::from_millis(5500));
        assert!(drain(&far).is_empty(), "a step could still come");
        hub.tick(t0 + Duration::from_millis(6250));
        assert_eq!(drain(&far)[0]["position"], 19_750, "no step came");
        hub.tick(t0 + Duration::from_millis(7900));
        assert!(drain(&far).is_empty());
        hub.tick(t0 + Duration::from_millis(8100));
        assert_eq!(drain(&far)[0]["position"], 19_750, "a heartbeat while nothing moves");
    }

    fn change(version: i64, seats: &[(SeatId, SeatStatus)]) -> SeatsChanged {
        let seats = seats.iter().map(|&(id, status)| SeatDelta { id, status }).collect();
        SeatsChanged { event_id: tiketi_shared::ids::EventId::new(), version, seats }
    }

    #[test]
    fn seat_subscribers_are_told_the_newest_version_so_an_older_snapshot_is_refetched() {
        let hub = hub();
        let event = Uuid::now_v7();
        let early = Outbox::new(UserId::new(), 8);
        hub.subscribe(&early, Channel::Seats(event));
        assert!(drain(&early).is_empty(), "nothing before the subscription is live");
        hub.live(Channel::Seats(event), Some(41));
        let told = drain(&early);
        assert_eq!((told[0]["type"].as_str(), told[0]["version"].as_i64()), (Some("subscribed"), Some(41)));

        hub.seats_changed(event, change(42, &[(SeatId::new(), SeatStatus::Held)]), Instant::now());
        let late = Outbox::new(UserId::new(), 8);
        hub.subscribe(&late, Channel::Seats(event));
        assert_eq!(drain(&late)[0]["version"], 42, "a later subscriber learns the pushed version");
        let waiter = Outbox::new(UserId::new(), 8);
        hub.subscribe(&waiter, Channel::Queue(event));
        hub.live(Channel::Queue(event), None);
        assert!(drain(&waiter)[0].get("version").is_none(), "queue channels carry no version");
    }

    #[test]
    fn seat_changes_leave_at_once_after_a_quiet_spell_then_coalesced_per_window() {
        let hub = hub();
        let event = Uuid::now_v7();
        let (a, b) = (Outbox::new(UserId::new(), 8), Outbox::new(UserId::new(), 8));
        hub.subscribe(&a, Channel::Seats(event));
        hub.subscribe(&b, Channel::Seats(event));
        hub.live(Channel::Seats(event), Some(0));
        drain(&a);
        drain(&b);
        let (x, y, z) = (SeatId::new(), SeatId::new(), SeatId::new());
        let t0 = Instant::now();
        assert_eq!(hub.seats_changed(event, change(10, &[(x, SeatStatus::Held)]), t0), 2, "the first goes out at once");
        let first = drain(&a);
        assert_eq!(drain(&b), first);
        assert_eq!((first[0]["from_version"].as_i64(), first[0]["version"].as_i64()), (Some(10), Some(10)));
        assert_eq!(first[0]["type"], "seats.changed");

        let ms = Duration::from_millis;
        hub.seats_changed(event, change(11, &[(y, SeatStatus::Held)]), t0 + ms(10));
        hub.seats_changed(event, change(12, &[(x, SeatStatus::Sold), (z, SeatStatus::Held)]), t0 + ms(20));
        hub.seats_changed(event, change(13, &[(y, SeatStatus::Available)]), t0 + ms(30));
        assert!(drain(&a).is_empty(), "inside the window: gathered");
        hub.tick_seats(t0 + ms(60));
        assert!(drain(&a).is_empty(), "not due yet");
        hub.tick_seats(t0 + ms(100));
        let window = drain(&a);
        assert_eq!(window.len(), 1);
        assert_eq!((window[0]["from_version"].as_i64(), window[0]["version"].as_i64()), (Some(11), Some(13)));
        let statuses: Vec<(String, String)> = window[0]["seats"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["id"].as_str().unwrap().to_owned(), s["status"].as_str().unwrap().to_owned()))
            .collect();
        let expected = [(y, "available"), (x, "sold"), (z, "held")].map(|(id, s)| (id.to_string(), s.to_owned()));
        assert_eq!(statuses, expected, "each seat once, at its latest status, in first-changed order");
        assert_eq!(drain(&b), window, "every socket gets the same message");

        // A gap in the published versions (Redis restarted): the window before it leaves alone.
        hub.seats_changed(event, change(14, &[(x, SeatStatus::Available)]), t0 + ms(150));
        hub.seats_changed(event, change(90, &[(z, SeatStatus::Available)]), t0 + ms(160));
        let sent = drain(&a);
        assert_eq!((sent[0]["from_version"].as_i64(), sent[0]["version"].as_i64()), (Some(14), Some(14)));
        hub.tick_seats(t0 + ms(300));
        assert_eq!(drain(&a)[0]["from_version"], 90, "the gap is visible to the client");
    }

    #[test]
    fn a_backed_up_socket_skips_windows_and_then_gets_the_latest_one() {
        let hub = hub();
        let event = Uuid::now_v7();
        let (slow, fast) = (Outbox::new(UserId::new(), 4), Outbox::new(UserId::new(), 4));
        hub.subscribe(&slow, Channel::Seats(event));
        hub.subscribe(&fast, Channel::Seats(event));
        hub.live(Channel::Seats(event), Some(0));
        drain(&fast);
        let seat = SeatId::new();
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        // `slow` never reads: `subscribed` and one window fill half its outbox.
        hub.seats_changed(event, change(1, &[(seat, SeatStatus::Held)]), t0);
        for (i, v) in (2..6).enumerate() {
            let at = t0 + ms(100 * (i as u64 + 1));
            hub.seats_changed(event, change(v, &[(seat, SeatStatus::Available)]), at);
            drain(&fast);
        }
        assert!(!slow.is_dropped(), "skipping windows, not overflowing");
        let queued = drain(&slow);
        assert_eq!(queued.len(), 2, "subscribed and the first window only");
        hub.tick_seats(t0 + ms(600));
        let owed = drain(&slow);
        assert_eq!(owed.len(), 1, "once drained, the latest window");
        assert_eq!((owed[0]["from_version"].as_i64(), owed[0]["version"].as_i64()), (Some(5), Some(5)));
        hub.tick_seats(t0 + ms(700));
        assert!(drain(&slow).is_empty(), "owed once");
    }

    #[test]
    fn a_full_outbox_drops_its_socket() {
        let outbox = Outbox::new(UserId::new(), 2);
        assert!(outbox.push("1".into()) && outbox.push("2".into()));
        assert!(!outbox.push("3".into()));
        assert!(outbox.is_dropped());
        assert!(!outbox.push("4".into()), "nothing more is queued for a dropped socket");
        assert_eq!(json!(drain_texts(&outbox)), json!(["1", "2"]));
    }

    fn drain_texts(outbox: &Outbox) -> Vec<String> {
        std::iter::from_fn(|| outbox.pop()).map(|m| m.to_string()).collect()
    }
}
