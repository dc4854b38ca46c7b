//! The WebSocket protocol (API.md, "Realtime"): what clients send, what the server pushes, and
//! the channels a client can subscribe to.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tiketi_shared::ids::{EventId, UserId};
use tiketi_shared::seat_changes::{self, SeatDelta};
use tiketi_shared::waiting_room;
use uuid::Uuid;

/// Close code for a missing, invalid or expired access token (the reason names which).
pub const CLOSE_UNAUTHENTICATED: u16 = 4401;
/// Close code when the server is going away for a restart: reconnect with backoff.
pub const CLOSE_RESTART: u16 = 1012;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// Authenticates the socket (when no `?token=` was given) or renews it before it expires.
    Auth {
        token: String,
    },
    Subscribe {
        channel: String,
    },
    Unsubscribe {
        channel: String,
    },
    Ping,
}

/// What a message that is not a valid [`ClientMessage`] gets back.
pub fn parse_client(text: &str) -> Result<ClientMessage, Failure> {
    #[derive(Deserialize)]
    struct Tagged<'a> {
        #[serde(rename = "type", borrow)]
        kind: Option<std::borrow::Cow<'a, str>>,
    }
    match serde_json::from_str::<ClientMessage>(text) {
        Ok(message) => Ok(message),
        Err(e) => match serde_json::from_str::<Tagged<'_>>(text) {
            Ok(Tagged { kind: Some(kind) }) if !["auth", "subscribe", "unsubscribe", "ping"].contains(&&*kind) => {
                Err(Failure::new("UNKNOWN_MESSAGE_TYPE", format!("unknown message type {kind:?}")))
            }
            Ok(_) => Err(Failure::new("INVALID_MESSAGE", without_position(&e))),
            Err(_) => Err(Failure::new("MALFORMED_MESSAGE", "messages are JSON objects with a \"type\"")),
        },
    }
}

fn without_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.find(" at line ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

/// A channel as named by clients: `queue:<event_id>` (the caller's own place; `queue:<event_id>:<user_id>`
/// is accepted for the caller's own id) or `seats:<event_id>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    Queue(Uuid),
    Seats(Uuid),
}

impl Channel {
    pub fn parse(name: &str, user: UserId) -> Result<Self, Failure> {
        let invalid = || Failure::new("INVALID_CHANNEL", "channels are queue:<event_id> or seats:<event_id>");
        let (kind, rest) = name.split_once(':').ok_or_else(invalid)?;
        match kind {
            "seats" => rest.parse().map(Channel::Seats).map_err(|_| invalid()),
            "queue" => {
                let (event, owner) = match rest.split_once(':') {
                    Some((event, owner)) => (event, Some(owner.parse::<Uuid>().map_err(|_| invalid())?)),
                    None => (rest, None),
                };
                let event = event.parse().map_err(|_| invalid())?;
                match owner {
                    Some(owner) if owner != user.0 => Err(Failure::new(
                        "FORBIDDEN_CHANNEL",
                        "a buyer may subscribe only to their own place in a queue",
                    )),
                    _ => Ok(Channel::Queue(event)),
                }
            }
            _ => Err(invalid()),
        }
    }

    /// The Redis channel (without the deployment prefix) the ticket role publishes it on.
    pub fn topic(self) -> String {
        match self {
            Channel::Queue(event) => waiting_room::channel(EventId(event)),
            Channel::Seats(event) => seat_changes::channel(EventId(event)),
        }
    }

    pub fn from_topic(topic: &str) -> Option<Self> {
        let queue = || waiting_room::event_of_channel(topic).map(|event| Channel::Queue(event.0));
        seat_changes::event_of_channel(topic).map(|event| Channel::Seats(event.0)).or_else(queue)
    }
}

/// A refusal sent to the client as an `error` message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: &'static str,
    pub detail: String,
}

impl Failure {
    pub fn new(code: &'static str, detail: impl Into<String>) -> Self {
        Self { code, detail: detail.into() }
    }
}

/// Server messages.
#[derive(Debug, Serialize)]
#[serde(tag = "type")]
pub enum ServerMessage<'a> {
    #[serde(rename = "queue.position")]
    QueuePosition {
        event_id: Uuid,
        position: i64,
        ahead: i64,
        eta_seconds: Option<i64>,
        queue_size: i64,
        /// Admissions so far: the progress this position reflects.
        served: i64,
    },
    #[serde(rename = "queue.admitted")]
    QueueAdmitted { event_id: Uuid, admission_token: &'a str, expires_at: DateTime<Utc> },
    /// The changes of versions `from_version..=version`, each seat's latest status among them:
    /// applies to a snapshot at any version from `from_version - 1` on.
    #[serde(rename = "seats.changed")]
    SeatsChanged { event_id: Uuid, from_version: i64, version: i64, seats: &'a [SeatDelta] },
    /// Too many changes to push (up to `version`): reload the snapshot.
    #[serde(rename = "seats.reload")]
    SeatsReload { event_id: Uuid, version: i64 },
    /// For `seats:` channels, `version`: the newest seat-map version when the subscription went
    /// live — fetch the map until its version is at least this.
    #[serde(rename = "subscribed")]
    Subscribed {
        channel: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        version: Option<i64>,
    },
    #[serde(rename = "unsubscribed")]
    Unsubscribed { channel: &'a str },
    #[serde(rename = "pong")]
    Pong,
    #[serde(rename = "error")]
    Error {
        code: &'a str,
        detail: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        channel: Option<&'a str>,
    },
}

impl ServerMessage<'_> {
    pub fn text(&self) -> String {
        // Serializing these plain structs cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_parse_and_refusals_say_why() {
        assert_eq!(parse_client(r#"{"type":"ping"}"#), Ok(ClientMessage::Ping));
        assert_eq!(
            parse_client(r#"{"type":"subscribe","channel":"seats:x"}"#),
            Ok(ClientMessage::Subscribe { channel: "seats:x".into() })
        );
        assert_eq!(parse_client("nope").map_err(|f| f.code), Err("MALFORMED_MESSAGE"));
        assert_eq!(parse_client(r#"{"type":"dance"}"#).map_err(|f| f.code), Err("UNKNOWN_MESSAGE_TYPE"));
        assert_eq!(parse_client(r#"{"type":"subscribe"}"#).map_err(|f| f.code), Err("INVALID_MESSAGE"));
        assert_eq!(parse_client(r#"{"channel":"x"}"#).map_err(|f| f.code), Err("INVALID_MESSAGE"));
        assert_eq!(parse_client("[1,2]").map_err(|f| f.code), Err("MALFORMED_MESSAGE"));
    }

    #[test]
    fn channels_name_an_event_and_only_the_callers_own_place() {
        let me = UserId::new();
        let event = Uuid::now_v7();
        assert_eq!(Channel::parse(&format!("seats:{event}"), me), Ok(Channel::Seats(event)));
        assert_eq!(Channel::parse(&format!("queue:{event}"), me), Ok(Channel::Queue(event)));
        assert_eq!(Channel::parse(&format!("queue:{event}:{me}"), me), Ok(Channel::Queue(event)));
        let other = UserId::new();
        assert_eq!(Channel::parse(&format!("queue:{event}:{other}"), me).map_err(|f| f.code), Err("FORBIDDEN_CHANNEL"));
        for bad in ["seats", "seats:", "seats:42", "tables:{event}", "", "queue:x:y"] {
            assert_eq!(Channel::parse(bad, me).map_err(|f| f.code), Err("INVALID_CHANNEL"), "{bad}");
        }
        assert_eq!(Channel::from_topic(&Channel::Seats(event).topic()), Some(Channel::Seats(event)));
        assert_eq!(Channel::from_topic(&Channel::Queue(event).topic()), Some(Channel::Queue(event)));
        assert_eq!(Channel::Seats(event).topic(), format!("seats:{event}"), "clients name channels the same way");
        assert_eq!(Channel::from_topic(&format!("tables:{event}")), None);
    }
}
