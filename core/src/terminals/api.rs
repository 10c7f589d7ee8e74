//! The terminals capability's platform calls (docs/platform-api.md,
//! Terminals) and the mapping of the contract's records to the app's.

use merchant_contract::domain::{self, routes};
use merchant_contract::wire;

use super::model::{BindOutcome, Terminal, TerminalRole, TerminalStatus, TerminalUpdate};
use super::serial::TerminalModel;
use crate::error::{Error, Result};
use crate::platform::{Call, RESPONSE_MALFORMED};
use crate::session::SessionState;

/// Reads a JSON value (an event's data) as `T`; a value that does not fit is
/// `platform.response_malformed` with no value quoted.
pub fn from_value<T: serde::de::DeserializeOwned>(v: &serde_json::Value) -> Result<T> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        Error::new(&RESPONSE_MALFORMED)
            .detail(format!("terminal record mismatch at `{}`", e.path()))
    })
}

/// RFC 3339 text as unix milliseconds.
pub fn millis(text: &str, what: &str) -> Result<i64> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_millis())
        .map_err(|_| Error::new(&RESPONSE_MALFORMED).detail(format!("terminal {what} time")))
}

/// The contract's terminal as the app's.
pub fn terminal_from_wire(t: domain::Terminal) -> Result<Terminal> {
    let status = match t.status {
        domain::TerminalStatus::Active => TerminalStatus::Active,
        domain::TerminalStatus::Frozen => TerminalStatus::Frozen,
    };
    let role = match t.role {
        domain::TerminalRole::Main => TerminalRole::Main,
        domain::TerminalRole::Secondary => TerminalRole::Secondary,
    };
    Ok(Terminal {
        bound_at_ms: millis(&t.bound_at, "bound_at")?,
        last_trade_at_ms: t
            .last_trade_at
            .as_deref()
            .map(|s| millis(s, "last_trade_at"))
            .transpose()?,
        sn: t.sn,
        alias: t.alias,
        model: t.model,
        firmware: t.firmware,
        status,
        role,
        main_sn: t.main_sn,
        unbound_at_ms: None,
    })
}

/// `GET /v1/terminals`, every page.
pub async fn list(session: &SessionState) -> Result<Vec<Terminal>> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    // A platform that never ends its pages must not keep the phone busy.
    for _ in 0..1000 {
        let path = match &cursor {
            Some(c) => format!("{}?limit=200&cursor={}", routes::TERMINALS.path, encode(c)),
            None => format!("{}?limit=200", routes::TERMINALS.path),
        };
        let page: wire::Page<domain::Terminal> = session.send(Call::get(path)).await?.json()?;
        for t in page.items {
            out.push(terminal_from_wire(t)?);
        }
        match page.next_cursor {
            Some(c) if !c.is_empty() => cursor = Some(c),
            _ => return Ok(out),
        }
    }
    Err(Error::new(&RESPONSE_MALFORMED).detail("terminal list pages never end"))
}

/// `GET /v1/terminal-models`.
pub async fn models(session: &SessionState) -> Result<Vec<TerminalModel>> {
    let page: wire::Page<domain::TerminalModel> = session
        .send(Call::get(routes::TERMINAL_MODELS.path))
        .await?
        .json()?;
    Ok(page
        .items
        .into_iter()
        .map(|m| TerminalModel {
            model: m.model,
            name: m.name,
            serial_prefix: m.serial_prefix,
            serial_length: m.serial_length,
            has_bluetooth: m.has_bluetooth,
        })
        .collect())
}

/// `POST /v1/terminals`: binds by serial or by back-QR text, a keyed write.
pub async fn bind(
    session: &SessionState,
    sn_for_intent: &str,
    body: &domain::BindTerminal,
) -> Result<(BindOutcome, Terminal)> {
    let call = Call::post_json(routes::BIND_TERMINAL.path, body)?;
    let answer: domain::TerminalBinding = session
        .send_keyed(&format!("terminals.bind:{sn_for_intent}"), call)
        .await?
        .json()?;
    let outcome = match answer.outcome {
        domain::BindOutcome::Bound => BindOutcome::Bound,
        domain::BindOutcome::AlreadyBound => BindOutcome::AlreadyYours,
    };
    Ok((outcome, terminal_from_wire(answer.terminal)?))
}

/// `PUT /v1/terminals/{sn}`: alias and role, a keyed write.
pub async fn update(session: &SessionState, sn: &str, u: &TerminalUpdate) -> Result<Terminal> {
    let body = domain::UpdateTerminal {
        alias: u.alias.clone(),
        role: match u.role {
            TerminalRole::Main => domain::TerminalRole::Main,
            TerminalRole::Secondary => domain::TerminalRole::Secondary,
        },
        main_sn: u.main_sn.clone(),
    };
    let path = routes::UPDATE_TERMINAL.path.replace("{sn}", sn);
    let call = Call::put_json(path, &body)?;
    let t: domain::Terminal = session
        .send_keyed(&format!("terminals.update:{sn}"), call)
        .await?
        .json()?;
    terminal_from_wire(t)
}

/// `DELETE /v1/terminals/{sn}`, a keyed write; when it left (unix ms).
pub async fn unbind(session: &SessionState, sn: &str) -> Result<i64> {
    let path = routes::UNBIND_TERMINAL.path.replace("{sn}", sn);
    let gone: domain::TerminalUnbound = session
        .send_keyed(&format!("terminals.unbind:{sn}"), Call::delete(path))
        .await?
        .json()?;
    millis(&gone.unbound_at, "unbound_at")
}

/// Percent-encodes a cursor for a query string (cursors are opaque).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
