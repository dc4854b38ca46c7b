//! Key sets and secret values in Secrets Manager, against the AWS emulator (`AWS_ENDPOINT_URL`):
//! first starts agree on one key, rotation keeps the previous key, purposes stay apart, cached
//! values are refreshed after their TTL, and nothing prints key material or a secret's value.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_secretsmanager::config::{ConfigBag, Intercept};
use aws_sdk_secretsmanager::error::BoxError;
use secrecy::{ExposeSecret, SecretString};
use tiketi_shared::aws::{Aws, AwsSettings};
use tiketi_shared::keys::{KEYS_KEPT, KeyPurpose, KeySet, KeyStore};
use tiketi_shared::secrets::{SecretValue, SecretsManagerKeyStore};
use tokio::time::Instant;

/// A client of the emulator whose names no other test shares.
async fn aws() -> Aws {
    // Never fall back to real AWS: these tests create and delete secrets.
    let endpoint = std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL (the emulator; see `./dev env`)");
    let prefix = format!("s{}-", uuid::Uuid::now_v7().simple());
    aws_with_prefix(&endpoint, &prefix).await
}

async fn aws_with_prefix(endpoint: &str, prefix: &str) -> Aws {
    Aws::connect(&AwsSettings {
        endpoint_url: Some(url::Url::parse(endpoint).expect("AWS_ENDPOINT_URL is a URL")),
        region: std::env::var("AWS_REGION").unwrap_or_else(|_| "ap-northeast-2".to_owned()),
        name_prefix: prefix.to_owned(),
    })
    .await
}

/// Another process on the same names: its own clients.
async fn same_names(aws: &Aws) -> Aws {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap();
    aws_with_prefix(&endpoint, &aws.names.secret("")).await
}

fn kids(set: &KeySet) -> Vec<String> {
    set.jwks().into_iter().map(|k| k.common.key_id.unwrap()).collect()
}

async fn raw(aws: &Aws, name: &str) -> String {
    aws.secrets.get_secret_value().secret_id(name).send().await.unwrap().secret_string.unwrap()
}

async fn put_raw(aws: &Aws, name: &str, value: &str) {
    aws.secrets.put_secret_value().secret_id(name).secret_string(value).send().await.unwrap();
}

/// Counts the calls a client makes.
#[derive(Debug)]
struct CountCalls(Arc<AtomicUsize>);

impl Intercept for CountCalls {
    fn name(&self) -> &'static str {
        "CountCalls"
    }

    fn read_before_execution(
        &self,
        _: &BeforeSerializationInterceptorContextRef<'_>,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

fn counting_client(aws: &Aws) -> (Client, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let config = aws.secrets.config().to_builder().interceptor(CountCalls(calls.clone())).build();
    (Client::from_conf(config), calls)
}

#[tokio::test]
async fn the_first_load_creates_a_key_set_that_another_store_then_loads() {
    let aws = aws().await;
    let store = SecretsManagerKeyStore::new(&aws);
    let first = store.load(KeyPurpose::Access).await.expect("first load");
    assert!(first.active().kid.starts_with("access-"), "{first:?}");
    assert_eq!(kids(&first).len(), 1);
    let stored = raw(&aws, &aws.names.secret("signing-keys-access")).await;
    assert!(stored.contains(&first.active().kid), "the secret holds the key");

    let other = SecretsManagerKeyStore::new(&same_names(&aws).await);
    let again = other.load(KeyPurpose::Access).await.expect("second load");
    assert_eq!(kids(&again), kids(&first));
}

#[tokio::test]
async fn rotation_puts_a_new_key_first_and_keeps_the_previous_up_to_keys_kept() {
    let aws = aws().await;
    let store = SecretsManagerKeyStore::new(&aws);
    let first = store.load(KeyPurpose::Service).await.unwrap();

    let second = store.rotate(KeyPurpose::Service).await.expect("rotate");
    assert_eq!(kids(&second), vec![second.active().kid.clone(), first.active().kid.clone()]);
    assert_ne!(second.active().kid, first.active().kid);

    let third = store.rotate(KeyPurpose::Service).await.expect("rotate again");
    assert_eq!(kids(&third).len(), KEYS_KEPT);
    assert_eq!(kids(&third), vec![third.active().kid.clone(), second.active().kid.clone()]);

    let reloaded = SecretsManagerKeyStore::new(&same_names(&aws).await).load(KeyPurpose::Service).await.unwrap();
    assert_eq!(kids(&reloaded), kids(&third), "another process sees the rotation");
}

#[tokio::test]
async fn rotating_a_missing_key_set_creates_it_with_one_key() {
    let aws = aws().await;
    let rotated = SecretsManagerKeyStore::new(&aws).rotate(KeyPurpose::Admission).await.expect("rotate");
    assert_eq!(kids(&rotated).len(), 1);
    let loaded = SecretsManagerKeyStore::new(&aws).load(KeyPurpose::Admission).await.unwrap();
    assert_eq!(kids(&loaded), kids(&rotated));
}

/// Eight processes starting at once, each with its own clients.
async fn load_at_once(aws: &Aws, purpose: KeyPurpose) -> HashSet<Vec<String>> {
    let barrier = Arc::new(tokio::sync::Barrier::new(8));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (aws, barrier) = (same_names(aws).await, barrier.clone());
        tasks.push(tokio::spawn(async move {
            let store = SecretsManagerKeyStore::new(&aws);
            barrier.wait().await;
            kids(&store.load(purpose).await.expect("concurrent first load"))
        }));
    }
    futures::future::join_all(tasks).await.into_iter().map(Result::unwrap).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_loads_agree_on_one_key() {
    let aws = aws().await;
    let seen = load_at_once(&aws, KeyPurpose::Access).await;
    assert_eq!(seen.len(), 1, "every process uses the same key set: {seen:?}");
    let loaded = SecretsManagerKeyStore::new(&aws).load(KeyPurpose::Access).await.unwrap();
    assert!(seen.contains(&kids(&loaded)), "and it is the stored one");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_loads_into_a_secret_created_without_a_value_agree_on_one_key() {
    let aws = aws().await;
    let name = aws.names.secret("signing-keys-access");
    aws.secrets.create_secret().name(&name).send().await.expect("an empty secret, as Terraform makes it");

    let seen = load_at_once(&aws, KeyPurpose::Access).await;
    assert_eq!(seen.len(), 1, "every process uses the same key set: {seen:?}");
    let loaded = SecretsManagerKeyStore::new(&aws).load(KeyPurpose::Access).await.unwrap();
    assert!(seen.contains(&kids(&loaded)), "and it is the stored one");
}

#[tokio::test]
async fn a_key_of_one_purpose_never_appears_in_another_purposes_set() {
    let aws = aws().await;
    let store = SecretsManagerKeyStore::new(&aws);
    let mut all = HashSet::new();
    for purpose in [KeyPurpose::Access, KeyPurpose::Service, KeyPurpose::Admission] {
        store.load(purpose).await.unwrap();
        let set = store.rotate(purpose).await.unwrap();
        for kid in kids(&set) {
            assert_eq!(KeyPurpose::of_kid(&kid), Some(purpose), "{kid} in the {} set", purpose.as_str());
            assert!(all.insert(kid.clone()), "{kid} is in two sets");
        }
    }

    // A set copied under another purpose's name is refused rather than trusted.
    let service = raw(&aws, &store.secret_name(KeyPurpose::Service)).await;
    put_raw(&aws, &store.secret_name(KeyPurpose::Access), &service).await;
    let err = store.load(KeyPurpose::Access).await.expect_err("service keys under the access name");
    let text = format!("{err:#}");
    assert!(text.contains(&store.secret_name(KeyPurpose::Access)), "{text}");
    assert!(!text.contains("PRIVATE KEY"), "{text}");
}

#[tokio::test]
async fn a_secret_that_is_not_a_key_set_is_refused_without_echoing_it() {
    let aws = aws().await;
    let store = SecretsManagerKeyStore::new(&aws);
    let name = store.secret_name(KeyPurpose::Access);
    aws.secrets.create_secret().name(&name).secret_string(r#"{"keys":"sk-not-to-be-printed"}"#).send().await.unwrap();

    let err = store.load(KeyPurpose::Access).await.expect_err("not a key set");
    let text = format!("{err:#} {err:?}");
    assert!(text.contains(&name), "the error names the secret: {text}");
    assert!(!text.contains("sk-not-to-be-printed"), "the error does not echo the value: {text}");
}

#[tokio::test]
async fn debug_output_holds_no_key_material_and_no_secret_value() {
    let aws = aws().await;
    let store = SecretsManagerKeyStore::new(&aws);
    let set = store.load(KeyPurpose::Access).await.unwrap();
    let stored: serde_json::Value =
        serde_json::from_str(&raw(&aws, &store.secret_name(KeyPurpose::Access)).await).unwrap();
    let pem = stored["keys"][0]["private_key_pem"].as_str().unwrap();
    // The base64 body of the key, without the PEM armour lines.
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    assert!(body.len() > 20, "{}", body.len());

    let value = SecretValue::new(aws.secrets.clone(), aws.names.secret("debug"));
    value.put_if_missing(&SecretString::from("sv-not-to-be-printed")).await.unwrap();
    assert_eq!(value.get().await.unwrap().expose_secret(), "sv-not-to-be-printed");

    let printed = format!("{store:?} {set:?} {value:?} {aws:?}");
    assert!(!printed.contains(&body), "{printed}");
    assert!(!printed.contains("PRIVATE KEY"), "{printed}");
    assert!(!printed.contains("sv-not-to-be-printed"), "{printed}");
    assert!(printed.contains(&set.active().kid), "key ids are public: {printed}");
    assert!(printed.contains(value.id()), "the secret is named: {printed}");
}

#[tokio::test]
async fn a_secret_value_is_the_seeded_string_and_seeding_again_does_not_overwrite_it() {
    let aws = aws().await;
    let id = aws.names.secret("toss-secret-key");
    let value = SecretValue::new(aws.secrets.clone(), &id);
    // A JSON string with one field is still taken whole.
    let seeded = r#"{"key":"test_sk_first"}"#;
    assert!(value.put_if_missing(&SecretString::from(seeded)).await.expect("seed"), "created");
    assert_eq!(value.get().await.unwrap().expose_secret(), seeded);

    assert!(!value.put_if_missing(&SecretString::from("test_sk_second")).await.expect("seed again"), "kept");
    let uncached = SecretValue::new(same_names(&aws).await.secrets, &id);
    assert_eq!(uncached.get().await.unwrap().expose_secret(), seeded);
}

#[tokio::test]
async fn a_secret_value_is_cached_until_its_ttl_passes_then_the_new_value_is_read() {
    let aws = aws().await;
    let id = aws.names.secret("rotating");
    let ttl = Duration::from_secs(2);
    let value = SecretValue::new(aws.secrets.clone(), &id).with_ttl(ttl);
    value.put_if_missing(&SecretString::from("v1")).await.unwrap();
    let fetched = Instant::now();
    assert_eq!(value.get().await.unwrap().expose_secret(), "v1");

    put_raw(&same_names(&aws).await, &id, "v2").await;
    assert_eq!(value.get().await.unwrap().expose_secret(), "v1", "served from the cache");
    assert!(fetched.elapsed() < ttl, "the check above ran within the TTL");

    let deadline = Instant::now() + ttl + Duration::from_secs(10);
    loop {
        if value.get().await.unwrap().expose_secret() == "v2" {
            break;
        }
        assert!(Instant::now() < deadline, "the rotated value was never read");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(fetched.elapsed() >= ttl, "the new value was read only after the TTL");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_gets_on_a_cold_cache_make_one_call_to_aws() {
    let aws = aws().await;
    let id = aws.names.secret("hot");
    SecretValue::new(aws.secrets.clone(), &id).put_if_missing(&SecretString::from("hot-value")).await.unwrap();
    let (client, calls) = counting_client(&aws);
    let value = SecretValue::new(client, &id);

    let barrier = Arc::new(tokio::sync::Barrier::new(16));
    let gets = (0..16).map(|_| {
        let (value, barrier) = (value.clone(), barrier.clone());
        tokio::spawn(async move {
            barrier.wait().await;
            value.get().await.unwrap().expose_secret().to_owned()
        })
    });
    for got in futures::future::join_all(gets).await {
        assert_eq!(got.unwrap(), "hot-value");
    }
    for _ in 0..50 {
        value.get().await.unwrap();
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1, "one read for 66 gets");
}

#[tokio::test]
async fn a_failed_refresh_serves_the_previous_value_and_a_missing_secret_is_an_error_naming_it() {
    let aws = aws().await;
    let id = aws.names.secret("vanishing");
    SecretValue::new(aws.secrets.clone(), &id).put_if_missing(&SecretString::from("kept")).await.unwrap();
    let (client, calls) = counting_client(&aws);
    let value = SecretValue::new(client, &id).with_ttl(Duration::from_millis(200));
    assert_eq!(value.get().await.unwrap().expose_secret(), "kept");
    aws.secrets.delete_secret().secret_id(&id).force_delete_without_recovery(true).send().await.unwrap();

    let deadline = Instant::now() + Duration::from_secs(10);
    while calls.load(Ordering::SeqCst) < 3 {
        assert_eq!(value.get().await.expect("the previous value").expose_secret(), "kept");
        assert!(Instant::now() < deadline, "no refresh was attempted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let err = SecretValue::new(aws.secrets.clone(), &id).get().await.expect_err("no secret, no value");
    assert!(format!("{err:#}").contains(&id), "{err:#}");
}
