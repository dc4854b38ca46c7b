//! The webhook queue: deliveries the receiver stored are applied with the payment role's logic.
//! Applying is idempotent (the payment schema's inbox remembers what was applied), so a
//! redelivered message changes nothing; one not applicable yet (its confirm still running, Toss
//! not answering) is received again later, and the payment reconciler retries it too.

use tiketi_payment::webhooks::{Stored, store_and_apply};
use tiketi_shared::messages::WebhookDelivery;

use tiketi_shared::consumer::{Handler, Outcome};

pub struct Webhooks(pub tiketi_payment::PaymentState);

#[async_trait::async_trait]
impl Handler for Webhooks {
    async fn handle(&self, body: &str) -> Outcome {
        let delivery: WebhookDelivery = match serde_json::from_str(body) {
            Ok(delivery) => delivery,
            Err(e) => return Outcome::Poison(format!("not a webhook delivery: {e}")),
        };
        match store_and_apply(&self.0, &delivery).await {
            Ok(Stored::Applied) => Outcome::Done,
            Ok(Stored::NotYet(why)) => Outcome::Retry(why),
            Ok(Stored::Invalid(why)) => Outcome::Poison(format!("delivery {}: {why}", delivery.inbox_id)),
            Err(e) => Outcome::Retry(e.to_string()),
        }
    }
}
