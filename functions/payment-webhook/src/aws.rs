//! The receiver's [`Inbox`] on DynamoDB and [`DeliveryQueue`] on SQS.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use tiketi_shared::aws::describe;
use tiketi_shared::messages::WebhookDelivery;

use crate::{DeliveryHeaders, DeliveryQueue, Inbox, InboxStatus};

/// How long a delivery is kept: Toss retries for about three days; a month leaves room to look.
const KEEP_DAYS: i64 = 30;

pub struct DynamoInbox {
    pub client: aws_sdk_dynamodb::Client,
    pub table: String,
}

#[async_trait::async_trait]
impl Inbox for DynamoInbox {
    async fn put_new(&self, delivery: &WebhookDelivery, headers: &DeliveryHeaders) -> anyhow::Result<bool> {
        let expires_at = delivery.received_at + chrono::Duration::days(KEEP_DAYS);
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("id", AttributeValue::S(delivery.inbox_id.clone()))
            .item("body", AttributeValue::S(delivery.body.clone()))
            .item("received_at", AttributeValue::S(delivery.received_at.to_rfc3339()))
            .item("expires_at", AttributeValue::N(expires_at.timestamp().to_string()))
            .condition_expression("attribute_not_exists(id)");
        if let Some(id) = &headers.transmission_id {
            put = put.item("transmission_id", AttributeValue::S(id.clone()));
        }
        if let Some(count) = &headers.retried_count {
            put = put.item("retried_count", AttributeValue::S(count.clone()));
        }
        match put.send().await {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(false),
            Err(e) => anyhow::bail!("storing a webhook delivery: {}", describe(&e)),
        }
    }

    async fn status(&self, inbox_id: &str) -> anyhow::Result<Option<InboxStatus>> {
        let found = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("id", AttributeValue::S(inbox_id.to_owned()))
            .consistent_read(true)
            .projection_expression("received_at, enqueued_at")
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("reading a webhook delivery: {}", describe(&e)))?;
        let Some(item) = found.item else { return Ok(None) };
        let received_at = item
            .get("received_at")
            .and_then(|v| v.as_s().ok())
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|at| at.with_timezone(&Utc))
            .unwrap_or_default();
        Ok(Some(InboxStatus { received_at, queued: item.contains_key("enqueued_at") }))
    }

    async fn mark_enqueued(&self, inbox_id: &str, at: DateTime<Utc>) -> anyhow::Result<()> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("id", AttributeValue::S(inbox_id.to_owned()))
            .update_expression("SET enqueued_at = :at")
            .expression_attribute_values(":at", AttributeValue::S(at.to_rfc3339()))
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("marking a webhook delivery queued: {}", describe(&e)))?;
        Ok(())
    }
}

pub struct SqsQueue {
    pub client: aws_sdk_sqs::Client,
    pub url: String,
}

#[async_trait::async_trait]
impl DeliveryQueue for SqsQueue {
    async fn enqueue(&self, delivery: &WebhookDelivery) -> anyhow::Result<()> {
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(serde_json::to_string(delivery)?)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("queueing a webhook delivery: {}", describe(&e)))?;
        Ok(())
    }
}

/// The receiver over this environment's table and queue.
pub async fn receiver(aws: &tiketi_shared::aws::Aws, clock: tiketi_shared::Clock) -> anyhow::Result<crate::Receiver> {
    let url = aws.queue_url(tiketi_shared::aws::Queue::PaymentWebhooks).await?;
    Ok(crate::Receiver {
        inbox: std::sync::Arc::new(DynamoInbox { client: aws.dynamodb.clone(), table: aws.names.webhook_inbox() }),
        queue: std::sync::Arc::new(SqsQueue { client: aws.sqs.clone(), url }),
        clock,
    })
}
