//! Injected failures (`PUT /sandbox/faults`), for tests and load scripts to exercise a client's
//! retry and reconciliation paths.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The fault state. A missing field in `PUT /sandbox/faults` is 0 (or `null`), so a PUT replaces
/// the whole state. Counters fire on the next N matching calls and then stop.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Delays every `/v1/…` answer by this much while set.
    pub latency_ms: u64,
    /// Confirm and cancel answer 500 `FAILED_INTERNAL_SYSTEM_PROCESSING`, changing nothing.
    pub server_error: u32,
    /// Confirm answers 400 `PROVIDER_ERROR` (retryable), changing nothing.
    pub provider_error: u32,
    /// A confirm that would succeed answers 403 `REJECT_CARD_COMPANY`; the payment is `ABORTED`.
    pub reject_card: u32,
    /// A confirm that succeeds (state changed, webhooks sent) gets its connection cut instead of
    /// its answer.
    pub drop_after_approve: u32,
    /// When set, faults apply only to calls about this order.
    pub order_id: Option<String>,
}

impl Faults {
    /// Whether faults apply to a call about `order_id` (`None`: the call names no known order).
    fn applies_to(&self, order_id: Option<&str>) -> bool {
        match &self.order_id {
            None => true,
            Some(only) => order_id == Some(only.as_str()),
        }
    }

    /// How long to hold back the answer of a `/v1/payments*` call about `order_id`.
    pub fn latency(&self, order_id: Option<&str>) -> Option<Duration> {
        (self.latency_ms > 0 && self.applies_to(order_id)).then(|| Duration::from_millis(self.latency_ms))
    }

    pub fn take_server_error(&mut self, order_id: Option<&str>) -> bool {
        let applies = self.applies_to(order_id);
        take(&mut self.server_error, applies)
    }

    pub fn take_provider_error(&mut self, order_id: Option<&str>) -> bool {
        let applies = self.applies_to(order_id);
        take(&mut self.provider_error, applies)
    }

    pub fn take_reject_card(&mut self, order_id: Option<&str>) -> bool {
        let applies = self.applies_to(order_id);
        take(&mut self.reject_card, applies)
    }

    pub fn take_drop_after_approve(&mut self, order_id: Option<&str>) -> bool {
        let applies = self.applies_to(order_id);
        take(&mut self.drop_after_approve, applies)
    }
}

/// Uses up one firing of `counter` if it has any left and the call is one it applies to.
fn take(counter: &mut u32, applies: bool) -> bool {
    if applies && *counter > 0 {
        *counter -= 1;
        true
    } else {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_fire_n_times_then_stop() {
        let mut faults = Faults { server_error: 2, ..Faults::default() };
        assert!(faults.take_server_error(None));
        assert!(faults.take_server_error(Some("x")));
        assert!(!faults.take_server_error(None));
    }

    #[test]
    fn an_order_filter_spares_other_orders() {
        let mut faults =
            Faults { latency_ms: 5, provider_error: 1, order_id: Some("order-a".into()), ..Faults::default() };
        assert_eq!(faults.latency(Some("order-b")), None);
        assert_eq!(faults.latency(None), None);
        assert_eq!(faults.latency(Some("order-a")), Some(Duration::from_millis(5)));
        assert!(!faults.take_provider_error(Some("order-b")));
        assert!(faults.take_provider_error(Some("order-a")));
    }
}
