//! What the ticket role (which owns the waiting room) and the realtime role (which pushes
//! positions to sockets) say to each other: the internal watch call and the progress message
//! every admission step publishes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{EventId, UserId};

/// The most buyers one watch call may ask about.
pub const WATCH_BATCH: usize = 1000;

/// `POST /internal/ticket/events/{id}/queue/watch`: where each of these buyers stands now.
/// Waiting buyers asked about count as present (an open socket keeps its place).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WatchRequest {
    pub users: Vec<UserId>,
    /// Receipts of some of these buyers, shown again after the room lost its state: each puts
    /// its buyer back where it says before the standings are read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub receipts: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WatchReply {
    /// Admissions so far when the positions were read (as in [`Progress::served`]).
    pub served: i64,
    pub queue_size: i64,
    /// Smoothed admissions per second (0 until measured).
    pub rate: f64,
    /// The room's generation (as in [`Progress::epoch`]).
    #[serde(default)]
    pub epoch: i64,
    /// One per requested user, in request order.
    pub standings: Vec<Standing>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Standing {
    /// `position` 1 = next to be admitted.
    Waiting {
        position: i64,
        /// The waiter's place, signed: kept to be shown again should the room lose its state.
        #[serde(default)]
        receipt: Option<String>,
    },
    /// Joined before the opening; the order is drawn at the opening.
    PreQueue {
        size: i64,
        #[serde(default)]
        receipt: Option<String>,
    },
    Admitted {
        admission_token: String,
        expires_at: DateTime<Utc>,
    },
    /// Not in this event's waiting room (never joined, left, or lost the place).
    Absent,
}

const CHANNEL_PREFIX: &str = "queue:";

/// The pub/sub channel of an event's [`Progress`] messages (without the deployment's key prefix).
pub fn channel(event: EventId) -> String {
    format!("{CHANNEL_PREFIX}{event}")
}

/// The event whose progress `topic` carries (a topic from [`channel`]).
pub fn event_of_channel(topic: &str) -> Option<EventId> {
    topic.strip_prefix(CHANNEL_PREFIX)?.parse().ok()
}

/// Published by every admission step on [`channel`] (under the key prefix). A waiter's position moves
/// by the growth of `served`: buyers admitted ahead of them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Progress {
    pub event_id: uuid::Uuid,
    pub served: i64,
    pub queue_size: i64,
    #[serde(default)]
    pub rate: f64,
    /// Buyers admitted by this step.
    #[serde(default)]
    pub admitted: Vec<UserId>,
    /// The room's state's generation: a new one means Redis lost the room (positions and
    /// `served` start over from a checkpoint; waiters come back by showing their receipts).
    #[serde(default)]
    pub epoch: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_channel_names_its_event() {
        let event = EventId::new();
        assert_eq!(channel(event), format!("queue:{event}"));
        assert_eq!(event_of_channel(&channel(event)), Some(event));
        assert_eq!(event_of_channel(&format!("seats:{event}")), None);
    }
}
