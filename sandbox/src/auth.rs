//! Sign-in by phone and SMS code, session refresh (rotating refresh tokens)
//! and sign-out.
//!
//! - An SMS code is 6 digits drawn from the seeded source, valid for
//!   `sms.ttl_secs` (300 s); a phone gets at most one code per
//!   `sms.resend_after_secs` (60 s) and `sms.max_per_hour` (10) per rolling
//!   hour (429 `auth.sms_rate_limited`). A new code replaces the older ones.
//! - `sms.max_attempts` (5) wrong entries burn the code (429
//!   `auth.sms_attempts_exceeded`); an expired code is 401
//!   `auth.sms_code_expired`; a wrong one 401 `auth.sms_code_wrong`.
//! - The first sign-in with a phone creates its merchant (status `new`).
//! - A session belongs to one device (serial_no): its tokens are refused
//!   from any other device. Refresh rotates: the old refresh token is dead,
//!   and presenting it again revokes the whole session (theft detection).

use axum::Json;
use axum::extract::State;
use merchant_contract::codes;
use merchant_contract::wire::{
    Empty, MerchantSummary, RefreshRequest, SignInRequest, SignedIn, SmsCodeRequest, SmsCodeSent,
    Tokens,
};
use rand::Rng as _;
use rusqlite::{Connection, OptionalExtension as _, params};

use crate::error::ApiError;
use crate::guard::{Auth, JsonBody, Signer, TokenSession, token_hash, token_session};
use crate::schema::new_merchant_id;
use crate::state::AppState;

pub(crate) const PURPOSE_SIGN_IN: &str = "sign_in";

/// The phone as the platform keys merchants by: the 11 digits of a mainland
/// mobile number (the core's own check; `+86` and separators dropped).
fn normalize_phone(phone: &str) -> Result<String, ApiError> {
    merchant_core::validate::phone::normalize(phone).map_err(|_| {
        ApiError::new(&codes::AUTH_PHONE_INVALID).field("phone", codes::AUTH_PHONE_INVALID.code)
    })
}

fn random_token(prefix: &str) -> Result<String, ApiError> {
    use base64::Engine as _;
    let mut b = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b)
        .map_err(|_| ApiError::internal("random source"))?;
    Ok(format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
    ))
}

pub(crate) async fn sms_code(
    State(state): State<AppState>,
    JsonBody(mut req): JsonBody<SmsCodeRequest>,
) -> Result<Json<SmsCodeSent>, ApiError> {
    req.phone = normalize_phone(&req.phone)?;
    let rules = state.config().sms.clone();
    let now = state.now_unix();
    let code = state.rng(|r| format!("{:06}", r.random_range(0..1_000_000u32)));
    state.db(|c| {
        let last: Option<i64> = c
            .query_row(
                "SELECT MAX(sent_at) FROM sms WHERE phone = ?1 AND purpose = ?2",
                params![req.phone, PURPOSE_SIGN_IN],
                |r| r.get(0),
            )
            .optional()?
            .flatten();
        let in_hour: i64 = c.query_row(
            "SELECT COUNT(*) FROM sms WHERE phone = ?1 AND purpose = ?2 AND sent_at > ?3",
            params![req.phone, PURPOSE_SIGN_IN, now - 3600],
            |r| r.get(0),
        )?;
        if last.is_some_and(|t| now - t < rules.resend_after_secs)
            || in_hour >= i64::from(rules.max_per_hour)
        {
            return Err(ApiError::new(&codes::AUTH_SMS_RATE_LIMITED));
        }
        // A new code replaces the older ones.
        c.execute(
            "UPDATE sms SET consumed = 1 WHERE phone = ?1 AND purpose = ?2",
            params![req.phone, PURPOSE_SIGN_IN],
        )?;
        let text = format!(
            "【拉卡拉沙箱】您的登录验证码为{code}，{}分钟内有效，请勿泄露。",
            rules.ttl_secs / 60
        );
        state.send_sms_with(c, &req.phone, PURPOSE_SIGN_IN, &code, &text, rules.ttl_secs)
    })?;
    Ok(Json(SmsCodeSent {
        sent: true,
        expires_in: rules.ttl_secs,
        resend_after: rules.resend_after_secs,
    }))
}

/// Checks and consumes the latest sign-in code of a phone.
fn consume_code(
    c: &Connection,
    phone: &str,
    given: &str,
    now: i64,
    max_attempts: u32,
) -> Result<(), ApiError> {
    let row = c
        .query_row(
            "SELECT sms_id, code, expires_at, attempts, consumed FROM sms
             WHERE phone = ?1 AND purpose = ?2 ORDER BY sms_id DESC LIMIT 1",
            params![phone, PURPOSE_SIGN_IN],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, u32>(3)?,
                    r.get::<_, bool>(4)?,
                ))
            },
        )
        .optional()?;
    let Some((id, code, expires_at, attempts, consumed)) = row else {
        return Err(ApiError::new(&codes::AUTH_SMS_CODE_WRONG).detail("no code sent"));
    };
    if attempts >= max_attempts {
        return Err(ApiError::new(&codes::AUTH_SMS_ATTEMPTS_EXCEEDED));
    }
    if consumed || expires_at <= now {
        return Err(ApiError::new(&codes::AUTH_SMS_CODE_EXPIRED));
    }
    let equal = given.len() == code.len()
        && given
            .bytes()
            .zip(code.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if !equal {
        let attempts = attempts + 1;
        c.execute(
            "UPDATE sms SET attempts = ?2 WHERE sms_id = ?1",
            params![id, attempts],
        )?;
        return Err(if attempts >= max_attempts {
            ApiError::new(&codes::AUTH_SMS_ATTEMPTS_EXCEEDED)
        } else {
            ApiError::new(&codes::AUTH_SMS_CODE_WRONG)
                .field("sms_code", codes::AUTH_SMS_CODE_WRONG.code)
        });
    }
    c.execute("UPDATE sms SET consumed = 1 WHERE sms_id = ?1", params![id])?;
    Ok(())
}

struct NewTokens {
    access: String,
    access_expires_at: i64,
    refresh: String,
    refresh_expires_at: i64,
}

fn issue_tokens(
    state: &AppState,
    c: &Connection,
    session_id: &str,
    now: i64,
) -> Result<NewTokens, ApiError> {
    let cfg = state.config();
    let t = NewTokens {
        access: random_token("at_")?,
        access_expires_at: now.saturating_add(cfg.access_ttl_secs),
        refresh: random_token("rt_")?,
        refresh_expires_at: now.saturating_add(cfg.refresh_ttl_secs),
    };
    c.execute(
        "INSERT INTO tokens (token_hash, session_id, kind, expires_at) VALUES (?1, ?2, 'access', ?3)",
        params![token_hash(&t.access), session_id, t.access_expires_at],
    )?;
    c.execute(
        "INSERT INTO tokens (token_hash, session_id, kind, expires_at) VALUES (?1, ?2, 'refresh', ?3)",
        params![token_hash(&t.refresh), session_id, t.refresh_expires_at],
    )?;
    Ok(t)
}

pub(crate) async fn sign_in(
    State(state): State<AppState>,
    signer: Signer,
    JsonBody(mut req): JsonBody<SignInRequest>,
) -> Result<Json<SignedIn>, ApiError> {
    req.phone = normalize_phone(&req.phone)?;
    if req.sms_code.len() != 6 || !req.sms_code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::new(&codes::AUTH_SMS_CODE_WRONG)
            .field("sms_code", codes::AUTH_SMS_CODE_WRONG.code));
    }
    let now = state.now_unix();
    let max_attempts = state.config().sms.max_attempts;
    // Drawn before taking the lock; used only if the phone is new.
    let candidate_id = new_merchant_id(&state);
    let session_id = random_token("ses_")?;
    state.db(|c| {
        let tx = c.transaction()?;
        // A wrong code must count even though the sign-in fails: commit the
        // attempt before returning the refusal.
        if let Err(e) = consume_code(&tx, &req.phone, &req.sms_code, now, max_attempts) {
            tx.commit()?;
            return Err(e);
        }
        let existing: Option<(String, String)> = tx
            .query_row(
                "SELECT merchant_id, status FROM merchants WHERE phone = ?1",
                params![req.phone],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let (merchant_id, status) = match existing {
            Some(m) => m,
            None => {
                tx.execute(
                    "INSERT INTO merchants (merchant_id, phone, status, created_at) VALUES (?1, ?2, 'new', ?3)",
                    params![candidate_id, req.phone, now],
                )?;
                (candidate_id.clone(), "new".to_owned())
            }
        };
        if !signer.known {
            tx.execute(
                "INSERT OR IGNORE INTO device_keys (serial_no, public_key, first_seen) VALUES (?1, ?2, ?3)",
                params![signer.serial_no, signer.public_key, now],
            )?;
        }
        tx.execute(
            "INSERT INTO sessions (session_id, merchant_id, serial_no, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![session_id, merchant_id, signer.serial_no, now],
        )?;
        let t = issue_tokens(&state, &tx, &session_id, now)?;
        let device_registered = tx
            .query_row(
                "SELECT 1 FROM devices WHERE merchant_id = ?1 AND serial_no = ?2",
                params![merchant_id, signer.serial_no],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        tx.commit()?;
        Ok(Json(SignedIn {
            merchant_id,
            access_token: t.access,
            access_expires_at: t.access_expires_at,
            refresh_token: t.refresh,
            refresh_expires_at: t.refresh_expires_at,
            device_registered,
            merchant: MerchantSummary {
                status,
                phone_masked: merchant_core::validate::mask_phone(req.phone.clone()),
            },
        }))
    })
}

pub(crate) async fn refresh(
    State(state): State<AppState>,
    signer: Signer,
    JsonBody(req): JsonBody<RefreshRequest>,
) -> Result<Json<Tokens>, ApiError> {
    if req.refresh_token.is_empty() || req.refresh_token.len() > 256 {
        return Err(ApiError::new(&codes::AUTH_SESSION_INVALID));
    }
    let hash = token_hash(&req.refresh_token);
    let now = state.now_unix();
    state.db(|c| {
        let tx = c.transaction()?;
        let TokenSession {
            session_id,
            merchant_id,
            expires_at,
            replaced,
            ..
        } = token_session(&tx, &hash, "refresh", &signer)?;
        if replaced {
            // A rotated refresh token came back: someone kept a copy.
            tx.execute(
                "UPDATE sessions SET revoked_at = ?2 WHERE session_id = ?1",
                params![session_id, now],
            )?;
            tx.commit()?;
            return Err(ApiError::new(&codes::AUTH_SESSION_REVOKED).detail("refresh token reused"));
        }
        if expires_at <= now {
            return Err(ApiError::new(&codes::AUTH_SESSION_EXPIRED));
        }
        tx.execute(
            "UPDATE tokens SET replaced = 1 WHERE token_hash = ?1",
            params![hash],
        )?;
        let t = issue_tokens(&state, &tx, &session_id, now)?;
        tx.commit()?;
        Ok(Json(Tokens {
            merchant_id,
            access_token: t.access,
            access_expires_at: t.access_expires_at,
            refresh_token: t.refresh,
            refresh_expires_at: t.refresh_expires_at,
        }))
    })
}

pub(crate) async fn sign_out(
    State(state): State<AppState>,
    auth: Auth,
) -> Result<Json<Empty>, ApiError> {
    let now = state.now_unix();
    state.db(|c| {
        let tx = c.transaction()?;
        tx.execute(
            "UPDATE sessions SET revoked_at = ?2 WHERE session_id = ?1 AND revoked_at IS NULL",
            params![auth.session_id, now],
        )?;
        // This device gets no more pushes for this merchant.
        tx.execute(
            "DELETE FROM push_tokens WHERE merchant_id = ?1 AND serial_no = ?2",
            params![auth.merchant_id, auth.serial_no],
        )?;
        // Nor does it speak the voice broadcast any more.
        let device: Option<String> = tx
            .query_row(
                "SELECT device_id FROM devices WHERE merchant_id = ?1 AND serial_no = ?2",
                params![auth.merchant_id, auth.serial_no],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(device_id) = device {
            crate::speaker::vacate(
                &state,
                &tx,
                &auth.merchant_id,
                &device_id,
                merchant_contract::wire::speaker_reasons::SIGNED_OUT,
            )?;
        }
        tx.commit()?;
        Ok(Json(Empty {}))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_are_normalized_or_refused() {
        assert_eq!(normalize_phone("+86 138-0000-0001").unwrap(), "13800000001");
        for bad in ["12800000001", "1380000000", "", "+1 2025550100"] {
            let e = normalize_phone(bad).unwrap_err();
            assert_eq!(e.code.code, "auth.phone_invalid");
            assert_eq!(e.fields[0].field, "phone");
        }
    }
}
