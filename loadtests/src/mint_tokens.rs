//! Prints N access tokens for N distinct buyers, signed with the local access key — so a load
//! test can act as thousands of users without thousands of (deliberately slow) sign-ups.
//! Usage: mint-tokens <data-dir> <count>

use std::io::Write;

use anyhow::Context;
use tiketi_shared::ids::UserId;
use tiketi_shared::keys::{KeyPurpose, KeyStore, LocalKeyStore};
use tiketi_shared::token::{AccessClaims, UserRole};

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().context("usage: mint-tokens <data-dir> <count>")?;
    let count: usize = args.next().context("usage: mint-tokens <data-dir> <count>")?.parse()?;
    let keys = LocalKeyStore::new(std::path::Path::new(&dir)).load(KeyPurpose::Access).await?;
    let now = chrono::Utc::now().timestamp();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for _ in 0..count {
        let claims = AccessClaims::new(UserId::new(), UserRole::User, now, 900);
        writeln!(out, "{}", keys.active().sign(&claims)?)?;
    }
    Ok(())
}
