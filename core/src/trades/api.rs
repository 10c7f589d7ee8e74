//! The trades capability's platform calls (docs/platform-api.md, Trades,
//! Refunds, Settlements) and the mapping of the contract's records to the
//! app's.

// ---------------------------------------------------------------------------
// The change feed (sync)
// ---------------------------------------------------------------------------

// (This section's imports sit inside its functions, so the sections of
// this file never clash over a `use`.)

/// `GET /v1/trades/changes?after=&limit=`: the records changed after
/// `after`, in change order (`limit` at most [`super::feed::MAX_PAGE`]). The body
/// is decoded here; [`super::feed::validate`] checks it before anything is kept.
pub async fn changes(
    state: &crate::session::SessionState,
    after: u64,
    limit: u32,
) -> crate::error::Result<merchant_contract::domain::TradeChanges> {
    use merchant_contract::domain::routes;

    use super::feed;
    use crate::platform::Call;

    let limit = limit.clamp(1, feed::MAX_PAGE);
    let path = format!("{}?after={after}&limit={limit}", routes::TRADE_CHANGES.path);
    let reply = state.send(Call::get(path)).await?;
    feed::decode_page(&reply.body)
}

/// The contract's trade record as the app's, checked: every capability
/// maps records through here (the feed, trade events, refund and void
/// answers). A record that breaks a rule is one of `feed`'s
/// `trades.record_*` codes, the detail naming the field, never its value.
pub fn trade_from_wire(
    t: merchant_contract::domain::Trade,
) -> crate::error::Result<super::model::Trade> {
    use merchant_contract::domain;

    use super::feed::{
        RECORD_AMOUNT, RECORD_CARD, RECORD_CHANNEL, RECORD_FEE_ABOVE_AMOUNT, RECORD_FIELD,
        RECORD_KIND, RECORD_REFUNDED_ABOVE_AMOUNT,
    };
    use super::model::{Trade, TradeKind, TradeStatus};
    use crate::error::Error;
    use crate::money::{Channel, Rate};

    let field = |name: &str| Error::new(&RECORD_FIELD).detail(name.to_owned());
    if !id_like(&t.trade_id) {
        return Err(field("trade_id"));
    }
    match (t.kind, t.original_trade_id.as_deref()) {
        (domain::TradeKind::Sale, None) => {}
        (domain::TradeKind::Void | domain::TradeKind::Refund, Some(o))
            if id_like(o) && o != t.trade_id => {}
        _ => return Err(Error::new(&RECORD_KIND).detail("original_trade_id")),
    }
    let channel =
        Channel::parse(&t.channel).map_err(|_| Error::new(&RECORD_CHANNEL).detail("channel"))?;
    let amount = money(&t.amount, "amount")?;
    if amount.is_zero() {
        return Err(Error::new(&RECORD_AMOUNT).detail("amount is zero"));
    }
    let fee = money(&t.fee, "fee")?;
    if fee > amount {
        return Err(Error::new(&RECORD_FEE_ABOVE_AMOUNT).detail("fee"));
    }
    let refunded_amount = money(&t.refunded_amount, "refunded_amount")?;
    if refunded_amount > amount {
        return Err(Error::new(&RECORD_REFUNDED_ABOVE_AMOUNT).detail("refunded_amount"));
    }
    if !t.rate.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(field("rate"));
    }
    let rate = Rate::parse(&t.rate).map_err(|_| field("rate"))?;
    if !id_like(&t.terminal_sn) {
        return Err(field("terminal_sn"));
    }
    if t.merchant_no.len() != 15 || !t.merchant_no.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(field("merchant_no"));
    }
    if !plain_text(&t.merchant_name, 100) {
        return Err(field("merchant_name"));
    }
    let card = match t.card {
        None => None,
        Some(_) if channel.is_scan_code() => {
            return Err(Error::new(&RECORD_CARD).detail("card on a scan-code trade"));
        }
        Some(c) => {
            if !digits(&c.bin, 6) {
                return Err(Error::new(&RECORD_CARD).detail("card.bin"));
            }
            if !digits(&c.last4, 4) {
                return Err(Error::new(&RECORD_CARD).detail("card.last4"));
            }
            if !matches!(
                c.card_kind.as_str(),
                "debit" | "credit" | "prepaid" | "unknown"
            ) {
                return Err(Error::new(&RECORD_CARD).detail("card.card_kind"));
            }
            if let Some(bank) = &c.bank_name
                && !plain_text(bank, 64)
            {
                return Err(Error::new(&RECORD_CARD).detail("card.bank_name"));
            }
            Some(c)
        }
    };
    if let Some(p) = &t.payer
        && (p.is_empty() || p.len() > 128 || !p.bytes().all(|b| b.is_ascii_graphic()))
    {
        return Err(field("payer"));
    }
    if !digits(&t.reference_no, 12) {
        return Err(field("reference_no"));
    }
    if !digits(&t.batch_no, 6) {
        return Err(field("batch_no"));
    }
    if !digits(&t.voucher_no, 6) {
        return Err(field("voucher_no"));
    }
    if !digits(&t.log_no, 14) {
        return Err(field("log_no"));
    }
    if !is_date(&t.business_date) {
        return Err(field("business_date"));
    }
    let created_at_ms = millis(&t.created_at).ok_or_else(|| field("created_at"))?;
    let updated_at_ms = millis(&t.updated_at).ok_or_else(|| field("updated_at"))?;
    // SQLite keeps INTEGER as i64; 0 is the cursor before the first change.
    if t.change_seq == 0 || i64::try_from(t.change_seq).is_err() {
        return Err(field("change_seq"));
    }
    let (card_bin, card_last4, card_kind, card_bank) = match card {
        Some(c) => (Some(c.bin), Some(c.last4), Some(c.card_kind), c.bank_name),
        None => (None, None, None, None),
    };
    Ok(Trade {
        trade_id: t.trade_id,
        kind: match t.kind {
            domain::TradeKind::Sale => TradeKind::Sale,
            domain::TradeKind::Void => TradeKind::Void,
            domain::TradeKind::Refund => TradeKind::Refund,
        },
        original_trade_id: t.original_trade_id,
        channel,
        amount,
        fee,
        rate: rate.to_string(),
        status: TradeStatus::from_wire(t.status),
        refunded_amount,
        terminal_sn: t.terminal_sn,
        merchant_no: t.merchant_no,
        merchant_name: t.merchant_name,
        card_bin,
        card_last4,
        card_kind,
        card_bank,
        payer: t.payer,
        reference_no: t.reference_no,
        batch_no: t.batch_no,
        voucher_no: t.voucher_no,
        log_no: t.log_no,
        business_date: t.business_date,
        created_at_ms,
        updated_at_ms,
        change_seq: t.change_seq,
    })
}

/// Contract money text (`"1280.00"`): ASCII digits and one point, at most
/// two decimals, no sign; anything else is `trades.record_amount`.
fn money(text: &str, what: &str) -> crate::error::Result<crate::money::Amount> {
    let bad = || crate::error::Error::new(&super::feed::RECORD_AMOUNT).detail(what.to_owned());
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(bad());
    }
    crate::money::Amount::parse(text).map_err(|_| bad())
}

fn digits(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_digit())
}

/// A platform id: 1 to 40 ASCII letters and digits.
fn id_like(s: &str) -> bool {
    !s.is_empty() && s.len() <= 40 && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Display text: at most `max` characters, no control characters, and no
/// run of 13 or more digits (the shortest card number), so a card number
/// cannot hide in a name.
fn plain_text(s: &str, max: usize) -> bool {
    let mut run = 0;
    for (n, c) in s.chars().enumerate() {
        if n >= max || c.is_control() {
            return false;
        }
        run = if c.is_ascii_digit() { run + 1 } else { 0 };
        if run >= 13 {
            return false;
        }
    }
    true
}

/// `YYYY-MM-DD`, a real day.
fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())
            .flatten()
    };
    match (num(0..4), num(5..7), num(8..10)) {
        (Some(y), Some(m), Some(d)) => {
            i32::try_from(y).is_ok_and(|y| chrono::NaiveDate::from_ymd_opt(y, m, d).is_some())
        }
        _ => false,
    }
}

/// RFC 3339 text as unix milliseconds.
fn millis(text: &str) -> Option<i64> {
    if text.len() > 40 {
        return None;
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_millis())
}

// ---------------------------------------------------------------------------
// Refunds, voids, settlements and statements
// ---------------------------------------------------------------------------

/// The calls of refunds, voids, settlements and statements (their own
/// module, so their imports stay apart from the feed's).
pub mod refunds {
    use merchant_contract::domain::{self, routes};

    use crate::error::Result;
    use crate::platform::Call;
    use crate::session::SessionState;

    /// `POST /v1/trades/{trade_id}/refunds`, the keyed write `intent`.
    pub async fn refund(
        session: &SessionState,
        intent: &str,
        trade_id: &str,
        body: &domain::RefundRequest,
    ) -> Result<domain::TradeRefunded> {
        let path = routes::REFUND.path.replace("{trade_id}", trade_id);
        let call = Call::post_json(path, body)?;
        session.send_keyed(intent, call).await?.json()
    }

    /// `POST /v1/trades/{trade_id}/void`, the keyed write `intent`.
    pub async fn void(
        session: &SessionState,
        intent: &str,
        trade_id: &str,
        body: &domain::VoidRequest,
    ) -> Result<domain::TradeVoided> {
        let path = routes::VOID.path.replace("{trade_id}", trade_id);
        let call = Call::post_json(path, body)?;
        session.send_keyed(intent, call).await?.json()
    }

    /// `GET /v1/settlements/{date}` (`date` already checked as `YYYY-MM-DD`).
    pub async fn settlement(session: &SessionState, date: &str) -> Result<domain::Settlement> {
        let path = routes::SETTLEMENT.path.replace("{date}", date);
        session.send(Call::get(path)).await?.json()
    }

    /// `GET /v1/settlements/{date}/statement`: the statement file's bytes,
    /// verified against the platform's signature like every answer (the client
    /// verifies the exact body bytes, whatever their type).
    pub async fn statement(session: &SessionState, date: &str) -> Result<Vec<u8>> {
        let path = routes::STATEMENT.path.replace("{date}", date);
        Ok(session.send(Call::get(path)).await?.body)
    }
}
