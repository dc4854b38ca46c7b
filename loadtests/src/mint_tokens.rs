//! Prints N access tokens for N distinct buyers, signed with the local access key — so a load
//! test can act as thousands of users without thousands of (deliberately slow) sign-ups.
//! Usage: mint-tokens <data-dir> <count>

use std::io::Write;

use anyhow::Context;
use jsonwebtoken::{Algorithm, Header};
use tiketi_shared::ids::UserId;
use tiketi_shared::keys::{KeyPurpose, KeyStore, LocalKeyStore};
use tiketi_shared::token::{ACCESS_AUDIENCE, ACCESS_ISSUER, AccessClaims, UserRole};

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().context("usage: mint-tokens <data-dir> <count>")?;
    let count: usize = args.next().context("usage: mint-tokens <data-dir> <count>")?.parse()?;
    let keys = LocalKeyStore::new(std::path::Path::new(&dir)).load(KeyPurpose::Access).await?;
    let key = keys.active();
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(key.kid.clone());
    let now = chrono::Utc::now().timestamp();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for _ in 0..count {
        let claims = AccessClaims {
            iss: ACCESS_ISSUER.into(),
            aud: ACCESS_AUDIENCE.into(),
            sub: UserId::new(),
            role: UserRole::User,
            iat: now,
            exp: now + 900,
            jti: uuid::Uuid::now_v7(),
        };
        writeln!(out, "{}", jsonwebtoken::encode(&header, &claims, &key.encoding)?)?;
    }
    Ok(())
}
