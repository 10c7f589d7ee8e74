//! findings: merchant-protection findings. Any capability records one when
//! it sees something that threatens the merchant's money (a terminal that
//! belongs to someone else, a terminal taken away, a fee above the agreed
//! rate, a shortfall); Alerts delivers them and the merchant acknowledges
//! them.
//!
//! A finding names what it is about (`code`, such as
//! `terminal.owned_by_other`), its `subject` (a terminal serial, a trade id:
//! never personal data) and the recording capability's own message in both
//! languages. An open finding of the same code, reason and subject is not
//! recorded twice: it is touched (its `last_seen_at` moves) instead.
//!
//! The table lives in the merchant's store (store/schema.rs, migration
//! "terminals, findings").
//!
//! A new finding wakes whoever awaits [`recorded`] (the live subscription
//! of Alerts, which turns it into a protection alert and tells it), so a
//! finding recorded outside an event (a bind refused, a reconciliation, a
//! sync's detectors) reaches a listening merchant at once.

use rusqlite::{Connection, OptionalExtension as _, params};

use crate::MerchantCore;
use crate::error::{Error, Lang, MerchantError, Result, current_language};

crate::codes! {
    FINDING_UNKNOWN = NotFound, "finding.unknown", "没有这条安全提醒", "No such protection finding";
}

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum FindingSeverity {
    /// Worth a look.
    Warning,
    /// Money may go to someone else: act now.
    Critical,
}

impl FindingSeverity {
    fn as_str(self) -> &'static str {
        match self {
            FindingSeverity::Warning => "warning",
            FindingSeverity::Critical => "critical",
        }
    }

    fn parse(text: &str) -> FindingSeverity {
        match text {
            "critical" => FindingSeverity::Critical,
            _ => FindingSeverity::Warning,
        }
    }
}

/// A merchant-protection finding, as the app shows it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Finding {
    pub id: i64,
    /// Stable code of what was found, such as `terminal.owned_by_other`.
    pub code: String,
    /// Why it was recorded, such as `bind_refused` or `transferred_away`.
    pub reason: String,
    /// What it is about: a terminal serial, a trade id. Never personal data.
    pub subject: String,
    pub severity: FindingSeverity,
    /// The message for the merchant, in the current language.
    pub message: String,
    /// First seen, unix milliseconds.
    pub occurred_at_ms: i64,
    /// Last seen again (the same finding recorded again), unix milliseconds.
    pub last_seen_at_ms: i64,
    /// When the merchant acknowledged it; `None` while open.
    pub acknowledged_at_ms: Option<i64>,
}

/// What a capability records.
#[derive(Debug, Clone)]
pub struct NewFinding<'a> {
    pub code: &'a str,
    pub reason: &'a str,
    pub subject: &'a str,
    pub severity: FindingSeverity,
    pub message_zh: String,
    pub message_en: String,
}

/// Wakes the awaiters of [`recorded`] when a new finding is recorded.
static RECORDED: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// Completes after the next new finding is recorded anywhere in the
/// process. It is woken inside the recording transaction: an awaiter that
/// then takes the store's writer sees the finding committed.
pub fn recorded() -> tokio::sync::futures::Notified<'static> {
    RECORDED.notified()
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Records `f` inside the caller's transaction; returns the finding's id
/// (the open one's when the same finding is already open).
pub fn record(conn: &Connection, f: &NewFinding<'_>) -> Result<i64> {
    let now = now_ms();
    let open: Option<i64> = conn
        .query_row(
            "SELECT id FROM finding
             WHERE code = ?1 AND reason = ?2 AND subject = ?3 AND acknowledged_at IS NULL",
            params![f.code, f.reason, f.subject],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(id) = open {
        conn.execute(
            "UPDATE finding SET last_seen_at = ?2, message_zh = ?3, message_en = ?4 WHERE id = ?1",
            params![id, now, f.message_zh, f.message_en],
        )?;
        return Ok(id);
    }
    conn.execute(
        "INSERT INTO finding (code, reason, subject, severity, message_zh, message_en,
                              occurred_at, last_seen_at, acknowledged_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, NULL)",
        params![
            f.code,
            f.reason,
            f.subject,
            f.severity.as_str(),
            f.message_zh,
            f.message_en,
            now
        ],
    )?;
    let id = conn.last_insert_rowid();
    RECORDED.notify_waiters();
    Ok(id)
}

/// The findings, newest first; acknowledged ones only when asked for.
pub fn list(conn: &Connection, include_acknowledged: bool, lang: Lang) -> Result<Vec<Finding>> {
    let mut stmt = conn.prepare(
        "SELECT id, code, reason, subject, severity, message_zh, message_en,
                occurred_at, last_seen_at, acknowledged_at
         FROM finding
         WHERE ?1 OR acknowledged_at IS NULL
         ORDER BY occurred_at DESC, id DESC",
    )?;
    let rows = stmt.query_map([include_acknowledged], |r| {
        let zh: String = r.get(5)?;
        let en: String = r.get(6)?;
        Ok(Finding {
            id: r.get(0)?,
            code: r.get(1)?,
            reason: r.get(2)?,
            subject: r.get(3)?,
            severity: FindingSeverity::parse(&r.get::<_, String>(4)?),
            message: match lang {
                Lang::Zh => zh,
                Lang::En => en,
            },
            occurred_at_ms: r.get(7)?,
            last_seen_at_ms: r.get(8)?,
            acknowledged_at_ms: r.get(9)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// Marks finding `id` acknowledged (again: nothing changes).
pub fn acknowledge(conn: &Connection, id: i64) -> Result<()> {
    let n = conn.execute(
        "UPDATE finding SET acknowledged_at = coalesce(acknowledged_at, ?2) WHERE id = ?1",
        params![id, now_ms()],
    )?;
    if n == 0 {
        return Err(Error::new(&FINDING_UNKNOWN).detail(format!("finding {id}")));
    }
    Ok(())
}

#[uniffi::export]
impl MerchantCore {
    /// The merchant-protection findings on this device, newest first: open
    /// ones, and acknowledged ones too when `include_acknowledged`.
    pub async fn findings(
        &self,
        include_acknowledged: bool,
    ) -> Result<Vec<Finding>, MerchantError> {
        let state = self.session_state();
        self.run(async move {
            let store = state.merchant_store().await?;
            let lang = current_language();
            store.db().read(|c| list(c, include_acknowledged, lang))
        })
        .await
    }

    /// The merchant has seen finding `id` (`finding.unknown` if there is none).
    pub async fn acknowledge_finding(&self, id: i64) -> Result<(), MerchantError> {
        let state = self.session_state();
        self.run(async move {
            let store = state.merchant_store().await?;
            store.db().write(|tx| acknowledge(tx, id))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Db;

    fn db() -> (tempfile::TempDir, Db) {
        let tmp = tempfile::tempdir().unwrap();
        let db = Db::open(&tmp.path().join("m.db")).unwrap();
        (tmp, db)
    }

    fn owned(subject: &str) -> NewFinding<'_> {
        NewFinding {
            code: "terminal.owned_by_other",
            reason: "bind_refused",
            subject,
            severity: FindingSeverity::Critical,
            message_zh: format!("终端 {subject} 属于其他商户"),
            message_en: format!("Terminal {subject} belongs to another merchant"),
        }
    }

    #[test]
    fn an_open_finding_is_recorded_once_and_reopens_after_acknowledgement() {
        let (_t, db) = db();
        let a = db.write(|tx| record(tx, &owned("LKLA800123455"))).unwrap();
        let b = db.write(|tx| record(tx, &owned("LKLA800123455"))).unwrap();
        assert_eq!(a, b, "the same open finding is touched, not duplicated");
        let other = db.write(|tx| record(tx, &owned("LKLQ100000009"))).unwrap();
        assert_ne!(a, other);
        let open = db.read(|c| list(c, false, Lang::En)).unwrap();
        assert_eq!(open.len(), 2);
        assert!(open.iter().all(|f| f.acknowledged_at_ms.is_none()));

        db.write(|tx| acknowledge(tx, a)).unwrap();
        db.write(|tx| acknowledge(tx, a)).unwrap(); // again: fine
        let open = db.read(|c| list(c, false, Lang::Zh)).unwrap();
        assert_eq!(open.iter().map(|f| f.id).collect::<Vec<_>>(), vec![other]);
        assert!(open[0].message.contains("属于其他商户"));
        let all = db.read(|c| list(c, true, Lang::En)).unwrap();
        assert_eq!(all.len(), 2);
        assert!(
            all.iter()
                .any(|f| f.id == a && f.acknowledged_at_ms.is_some())
        );

        // Seen again after the merchant acknowledged it: a new finding.
        let again = db.write(|tx| record(tx, &owned("LKLA800123455"))).unwrap();
        assert_ne!(again, a);
    }

    #[test]
    fn acknowledging_an_unknown_finding_is_a_typed_error() {
        let (_t, db) = db();
        let e = db.write(|tx| acknowledge(tx, 42)).unwrap_err();
        assert!(e.is(&FINDING_UNKNOWN));
    }
}
