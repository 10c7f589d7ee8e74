//! The device's push token: registered, rotated when FCM or APNs hands the
//! app a new value, and unregistered (docs/platform-api.md, "Push tokens").
//!
//! The platform names a registration by its `token_id` (`ptk_…`), which
//! stays the same across rotations; the phone keeps it in the merchant
//! store's `meta` (key [`KEPT`], with the provider; not the token value).
//! Every call is a keyed write: a lost answer is retried with the same
//! idempotency key, even after a restart.

use merchant_contract::{routes, wire};
use serde::{Deserialize, Serialize};

use super::local::{meta_delete, meta_get, meta_put};
use super::state::{SessionState, merchant_contract_code};
use crate::error::{Error, Problem, Result};
use crate::platform::Call;

/// The `meta` key of the kept registration.
pub const KEPT: &str = "push_token.kept";
/// The intent of the registration write.
const REGISTER_INTENT: &str = "push_tokens.register";
/// The longest push token the platform takes.
const MAX_PUSH_TOKEN_LEN: usize = 4096;

/// The registration kept on the phone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptToken {
    pub token_id: String,
    pub provider: wire::PushProvider,
}

/// The token text the platform takes (trimmed): 1..=4096 characters of
/// `[A-Za-z0-9:_.-]`; else `request.field_invalid` on field `token`.
pub fn token_text(token: &str) -> Result<&str> {
    let token = token.trim();
    let fits = !token.is_empty()
        && token.len() <= MAX_PUSH_TOKEN_LEN
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'-' | b'.'));
    if fits {
        Ok(token)
    } else {
        let code = merchant_contract_code("request.field_invalid");
        Err(Error::input(&code, vec![Problem::new(&code, "token")]))
    }
}

/// Whether `id` looks like a token id the platform gave (`ptk_` + hex), so
/// it may go into a path.
fn is_token_id(id: &str) -> bool {
    id.len() <= 64
        && id
            .strip_prefix("ptk_")
            .is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn not_found(e: &Error) -> bool {
    e.code == "resource.not_found"
}

impl SessionState {
    /// The kept registration, if any (a value that does not read is none).
    pub async fn kept_push_token(&self) -> Result<Option<KeptToken>> {
        let store = self.merchant_store().await?;
        store.db().read(|c| {
            Ok(meta_get(c, KEPT)?
                .and_then(|v| serde_json::from_str::<KeptToken>(&v).ok())
                .filter(|k| is_token_id(&k.token_id)))
        })
    }

    async fn keep(&self, kept: Option<&KeptToken>) -> Result<()> {
        let store = self.merchant_store().await?;
        match kept {
            Some(k) => {
                let json = serde_json::to_string(k)
                    .map_err(|e| Error::new(&crate::error::INTERNAL).detail(e.to_string()))?;
                store.db().write(|tx| meta_put(tx, KEPT, &json))
            }
            None => store.db().write(|tx| meta_delete(tx, KEPT)),
        }
    }

    fn answered(reply: &crate::platform::Reply) -> Result<KeptToken> {
        let t: wire::PushToken = reply.json()?;
        if !is_token_id(&t.token_id) {
            return Err(Error::new(&crate::platform::RESPONSE_MALFORMED)
                .detail("push token id is not ptk_ + hex"));
        }
        Ok(KeptToken {
            token_id: t.token_id,
            provider: t.provider,
        })
    }

    /// `POST /v1/push-tokens`: where the platform pushes this device's
    /// events; keeps the `token_id` it answers.
    pub async fn register_push_token(
        &self,
        provider: wire::PushProvider,
        token: &str,
    ) -> Result<KeptToken> {
        let body = wire::RegisterPushToken {
            provider,
            token: token_text(token)?.to_owned(),
        };
        let call = Call::post_json(routes::REGISTER_PUSH_TOKEN.path, &body)?;
        let kept = Self::answered(&self.send_keyed(REGISTER_INTENT, call).await?)?;
        self.keep(Some(&kept)).await?;
        Ok(kept)
    }

    /// `PUT /v1/push-tokens/{token_id}` of the kept registration: from the
    /// answer on, the platform pushes to `token` only. Without a kept
    /// registration (or when the platform no longer has it: the device was
    /// removed, say), registers `token` instead.
    pub async fn rotate_push_token(
        &self,
        provider: wire::PushProvider,
        token: &str,
    ) -> Result<KeptToken> {
        let token = token_text(token)?;
        let Some(kept) = self.kept_push_token().await? else {
            return self.register_push_token(provider, token).await;
        };
        let body = wire::RegisterPushToken {
            provider,
            token: token.to_owned(),
        };
        let path = routes::ROTATE_PUSH_TOKEN
            .path
            .replace("{token_id}", &kept.token_id);
        let call = Call::put_json(path, &body)?;
        let intent = format!("push_tokens.rotate:{}", kept.token_id);
        match self.send_keyed(&intent, call).await {
            Ok(reply) => {
                let now = Self::answered(&reply)?;
                self.keep(Some(&now)).await?;
                Ok(now)
            }
            Err(e) if not_found(&e) => {
                self.keep(None).await?;
                self.register_push_token(provider, token).await
            }
            Err(e) => Err(e),
        }
    }

    /// `DELETE /v1/push-tokens/{token_id}` of the kept registration, then
    /// forgets it. Idempotent: nothing kept, or a registration the platform
    /// no longer has, is done already.
    pub async fn unregister_push_token(&self) -> Result<()> {
        let Some(kept) = self.kept_push_token().await? else {
            return Ok(());
        };
        let path = routes::UNREGISTER_PUSH_TOKEN
            .path
            .replace("{token_id}", &kept.token_id);
        let intent = format!("push_tokens.unregister:{}", kept.token_id);
        match self.send_keyed(&intent, Call::delete(path)).await {
            Ok(reply) => {
                let _: wire::Empty = reply.json()?;
            }
            Err(e) if not_found(&e) => {}
            Err(e) => return Err(e),
        }
        self.keep(None).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_text_is_trimmed_and_checked() {
        assert_eq!(token_text(" fcm:a_b-c.d ").unwrap(), "fcm:a_b-c.d");
        for bad in ["", "   ", "has space", "ä", "a/b"] {
            let e = token_text(bad).unwrap_err();
            assert_eq!(e.code, "request.field_invalid", "{bad:?}");
        }
        assert!(token_text(&"a".repeat(MAX_PUSH_TOKEN_LEN)).is_ok());
        assert!(token_text(&"a".repeat(MAX_PUSH_TOKEN_LEN + 1)).is_err());
    }

    #[test]
    fn only_platform_token_ids_go_into_a_path() {
        assert!(is_token_id("ptk_5c2e0d9a1b3f4e67"));
        for bad in ["", "ptk_", "ptk_../x", "tok_00", "ptk_zz"] {
            assert!(!is_token_id(bad), "{bad}");
        }
    }
}
