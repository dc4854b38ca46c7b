//! Password hashing with argon2id, off the async runtime and with bounded concurrency (each hash
//! holds ~19 MiB; a login flood must not become a memory flood).

use std::sync::Arc;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use tiketi_shared::{ApiError, ApiResult};
use tokio::sync::Semaphore;

use crate::settings::Argon2Settings;

#[derive(Clone)]
pub struct Passwords {
    argon2: Argon2<'static>,
    permits: Arc<Semaphore>,
    /// A hash of a random password with the same cost: verified against when the account does
    /// not exist, so an unknown email takes as long as a wrong password.
    dummy_hash: Arc<str>,
}

impl Passwords {
    pub fn new(settings: Argon2Settings) -> anyhow::Result<Self> {
        let params = Params::new(settings.memory_kib, settings.iterations, settings.parallelism, None)
            .map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let random = uuid::Uuid::new_v4().to_string();
        let dummy_hash = hash_blocking(&argon2, random.as_bytes())?;
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        Ok(Self { argon2, permits: Arc::new(Semaphore::new(cores)), dummy_hash: dummy_hash.into() })
    }

    pub async fn hash(&self, password: SecretString) -> ApiResult<String> {
        let argon2 = self.argon2.clone();
        self.run(move || hash_blocking(&argon2, password.expose_secret().as_bytes())).await
    }

    /// Whether `password` matches `hash`; with no hash (no such account, or no password set) it
    /// does the same work and answers false.
    pub async fn verify(&self, password: SecretString, hash: Option<String>) -> ApiResult<bool> {
        let argon2 = self.argon2.clone();
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy_hash.to_string());
        self.run(move || {
            let parsed = PasswordHash::new(&hash).map_err(|e| anyhow::anyhow!("stored hash: {e}"))?;
            // Verify first, then look at `known`: the dummy hash must cost a full verification.
            let matched = argon2.verify_password(password.expose_secret().as_bytes(), &parsed).is_ok();
            Ok(matched && known)
        })
        .await
    }

    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> anyhow::Result<T> + Send + 'static) -> ApiResult<T> {
        let _permit = self.permits.acquire().await.map_err(ApiError::internal)?;
        tokio::task::spawn_blocking(work).await.map_err(ApiError::internal)?.map_err(ApiError::internal)
    }
}

fn hash_blocking(argon2: &Argon2<'_>, password: &[u8]) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(argon2.hash_password(password, &salt).map_err(|e| anyhow::anyhow!("hashing: {e}"))?.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> Passwords {
        Passwords::new(Argon2Settings { memory_kib: 1024, iterations: 1, parallelism: 1 }).expect("params")
    }

    #[tokio::test]
    async fn a_hash_verifies_only_its_password_and_no_hash_verifies_nothing() {
        let passwords = cheap();
        let hash = passwords.hash(SecretString::from("correct horse")).await.expect("hash");
        assert!(hash.starts_with("$argon2id$"));
        assert!(passwords.verify(SecretString::from("correct horse"), Some(hash.clone())).await.expect("verify"));
        assert!(!passwords.verify(SecretString::from("wrong horse"), Some(hash)).await.expect("verify"));
        assert!(!passwords.verify(SecretString::from("anything"), None).await.expect("verify"));
    }
}
