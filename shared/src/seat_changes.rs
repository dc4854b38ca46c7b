//! What the ticket role publishes when seats change and the realtime role pushes to sockets as
//! `seats.changed`: the message, the seat states it carries, and the channel it goes out on.
//!
//! The ticket role assigns the version inside the Lua call that publishes (an `INCR`, atomic with
//! the publish, so messages leave in version order without gaps). The message is therefore
//! serialized here with its version left open ([`SeatsChanged::around_version`]) and the script
//! only writes the number between the two halves.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ids::{EventId, SeatId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum SeatStatus {
    Available,
    Held,
    Sold,
}

/// One seat's new status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatDelta {
    pub id: SeatId,
    pub status: SeatStatus,
}

/// Published on [`channel`] after a seat change commits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatsChanged {
    pub event_id: EventId,
    /// The seat map's version after this change (the seat map's ETag and `version`).
    pub version: i64,
    pub seats: Vec<SeatDelta>,
}

/// The message serialized up to its version and after it: `before + <version> + after` is the
/// message at that version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AroundVersion {
    pub before: String,
    pub after: String,
}

impl AroundVersion {
    /// The message at `version`, joined as the publishing script joins it.
    pub fn at(&self, version: i64) -> String {
        format!("{}{version}{}", self.before, self.after)
    }
}

/// Stands in for the version while serializing; no other part of the message (UUIDs and status
/// names) can contain this number.
const VERSION_SLOT: i64 = i64::MIN;

impl SeatsChanged {
    /// The message with its version left open, for a publisher that assigns the version later.
    /// `self.version` is ignored.
    pub fn around_version(&self) -> serde_json::Result<AroundVersion> {
        let text = serde_json::to_string(&Self { version: VERSION_SLOT, ..self.clone() })?;
        let slot = VERSION_SLOT.to_string();
        let (before, after) = text
            .split_once(&slot)
            .ok_or_else(|| serde::ser::Error::custom("the version is missing from the serialized message"))?;
        Ok(AroundVersion { before: before.to_owned(), after: after.to_owned() })
    }
}

const CHANNEL_PREFIX: &str = "seats:";

/// The pub/sub channel of an event's seat changes (without the deployment's key prefix).
/// The key (before the Redis prefix) of an event's seat-map version counter.
pub fn version_key(event: EventId) -> String {
    format!("{{ev:{event}}}:seatver")
}

pub fn channel(event: EventId) -> String {
    format!("{CHANNEL_PREFIX}{event}")
}

/// The event whose seat changes `topic` carries (a topic from [`channel`]).
pub fn event_of_channel(topic: &str) -> Option<EventId> {
    topic.strip_prefix(CHANNEL_PREFIX)?.parse().ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn change() -> SeatsChanged {
        SeatsChanged {
            event_id: EventId::new(),
            version: 0,
            seats: vec![
                SeatDelta { id: SeatId::new(), status: SeatStatus::Held },
                SeatDelta { id: SeatId::new(), status: SeatStatus::Available },
            ],
        }
    }

    #[test]
    fn a_message_completed_with_its_version_reads_as_the_typed_message() {
        let change = change();
        let open = change.around_version().unwrap();
        // Versions start at the time in microseconds: large, and past 2^53 in time.
        for version in [1, 1_800_000_000_000_000, (1 << 53) + 1, i64::MAX] {
            let read: SeatsChanged = serde_json::from_str(&open.at(version)).unwrap();
            assert_eq!(read, SeatsChanged { version, ..change.clone() });
        }
    }

    #[test]
    fn the_open_message_is_the_serialized_message() {
        let change = SeatsChanged { version: 42, ..change() };
        assert_eq!(change.around_version().unwrap().at(42), serde_json::to_string(&change).unwrap());
    }

    #[test]
    fn a_channel_names_its_event() {
        let event = EventId::new();
        assert_eq!(channel(event), format!("seats:{event}"));
        assert_eq!(event_of_channel(&channel(event)), Some(event));
        assert_eq!(event_of_channel(&format!("queue:{event}")), None);
        assert_eq!(event_of_channel("seats:42"), None);
    }
}
