//! The speaker role: only one device of a merchant speaks the voice
//! broadcast (语音播报). The platform arbitrates (docs/platform-api.md,
//! "Speaker"): a device claims the role (`PUT /v1/speaker`), gives it up
//! (`DELETE`), or loses it when it is removed or signs out; every change
//! reaches the others as `speaker.changed`.
//!
//! The phone keeps the last word it heard (an answer or an event) in the
//! merchant store's `meta` under [`KEPT`], so the alerts path decides
//! offline, inside its transaction, with [`this_device_speaks`]:
//!
//! | kept | this device speaks |
//! | --- | --- |
//! | nothing yet (the role never came up on this phone) | yes: a merchant with one phone hears trades without setting anything |
//! | no holder, and the platform never said it was given up (`GET` answered none) | yes, likewise |
//! | no holder after a release, a removal or a sign-out (event or `release_speaker`) | no: "no device speaks until one claims it" |
//! | a holder | only when it is this device |

use merchant_contract::{routes, wire};
use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use crate::MerchantCore;
use crate::error::{Error, ErrorKind, MerchantError, Result};
use crate::platform::{Call, pending};
use crate::session::local::{ThisDevice, meta_get, meta_put, this_device};

/// The `meta` key of the kept role.
pub const KEPT: &str = "alerts.speaker";
/// The keyed writes' intents. A claim forgets a pending release and the
/// other way round, so a retry never replays an answer the other overtook.
const CLAIM_INTENT: &str = "speaker.claim";
const RELEASE_INTENT: &str = "speaker.release";
/// The longest device id taken from the platform.
const MAX_DEVICE_ID: usize = 128;

/// Which of the merchant's devices speaks the voice broadcast.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SpeakerState {
    /// The device holding the role, as the platform names it (`dev_…`);
    /// `None`: no device holds it.
    pub device_id: Option<String>,
    /// When it claimed the role (unix milliseconds); `None` with `device_id`.
    pub claimed_at_ms: Option<i64>,
    /// Whether this device holds the role.
    pub this_device: bool,
}

/// The role as the phone keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Kept {
    device_id: Option<String>,
    claimed_at_ms: Option<i64>,
    /// Whether the platform said the holder is this device (`current`),
    /// for when this device's own id is not known yet.
    current: bool,
    /// Why the role is vacant, when the platform said so: `released`,
    /// `device_removed`, `signed_out` (`None` for a role never claimed).
    vacated: Option<String>,
}

fn malformed(detail: &str) -> Error {
    Error::new(&crate::platform::PUSH_MALFORMED).detail(detail.to_owned())
}

fn check_device_id(id: &Option<String>) -> Result<()> {
    match id {
        Some(d) if d.is_empty() || d.len() > MAX_DEVICE_ID || d.chars().any(char::is_control) => {
            Err(malformed("speaker device_id"))
        }
        _ => Ok(()),
    }
}

fn parse_ms(at: Option<&str>) -> Result<Option<i64>> {
    at.map(|t| {
        chrono::DateTime::parse_from_rfc3339(t)
            .map(|d| d.timestamp_millis())
            .map_err(|_| malformed("speaker claimed_at is not RFC 3339"))
    })
    .transpose()
}

fn read(conn: &Connection) -> Result<Option<Kept>> {
    Ok(meta_get(conn, KEPT)?.and_then(|v| serde_json::from_str(&v).ok()))
}

fn write(conn: &Connection, kept: &Kept) -> Result<()> {
    let json = serde_json::to_string(kept)
        .map_err(|e| Error::new(&crate::error::INTERNAL).detail(e.to_string()))?;
    meta_put(conn, KEPT, &json)
}

fn is_mine(kept: &Kept, me: Option<&ThisDevice>) -> bool {
    match (&kept.device_id, me) {
        (None, _) => false,
        (Some(holder), Some(me)) => *holder == me.device_id,
        (Some(_), None) => kept.current,
    }
}

fn state_of(kept: &Kept, me: Option<&ThisDevice>) -> SpeakerState {
    SpeakerState {
        device_id: kept.device_id.clone(),
        claimed_at_ms: kept.claimed_at_ms,
        this_device: is_mine(kept, me),
    }
}

/// Applies a `speaker.changed` event's `data` to the kept role (inside the
/// caller's transaction). Malformed data is `platform.push_malformed` and
/// changes nothing.
pub fn apply_event(conn: &Connection, data: &serde_json::Value) -> Result<()> {
    let changed: wire::SpeakerChanged =
        serde_json::from_value(data.clone()).map_err(|_| malformed("speaker.changed data"))?;
    check_device_id(&changed.device_id)?;
    let claimed_at_ms = parse_ms(changed.claimed_at.as_deref())?;
    let me = this_device(conn)?;
    let current = match (&changed.device_id, &me) {
        (Some(h), Some(me)) => *h == me.device_id,
        _ => false,
    };
    let vacated = changed.device_id.is_none().then_some(changed.reason);
    write(
        conn,
        &Kept {
            claimed_at_ms: claimed_at_ms.filter(|_| changed.device_id.is_some()),
            device_id: changed.device_id,
            current,
            vacated,
        },
    )
}

/// Whether this device speaks the voice broadcast now, from the kept role
/// (no network call; see the module's table). `device_id` is this device's
/// id, as `device_id()` gives it (its serial) or as the platform names it
/// (`dev_…`).
pub fn this_device_speaks(conn: &Connection, device_id: &str) -> Result<bool> {
    let Some(kept) = read(conn)? else {
        return Ok(true);
    };
    let me = this_device(conn)?;
    Ok(match &kept.device_id {
        None => kept.vacated.is_none(),
        Some(holder) => {
            holder == device_id
                || (me
                    .as_ref()
                    .is_none_or(|m| m.serial_no == device_id || m.device_id == device_id)
                    && is_mine(&kept, me.as_ref()))
        }
    })
}

/// Whether this device speaks now ([`this_device_speaks`] with this
/// device's own kept id).
pub fn speaks_here(conn: &Connection) -> Result<bool> {
    let me = this_device(conn)?;
    let id = me.map(|m| m.device_id).unwrap_or_default();
    this_device_speaks(conn, &id)
}

/// Keeps the platform's answer to a `GET`, `PUT` or `DELETE /v1/speaker`;
/// `released`: the answer to this device's release.
fn keep_answer(
    conn: &Connection,
    answer: &wire::Speaker,
    me: &ThisDevice,
    released: bool,
) -> Result<SpeakerState> {
    check_device_id(&answer.device_id).map_err(|_| {
        Error::new(&crate::platform::RESPONSE_MALFORMED).detail("speaker device_id")
    })?;
    let claimed_at_ms = parse_ms(answer.claimed_at.as_deref()).map_err(|_| {
        Error::new(&crate::platform::RESPONSE_MALFORMED).detail("speaker claimed_at")
    })?;
    let before = read(conn)?;
    let vacated = match &answer.device_id {
        Some(_) => None,
        None if released => Some(wire::speaker_reasons::RELEASED.to_owned()),
        // Still vacant as this phone heard it: keep why.
        None => before.and_then(|b| b.device_id.is_none().then_some(b.vacated).flatten()),
    };
    let kept = Kept {
        device_id: answer.device_id.clone(),
        claimed_at_ms: claimed_at_ms.filter(|_| answer.device_id.is_some()),
        current: answer.current,
        vacated,
    };
    write(conn, &kept)?;
    Ok(state_of(&kept, Some(me)))
}

/// The kept role as the app sees it.
fn kept_state(conn: &Connection) -> Result<SpeakerState> {
    let me = this_device(conn)?;
    Ok(read(conn)?.map_or(
        SpeakerState {
            device_id: None,
            claimed_at_ms: None,
            this_device: false,
        },
        |k| state_of(&k, me.as_ref()),
    ))
}

#[uniffi::export]
impl MerchantCore {
    /// This device claims the speaker role: from the answer on it speaks
    /// the voice broadcast and the merchant's other devices fall silent
    /// (the platform tells them with `speaker.changed`). Claiming a role
    /// this device holds changes nothing. A keyed write.
    pub async fn claim_speaker(&self) -> Result<SpeakerState, MerchantError> {
        let state = self.session_state();
        self.run(async move {
            let me = state.this_device().await?;
            let store = state.merchant_store().await?;
            // A release whose answer was lost is overtaken by this claim:
            // its key must not replay an old answer later.
            pending::settle(&store, RELEASE_INTENT)?;
            let call = Call::put_json(routes::CLAIM_SPEAKER.path, &wire::Empty {})?;
            let answer: wire::Speaker = state.send_keyed(CLAIM_INTENT, call).await?.json()?;
            store.db().write(|tx| keep_answer(tx, &answer, &me, false))
        })
        .await
    }

    /// This device gives the speaker role up (if it holds it): no device
    /// speaks until one claims it, this one included. A keyed write.
    pub async fn release_speaker(&self) -> Result<SpeakerState, MerchantError> {
        let state = self.session_state();
        self.run(async move {
            let me = state.this_device().await?;
            let store = state.merchant_store().await?;
            pending::settle(&store, CLAIM_INTENT)?;
            let call = Call::delete(routes::RELEASE_SPEAKER.path);
            let answer: wire::Speaker = state.send_keyed(RELEASE_INTENT, call).await?.json()?;
            store.db().write(|tx| keep_answer(tx, &answer, &me, true))
        })
        .await
    }

    /// Which device speaks, as the platform says (`GET /v1/speaker`),
    /// kept on the phone; without the network, the kept copy (what the
    /// last answer or `speaker.changed` said; no holder when nothing was
    /// heard yet).
    pub async fn speaker(&self) -> Result<SpeakerState, MerchantError> {
        let state = self.session_state();
        self.run(async move {
            let store = state.merchant_store().await?;
            let asked = async {
                let me = state.this_device().await?;
                let answer: wire::Speaker =
                    state.send(Call::get(routes::SPEAKER.path)).await?.json()?;
                Ok::<_, Error>((me, answer))
            };
            match asked.await {
                Ok((me, answer)) => store.db().write(|tx| keep_answer(tx, &answer, &me, false)),
                Err(e) if e.kind == ErrorKind::Network => store.db().read(kept_state),
                Err(e) => Err(e),
            }
        })
        .await
    }

    /// Whether this device speaks the voice broadcast now, from the kept
    /// role, without a network call (the rule the alerts path applies; see
    /// `alerts::speaker`).
    pub async fn this_device_speaks(&self) -> Result<bool, MerchantError> {
        let state = self.session_state();
        self.run(async move {
            let serial = state.device_key().await?.serial_no().to_owned();
            let store = state.merchant_store().await?;
            store.db().read(|c| this_device_speaks(c, &serial))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::local::set_this_device;
    use serde_json::json;

    fn db() -> Connection {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch("CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL)")
            .unwrap();
        c
    }

    const SERIAL: &str = "0123456789abcdef0123456789abcdef";

    fn me() -> ThisDevice {
        ThisDevice {
            serial_no: SERIAL.to_owned(),
            device_id: "dev_me".to_owned(),
        }
    }

    fn event(device: Option<&str>, reason: &str) -> serde_json::Value {
        json!({
            "device_id": device,
            "claimed_at": device.map(|_| "2025-06-01T09:30:00+08:00"),
            "reason": reason,
        })
    }

    #[test]
    fn with_nothing_kept_this_device_speaks() {
        let c = db();
        assert!(this_device_speaks(&c, SERIAL).unwrap());
        set_this_device(&c, &me()).unwrap();
        assert!(this_device_speaks(&c, SERIAL).unwrap());
    }

    #[test]
    fn events_move_the_role_between_devices() {
        let c = db();
        set_this_device(&c, &me()).unwrap();
        apply_event(&c, &event(Some("dev_other"), "claimed")).unwrap();
        assert!(!this_device_speaks(&c, SERIAL).unwrap());
        assert!(!this_device_speaks(&c, "dev_me").unwrap());
        apply_event(&c, &event(Some("dev_me"), "claimed")).unwrap();
        assert!(this_device_speaks(&c, SERIAL).unwrap());
        assert!(this_device_speaks(&c, "dev_me").unwrap());
        let s = kept_state(&c).unwrap();
        assert_eq!(s.device_id.as_deref(), Some("dev_me"));
        assert_eq!(s.claimed_at_ms, Some(1_748_741_400_000));
        assert!(s.this_device);
        // Given up (or its holder removed, signed out): nobody speaks.
        for reason in ["released", "device_removed", "signed_out"] {
            apply_event(&c, &event(Some("dev_me"), "claimed")).unwrap();
            apply_event(&c, &event(None, reason)).unwrap();
            assert!(!this_device_speaks(&c, SERIAL).unwrap(), "{reason}");
            assert_eq!(kept_state(&c).unwrap().device_id, None);
        }
    }

    #[test]
    fn bad_event_data_is_refused_and_changes_nothing() {
        let c = db();
        set_this_device(&c, &me()).unwrap();
        apply_event(&c, &event(Some("dev_me"), "claimed")).unwrap();
        for bad in [
            json!({"device_id": 7, "claimed_at": null, "reason": "claimed"}),
            json!({"device_id": "dev_x", "claimed_at": "yesterday", "reason": "claimed"}),
            json!({"device_id": "", "claimed_at": null, "reason": "claimed"}),
            json!({"device_id": "x".repeat(MAX_DEVICE_ID + 1), "claimed_at": null, "reason": "claimed"}),
            json!("speaker"),
        ] {
            let e = apply_event(&c, &bad).unwrap_err();
            assert_eq!(e.code, "platform.push_malformed", "{bad}");
        }
        assert!(this_device_speaks(&c, SERIAL).unwrap());
    }

    #[test]
    fn answers_are_kept_and_a_get_keeps_why_the_role_is_vacant() {
        let c = db();
        let answer = |d: Option<&str>, current| wire::Speaker {
            device_id: d.map(str::to_owned),
            claimed_at: d.map(|_| "2025-06-01T09:30:00+08:00".to_owned()),
            current,
        };
        // Never claimed: a GET answering none leaves this device speaking.
        keep_answer(&c, &answer(None, false), &me(), false).unwrap();
        assert!(this_device_speaks(&c, SERIAL).unwrap());
        // Own id not learned yet: `current` says whose it is.
        let s = keep_answer(&c, &answer(Some("dev_me"), true), &me(), false).unwrap();
        assert!(s.this_device);
        assert!(this_device_speaks(&c, SERIAL).unwrap());
        // Released here: silent, and a later GET answering none keeps it so.
        keep_answer(&c, &answer(None, false), &me(), true).unwrap();
        assert!(!this_device_speaks(&c, SERIAL).unwrap());
        keep_answer(&c, &answer(None, false), &me(), false).unwrap();
        assert!(!this_device_speaks(&c, SERIAL).unwrap());
        let e = keep_answer(&c, &answer(Some(""), false), &me(), false).unwrap_err();
        assert_eq!(e.code, "platform.response_malformed");
    }
}
