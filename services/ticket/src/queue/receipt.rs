//! Waiting-room receipts: a waiter's place, signed, for the waiter to hold.
//!
//! The queue lives in Redis. Should Redis lose it (a restart without persistence, a failover to a
//! replica that missed the last writes), each waiter's receipt puts them back where they stood:
//! join and status answer one, the realtime role keeps its sockets' receipts, and a receipt shown
//! again (header `X-Queue-Receipt`, or the realtime role's watch call) restores its place once in
//! the room's next generation ([`super::store`] describes generations).
//!
//! `r1.<event>.<user>.<generation>.<place>.<joined ms>.<tag>`: `place` is the queue order (`p` for
//! the pre-queue, not drawn yet), `tag` an HMAC-SHA256 by the admission key set (only the ticket
//! role makes and checks receipts; a rotation keeps the previous key's receipts valid).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tiketi_shared::ids::UserId;
use tiketi_shared::keys::KeySet;

use crate::model::EventId;

/// What a receipt says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receipt {
    pub event: EventId,
    pub user: UserId,
    /// The room's generation when the receipt was given.
    pub epoch: i64,
    /// The waiter's order in the queue; `None` in the pre-queue (the draw has not placed them).
    pub place: Option<i64>,
    /// When the waiter joined (ms), for the wait-time figures.
    pub joined_ms: i64,
}

const VERSION: &str = "r1";

impl Receipt {
    fn body(&self) -> String {
        let place = self.place.map_or_else(|| "p".to_owned(), |p| p.to_string());
        format!("{VERSION}.{}.{}.{}.{place}.{}", self.event, self.user, self.epoch, self.joined_ms)
    }

    pub fn sign(&self, keys: &KeySet) -> String {
        let body = self.body();
        let tag = URL_SAFE_NO_PAD.encode(keys.mac(body.as_bytes()));
        format!("{body}.{tag}")
    }

    /// The receipt `text` carries, if a key of `keys` tagged it.
    pub fn verify(text: &str, keys: &KeySet) -> Option<Receipt> {
        let (body, tag) = text.rsplit_once('.')?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        if !keys.check_mac(body.as_bytes(), &tag) {
            return None;
        }
        let mut parts = body.split('.');
        if parts.next()? != VERSION {
            return None;
        }
        let event = parts.next()?.parse().ok()?;
        let user = parts.next()?.parse().ok()?;
        let epoch = parts.next()?.parse().ok()?;
        let place = match parts.next()? {
            "p" => None,
            n => Some(n.parse().ok()?),
        };
        let joined_ms = parts.next()?.parse().ok()?;
        if parts.next().is_some() {
            return None;
        }
        Some(Receipt { event, user, epoch, place, joined_ms })
    }
}

#[cfg(test)]
mod tests {
    use tiketi_shared::keys::{KeyPurpose, KeyStore, LocalKeyStore};

    use super::*;

    async fn key_set(dir: &std::path::Path) -> KeySet {
        LocalKeyStore::new(dir).load(KeyPurpose::Admission).await.unwrap()
    }

    #[tokio::test]
    async fn a_receipt_reads_back_and_any_change_voids_it() {
        let dir = std::env::temp_dir().join(format!("tiketi-receipt-{}", uuid::Uuid::now_v7()));
        let keys = key_set(&dir).await;
        let receipt = Receipt {
            event: EventId::new(),
            user: UserId::new(),
            epoch: 3,
            place: Some(1_000_000_000_042),
            joined_ms: 1_764_000_000_000,
        };
        let text = receipt.sign(&keys);
        assert_eq!(Receipt::verify(&text, &keys), Some(receipt));
        let pre = Receipt { place: None, ..receipt };
        assert_eq!(Receipt::verify(&pre.sign(&keys), &keys), Some(pre));

        let earlier = text.replace(".1000000000042.", ".1000000000001.");
        assert_eq!(Receipt::verify(&earlier, &keys), None, "a place moved forward is refused");
        assert_eq!(Receipt::verify(&text[..text.len() - 2], &keys), None);
        assert_eq!(Receipt::verify("r1.x.y", &keys), None);
        assert_eq!(Receipt::verify("", &keys), None);
        let stranger = key_set(&dir.join("other")).await;
        assert_eq!(Receipt::verify(&receipt.sign(&stranger), &keys), None, "another deployment's receipt");
        let _ = std::fs::remove_dir_all(dir);
    }
}
