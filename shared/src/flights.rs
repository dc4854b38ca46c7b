//! Single flight: one build of a key at a time in this process. Callers that arrive while a
//! build runs wait for it, then (checking what it left) usually find the result instead of
//! building again — a cache that expires under fifty concurrent readers costs one build, not fifty.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};

pub struct Flights<K>(Mutex<HashMap<K, Arc<tokio::sync::Mutex<()>>>>);

impl<K> Default for Flights<K> {
    fn default() -> Self {
        Self(Mutex::new(HashMap::new()))
    }
}

impl<K: Hash + Eq + Clone> Flights<K> {
    /// Runs `build` once no other build of `key` is running here.
    pub async fn one_at_a_time<T, F: Future<Output = T>>(&self, key: K, build: impl FnOnce() -> F) -> T {
        let flight = self.0.lock().unwrap_or_else(PoisonError::into_inner).entry(key.clone()).or_default().clone();
        let result = {
            let _building = flight.lock().await;
            build().await
        };
        let mut flights = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        // Two references: the map's and this call's; nobody else waits.
        if Arc::strong_count(&flight) <= 2 {
            flights.remove(&key);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn callers_of_one_key_take_turns_and_other_keys_do_not_wait() {
        let flights = Flights::<u8>::default();
        let running = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        let build = || async {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            running.fetch_sub(1, Ordering::SeqCst);
        };
        futures::future::join_all((0..8).map(|_| flights.one_at_a_time(1, build))).await;
        assert_eq!(most.load(Ordering::SeqCst), 1, "one build of a key at a time");
        assert!(flights.0.lock().unwrap_or_else(PoisonError::into_inner).is_empty(), "nothing left behind");

        most.store(0, Ordering::SeqCst);
        futures::future::join_all((0..4).map(|k| flights.one_at_a_time(k, build))).await;
        assert_eq!(most.load(Ordering::SeqCst), 4, "different keys build together");
    }
}
