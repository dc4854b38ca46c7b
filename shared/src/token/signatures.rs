//! Token signatures arriving together are checked together.
//!
//! An Ed25519 check is most of what a buyer's first request costs (`cargo bench -p tiketi-shared
//! --bench token`), and at an on-sale thousands of buyers a second show a token this process has
//! not seen. Checking many signatures at once (`ed25519_dalek::verify_batch`, one multi-scalar
//! multiplication for the whole batch) costs about half as much per signature at 8 and 0.4x at 32.
//! So a signature that arrives while another is being checked waits, and those waiting are checked
//! together on the blocking pool (a batch of 64 takes about a millisecond); one that arrives alone
//! is checked alone where it is, as before.
//!
//! A batch says only whether every signature in it is good. When one is not, each is checked on
//! its own, so a bad token costs its batch that second pass (under a flood of forged tokens, about
//! 1.4x the cost of checking each alone at 32, by the benchmark's figures) and is never accepted.
//! Batch and single checks agree on every signature made by a key: they may differ only on
//! signatures crafted with small-order components, which cannot be made to verify under one of our
//! keys without its private half.

use std::sync::{Arc, Mutex, PoisonError};

use ed25519_dalek::{Signature, Verifier as _, VerifyingKey};
use tokio::sync::oneshot;

/// At most this many signatures per batch (past 32 the saving per signature hardly grows).
const MAX_BATCH: usize = 64;

struct Pending {
    key: VerifyingKey,
    message: Vec<u8>,
    signature: Signature,
    good: oneshot::Sender<bool>,
}

#[derive(Default)]
struct Queue {
    waiting: Vec<Pending>,
    /// Whether a checker is running (on the blocking pool).
    running: bool,
}

/// The signatures waiting to be checked.
#[derive(Default, Clone)]
pub(super) struct Signatures(Arc<Mutex<Queue>>);

impl Signatures {
    /// Whether `signature` over `message` is `key`'s.
    pub(super) async fn check(&self, key: VerifyingKey, message: &[u8], signature: Signature) -> bool {
        let answer = {
            let mut queue = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            if queue.running {
                let (good, answer) = oneshot::channel();
                queue.waiting.push(Pending { key, message: message.to_vec(), signature, good });
                Some(answer)
            } else {
                queue.running = true;
                None
            }
        };
        let Some(answer) = answer else {
            // Nothing being checked: this one alone, here, as a single check always was. Those
            // arriving meanwhile wait, then go to a checker together.
            let good = {
                let _stopped = Stopped(&self.0);
                key.verify(message, &signature).is_ok()
            };
            let mut queue = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            if queue.waiting.is_empty() {
                queue.running = false;
            } else {
                let queue = self.0.clone();
                tokio::task::spawn_blocking(move || check_while_waiting(&queue));
            }
            return good;
        };
        // The checker cannot end without answering, short of a panic: then the token is refused.
        answer.await.unwrap_or(false)
    }
}

/// Checks batches while signatures wait; stops when none do.
fn check_while_waiting(queue: &Mutex<Queue>) {
    let _stopped = Stopped(queue);
    loop {
        let batch: Vec<Pending> = {
            let mut queue = queue.lock().unwrap_or_else(PoisonError::into_inner);
            if queue.waiting.is_empty() {
                queue.running = false;
                return;
            }
            let n = queue.waiting.len().min(MAX_BATCH);
            queue.waiting.drain(..n).collect()
        };
        for (good, pending) in check_all(&batch).into_iter().zip(batch) {
            let _ = pending.good.send(good);
        }
    }
}

/// Per signature, whether it is good.
fn check_all(batch: &[Pending]) -> Vec<bool> {
    if batch.len() > 1 {
        let messages: Vec<&[u8]> = batch.iter().map(|p| p.message.as_slice()).collect();
        let signatures: Vec<Signature> = batch.iter().map(|p| p.signature).collect();
        let keys: Vec<VerifyingKey> = batch.iter().map(|p| p.key).collect();
        if ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok() {
            return vec![true; batch.len()];
        }
    }
    batch.iter().map(|p| p.key.verify(&p.message, &p.signature).is_ok()).collect()
}

/// Should a checker panic, it counts as stopped, so the next signature starts another.
struct Stopped<'a>(&'a Mutex<Queue>);

impl Drop for Stopped<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.lock().unwrap_or_else(PoisonError::into_inner).running = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::{Signer as _, SigningKey};

    use super::*;

    /// A batch with one forged signature among good ones: the batch check fails, and the second
    /// pass names exactly the forged one.
    #[test]
    fn a_failed_batch_is_checked_one_by_one() {
        let signer = SigningKey::from_bytes(&[7; 32]);
        let other = SigningKey::from_bytes(&[8; 32]);
        let batch: Vec<Pending> = (0..16)
            .map(|i| {
                let message = format!("header.payload-{i}").into_bytes();
                let signature = if i == 5 { other.sign(&message) } else { signer.sign(&message) };
                Pending { key: signer.verifying_key(), message, signature, good: oneshot::channel().0 }
            })
            .collect();
        let good = check_all(&batch);
        assert_eq!(good.iter().filter(|g| !**g).count(), 1);
        assert!(!good[5]);
        assert!(check_all(&batch[6..]).iter().all(|g| *g), "a batch of good signatures passes whole");
    }

    /// Many signatures at once, one of them forged: every good one is accepted and the forged one
    /// refused, whichever batch it lands in.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_bad_signature_in_a_batch_is_refused_and_the_good_ones_pass() {
        let signer = SigningKey::from_bytes(&[7; 32]);
        let other = SigningKey::from_bytes(&[8; 32]);
        let signatures = Signatures::default();
        let checks = (0..200).map(|i| {
            let message = format!("header.payload-{i}").into_bytes();
            let forged = i == 117;
            let signature = if forged { other.sign(&message) } else { signer.sign(&message) };
            let signatures = signatures.clone();
            let key = signer.verifying_key();
            async move { (forged, signatures.check(key, &message, signature).await) }
        });
        let answers = futures::future::join_all(checks.map(tokio::spawn)).await;
        for answer in answers {
            let (forged, good) = answer.unwrap();
            assert_eq!(good, !forged);
        }
        // The checker stopped once nothing waited, and the next signature starts another.
        let message = b"header.payload-again";
        assert!(signatures.check(signer.verifying_key(), message, signer.sign(message)).await);
    }
}
