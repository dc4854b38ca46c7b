//! Proof of work on the waiting-room join (optional: `TIKETI_QUEUE_PROOF_DIFFICULTY`, 0 = off).
//!
//! A join without a solved challenge answers 428 `PROOF_REQUIRED` carrying a fresh challenge; the
//! client finds a `solution` such that SHA-256(`<challenge>:<solution>`) starts with `difficulty`
//! zero bits (2^difficulty hashes on average; the web app solves it in a worker) and joins again
//! with `X-Queue-Proof: <challenge>:<solution>`. Checking costs one HMAC and one SHA-256, no
//! storage: the challenge is tagged like a receipt, names its buyer, event and expiry, so a
//! solution serves one account at one event for two minutes (and a join is idempotent, so using
//! it twice gains nothing).
//!
//! `c1.<event>.<user>.<difficulty>.<expires ms>.<nonce>.<tag>`

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use tiketi_shared::ids::UserId;
use tiketi_shared::keys::KeySet;

use crate::model::EventId;

/// How long a challenge may be solved and used.
pub const CHALLENGE_TTL_MS: i64 = 120_000;

/// The header carrying `<challenge>:<solution>`.
pub const PROOF_HEADER: &str = "x-queue-proof";

const VERSION: &str = "c1";

/// A challenge for `user` at `event`, signed.
pub fn challenge(keys: &KeySet, event: EventId, user: UserId, difficulty: u8, now_ms: i64) -> String {
    let nonce: u64 = rand::random();
    let body = format!("{VERSION}.{event}.{user}.{difficulty}.{}.{nonce:x}", now_ms + CHALLENGE_TTL_MS);
    let tag = URL_SAFE_NO_PAD.encode(keys.mac(body.as_bytes()));
    format!("{body}.{tag}")
}

/// Why a proof was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Missing,
    /// Not a challenge of ours, or another buyer's or event's.
    Forged,
    Expired,
    /// Issued easier than the difficulty now configured.
    TooEasy,
    /// The hash does not start with enough zero bits.
    Unsolved,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Missing => "missing",
            Refusal::Forged => "forged",
            Refusal::Expired => "expired",
            Refusal::TooEasy => "too_easy",
            Refusal::Unsolved => "unsolved",
        }
    }

    /// What the client should do, in a sentence.
    pub fn describe(self) -> &'static str {
        match self {
            Refusal::Missing => {
                "joining asks for proof of work: find a solution such that SHA-256(challenge + ':' + solution) starts with `difficulty` zero bits, then join again with X-Queue-Proof: <challenge>:<solution>"
            }
            Refusal::Forged => "X-Queue-Proof does not carry a challenge given to this buyer for this event",
            Refusal::Expired => "the challenge expired: solve this one",
            Refusal::TooEasy => "the challenge is easier than the waiting room now asks: solve this one",
            Refusal::Unsolved => "the solution does not give `difficulty` leading zero bits",
        }
    }
}

/// Checks `proof` (`<challenge>:<solution>`) for `user` at `event`.
pub fn check(
    keys: &KeySet,
    proof: Option<&str>,
    event: EventId,
    user: UserId,
    difficulty: u8,
    now_ms: i64,
) -> Result<(), Refusal> {
    let proof = proof.ok_or(Refusal::Missing)?;
    let (challenge, _solution) = proof.rsplit_once(':').ok_or(Refusal::Forged)?;
    let (body, tag) = challenge.rsplit_once('.').ok_or(Refusal::Forged)?;
    let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| Refusal::Forged)?;
    if !keys.check_mac(body.as_bytes(), &tag) {
        return Err(Refusal::Forged);
    }
    let parts: Vec<&str> = body.split('.').collect();
    let [VERSION, for_event, for_user, issued, expires, _nonce] = parts[..] else { return Err(Refusal::Forged) };
    if for_event != event.to_string() || for_user != user.to_string() {
        return Err(Refusal::Forged);
    }
    if expires.parse::<i64>().map_err(|_| Refusal::Forged)? <= now_ms {
        return Err(Refusal::Expired);
    }
    let issued: u8 = issued.parse().map_err(|_| Refusal::Forged)?;
    if issued < difficulty {
        return Err(Refusal::TooEasy);
    }
    if leading_zero_bits(&Sha256::digest(proof.as_bytes())) < u32::from(issued) {
        return Err(Refusal::Unsolved);
    }
    Ok(())
}

fn leading_zero_bits(hash: &[u8]) -> u32 {
    let mut bits = 0;
    for byte in hash {
        if *byte == 0 {
            bits += 8;
        } else {
            return bits + byte.leading_zeros();
        }
    }
    bits
}

/// The difficulty a challenge asks for.
pub fn difficulty_of(challenge: &str) -> Option<u8> {
    challenge.split('.').nth(3)?.parse().ok()
}

/// Finds a solution (what a client does; here for tests and load tests): `<challenge>:<n>` for the
/// first `n` that works.
pub fn solve(challenge: &str) -> String {
    let difficulty = u32::from(difficulty_of(challenge).unwrap_or(0));
    let mut hasher = Sha256::new();
    hasher.update(challenge.as_bytes());
    hasher.update(b":");
    (0u64..)
        .map(|n| {
            let mut h = hasher.clone();
            h.update(n.to_string().as_bytes());
            (n, h.finalize())
        })
        .find(|(_, hash)| leading_zero_bits(hash) >= difficulty)
        .map(|(n, _)| format!("{challenge}:{n}"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use tiketi_shared::keys::{KeyPurpose, KeyStore, LocalKeyStore};

    use super::*;

    #[test]
    fn zero_bits_are_counted_from_the_first_byte() {
        assert_eq!(leading_zero_bits(&[0, 0, 0x80]), 16);
        assert_eq!(leading_zero_bits(&[0, 0x0f]), 12);
        assert_eq!(leading_zero_bits(&[0xff]), 0);
        assert_eq!(leading_zero_bits(&[0, 0]), 16);
    }

    #[test]
    fn solutions_are_the_first_n_that_works_as_the_web_app_finds_them() {
        // The same vector is pinned in the web app's tests (found independently).
        let challenge = "c1.0190-event.0190-user.12.1764000000000.abc.tag";
        assert_eq!(solve(challenge), format!("{challenge}:701"));
    }

    #[tokio::test]
    async fn a_solved_challenge_admits_its_buyer_at_its_event_only_until_it_expires() {
        let dir = std::env::temp_dir().join(format!("tiketi-proof-{}", uuid::Uuid::now_v7()));
        let keys = LocalKeyStore::new(&dir).load(KeyPurpose::Admission).await.unwrap();
        let (event, user, now) = (EventId::new(), UserId::new(), 1_764_000_000_000);
        let c = challenge(&keys, event, user, 12, now);
        assert_eq!(difficulty_of(&c), Some(12));
        let proof = solve(&c);
        assert_eq!(check(&keys, Some(&proof), event, user, 12, now + 1000), Ok(()));
        assert_eq!(check(&keys, Some(&proof), event, user, 8, now), Ok(()), "easier settings accept it");

        assert_eq!(check(&keys, None, event, user, 12, now), Err(Refusal::Missing));
        assert_eq!(check(&keys, Some(&proof), EventId::new(), user, 12, now), Err(Refusal::Forged));
        assert_eq!(check(&keys, Some(&proof), event, UserId::new(), 12, now), Err(Refusal::Forged));
        assert_eq!(check(&keys, Some(&proof), event, user, 12, now + CHALLENGE_TTL_MS), Err(Refusal::Expired));
        assert_eq!(check(&keys, Some(&proof), event, user, 16, now), Err(Refusal::TooEasy));
        // An unsolved answer: the first n that does not work.
        let wrong = (0u64..)
            .map(|n| format!("{c}:{n}"))
            .find(|p| leading_zero_bits(&Sha256::digest(p.as_bytes())) < 12)
            .unwrap();
        assert_eq!(check(&keys, Some(&wrong), event, user, 12, now), Err(Refusal::Unsolved));
        let easier = c.replacen(".12.", ".1.", 1);
        assert_eq!(
            check(&keys, Some(&solve(&easier)), event, user, 1, now),
            Err(Refusal::Forged),
            "difficulty is tagged"
        );
        assert_eq!(check(&keys, Some("junk"), event, user, 12, now), Err(Refusal::Forged));
        assert_eq!(check(&keys, Some(":"), event, user, 12, now), Err(Refusal::Forged));
        let _ = std::fs::remove_dir_all(dir);
    }
}
