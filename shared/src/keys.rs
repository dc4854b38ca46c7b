//! Ed25519 signing key sets and the JWKS that publishes their public halves.
//!
//! A key set holds the active key (first, signs) and the keys it replaced (verify only), so a
//! rotation never invalidates tokens already issued. Each set has a purpose, carried in every
//! `kid` (`access-…`, `service-…`), so a key of one purpose never verifies a token of another.
//!
//! Where the private keys come from is a [`KeyStore`]: a local folder (generated on first use,
//! kept so a restart does not log everyone out) or, in the cloud, a secret store.

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use hmac::{Hmac, Mac};
use jsonwebtoken::EncodingKey;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// What a key set signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyPurpose {
    /// User access tokens, issued by the auth role.
    Access,
    /// Service-to-service tokens for `/internal` routes, issued by every role.
    Service,
    /// Waiting-room admission tokens, issued and checked by the ticket role.
    Admission,
}

impl KeyPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyPurpose::Access => "access",
            KeyPurpose::Service => "service",
            KeyPurpose::Admission => "admission",
        }
    }

    /// The purpose a `kid` was minted for.
    pub fn of_kid(kid: &str) -> Option<Self> {
        match kid.split_once('-')?.0 {
            "access" => Some(KeyPurpose::Access),
            "service" => Some(KeyPurpose::Service),
            "admission" => Some(KeyPurpose::Admission),
            _ => None,
        }
    }
}

/// How many keys a set keeps: the active one and the one it replaced.
pub const KEYS_KEPT: usize = 2;

/// One private key as stored.
#[derive(Clone, Serialize, Deserialize)]
struct StoredKey {
    kid: String,
    created_at: DateTime<Utc>,
    /// PKCS#8 PEM of the Ed25519 private key.
    private_key_pem: String,
}

/// A key set as stored: the same JSON in a local file and in a secret store.
#[derive(Clone, Default, Serialize, Deserialize)]
pub(crate) struct StoredKeySet {
    keys: Vec<StoredKey>,
}

impl StoredKeySet {
    /// A set holding one new key.
    pub(crate) fn first(purpose: KeyPurpose, now: DateTime<Utc>) -> anyhow::Result<Self> {
        Ok(Self { keys: vec![new_key(purpose, now)?] })
    }

    /// Puts a new active key first; the previous one stays, keys beyond [`KEYS_KEPT`] are dropped.
    pub(crate) fn rotate(&mut self, purpose: KeyPurpose, now: DateTime<Utc>) -> anyhow::Result<()> {
        self.keys.insert(0, new_key(purpose, now)?);
        self.keys.truncate(KEYS_KEPT);
        Ok(())
    }

    pub(crate) fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.kid.as_str())
    }
}

/// A usable key: what signs, and what others verify with.
#[derive(Clone)]
pub struct Key {
    pub kid: String,
    pub encoding: EncodingKey,
    pub public: Jwk,
    /// An HMAC-SHA256 key derived from the private key, for short tags the issuing role checks
    /// itself (waiting-room receipts): microseconds where a signature costs tens.
    mac: [u8; 32],
}

impl Key {
    fn mac_with(&self, data: &[u8]) -> Hmac<Sha256> {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.mac).unwrap_or_else(|_| unreachable!("any key length"));
        mac.update(data);
        mac
    }

    /// Signs `claims` as an EdDSA JWT naming this key in `kid` — every token Tiketi issues.
    pub fn sign(&self, claims: &impl Serialize) -> jsonwebtoken::errors::Result<String> {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding)
    }
}

/// Keys of one purpose, newest (active) first.
#[derive(Clone)]
pub struct KeySet {
    pub purpose: KeyPurpose,
    keys: Vec<Key>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<&str> = self.keys.iter().map(|k| k.kid.as_str()).collect();
        f.debug_struct("KeySet").field("purpose", &self.purpose).field("kids", &kids).finish()
    }
}

impl KeySet {
    pub(crate) fn from_stored(purpose: KeyPurpose, stored: &StoredKeySet) -> anyhow::Result<Self> {
        let keys = stored
            .keys
            .iter()
            .map(|k| {
                let signing = SigningKey::from_pkcs8_pem(&k.private_key_pem)
                    .map_err(|e| anyhow::anyhow!("key {}: {e}", k.kid))?;
                Ok(Key {
                    kid: k.kid.clone(),
                    encoding: EncodingKey::from_ed_der(
                        signing.to_pkcs8_der().map_err(|e| anyhow::anyhow!("key {}: {e}", k.kid))?.as_bytes(),
                    ),
                    public: public_jwk(&k.kid, &signing),
                    mac: derive_mac_key(&signing),
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        anyhow::ensure!(!keys.is_empty(), "the {} key set is empty", purpose.as_str());
        Ok(Self { purpose, keys })
    }

    /// The key that signs new tokens.
    pub fn active(&self) -> &Key {
        // from_stored guarantees at least one key
        &self.keys[0]
    }

    /// An HMAC-SHA256 tag over `data` by the active key.
    pub fn mac(&self, data: &[u8]) -> [u8; 32] {
        self.active().mac_with(data).finalize().into_bytes().into()
    }

    /// Whether `tag` is a tag over `data` by a key of this set (compared in constant time), so
    /// a rotation keeps tags already given out valid.
    pub fn check_mac(&self, data: &[u8], tag: &[u8]) -> bool {
        self.keys.iter().any(|k| k.mac_with(data).verify_slice(tag).is_ok())
    }

    pub fn jwks(&self) -> Vec<Jwk> {
        self.keys.iter().map(|k| k.public.clone()).collect()
    }
}

/// Builds a JWKS document from key sets.
pub fn jwk_set(sets: &[&KeySet]) -> JwkSet {
    JwkSet { keys: sets.iter().flat_map(|s| s.jwks()).collect() }
}

fn public_jwk(kid: &str, key: &SigningKey) -> Jwk {
    let x = URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes());
    let value = serde_json::json!({
        "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": kid, "x": x,
    });
    // A fixed, well-formed OKP key always deserialises.
    serde_json::from_value(value).unwrap_or_else(|e| unreachable!("static jwk shape: {e}"))
}

/// HMAC(private key, label): a key for another primitive that reveals nothing of the signing key.
fn derive_mac_key(signing: &SigningKey) -> [u8; 32] {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(signing.as_bytes()).unwrap_or_else(|_| unreachable!("any key length"));
    mac.update(b"tiketi mac key v1");
    mac.finalize().into_bytes().into()
}

fn new_key(purpose: KeyPurpose, now: DateTime<Utc>) -> anyhow::Result<StoredKey> {
    let signing = SigningKey::generate(&mut rand::rngs::OsRng);
    let pem = signing.to_pkcs8_pem(Default::default()).map_err(|e| anyhow::anyhow!("encoding a new key: {e}"))?;
    Ok(StoredKey {
        kid: format!("{}-{}", purpose.as_str(), uuid::Uuid::now_v7().simple()),
        created_at: now,
        private_key_pem: pem.to_string(),
    })
}

/// Where private keys live.
#[async_trait::async_trait]
pub trait KeyStore: Send + Sync {
    /// The key set of `purpose`, created on first use where the store can create keys.
    async fn load(&self, purpose: KeyPurpose) -> anyhow::Result<KeySet>;
    /// Adds a new active key; the previous one stays for verification, older ones are dropped.
    async fn rotate(&self, purpose: KeyPurpose) -> anyhow::Result<KeySet>;
}

/// Keys in files under a local folder (`keys/<purpose>.json`, mode 0600).
#[derive(Debug, Clone)]
pub struct LocalKeyStore {
    dir: PathBuf,
}

impl LocalKeyStore {
    pub fn new(data_dir: &Path) -> Self {
        Self { dir: data_dir.join("keys") }
    }

    fn path(&self, purpose: KeyPurpose) -> PathBuf {
        self.dir.join(format!("{}.json", purpose.as_str()))
    }

    async fn read(&self, purpose: KeyPurpose) -> anyhow::Result<Option<StoredKeySet>> {
        match tokio::fs::read(self.path(purpose)).await {
            Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Writes atomically (temp file + rename) so a crash never leaves half a key file.
    async fn write(&self, purpose: KeyPurpose, set: &StoredKeySet) -> anyhow::Result<()> {
        tokio::fs::create_dir_all(&self.dir).await?;
        let path = self.path(purpose);
        let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::now_v7().simple()));
        let bytes = serde_json::to_vec_pretty(set)?;
        let mut options = tokio::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        options.mode(0o600);
        let mut file = options.open(&tmp).await?;
        tokio::io::AsyncWriteExt::write_all(&mut file, &bytes).await?;
        file.sync_all().await?;
        tokio::fs::rename(&tmp, &path).await?;
        Ok(())
    }

    /// Creates the first key unless one exists; concurrent creators agree on one file.
    async fn create_if_missing(&self, purpose: KeyPurpose) -> anyhow::Result<StoredKeySet> {
        tokio::fs::create_dir_all(&self.dir).await?;
        let set = StoredKeySet::first(purpose, Utc::now())?;
        let bytes = serde_json::to_vec_pretty(&set)?;
        let mut options = tokio::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        options.mode(0o600);
        match options.open(self.path(purpose)).await {
            Ok(mut file) => {
                tokio::io::AsyncWriteExt::write_all(&mut file, &bytes).await?;
                file.sync_all().await?;
                Ok(set)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                // Another process won the race; wait for its write to land, then use its key.
                for _ in 0..50 {
                    if let Ok(Some(existing)) = self.read(purpose).await {
                        return Ok(existing);
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                anyhow::bail!("key file {} exists but cannot be read", self.path(purpose).display())
            }
            Err(e) => Err(e.into()),
        }
    }
}

#[async_trait::async_trait]
impl KeyStore for LocalKeyStore {
    async fn load(&self, purpose: KeyPurpose) -> anyhow::Result<KeySet> {
        let stored = match self.read(purpose).await? {
            Some(set) => set,
            None => self.create_if_missing(purpose).await?,
        };
        KeySet::from_stored(purpose, &stored)
    }

    async fn rotate(&self, purpose: KeyPurpose) -> anyhow::Result<KeySet> {
        let mut stored = self.read(purpose).await?.unwrap_or_default();
        stored.rotate(purpose, Utc::now())?;
        self.write(purpose, &stored).await?;
        KeySet::from_stored(purpose, &stored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keys_survive_a_restart_and_rotation_keeps_the_previous_key() {
        let dir = std::env::temp_dir().join(format!("tiketi-keys-{}", uuid::Uuid::now_v7()));
        let store = LocalKeyStore::new(&dir);
        let first = store.load(KeyPurpose::Access).await.expect("create");
        let again = LocalKeyStore::new(&dir).load(KeyPurpose::Access).await.expect("reload");
        assert_eq!(first.active().kid, again.active().kid);
        assert!(first.active().kid.starts_with("access-"));

        let rotated = store.rotate(KeyPurpose::Access).await.expect("rotate");
        assert_ne!(rotated.active().kid, first.active().kid);
        let kids: Vec<_> = rotated.jwks().into_iter().filter_map(|k| k.common.key_id).collect();
        assert_eq!(kids, vec![rotated.active().kid.clone(), first.active().kid.clone()]);

        let thrice = store.rotate(KeyPurpose::Access).await.expect("rotate again");
        assert_eq!(thrice.jwks().len(), KEYS_KEPT);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn mac_tags_survive_a_rotation_and_bind_their_data() {
        let dir = std::env::temp_dir().join(format!("tiketi-keys-{}", uuid::Uuid::now_v7()));
        let store = LocalKeyStore::new(&dir);
        let first = store.load(KeyPurpose::Admission).await.expect("create");
        let tag = first.mac(b"place 42");
        assert!(first.check_mac(b"place 42", &tag));
        assert!(!first.check_mac(b"place 41", &tag), "the tag binds its data");
        assert!(!first.check_mac(b"place 42", &tag[..16]), "a shortened tag is not a tag");
        let rotated = store.rotate(KeyPurpose::Admission).await.expect("rotate");
        assert_ne!(rotated.mac(b"place 42"), tag, "the new key tags differently");
        assert!(rotated.check_mac(b"place 42", &tag), "tags of the previous key still check");
        let other = LocalKeyStore::new(&dir.join("other")).load(KeyPurpose::Admission).await.expect("create");
        assert!(!other.check_mac(b"place 42", &tag), "another key set's tags do not");
        let _ = std::fs::remove_dir_all(dir);
    }
}
