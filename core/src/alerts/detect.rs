//! Merchant-protection detectors: every trade record the phone applies (at
//! sync, page by page, and from a live event) is checked inside the same
//! write transaction, and what threatens the merchant's money is recorded as
//! a protection finding through [`crate::findings::record`] (so it is
//! stored, listed, acknowledged, and an open one is not recorded twice).
//!
//! | code | what | reason | subject |
//! | --- | --- | --- | --- |
//! | `alert.merchant_code` | 跳码: the trade's `merchant_no` is not the registered one | `mcc` (its MCC, characters 8–11, differs too) or `merchant_no` | the terminal serial |
//! | `alert.fee_above_rate` | the fee is above the agreed rate's fee for the channel and amount | `above_rate` | the trade id |
//! | `alert.double_charge` | another paid sale, same amount, same card (BIN + last four) or payer token, same terminal, within 2 minutes either side | `same_card` or `same_payer` | both trade ids, sorted, joined by `,` |
//! | `alert.foreign_terminal` | the trade's terminal is not in the merchant's list, or was unbound before the trade | `not_bound` or `unbound` | the terminal serial |
//!
//! The other protection alerts are recorded where their facts are, and are
//! not repeated here: `terminal.owned_by_other` (a bind refused: reason
//! `bind_refused`; a terminal moved to another merchant: `transferred_away`,
//! terminals/events.rs) and `settlement.shortfall` / `settlement.mismatch`
//! (trades/settlement.rs reconciliation).
//!
//! # When a detector runs
//!
//! The composition root (core.rs) calls [`Detectors::check`] for a record
//! that was inserted in, or updated into, a status where money moved
//! (`success`, `partially_refunded`, `refunded`, `voided`) from one where it
//! had not: a pending scan code is checked when it is paid, once; an ignored
//! record (the feed repeating what an event gave) never. 跳码 and the
//! foreign terminal are checked on every such record, refunds and voids too
//! (a refund from a terminal that is not the merchant's is money leaving);
//! the fee and the double charge only on a sale that stands paid
//! (`success` or `partially_refunded`), never on a refund or void record.
//!
//! # Cost
//!
//! [`Detectors::new`] takes what every record is compared with (the
//! registered merchant number, the rate table checked once into a per-channel
//! array, the terminal list as a hash map) once per transaction. Per record
//! the checks are a string compare, one fee computed with
//! [`ChannelRate::fee`] (the one fee formula), a hash lookup, and for a
//! live paid sale with a card or payer one indexed query (the trades
//! capability's `paid_sales_near`: a card by the trades' index
//! `trade_card_last4`, a payer by this module's [`MIGRATION`] index
//! `trade_payer`, so a busy terminal's other sales are never scanned). A
//! finding costs
//! a write only when something is found.
//!
//! # History
//!
//! A record created more than [`HISTORY_MS`] (7 days) before it is applied
//! (the first sync of a merchant's history, a phone long offline) is
//! *historic*: the merchant cannot act on it as on a live alert, and a
//! million-trade first sync must not flood the list. So, for historic
//! records:
//! - the double charge is not checked (the customer's 2 minutes are long
//!   gone; reconciliation and refunds are the tools then);
//! - 跳码, a foreign terminal and an overcharged fee are recorded as
//!   warnings with reason `historic`, one open finding per terminal (跳码,
//!   foreign terminal) or per channel (fee), its message naming the latest
//!   trade seen: a systematic problem in the history shows once, not once a
//!   trade.
//!
//! # The terminal list never fetched
//!
//! An empty terminal list means the phone has not fetched it yet (a merchant
//! whose trades arrive has terminals): the foreign-terminal check is then
//! skipped rather than flagging every trade. It runs from the first page
//! after the list is fetched.
//!
//! Messages carry amounts in yuan, terminal serials, trade ids, a card as
//! `622848****0017` at most, the last four characters of a merchant number:
//! never a name or a whole card number.

use std::collections::HashMap;

use rusqlite::Connection;

use crate::error::{Lang, Result};
use crate::findings::{self, FindingSeverity, NewFinding};
use crate::money::{Amount, Channel, ChannelRate, RateTable};

crate::codes! {
    MERCHANT_CODE = Integrity, "alert.merchant_code", "跳码：交易以其他商户编号入账", "Merchant-code switching: a trade was routed under another merchant number";
    FEE_ABOVE_RATE = Integrity, "alert.fee_above_rate", "费率异常：手续费高于约定费率", "Fee above the agreed rate";
    DOUBLE_CHARGE = Integrity, "alert.double_charge", "疑似重复扣款", "Likely double charge";
    FOREIGN_TERMINAL = Integrity, "alert.foreign_terminal", "非本店终端的交易", "A trade from a terminal that is not yours";
}

/// The alerts migration (store/schema.rs): an index on the trades table
/// that lets a likely double charge of a scan-code payer be found in a few
/// rows (a card is found through the trades' own `trade_card_last4`).
pub const MIGRATION: &str = "
-- A payer's recent sales (alerts/detect.rs, the double charge).
CREATE INDEX trade_payer ON trade (payer, created_at) WHERE payer IS NOT NULL;
";

/// A row the alerts migration's index serves (for the upgrade test).
pub const SAMPLE: &str = "
INSERT INTO trade (id, trade_id, kind, original_trade_id, channel, amount, fee, rate, status, refunded,
                   terminal_sn, merchant_no, merchant_name, card_bin, card_last4, card_kind, card_bank,
                   payer, reference_no, batch_no, voucher_no, log_no, business_date, created_at,
                   updated_at, change_seq)
    VALUES (2, 'T20250601004711938266', 'sale', NULL, 'wechat', 85000, 323, '0.38', 'success', 0,
            'LKLA800123455', '822290058120001', '老王便利店', NULL, NULL, NULL, NULL,
            'wx_00112233445566ff', '601234567891', '000001', '000018', '20250601000018', '2025-06-01',
            1748741460000, 1748741460000, 18);
";

/// A record created this long before it is applied is historic (7 days).
pub const HISTORY_MS: i64 = 7 * 24 * 3600 * 1000;
/// The double charge's window, either side (2 minutes).
pub const DOUBLE_CHARGE_WINDOW_MS: i64 = 2 * 60 * 1000;
/// The most earlier sales one record is paired with as double charges.
pub const DOUBLE_CHARGE_MOST: u32 = 3;

/// One of the merchant's terminals as the detectors need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownTerminal {
    pub sn: String,
    /// Set when the terminal left the merchant (status `unbound`): trades
    /// after it are foreign.
    pub unbound_at_ms: Option<i64>,
}

/// What every record is compared with, read once per transaction.
#[derive(Debug, Clone, Default)]
pub struct Setup {
    /// The registered 商户编号 (`None` before activation: 跳码 not checked).
    pub merchant_no: Option<String>,
    /// The agreed rates (`None` before activation, or a table that does
    /// not check: the fee is not checked).
    pub rates: Option<RateTable>,
    /// The terminal list (empty: never fetched, see the module docs).
    pub terminals: Vec<KnownTerminal>,
    /// Now, unix milliseconds (history is measured from it).
    pub now_ms: i64,
}

/// What a record is, as the detectors read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    /// A sale standing paid (`success`, `partially_refunded`).
    PaidSale,
    /// A sale that moved money but no longer stands paid (`refunded`,
    /// `voided`): no fee or double-charge check.
    ReversedSale,
    /// A refund or void record.
    Reversal,
}

/// One applied trade record, as the composition root maps it.
#[derive(Debug, Clone, Copy)]
pub struct TradeFacts<'a> {
    pub trade_id: &'a str,
    pub kind: RecordKind,
    pub channel: Channel,
    pub amount: Amount,
    pub fee: Amount,
    /// The rate the platform says it applied (percent text).
    pub rate: &'a str,
    pub terminal_sn: &'a str,
    pub merchant_no: &'a str,
    pub card_bin: Option<&'a str>,
    pub card_last4: Option<&'a str>,
    pub payer: Option<&'a str>,
    pub created_at_ms: i64,
}

/// A paid sale near the checked one (the trades capability's query).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NearSale {
    pub trade_id: String,
    pub card_bin: Option<String>,
    pub card_last4: Option<String>,
    pub payer: Option<String>,
    pub created_at_ms: i64,
}

/// Finds paid sales on `terminal_sn` of `amount` within `(from_ms, to_ms)`
/// other than `trade_id`, at most `limit` of them.
pub trait NearSales {
    fn near(
        &self,
        conn: &Connection,
        t: &TradeFacts<'_>,
        window: (i64, i64),
        limit: u32,
    ) -> Result<Vec<NearSale>>;
}

/// The detectors of one transaction (see the module docs).
#[derive(Debug, Clone)]
pub struct Detectors {
    merchant_no: Option<String>,
    rates: [Option<ChannelRate>; 5],
    terminals: HashMap<String, Option<i64>>,
    now_ms: i64,
}

fn channel_index(c: Channel) -> usize {
    match c {
        Channel::WeChat => 0,
        Channel::Alipay => 1,
        Channel::UnionPayQr => 2,
        Channel::DebitCard => 3,
        Channel::CreditCard => 4,
    }
}

/// The MCC of a 15-character merchant number: characters 8–11 (3
/// acquirer, 4 region, 4 MCC, 4 sequence; docs/platform-api.md, Trades).
pub fn mcc_of(merchant_no: &str) -> Option<&str> {
    if merchant_no.len() != 15 || !merchant_no.is_ascii() {
        return None;
    }
    merchant_no.get(7..11)
}

/// The last four characters of a merchant number (all of a shorter one).
fn tail4(no: &str) -> &str {
    let cut = no.char_indices().rev().nth(3).map_or(0, |(i, _)| i);
    no.get(cut..).unwrap_or(no)
}

/// A card as `622848****0017`.
fn masked_card(bin: &str, last4: &str) -> String {
    format!("{bin}****{last4}")
}

impl Detectors {
    pub fn new(setup: Setup) -> Detectors {
        let mut rates: [Option<ChannelRate>; 5] = Default::default();
        match setup.rates {
            Some(table) if table.check().is_ok() => {
                for r in table.rates {
                    let i = channel_index(r.channel);
                    rates[i] = Some(r);
                }
            }
            Some(_) => tracing::warn!("agreed rate table does not check; fee alerts off"),
            None => {}
        }
        Detectors {
            merchant_no: setup.merchant_no.filter(|n| !n.is_empty()),
            rates,
            terminals: setup
                .terminals
                .into_iter()
                .map(|t| (t.sn, t.unbound_at_ms))
                .collect(),
            now_ms: setup.now_ms,
        }
    }

    fn historic(&self, t: &TradeFacts<'_>) -> bool {
        t.created_at_ms < self.now_ms.saturating_sub(HISTORY_MS)
    }

    /// Runs every detector on `t` inside the caller's transaction; returns
    /// the ids of the findings recorded (or touched).
    pub fn check(
        &self,
        conn: &Connection,
        t: &TradeFacts<'_>,
        near: &dyn NearSales,
    ) -> Result<Vec<i64>> {
        let mut found = Vec::new();
        let historic = self.historic(t);
        if let Some(f) = self.merchant_code(t, historic) {
            found.push(record(conn, f)?);
        }
        if let Some(f) = self.foreign_terminal(t, historic) {
            found.push(record(conn, f)?);
        }
        if t.kind == RecordKind::PaidSale {
            if let Some(f) = self.fee_above_rate(t, historic) {
                found.push(record(conn, f)?);
            }
            if !historic {
                for f in double_charges(conn, t, near)? {
                    found.push(record(conn, f)?);
                }
            }
        }
        Ok(found)
    }

    fn merchant_code(&self, t: &TradeFacts<'_>, historic: bool) -> Option<Finding> {
        let own = self.merchant_no.as_deref()?;
        if t.merchant_no == own {
            return None;
        }
        let (theirs, ours) = (tail4(t.merchant_no), tail4(own));
        let (id, sn) = (t.trade_id, t.terminal_sn);
        let (reason, zh, en) = match (mcc_of(t.merchant_no), mcc_of(own)) {
            (Some(m), Some(o)) if m != o => (
                "mcc",
                format!(
                    "跳码：终端 {sn} 的交易 {id} 以尾号 {theirs} 的其他商户编号入账，行业类别 MCC {m} 与您登记的 {o} 不同（您的商户编号尾号 {ours}）。"
                ),
                format!(
                    "Merchant-code switching: trade {id} on terminal {sn} was routed under another merchant number ending {theirs}, with MCC {m} instead of your registered {o} (your number ends {ours})."
                ),
            ),
            _ => (
                "merchant_no",
                format!(
                    "跳码：终端 {sn} 的交易 {id} 以尾号 {theirs} 的其他商户编号入账，与您登记的商户编号（尾号 {ours}）不同。"
                ),
                format!(
                    "Merchant-code switching: trade {id} on terminal {sn} was routed under another merchant number ending {theirs}, not your registered one (ending {ours})."
                ),
            ),
        };
        Some(Finding::new(&MERCHANT_CODE, reason, sn.to_owned(), zh, en).historic(historic))
    }

    fn foreign_terminal(&self, t: &TradeFacts<'_>, historic: bool) -> Option<Finding> {
        if self.terminals.is_empty() {
            return None; // never fetched: see the module docs
        }
        let (id, sn) = (t.trade_id, t.terminal_sn);
        let reason = match self.terminals.get(sn) {
            Some(None) => return None,
            Some(Some(unbound_at)) if t.created_at_ms <= *unbound_at => return None,
            Some(Some(_)) => "unbound",
            None => "not_bound",
        };
        let (zh, en) = if reason == "unbound" {
            (
                format!("非本店终端交易：交易 {id} 来自终端 {sn}，该终端已从您的名下解绑。"),
                format!(
                    "A trade from a terminal that is not yours: trade {id} came from terminal {sn}, which was unbound from you."
                ),
            )
        } else {
            (
                format!("非本店终端交易：交易 {id} 来自终端 {sn}，该终端不在您的终端列表中。"),
                format!(
                    "A trade from a terminal that is not yours: trade {id} came from terminal {sn}, which is not in your terminal list."
                ),
            )
        };
        Some(Finding::new(&FOREIGN_TERMINAL, reason, sn.to_owned(), zh, en).historic(historic))
    }

    fn fee_above_rate(&self, t: &TradeFacts<'_>, historic: bool) -> Option<Finding> {
        let agreed = self.rates[channel_index(t.channel)].as_ref()?;
        let due = agreed.fee(t.amount);
        if t.fee <= due {
            return None;
        }
        let over = t.fee.checked_sub(due)?;
        let rate = agreed.rate_for(t.amount);
        let (id, amount, fee, charged) = (t.trade_id, t.amount, t.fee, t.rate);
        let zh = format!(
            "费率异常：交易 {id}（¥{amount}）按约定 {rate}% 应收 ¥{due}，实收 ¥{fee}（费率 {charged}%），多收 ¥{over}。"
        );
        let en = format!(
            "Fee above the agreed rate: trade {id} (¥{amount}) should cost ¥{due} at the agreed {rate}%, but ¥{fee} was taken (rate {charged}%): ¥{over} too much."
        );
        let subject = if historic {
            t.channel.as_str().to_owned()
        } else {
            id.to_owned()
        };
        Some(Finding::new(&FEE_ABOVE_RATE, "above_rate", subject, zh, en).historic(historic))
    }
}

/// The likely double charges of paid sale `t` (live only).
fn double_charges(
    conn: &Connection,
    t: &TradeFacts<'_>,
    near: &dyn NearSales,
) -> Result<Vec<Finding>> {
    let card = match (t.card_bin, t.card_last4) {
        (Some(b), Some(l)) => Some((b, l)),
        _ => None,
    };
    if card.is_none() && t.payer.is_none() {
        return Ok(Vec::new());
    }
    let window = (
        t.created_at_ms.saturating_sub(DOUBLE_CHARGE_WINDOW_MS),
        t.created_at_ms.saturating_add(DOUBLE_CHARGE_WINDOW_MS),
    );
    let mut out = Vec::new();
    for other in near.near(conn, t, window, DOUBLE_CHARGE_MOST)? {
        let same_card = card.is_some_and(|(b, l)| {
            other.card_bin.as_deref() == Some(b) && other.card_last4.as_deref() == Some(l)
        });
        let same_payer = t.payer.is_some() && other.payer.as_deref() == t.payer;
        if !same_card && !same_payer {
            continue;
        }
        let (first, second) = if other.trade_id.as_str() < t.trade_id {
            (other.trade_id.as_str(), t.trade_id)
        } else {
            (t.trade_id, other.trade_id.as_str())
        };
        let secs = (t.created_at_ms - other.created_at_ms).unsigned_abs() / 1000;
        let (amount, sn) = (t.amount, t.terminal_sn);
        let (reason, who_zh, who_en) = match card {
            Some((b, l)) if same_card => {
                let c = masked_card(b, l);
                (
                    "same_card",
                    format!("同一张卡 {c}"),
                    format!("the same card {c}"),
                )
            }
            _ => (
                "same_payer",
                "同一付款账户".to_owned(),
                "the same paying account".to_owned(),
            ),
        };
        out.push(Finding::new(
            &DOUBLE_CHARGE,
            reason,
            format!("{first},{second}"),
            format!(
                "疑似重复扣款：终端 {sn} 在 {secs} 秒内向{who_zh}两次收取 ¥{amount}（交易 {first}、{second}）。"
            ),
            format!(
                "Likely double charge: terminal {sn} took ¥{amount} twice from {who_en} within {secs} seconds (trades {first} and {second})."
            ),
        ));
    }
    Ok(out)
}

/// What to do about a finding of `code` (also part of its message).
pub fn advice(code: &str, lang: Lang) -> &'static str {
    match (code, lang) {
        ("alert.merchant_code", Lang::Zh) => {
            "请立即联系收单机构客服核实终端的入账商户，暂停使用该终端收款，以免款项结算到他人名下。"
        }
        ("alert.merchant_code", Lang::En) => {
            "Call the acquirer's support now to check where the terminal routes its trades, and stop taking payments on it: the money may settle to someone else."
        }
        ("alert.fee_above_rate", Lang::Zh) => {
            "请立即联系收单机构客服，要求按约定费率退还多收的手续费。"
        }
        ("alert.fee_above_rate", Lang::En) => {
            "Call the acquirer's support now and ask for the fee above the agreed rate back."
        }
        ("alert.double_charge", Lang::Zh) => {
            "请与顾客核实是否只应付一次，如确属重复扣款，请为其中一笔办理退款。"
        }
        ("alert.double_charge", Lang::En) => {
            "Check with the customer whether they meant to pay once; if so, refund one of the two trades."
        }
        ("alert.foreign_terminal", Lang::Zh) => {
            "请核实机主：确认该终端是否为您所有，如非本人终端，请立即联系收单机构客服。"
        }
        ("alert.foreign_terminal", Lang::En) => {
            "Verify the terminal's owner: if it is not yours, call the acquirer's support now."
        }
        (_, _) => "",
    }
}

/// A finding about to be recorded (owned texts).
struct Finding {
    code: &'static str,
    reason: &'static str,
    subject: String,
    severity: FindingSeverity,
    zh: String,
    en: String,
}

impl Finding {
    fn new(
        code: &'static crate::error::Code,
        reason: &'static str,
        subject: String,
        zh: String,
        en: String,
    ) -> Finding {
        let zh = format!("{zh}{}", advice(code.code, Lang::Zh));
        let en = format!("{en} {}", advice(code.code, Lang::En));
        Finding {
            code: code.code,
            reason,
            subject,
            severity: FindingSeverity::Critical,
            zh,
            en,
        }
    }

    /// A historic record's finding: a warning, reason `historic`, its text
    /// saying so.
    fn historic(mut self, historic: bool) -> Finding {
        if historic {
            self.reason = "historic";
            self.severity = FindingSeverity::Warning;
            self.zh = format!("（7 天前的历史交易）{}", self.zh);
            self.en = format!("(A trade more than 7 days old) {}", self.en);
        }
        self
    }
}

fn record(conn: &Connection, f: Finding) -> Result<i64> {
    findings::record(
        conn,
        &NewFinding {
            code: f.code,
            reason: f.reason,
            subject: &f.subject,
            severity: f.severity,
            message_zh: f.zh,
            message_en: f.en,
        },
    )
}

#[cfg(test)]
mod tests {
    //! On real stores in temporary directories, through the trades
    //! capability's own ingest and event paths with the composition root's
    //! hook (core.rs), as the sync and `apply_event` run them.

    use std::sync::Arc;

    use merchant_contract::domain;
    use merchant_contract::wire::event_types;

    use super::*;
    use crate::core::{ProtectionHook, apply_trade_event};
    use crate::findings::Finding;
    use crate::store::{FileSecretStore, MerchantStore, SecretStore};
    use crate::trades::{feed, store as trade_store, sync};

    const OWN_NO: &str = "822290058120001"; // MCC 5812
    const MAIN: &str = "LKLA800123455";
    const SECOND: &str = "LKLA800123463";

    fn now_s() -> i64 {
        chrono::Utc::now().timestamp()
    }

    fn rfc3339(secs: i64) -> String {
        let offset = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
        chrono::DateTime::from_timestamp(secs, 0)
            .unwrap()
            .with_timezone(&offset)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
    }

    /// A merchant activated with `OWN_NO` and the standard rates.
    fn merchant(dir: &std::path::Path) -> Arc<MerchantStore> {
        let secrets: Arc<dyn SecretStore> =
            FileSecretStore::new(dir.join("keys").to_string_lossy().into_owned()).unwrap();
        let store =
            Arc::new(crate::store::open_merchant(&dir.join("data"), "m1", &secrets).unwrap());
        let rates = RateTable::standard()
            .rates
            .into_iter()
            .map(|r| crate::onboarding::model::AgreedRate {
                channel: r.channel.as_str().to_owned(),
                rate: r.rate.to_string(),
                threshold: r.threshold.map(|a| a.to_string()),
                rate_above: r.rate_above.map(|a| a.to_string()),
                cap: r.cap.map(|a| a.to_string()),
            })
            .collect();
        let profile = crate::onboarding::model::MerchantProfile {
            merchant_id: "mch_1".into(),
            merchant_no: Some(OWN_NO.into()),
            shop_name: Some("老王便利店".into()),
            rates,
            activated_at: None,
        };
        store
            .db()
            .write(|tx| {
                crate::onboarding::store::put_state_in(
                    tx,
                    &crate::onboarding::store::State {
                        status: crate::onboarding::model::ApplicationStatus::Activated,
                        profile: Some(serde_json::to_string(&profile).unwrap()),
                        ..Default::default()
                    },
                )
            })
            .unwrap();
        store
    }

    fn terminal(sn: &str, unbound_at_ms: Option<i64>) -> crate::terminals::model::Terminal {
        use crate::terminals::model::{Terminal, TerminalRole, TerminalStatus};
        Terminal {
            sn: sn.into(),
            alias: None,
            model: "A8".into(),
            firmware: "A8_V2.4.0".into(),
            status: if unbound_at_ms.is_some() {
                TerminalStatus::Unbound
            } else {
                TerminalStatus::Active
            },
            role: TerminalRole::Main,
            main_sn: None,
            bound_at_ms: 1_700_000_000_000,
            last_trade_at_ms: None,
            unbound_at_ms,
        }
    }

    fn with_terminals(store: &MerchantStore, list: &[crate::terminals::model::Terminal]) {
        store
            .db()
            .write(|tx| {
                for t in list {
                    crate::terminals::store::upsert(tx, t)?;
                }
                Ok(())
            })
            .unwrap();
    }

    /// A paid credit-card sale `n` of 1280.00 at the agreed fee, on `MAIN`,
    /// at `secs`.
    fn sale(n: u64, secs: i64) -> domain::Trade {
        domain::Trade {
            trade_id: format!("T{n:020}"),
            kind: domain::TradeKind::Sale,
            original_trade_id: None,
            channel: "credit_card".into(),
            amount: "1280.00".into(),
            fee: "7.68".into(),
            rate: "0.60".into(),
            status: domain::TradeStatus::Success,
            refunded_amount: "0.00".into(),
            terminal_sn: MAIN.into(),
            merchant_no: OWN_NO.into(),
            merchant_name: "老王便利店".into(),
            card: Some(domain::CardRef {
                bin: "622848".into(),
                last4: "0017".into(),
                card_kind: "credit".into(),
                bank_name: None,
            }),
            payer: None,
            reference_no: format!("{:012}", n),
            batch_no: "000001".into(),
            voucher_no: format!("{:06}", n % 1_000_000),
            log_no: format!("25060100{:06}", n % 1_000_000),
            business_date: "2025-06-01".into(),
            created_at: rfc3339(secs),
            updated_at: rfc3339(secs),
            change_seq: n,
        }
    }

    /// A WeChat sale `n` of `amount` with fee `fee` by payer `p_1`.
    fn wechat(n: u64, secs: i64, amount: &str, fee: &str, rate: &str) -> domain::Trade {
        domain::Trade {
            channel: "wechat".into(),
            amount: amount.into(),
            fee: fee.into(),
            rate: rate.into(),
            card: None,
            payer: Some("wx_00112233445566ff".into()),
            ..sale(n, secs)
        }
    }

    fn refund(n: u64, of: u64, secs: i64) -> domain::Trade {
        domain::Trade {
            trade_id: format!("R{n:020}"),
            kind: domain::TradeKind::Refund,
            original_trade_id: Some(format!("T{of:020}")),
            ..sale(n, secs)
        }
    }

    /// Applies `records` as the next feed page, with the detectors.
    fn sync_page(store: &MerchantStore, records: Vec<domain::Trade>) {
        let after = store.db().read(trade_store::feed_cursor).unwrap();
        let next_after = records.iter().map(|t| t.change_seq).max().unwrap_or(after);
        let page = domain::TradeChanges {
            changes: records,
            next_after,
            has_more: false,
            remaining: 0,
        };
        store
            .db()
            .write(|tx| sync::ingest_page_with(tx, page, after, Some(&ProtectionHook)))
            .unwrap();
    }

    fn event(store: &MerchantStore, t: &domain::Trade) {
        let data = serde_json::to_value(t).unwrap();
        store
            .db()
            .write(|tx| apply_trade_event(tx, event_types::TRADE_CREATED, &data, |_, _| ()))
            .unwrap();
    }

    fn found(store: &MerchantStore) -> Vec<Finding> {
        store
            .db()
            .read(|c| findings::list(c, true, Lang::Zh))
            .unwrap()
    }

    fn of_code(store: &MerchantStore, code: &Code) -> Vec<Finding> {
        found(store)
            .into_iter()
            .filter(|f| f.code == code.code)
            .collect()
    }

    use crate::error::Code;

    #[test]
    fn mcc_is_characters_8_to_11() {
        assert_eq!(mcc_of("822290058120001"), Some("5812"));
        assert_eq!(mcc_of("822100054110231"), Some("5411"));
        assert_eq!(mcc_of("82229005812"), None);
        assert_eq!(mcc_of("八22290058120001"), None);
        assert_eq!(tail4("822290058120001"), "0001");
        assert_eq!(tail4("12"), "12");
    }

    #[test]
    fn normal_trades_raise_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let store = merchant(tmp.path());
        with_terminals(&store, &[terminal(MAIN, None), terminal(SECOND, None)]);
        let now = now_s();
        sync_page(
            &store,
            vec![
                sale(1, now - 600),
                // The same card and amount on another terminal 10 s later.
                domain::Trade {
                    terminal_sn: SECOND.into(),
                    ..sale(2, now - 590)
                },
                // The same card and amount on the same terminal 3 minutes later.
                sale(3, now - 420),
                // A refund of sale 1: same card and amount, seconds later.
                refund(4, 1, now - 410),
                wechat(5, now - 300, "850.00", "3.23", "0.38"),
                wechat(6, now - 100, "1500.00", "9.00", "0.60"),
            ],
        );
        assert_eq!(found(&store), Vec::new());
    }

    #[test]
    fn merchant_code_names_the_mcc_or_the_number() {
        let tmp = tempfile::tempdir().unwrap();
        let store = merchant(tmp.path());
        let now = now_s();
        sync_page(
            &store,
            vec![domain::Trade {
                merchant_no: "822100054110231".into(),
                merchant_name: "北京市朝阳区宏泰批发商行".into(),
                ..sale(1, now - 60)
            }],
        );
        event(
            &store,
            &domain::Trade {
                merchant_no: "822290058129999".into(),
                terminal_sn: SECOND.into(),
                ..sale(2, now - 30)
            },
        );
        let f = of_code(&store, &MERCHANT_CODE);
        assert_eq!(f.len(), 2, "{f:?}");
        let mcc = f.iter().find(|f| f.reason == "mcc").unwrap();
        assert_eq!(mcc.subject, MAIN);
        assert_eq!(mcc.severity, FindingSeverity::Critical);
        assert!(mcc.message.contains("MCC 5411"), "{}", mcc.message);
        assert!(mcc.message.contains("5812"));
        assert!(mcc.message.contains("尾号 0231"));
        assert!(!mcc.message.contains("宏泰"), "no other merchant's name");
        let no = f.iter().find(|f| f.reason == "merchant_no").unwrap();
        assert_eq!(no.subject, SECOND);
        assert!(no.message.contains("尾号 9999"));
        assert!(no.message.contains("收单机构"), "advice: {}", no.message);
    }

    #[test]
    fn fee_above_rate_is_exact_to_the_fen() {
        let tmp = tempfile::tempdir().unwrap();
        let store = merchant(tmp.path());
        let now = now_s();
        sync_page(
            &store,
            vec![
                wechat(1, now - 60, "850.00", "5.36", "0.63"),
                // 75.00 × 0.38 % = 0.285: half up 0.29 is the agreed fee.
                wechat(2, now - 50, "75.00", "0.29", "0.38"),
                wechat(3, now - 40, "75.00", "0.30", "0.40"),
                // Above 1,000.00: 0.60 % is agreed, 9.00 due.
                wechat(4, now - 30, "1500.00", "9.00", "0.60"),
                wechat(5, now - 20, "1500.00", "9.01", "0.61"),
            ],
        );
        let f = of_code(&store, &FEE_ABOVE_RATE);
        let subjects: Vec<&str> = f.iter().map(|f| f.subject.as_str()).collect();
        assert_eq!(f.len(), 3, "{subjects:?}");
        let one = f
            .iter()
            .find(|f| f.subject == format!("T{:020}", 1))
            .unwrap();
        assert!(
            one.message
                .contains("按约定 0.38% 应收 ¥3.23，实收 ¥5.36（费率 0.63%），多收 ¥2.13"),
            "{}",
            one.message
        );
        assert_eq!(one.reason, "above_rate");
        let three = f
            .iter()
            .find(|f| f.subject == format!("T{:020}", 3))
            .unwrap();
        assert!(three.message.contains("应收 ¥0.29，实收 ¥0.30"));
        assert!(three.message.contains("多收 ¥0.01"));
        let five = f
            .iter()
            .find(|f| f.subject == format!("T{:020}", 5))
            .unwrap();
        assert!(five.message.contains("按约定 0.60% 应收 ¥9.00"));
        assert!(five.message.contains("多收 ¥0.01"));
    }

    #[test]
    fn double_charge_by_card_and_by_payer_in_either_order() {
        let tmp = tempfile::tempdir().unwrap();
        let store = merchant(tmp.path());
        let now = now_s();
        // The later charge arrives first (an event), the earlier by the feed.
        event(&store, &sale(2, now - 55));
        sync_page(&store, vec![sale(1, now - 60)]);
        // Scan code: the same payer twice within the window, after it.
        sync_page(
            &store,
            vec![
                wechat(3, now - 200, "88.00", "0.33", "0.38"),
                wechat(4, now - 90, "88.00", "0.33", "0.38"),
            ],
        );
        let f = of_code(&store, &DOUBLE_CHARGE);
        assert_eq!(f.len(), 2, "{f:?}");
        let card = f.iter().find(|f| f.reason == "same_card").unwrap();
        assert_eq!(card.subject, format!("T{:020},T{:020}", 1, 2));
        assert!(card.message.contains("622848****0017"), "{}", card.message);
        assert!(card.message.contains("5 秒内"));
        assert!(card.message.contains("¥1280.00"));
        let payer = f.iter().find(|f| f.reason == "same_payer").unwrap();
        assert_eq!(payer.subject, format!("T{:020},T{:020}", 3, 4));
        assert!(!payer.message.contains("wx_"), "no payer token in text");
    }

    #[test]
    fn foreign_terminal_not_listed_or_after_unbinding() {
        let tmp = tempfile::tempdir().unwrap();
        let store = merchant(tmp.path());
        let now = now_s();
        // The list never fetched: nothing, however strange the terminal.
        sync_page(
            &store,
            vec![domain::Trade {
                terminal_sn: "LKLQ100000009".into(),
                ..sale(1, now - 100)
            }],
        );
        assert_eq!(found(&store), Vec::new());

        let unbound_at = (now - 50) * 1000;
        with_terminals(
            &store,
            &[terminal(MAIN, None), terminal(SECOND, Some(unbound_at))],
        );
        sync_page(
            &store,
            vec![
                domain::Trade {
                    terminal_sn: SECOND.into(),
                    ..sale(2, now - 60)
                },
                wechat(3, now - 40, "10.00", "0.04", "0.38"),
                domain::Trade {
                    terminal_sn: SECOND.into(),
                    ..wechat(4, now - 30, "20.00", "0.08", "0.38")
                },
                domain::Trade {
                    terminal_sn: "LKLQ100000009".into(),
                    ..refund(5, 1, now - 20)
                },
            ],
        );
        let f = of_code(&store, &FOREIGN_TERMINAL);
        assert_eq!(f.len(), 2, "{f:?}");
        let unbound = f.iter().find(|f| f.reason == "unbound").unwrap();
        assert_eq!(unbound.subject, SECOND);
        assert!(unbound.message.contains(&format!("T{:020}", 4)));
        assert!(unbound.message.contains("核实机主"));
        let not_bound = f.iter().find(|f| f.reason == "not_bound").unwrap();
        assert_eq!(not_bound.subject, "LKLQ100000009");
        assert!(not_bound.message.contains(&format!("R{:020}", 5)));
        assert_eq!(found(&store).len(), 2);
    }

    #[test]
    fn a_pending_sale_is_checked_when_paid_and_once() {
        let tmp = tempfile::tempdir().unwrap();
        let store = merchant(tmp.path());
        let now = now_s();
        let pending = domain::Trade {
            status: domain::TradeStatus::Pending,
            ..wechat(1, now - 60, "850.00", "5.36", "0.63")
        };
        sync_page(&store, vec![pending.clone()]);
        assert_eq!(found(&store), Vec::new(), "not paid yet");
        let paid = domain::Trade {
            status: domain::TradeStatus::Success,
            change_seq: 2,
            ..pending.clone()
        };
        sync_page(&store, vec![paid.clone()]);
        let first = of_code(&store, &FEE_ABOVE_RATE);
        assert_eq!(first.len(), 1);
        // Partly refunded later: no transition into paid, nothing new.
        let refunded = domain::Trade {
            status: domain::TradeStatus::PartiallyRefunded,
            refunded_amount: "10.00".into(),
            change_seq: 3,
            ..paid
        };
        event(&store, &refunded);
        assert_eq!(found(&store), first, "not touched again");
    }

    #[test]
    fn the_same_trade_applied_twice_is_one_finding() {
        let tmp = tempfile::tempdir().unwrap();
        let store = merchant(tmp.path());
        let now = now_s();
        let odd = domain::Trade {
            merchant_no: "822100054110231".into(),
            ..wechat(1, now - 60, "850.00", "5.36", "0.63")
        };
        event(&store, &odd);
        event(&store, &odd);
        sync_page(&store, vec![odd]);
        let f = found(&store);
        assert_eq!(f.len(), 2, "one 跳码 and one fee finding: {f:?}");
        // Even when a detector runs again on the same record, the open
        // finding is touched, not repeated.
        let d = Detectors::new(
            store
                .db()
                .read(|c| crate::core::protection_setup(c, now * 1000))
                .unwrap(),
        );
        let trade = store
            .db()
            .read(|c| {
                c.query_row(
                    &format!("SELECT {} FROM trade", trade_store::COLUMNS),
                    [],
                    |r| Ok(trade_store::read_row(r)),
                )?
            })
            .unwrap();
        let facts = TradeFacts {
            trade_id: &trade.trade_id,
            kind: RecordKind::PaidSale,
            channel: trade.channel,
            amount: trade.amount,
            fee: trade.fee,
            rate: &trade.rate,
            terminal_sn: &trade.terminal_sn,
            merchant_no: &trade.merchant_no,
            card_bin: None,
            card_last4: None,
            payer: None,
            created_at_ms: trade.created_at_ms,
        };
        struct NoNear;
        impl NearSales for NoNear {
            fn near(
                &self,
                _: &Connection,
                _: &TradeFacts<'_>,
                _: (i64, i64),
                _: u32,
            ) -> Result<Vec<NearSale>> {
                Ok(Vec::new())
            }
        }
        let ids = store.db().write(|tx| d.check(tx, &facts, &NoNear)).unwrap();
        assert_eq!(ids.len(), 2);
        assert_eq!(found(&store).len(), 2);
        let mut before: Vec<i64> = f.iter().map(|f| f.id).collect();
        let mut after = ids;
        before.sort();
        after.sort();
        assert_eq!(before, after);
    }

    #[test]
    fn a_refused_page_keeps_no_finding() {
        let tmp = tempfile::tempdir().unwrap();
        let store = merchant(tmp.path());
        let now = now_s();
        let page = domain::TradeChanges {
            changes: vec![
                wechat(1, now - 60, "850.00", "5.36", "0.63"),
                sale(2, now - 50),
            ],
            next_after: 2,
            has_more: false,
            remaining: 0,
        };
        let valid = feed::validate(page, 0, sync::PAGE_LIMIT).unwrap();
        let mut seen_inside = 0;
        let refused = store.db().write(|tx| {
            crate::trades::hook::with_hook(tx, Some(&ProtectionHook), |each| {
                trade_store::apply_page_with(tx, &valid, |c, t, o| {
                    each(c, t, o)?;
                    seen_inside = findings::list(c, true, Lang::Zh)?.len();
                    if t.trade_id == format!("T{:020}", 2) {
                        return Err(crate::error::Error::new(&crate::error::INTERNAL)
                            .detail("refused after the detectors ran"));
                    }
                    Ok(())
                })
            })
        });
        assert!(refused.is_err());
        assert_eq!(seen_inside, 1, "the finding existed inside the transaction");
        assert_eq!(found(&store), Vec::new(), "and left with it");
        assert_eq!(store.db().read(trade_store::feed_state).unwrap().trades, 0);
    }

    #[test]
    fn historic_trades_are_warnings_once_per_terminal_or_channel_and_no_double_charge() {
        let tmp = tempfile::tempdir().unwrap();
        let store = merchant(tmp.path());
        let then = now_s() - 30 * 86_400;
        let rerouted = |n, secs| domain::Trade {
            merchant_no: "822100054110231".into(),
            ..sale(n, secs)
        };
        sync_page(
            &store,
            vec![
                // Two charges of the same card 5 s apart, 30 days ago.
                sale(1, then),
                sale(2, then + 5),
                rerouted(3, then + 100),
                rerouted(4, then + 200),
                wechat(5, then + 300, "850.00", "5.36", "0.63"),
                wechat(6, then + 400, "100.00", "0.63", "0.63"),
            ],
        );
        let f = found(&store);
        assert!(of_code(&store, &DOUBLE_CHARGE).is_empty(), "{f:?}");
        let code = of_code(&store, &MERCHANT_CODE);
        assert_eq!(code.len(), 1, "one per terminal: {code:?}");
        assert_eq!(code[0].reason, "historic");
        assert_eq!(code[0].subject, MAIN);
        assert_eq!(code[0].severity, FindingSeverity::Warning);
        assert!(code[0].message.starts_with("（7 天前的历史交易）"));
        assert!(
            code[0].message.contains(&format!("T{:020}", 4)),
            "the latest"
        );
        let fee = of_code(&store, &FEE_ABOVE_RATE);
        assert_eq!(fee.len(), 1, "one per channel: {fee:?}");
        assert_eq!(fee[0].subject, "wechat");
        assert_eq!(fee[0].severity, FindingSeverity::Warning);
        assert_eq!(f.len(), 2);
    }
}
