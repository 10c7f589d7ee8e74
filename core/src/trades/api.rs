//! The trades capability's platform calls (docs/platform-api.md, Trades,
//! Refunds, Settlements) and the mapping of the contract's records to the
//! app's.

// ---------------------------------------------------------------------------
// The change feed (sync)
// ---------------------------------------------------------------------------

// ---------------------------------------------------------------------------
// Refunds, voids, settlements and statements
// ---------------------------------------------------------------------------

/// The calls of refunds, voids, settlements and statements (their own
/// module, so their imports stay apart from the feed's).
pub mod refunds {
    use merchant_contract::domain::{self, routes};

    use crate::error::{Error, Result};
    use crate::money::{Amount, Channel};
    use crate::platform::{Call, RESPONSE_MALFORMED};
    use crate::session::SessionState;
    use crate::trades::model::{Trade, TradeKind, TradeStatus};

    fn malformed(what: &str) -> Error {
        Error::new(&RESPONSE_MALFORMED).detail(format!("trade record: {what}"))
    }

    /// RFC 3339 text as unix milliseconds.
    fn millis(text: &str, what: &str) -> Result<i64> {
        chrono::DateTime::parse_from_rfc3339(text)
            .map(|t| t.timestamp_millis())
            .map_err(|_| malformed(what))
    }

    fn money(text: &str, what: &str) -> Result<Amount> {
        Amount::parse(text).map_err(|_| malformed(what))
    }

    fn digits(s: &str, n: usize) -> bool {
        s.len() == n && s.bytes().all(|b| b.is_ascii_digit())
    }

    /// The contract's trade record as the app's, for the answers of refunds and
    /// voids. To merge with the change feed's mapping when sync lands.
    pub fn record_from_wire(t: domain::Trade) -> Result<Trade> {
        let kind = match t.kind {
            domain::TradeKind::Sale => TradeKind::Sale,
            domain::TradeKind::Void => TradeKind::Void,
            domain::TradeKind::Refund => TradeKind::Refund,
        };
        let channel = Channel::parse(&t.channel).map_err(|_| malformed("channel"))?;
        let (card_bin, card_last4, card_kind, card_bank) = match t.card {
            Some(c) => {
                if !digits(&c.bin, 6) || !digits(&c.last4, 4) {
                    return Err(malformed("card beyond BIN and last four"));
                }
                (Some(c.bin), Some(c.last4), Some(c.card_kind), c.bank_name)
            }
            None => (None, None, None, None),
        };
        let amount = money(&t.amount, "amount")?;
        let fee = money(&t.fee, "fee")?;
        if amount.is_zero() || fee > amount {
            return Err(malformed("amount or fee"));
        }
        Ok(Trade {
            created_at_ms: millis(&t.created_at, "created_at")?,
            updated_at_ms: millis(&t.updated_at, "updated_at")?,
            refunded_amount: money(&t.refunded_amount, "refunded_amount")?,
            trade_id: t.trade_id,
            kind,
            original_trade_id: t.original_trade_id,
            channel,
            amount,
            fee,
            rate: t.rate,
            status: TradeStatus::from_wire(t.status),
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
            change_seq: t.change_seq,
        })
    }

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
