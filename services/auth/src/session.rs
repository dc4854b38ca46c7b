//! Sessions: an access token (short-lived JWT) plus a refresh token (opaque, single-use, rotated
//! on every refresh, revoked as a family when a spent one comes back).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use tiketi_shared::token::AccessClaims;
use tiketi_shared::{ApiError, ApiResult, ErrorCode};
use uuid::Uuid;

use crate::AuthState;
use crate::model::{TokenResponse, User};
use crate::store::{self, NewRefreshToken};

const REFRESH_PREFIX: &str = "rt_";

/// A new random refresh token and the hash it is stored under.
fn new_refresh_token() -> (String, Vec<u8>) {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = format!("{REFRESH_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let hash = hash_refresh_token(&token);
    (token, hash)
}

fn hash_refresh_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

impl AuthState {
    pub fn access_token(&self, user: &User) -> ApiResult<String> {
        let claims =
            AccessClaims::new(user.id, user.role, self.clock.now().timestamp(), self.access_ttl().num_seconds());
        self.access_keys.active().sign(&claims).map_err(ApiError::internal)
    }

    fn access_ttl(&self) -> Duration {
        Duration::from_std(self.settings.access_ttl).unwrap_or(Duration::minutes(15))
    }

    fn refresh_ttl(&self) -> Duration {
        Duration::from_std(self.settings.refresh_ttl).unwrap_or(Duration::days(30))
    }

    fn token_response(&self, user: User, refresh_token: String) -> ApiResult<TokenResponse> {
        Ok(TokenResponse {
            access_token: self.access_token(&user)?,
            refresh_token: Some(refresh_token),
            expires_in: self.settings.access_ttl.as_secs(),
            token_type: "Bearer".to_owned(),
            user,
        })
    }

    /// Signs `user` in: a new refresh-token family and an access token.
    pub async fn start_session(&self, user: User) -> ApiResult<TokenResponse> {
        let now = self.clock.now();
        let (token, hash) = new_refresh_token();
        store::insert_refresh_token(
            &self.pool,
            &NewRefreshToken {
                family_id: Uuid::now_v7(),
                user_id: user.id,
                token_hash: &hash,
                issued_at: now,
                expires_at: now + self.refresh_ttl(),
            },
        )
        .await?;
        self.token_response(user, token)
    }

    /// Spends `presented` and answers a new pair in the same family. A spent token coming back
    /// means two parties hold it: the whole family is revoked and both must sign in again.
    pub async fn refresh(&self, presented: &SecretString) -> ApiResult<TokenResponse> {
        let now = self.clock.now();
        let hash = hash_refresh_token(presented.expose_secret());
        let mut tx = self.pool.begin().await?;
        let Some((family_id, user_id)) = store::spend_refresh_token(&mut *tx, &hash, now).await? else {
            drop(tx);
            return Err(self.refused_refresh(&hash).await);
        };
        // Per-account limit; over it, the rollback leaves the presented token unspent.
        self.limiter.hit(&self.limits.account("refresh"), &user_id.to_string()).await?;
        let user =
            store::user_by_id(&mut *tx, user_id).await?.ok_or_else(|| ApiError::new(ErrorCode::InvalidRefreshToken))?;
        let (token, new_hash) = new_refresh_token();
        store::insert_refresh_token(
            &mut *tx,
            &NewRefreshToken {
                family_id,
                user_id,
                token_hash: &new_hash,
                issued_at: now,
                expires_at: now + self.refresh_ttl(),
            },
        )
        .await?;
        tx.commit().await?;
        self.token_response(user, token)
    }

    async fn refused_refresh(&self, hash: &[u8]) -> ApiError {
        let now = self.clock.now();
        match store::refresh_token_state(&self.pool, hash).await {
            Ok(Some(state)) if state.spent && !state.revoked => {
                match store::revoke_family(&self.pool, state.family_id, now).await {
                    Ok(live) => {
                        metrics::counter!("tiketi_auth_refresh_reuse_total").increment(1);
                        tracing::warn!(family_id = %state.family_id, revoked = live, "refresh token re-used; family revoked");
                        ApiError::new(ErrorCode::RefreshTokenReused)
                    }
                    Err(e) => e.into(),
                }
            }
            Ok(_) => ApiError::new(ErrorCode::InvalidRefreshToken),
            Err(e) => e.into(),
        }
    }

    /// Ends the session the refresh token belongs to. Unknown tokens are ignored.
    pub async fn logout(&self, presented: &SecretString) -> ApiResult<()> {
        let hash = hash_refresh_token(presented.expose_secret());
        if let Some(state) = store::refresh_token_state(&self.pool, &hash).await? {
            store::revoke_family(&self.pool, state.family_id, self.clock.now()).await?;
        }
        Ok(())
    }
}
