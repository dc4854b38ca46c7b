//! AWS: one SDK configuration for every client, the names of what Tiketi keeps there, and
//! [`Aws::bootstrap`], which creates them idempotently (the local emulator, or an account that
//! Terraform has not prepared).
//!
//! The endpoint comes from `AWS_ENDPOINT_URL` (moto locally); unset, the same binary talks to AWS.
//! Every name carries `TIKETI_AWS_NAME_PREFIX`, so environments — and tests — share one account
//! or one emulator without seeing each other's messages.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context;
use aws_config::BehaviorVersion;
use aws_sdk_sqs::types::QueueAttributeName;
use url::Url;

use crate::config::Env;

/// Where AWS is and what our resources there are called.
#[derive(Debug, Clone)]
pub struct AwsSettings {
    /// `AWS_ENDPOINT_URL`: an emulator; `None` = AWS itself.
    pub endpoint_url: Option<Url>,
    /// `AWS_REGION`.
    pub region: String,
    /// `TIKETI_AWS_NAME_PREFIX`: the start of every queue, topic, table and secret name.
    pub name_prefix: String,
}

impl AwsSettings {
    pub fn from_env(env: &mut Env) -> Self {
        let name_prefix = env.get("TIKETI_AWS_NAME_PREFIX", "tiketi-".to_owned());
        if !name_prefix.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') || name_prefix.len() > 40 {
            env.invalid("TIKETI_AWS_NAME_PREFIX", "at most 40 of [A-Za-z0-9_-]");
        }
        Self {
            endpoint_url: env.opt("AWS_ENDPOINT_URL"),
            region: env.get("AWS_REGION", "ap-northeast-2".to_owned()),
            name_prefix,
        }
    }
}

/// The SQS queues Tiketi reads. Each has a dead-letter queue named `<queue>-dlq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Queue {
    /// Domain events for the queue worker (it schedules hold expiries from them).
    WorkerEvents,
    /// Domain events for the stats projections.
    StatsEvents,
    /// Toss webhook deliveries, stored by the webhook receiver, applied by the worker.
    PaymentWebhooks,
    /// Delayed "this hold may be due" messages.
    HoldExpiry,
    /// Finance reports to build (read by the `stats-report` function).
    Reports,
}

impl Queue {
    pub const ALL: [Queue; 5] =
        [Queue::WorkerEvents, Queue::StatsEvents, Queue::PaymentWebhooks, Queue::HoldExpiry, Queue::Reports];

    pub fn suffix(self) -> &'static str {
        match self {
            Queue::WorkerEvents => "worker-events",
            Queue::StatsEvents => "stats-events",
            Queue::PaymentWebhooks => "payment-webhooks",
            Queue::HoldExpiry => "hold-expiry",
            Queue::Reports => "reports",
        }
    }

    /// Whether the queue receives every domain event (subscribed to the topic).
    pub fn takes_domain_events(self) -> bool {
        matches!(self, Queue::WorkerEvents | Queue::StatsEvents)
    }

    /// Receives before a message is moved to the dead-letter queue.
    pub const MAX_RECEIVES: u32 = 5;

    /// How long a received message stays invisible to other consumers: longer than its handling
    /// takes (a report: the function's 15-minute limit).
    pub fn visibility_timeout(self) -> Duration {
        match self {
            Queue::Reports => Duration::from_secs(900),
            _ => Duration::from_secs(30),
        }
    }
}

/// The names of our resources under one prefix.
#[derive(Debug, Clone)]
pub struct Names {
    prefix: String,
}

impl Names {
    pub fn new(prefix: &str) -> Self {
        Self { prefix: prefix.to_owned() }
    }

    /// The SNS topic every outbox is relayed to.
    pub fn topic(&self) -> String {
        format!("{}domain-events", self.prefix)
    }

    pub fn queue(&self, queue: Queue) -> String {
        format!("{}{}", self.prefix, queue.suffix())
    }

    pub fn dead_letters(&self, queue: Queue) -> String {
        format!("{}{}-dlq", self.prefix, queue.suffix())
    }

    /// The DynamoDB table the webhook receiver stores raw deliveries in.
    pub fn webhook_inbox(&self) -> String {
        format!("{}webhook-inbox", self.prefix)
    }

    /// The S3 bucket finance reports are written to. Bucket names are global in AWS: the prefix
    /// must make it unique there (e.g. `acme-tiketi-prod-`).
    pub fn reports_bucket(&self) -> String {
        format!("{}reports", self.prefix)
    }

    /// A Secrets Manager secret of ours.
    pub fn secret(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }
}

/// The clients, built from one configuration.
#[derive(Clone)]
pub struct Aws {
    pub sqs: aws_sdk_sqs::Client,
    pub sns: aws_sdk_sns::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub s3: aws_sdk_s3::Client,
    pub names: Names,
}

impl std::fmt::Debug for Aws {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Aws").field("names", &self.names).finish_non_exhaustive()
    }
}

/// Queue URLs and the topic ARN, looked up once at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub topic_arn: String,
    queues: HashMap<Queue, String>,
    dead_letters: HashMap<Queue, String>,
}

impl Located {
    pub fn queue(&self, queue: Queue) -> &str {
        // `locate` fills every queue or fails.
        self.queues.get(&queue).map_or("", String::as_str)
    }

    pub fn dead_letters(&self, queue: Queue) -> &str {
        self.dead_letters.get(&queue).map_or("", String::as_str)
    }
}

/// `{error}` with the SDK's cause chain (the plain `Display` only says "service error").
pub fn describe<E: std::error::Error>(err: &E) -> String {
    aws_sdk_sqs::error::DisplayErrorContext(err).to_string()
}

impl Aws {
    pub async fn connect(settings: &AwsSettings) -> Self {
        let mut loader =
            aws_config::defaults(BehaviorVersion::latest()).region(aws_config::Region::new(settings.region.clone()));
        if let Some(url) = &settings.endpoint_url {
            loader = loader.endpoint_url(url.as_str().trim_end_matches('/'));
        }
        let config = loader.load().await;
        // An emulator answers at one host: bucket names go in the path, not the host name.
        let s3 = aws_sdk_s3::config::Builder::from(&config).force_path_style(settings.endpoint_url.is_some()).build();
        Self {
            s3: aws_sdk_s3::Client::from_conf(s3),
            sqs: aws_sdk_sqs::Client::new(&config),
            sns: aws_sdk_sns::Client::new(&config),
            dynamodb: aws_sdk_dynamodb::Client::new(&config),
            secrets: aws_sdk_secretsmanager::Client::new(&config),
            names: Names::new(&settings.name_prefix),
        }
    }

    /// Finds the topic and every queue by name; fails naming what is missing.
    pub async fn locate(&self) -> anyhow::Result<Located> {
        // All look-ups at once: a start-up waits for the slowest answer, not for their sum.
        let urls = |name: fn(&Names, Queue) -> String| {
            futures::future::try_join_all(Queue::ALL.map(|queue| async move {
                Ok::<_, anyhow::Error>((queue, self.url_of(&name(&self.names, queue)).await?))
            }))
        };
        let (queues, dead_letters, topic_arn) =
            futures::try_join!(urls(Names::queue), urls(Names::dead_letters), self.find_topic())?;
        Ok(Located {
            topic_arn,
            queues: queues.into_iter().collect(),
            dead_letters: dead_letters.into_iter().collect(),
        })
    }

    /// One queue's URL (what a Lambda that only sends to it needs).
    pub async fn queue_url(&self, queue: Queue) -> anyhow::Result<String> {
        self.url_of(&self.names.queue(queue)).await
    }

    async fn url_of(&self, name: &str) -> anyhow::Result<String> {
        let found = self.sqs.get_queue_url().queue_name(name).send().await.map_err(|e| {
            anyhow::anyhow!("SQS queue {name} not found (run `tiketi aws bootstrap`?): {}", describe(&e))
        })?;
        found.queue_url.with_context(|| format!("SQS answered no URL for {name}"))
    }

    async fn find_topic(&self) -> anyhow::Result<String> {
        let suffix = format!(":{}", self.names.topic());
        let mut pages = self.sns.list_topics().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| anyhow::anyhow!("listing SNS topics: {}", describe(&e)))?;
            if let Some(arn) = page.topics().iter().filter_map(|t| t.topic_arn()).find(|arn| arn.ends_with(&suffix)) {
                return Ok(arn.to_owned());
            }
        }
        anyhow::bail!("SNS topic {} not found (run `tiketi aws bootstrap`?)", self.names.topic())
    }

    /// Creates the topic, the queues (each with its dead-letter queue and redrive policy), the
    /// subscriptions, the webhook inbox table and the reports bucket, unless they exist. Safe to
    /// run again.
    pub async fn bootstrap(&self) -> anyhow::Result<Located> {
        let topic_arn = self
            .sns
            .create_topic()
            .name(self.names.topic())
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("creating the SNS topic: {}", describe(&e)))?
            .topic_arn
            .context("SNS answered no topic ARN")?;
        let subscribed = self.subscribed_queues(&topic_arn).await?;
        // The queues (and the table) are independent: created concurrently, which is most of a
        // bootstrap's time against the emulator.
        let queues = futures::future::try_join_all(
            Queue::ALL.into_iter().map(|queue| self.bootstrap_queue(queue, &topic_arn, &subscribed)),
        );
        let (queues, (), ()) =
            futures::future::try_join3(queues, self.create_webhook_inbox(), self.create_reports_bucket()).await?;
        let mut located = Located { topic_arn, queues: HashMap::new(), dead_letters: HashMap::new() };
        for (queue, url, dlq_url) in queues {
            located.queues.insert(queue, url);
            located.dead_letters.insert(queue, dlq_url);
        }
        Ok(located)
    }

    /// One queue with its dead-letter queue, subscribed to the topic if it takes domain events;
    /// answers the two URLs.
    async fn bootstrap_queue(
        &self,
        queue: Queue,
        topic_arn: &str,
        subscribed: &[String],
    ) -> anyhow::Result<(Queue, String, String)> {
        let (dlq_url, dlq_arn) = self.create_queue(&self.names.dead_letters(queue), HashMap::new()).await?;
        let redrive = serde_json::json!({
            "deadLetterTargetArn": dlq_arn,
            "maxReceiveCount": Queue::MAX_RECEIVES.to_string(),
        });
        let attributes = HashMap::from([
            (QueueAttributeName::VisibilityTimeout, queue.visibility_timeout().as_secs().to_string()),
            (QueueAttributeName::RedrivePolicy, redrive.to_string()),
        ]);
        let (url, arn) = self.create_queue(&self.names.queue(queue), attributes).await?;
        if queue.takes_domain_events() {
            self.allow_topic(&url, &arn, topic_arn).await?;
            if !subscribed.contains(&arn) {
                self.sns
                    .subscribe()
                    .topic_arn(topic_arn)
                    .protocol("sqs")
                    .endpoint(&arn)
                    .attributes("RawMessageDelivery", "true")
                    .send()
                    .await
                    .map_err(|e| anyhow::anyhow!("subscribing {arn}: {}", describe(&e)))?;
            }
        }
        Ok((queue, url, dlq_url))
    }

    /// Creates a queue (or finds it); answers its URL and ARN.
    async fn create_queue(
        &self,
        name: &str,
        attributes: HashMap<QueueAttributeName, String>,
    ) -> anyhow::Result<(String, String)> {
        let created = self
            .sqs
            .create_queue()
            .queue_name(name)
            .set_attributes(Some(attributes.clone()))
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("creating SQS queue {name}: {}", describe(&e)))?;
        let url = created.queue_url.with_context(|| format!("SQS answered no URL for {name}"))?;
        if !attributes.is_empty() {
            // An existing queue keeps its old attributes on CreateQueue: bring them up to date.
            self.sqs
                .set_queue_attributes()
                .queue_url(&url)
                .set_attributes(Some(attributes))
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("configuring SQS queue {name}: {}", describe(&e)))?;
        }
        let arn = self
            .sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("reading SQS queue {name}: {}", describe(&e)))?
            .attributes
            .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
            .with_context(|| format!("SQS answered no ARN for {name}"))?;
        Ok((url, arn))
    }

    /// Lets the topic deliver to the queue (AWS checks this; the emulator does not).
    async fn allow_topic(&self, url: &str, queue_arn: &str, topic_arn: &str) -> anyhow::Result<()> {
        let policy = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
            }],
        });
        self.sqs
            .set_queue_attributes()
            .queue_url(url)
            .attributes(QueueAttributeName::Policy, policy.to_string())
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("setting the policy of {queue_arn}: {}", describe(&e)))?;
        Ok(())
    }

    /// The queue ARNs already subscribed to the topic (subscribing twice would deliver twice).
    async fn subscribed_queues(&self, topic_arn: &str) -> anyhow::Result<Vec<String>> {
        let mut endpoints = Vec::new();
        let mut pages = self.sns.list_subscriptions_by_topic().topic_arn(topic_arn).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| anyhow::anyhow!("listing subscriptions: {}", describe(&e)))?;
            endpoints.extend(page.subscriptions().iter().filter_map(|s| s.endpoint().map(str::to_owned)));
        }
        Ok(endpoints)
    }

    /// The reports bucket: private (every public access blocked), encrypted at rest, versioned (a
    /// report file rewritten keeps its earlier version for audit).
    async fn create_reports_bucket(&self) -> anyhow::Result<()> {
        use aws_sdk_s3::types::{
            BucketLocationConstraint, BucketVersioningStatus, CreateBucketConfiguration,
            PublicAccessBlockConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
            ServerSideEncryptionConfiguration, ServerSideEncryptionRule, VersioningConfiguration,
        };
        let bucket = self.names.reports_bucket();
        let region = self.s3.config().region().map(ToString::to_string).unwrap_or_default();
        let mut create = self.s3.create_bucket().bucket(&bucket);
        // us-east-1 is the one region that takes no location constraint.
        if region != "us-east-1" {
            let location = CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(region.as_str()))
                .build();
            create = create.create_bucket_configuration(location);
        }
        match create.send().await {
            Ok(_) => {}
            Err(e) if e.as_service_error().is_some_and(|e| e.is_bucket_already_owned_by_you()) => {}
            Err(e) => anyhow::bail!("creating S3 bucket {bucket}: {}", describe(&e)),
        }
        let private = PublicAccessBlockConfiguration::builder()
            .block_public_acls(true)
            .ignore_public_acls(true)
            .block_public_policy(true)
            .restrict_public_buckets(true)
            .build();
        self.s3
            .put_public_access_block()
            .bucket(&bucket)
            .public_access_block_configuration(private)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("blocking public access to {bucket}: {}", describe(&e)))?;
        let by_default = ServerSideEncryptionByDefault::builder()
            .sse_algorithm(ServerSideEncryption::Aes256)
            .build()
            .context("encryption default")?;
        let encryption = ServerSideEncryptionConfiguration::builder()
            .rules(ServerSideEncryptionRule::builder().apply_server_side_encryption_by_default(by_default).build())
            .build()
            .context("encryption configuration")?;
        self.s3
            .put_bucket_encryption()
            .bucket(&bucket)
            .server_side_encryption_configuration(encryption)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("encrypting {bucket}: {}", describe(&e)))?;
        self.s3
            .put_bucket_versioning()
            .bucket(&bucket)
            .versioning_configuration(
                VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build(),
            )
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("versioning {bucket}: {}", describe(&e)))?;
        Ok(())
    }

    async fn create_webhook_inbox(&self) -> anyhow::Result<()> {
        use aws_sdk_dynamodb::types::{
            AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
        };
        let name = self.names.webhook_inbox();
        let created = self
            .dynamodb
            .create_table()
            .table_name(&name)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("id")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .context("attribute definition")?,
            )
            .key_schema(
                KeySchemaElement::builder().attribute_name("id").key_type(KeyType::Hash).build().context("key")?,
            )
            .send()
            .await;
        match created {
            Ok(_) => {}
            Err(e) if e.as_service_error().is_some_and(|e| e.is_resource_in_use_exception()) => return Ok(()),
            Err(e) => anyhow::bail!("creating DynamoDB table {name}: {}", describe(&e)),
        }
        // Deliveries are kept 30 days (Toss retries for about three): `expires_at` is the TTL.
        self.dynamodb
            .update_time_to_live()
            .table_name(&name)
            .time_to_live_specification(
                aws_sdk_dynamodb::types::TimeToLiveSpecification::builder()
                    .attribute_name("expires_at")
                    .enabled(true)
                    .build()
                    .context("ttl specification")?,
            )
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("enabling TTL on {name}: {}", describe(&e)))?;
        Ok(())
    }
}
