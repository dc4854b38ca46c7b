//! AWS Secrets Manager: the signing key sets in the cloud ([`SecretsManagerKeyStore`]) and other
//! secrets read at run time through a short cache ([`SecretValue`]), so a rotated value reaches
//! running processes without a restart.
//!
//! Nothing here logs or formats a secret's value: errors and `Debug` name the secret, never what it holds.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use aws_sdk_secretsmanager::Client;
use chrono::Utc;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::aws::{Aws, Names, describe};
use crate::keys::{KeyPurpose, KeySet, KeyStore, StoredKeySet};

/// The version id of the first value written to a signing-key secret. Secrets Manager refuses a
/// second, different value under one version id, so processes racing to write the first key set —
/// also into a secret created without a value (by Terraform, say) — end up agreeing on one.
/// (AWS takes 32 to 64 characters.)
const FIRST_VERSION: &str = "tiketi-signing-keys-first-version";

/// Reads of a key set another process has just written (Secrets Manager reads are eventually consistent).
const READ_ATTEMPTS: u32 = 20;
const READ_PAUSE: Duration = Duration::from_millis(100);

/// Signing key sets in Secrets Manager, one secret per purpose (`<prefix>signing-keys-<purpose>`),
/// each holding the same JSON as a [`LocalKeyStore`](crate::keys::LocalKeyStore) file.
///
/// A rotation reads, adds a key and writes: Secrets Manager has no conditional write, so two
/// rotations of one purpose at the same moment keep only one of the two new keys. Rotate from one place.
#[derive(Clone)]
pub struct SecretsManagerKeyStore {
    client: Client,
    names: Names,
}

impl std::fmt::Debug for SecretsManagerKeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretsManagerKeyStore").field("names", &self.names).finish_non_exhaustive()
    }
}

impl SecretsManagerKeyStore {
    pub fn new(aws: &Aws) -> Self {
        Self { client: aws.secrets.clone(), names: aws.names.clone() }
    }

    /// The name of the secret that holds the keys of `purpose`.
    pub fn secret_name(&self, purpose: KeyPurpose) -> String {
        self.names.secret(&format!("signing-keys-{}", purpose.as_str()))
    }

    /// The stored set of `purpose`, created with one key when missing; `true` when this call created it.
    async fn load_or_create(&self, purpose: KeyPurpose) -> anyhow::Result<(StoredKeySet, bool)> {
        let name = self.secret_name(purpose);
        if let Some(set) = self.read(&name, purpose).await? {
            return Ok((set, false));
        }
        let first = StoredKeySet::first(purpose, Utc::now())?;
        // A secret that exists but could not be read was either just created by another process
        // (whose first value makes `put_first` refuse ours) or created without a value.
        if self.create(&name, &first).await? || self.put_first(&name, &first).await? {
            tracing::info!(secret = %name, "created a signing key set");
            return Ok((first, true));
        }
        // Another process's first key set won; this reader may not see it yet.
        for _ in 0..READ_ATTEMPTS {
            if let Some(set) = self.read(&name, purpose).await? {
                return Ok((set, false));
            }
            tokio::time::sleep(READ_PAUSE).await;
        }
        anyhow::bail!("secret {name} has a first key set that cannot be read")
    }

    /// The set in secret `name`, `None` when the secret or its value does not exist.
    async fn read(&self, name: &str, purpose: KeyPurpose) -> anyhow::Result<Option<StoredKeySet>> {
        let got = match self.client.get_secret_value().secret_id(name).send().await {
            Ok(got) => got,
            Err(e) if e.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()) => return Ok(None),
            Err(e) => anyhow::bail!("reading secret {name}: {}", describe(&e)),
        };
        let text = got.secret_string().with_context(|| format!("secret {name} has no string value"))?;
        decode(name, purpose, text).map(Some)
    }

    /// Creates secret `name` holding `set`; `false` when the secret exists already.
    async fn create(&self, name: &str, set: &StoredKeySet) -> anyhow::Result<bool> {
        let created = self
            .client
            .create_secret()
            .name(name)
            .description("Tiketi token signing keys (Ed25519), the active key first")
            .client_request_token(FIRST_VERSION)
            .secret_string(encode(set)?)
            .send()
            .await;
        match created {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_resource_exists_exception()) => Ok(false),
            Err(e) => anyhow::bail!("creating secret {name}: {}", describe(&e)),
        }
    }

    /// Writes `set` as the first value of secret `name`; `false` when a first value is there already.
    async fn put_first(&self, name: &str, set: &StoredKeySet) -> anyhow::Result<bool> {
        let put = self
            .client
            .put_secret_value()
            .secret_id(name)
            .client_request_token(FIRST_VERSION)
            .secret_string(encode(set)?)
            .send()
            .await;
        match put {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_resource_exists_exception()) => Ok(false),
            Err(e) => anyhow::bail!("writing the first key set to secret {name}: {}", describe(&e)),
        }
    }
}

#[async_trait::async_trait]
impl KeyStore for SecretsManagerKeyStore {
    async fn load(&self, purpose: KeyPurpose) -> anyhow::Result<KeySet> {
        let (stored, _) = self.load_or_create(purpose).await?;
        KeySet::from_stored(purpose, &stored).with_context(|| format!("secret {}", self.secret_name(purpose)))
    }

    async fn rotate(&self, purpose: KeyPurpose) -> anyhow::Result<KeySet> {
        let name = self.secret_name(purpose);
        let (mut stored, created) = self.load_or_create(purpose).await?;
        // A set created just now holds a new key already: that is the rotation.
        if !created {
            stored.rotate(purpose, Utc::now())?;
            self.client
                .put_secret_value()
                .secret_id(&name)
                .secret_string(encode(&stored)?)
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("writing the rotated key set to secret {name}: {}", describe(&e)))?;
        }
        let set = KeySet::from_stored(purpose, &stored).with_context(|| format!("secret {name}"))?;
        tracing::info!(secret = %name, kid = %set.active().kid, "rotated a signing key set");
        Ok(set)
    }
}

fn encode(set: &StoredKeySet) -> anyhow::Result<String> {
    serde_json::to_string(set).context("encoding a key set")
}

/// Parses a secret's key set and checks every key in it is of `purpose`, so a secret copied to
/// the wrong name cannot make one purpose's key verify another's tokens.
fn decode(name: &str, purpose: KeyPurpose, text: &str) -> anyhow::Result<StoredKeySet> {
    // serde_json's messages can quote the offending value, which here would be key material.
    let set: StoredKeySet = serde_json::from_str(text).map_err(|e| {
        let kind = format!("{:?}", e.classify()).to_lowercase();
        anyhow::anyhow!("secret {name} is not a key set ({kind} error at line {} column {})", e.line(), e.column())
    })?;
    if let Some(kid) = set.kids().find(|kid| KeyPurpose::of_kid(kid) != Some(purpose)) {
        anyhow::bail!("secret {name} holds key {kid}, which is not an {} key", purpose.as_str());
    }
    Ok(set)
}

/// How long a [`SecretValue`] serves what it read before reading again.
pub const DEFAULT_TTL: Duration = Duration::from_secs(5 * 60);

/// After a failed refresh, how long the previous value is served before the next attempt (at most the TTL).
const RETRY_AFTER_ERROR: Duration = Duration::from_secs(10);

/// One secret's string, read from Secrets Manager and kept for a TTL: a rotated value reaches a
/// running process within the TTL, and a hot path does not call AWS per request. The string is
/// taken whole, JSON or not. Clones share one cache.
#[derive(Clone)]
pub struct SecretValue {
    inner: Arc<Inner>,
}

struct Inner {
    id: String,
    client: Client,
    ttl: Duration,
    cached: Mutex<Option<Cached>>,
}

struct Cached {
    value: SecretString,
    fresh_until: Instant,
}

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretValue").field("id", &self.inner.id).field("ttl", &self.inner.ttl).finish_non_exhaustive()
    }
}

impl SecretValue {
    /// The secret `secret_id` (a name or an ARN), kept for [`DEFAULT_TTL`].
    pub fn new(client: Client, secret_id: impl Into<String>) -> Self {
        Self::build(client, secret_id.into(), DEFAULT_TTL)
    }

    /// The same secret with another TTL (and a cache of its own).
    pub fn with_ttl(self, ttl: Duration) -> Self {
        Self::build(self.inner.client.clone(), self.inner.id.clone(), ttl)
    }

    fn build(client: Client, id: String, ttl: Duration) -> Self {
        Self { inner: Arc::new(Inner { id, client, ttl, cached: Mutex::new(None) }) }
    }

    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// The value, from the cache while it is fresh. When a refresh fails the previous value is
    /// served and the refresh retried shortly (logged), so an AWS outage does not fail every
    /// request that needs the secret.
    pub async fn get(&self) -> anyhow::Result<SecretString> {
        // One lock over the check and the refresh: callers arriving during a refresh wait for its
        // result rather than each calling AWS. Holding it costs a hot path a clone, not a call.
        let mut cached = self.inner.cached.lock().await;
        if let Some(c) = cached.as_ref().filter(|c| Instant::now() < c.fresh_until) {
            return Ok(c.value.clone());
        }
        match self.fetch().await {
            Ok(value) => {
                *cached = Some(Cached { value: value.clone(), fresh_until: Instant::now() + self.inner.ttl });
                Ok(value)
            }
            Err(err) => {
                let Some(previous) = cached.as_mut() else { return Err(err) };
                tracing::warn!(
                    secret = %self.inner.id,
                    error = %format_args!("{err:#}"),
                    "refreshing a secret failed, serving the previous value"
                );
                previous.fresh_until = Instant::now() + self.inner.ttl.min(RETRY_AFTER_ERROR);
                Ok(previous.value.clone())
            }
        }
    }

    async fn fetch(&self) -> anyhow::Result<SecretString> {
        let id = &self.inner.id;
        let got = self
            .inner
            .client
            .get_secret_value()
            .secret_id(id)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("reading secret {id}: {}", describe(&e)))?;
        let text = got.secret_string.with_context(|| format!("secret {id} has no string value"))?;
        Ok(SecretString::from(text))
    }

    /// Creates the secret holding `value` unless it exists (its id must then be a name, not an
    /// ARN); `true` when this call created it. An existing value is kept, so seeding again never
    /// undoes a rotation.
    pub async fn put_if_missing(&self, value: &SecretString) -> anyhow::Result<bool> {
        let id = &self.inner.id;
        let created = self.inner.client.create_secret().name(id).secret_string(value.expose_secret()).send().await;
        match created {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_resource_exists_exception()) => Ok(false),
            Err(e) => anyhow::bail!("creating secret {id}: {}", describe(&e)),
        }
    }
}
