//! What the merchant is told for each applied fact: the title and body in
//! both languages, and the voice broadcast when the rules let it speak.
//!
//! - a sale paid → 收款到账 with its voice ("微信收款八百五十元");
//! - a refund record → 退款 with its voice ("退款…");
//! - a void record → 交易已撤销, spoken with the refund prefix (money goes
//!   back to the customer: "退款…");
//! - terminal, onboarding and settlement events → a status alert, silent;
//! - a protection finding → a protection alert that always speaks (its
//!   voice text is for the speech engine; no clip of the fixed set says it,
//!   so its clip list is empty).

use crate::alerts::inbox::{AlertKind, NewAlert};
use crate::alerts::rules::{self, AlertSettings, Spoken};
use crate::alerts::voice::VoiceBroadcast;
use crate::money::{Amount, Channel};
use merchant_contract::wire::event_types;

/// What a trade record is, for the alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TradeFactKind {
    Sale,
    Refund,
    Void,
}

/// One trade record an event applied (or found already applied), as the
/// trades capability hands it to alerts through the composition root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradeFact {
    pub trade_id: String,
    pub kind: TradeFactKind,
    /// The record's status as the event carries it (`success`, …).
    pub status: String,
    pub channel: Channel,
    pub amount: Amount,
    pub terminal_sn: String,
    /// The record is older than what the phone keeps (a status moving
    /// backwards, another kind): nothing is told for it.
    pub stale: bool,
    /// When the record reached its status (its last change), unix ms.
    pub changed_at_ms: i64,
}

/// The voice of a trade alert when the rules let it speak.
fn voice(
    s: &AlertSettings,
    f: &TradeFact,
    refund_prefix: bool,
    now_ms: i64,
) -> Option<VoiceBroadcast> {
    let spoken = Spoken {
        amount: f.amount,
        terminal_sn: &f.terminal_sn,
        at_ms: now_ms,
        changed_at_ms: f.changed_at_ms,
    };
    if !rules::speaks(s, spoken) {
        return None;
    }
    VoiceBroadcast::of(f.amount, f.channel, refund_prefix).ok()
}

fn channel_en(c: Channel) -> &'static str {
    c.label(crate::Lang::En)
}

fn channel_zh(c: Channel) -> &'static str {
    c.label(crate::Lang::Zh)
}

/// The alert of one trade record, `None` when the record tells nothing
/// (pending, failed, closed, a sale's own refunded or voided status: the
/// refund's or void's record tells that).
pub fn trade_alert(f: &TradeFact, s: &AlertSettings, now_ms: i64) -> Option<NewAlert> {
    if f.stale || f.status != "success" {
        return None;
    }
    let (kind, title_zh, title_en, refund_prefix) = match f.kind {
        TradeFactKind::Sale => (
            AlertKind::TradeReceived,
            "收款到账",
            "Payment received",
            false,
        ),
        TradeFactKind::Refund => (AlertKind::Refund, "退款成功", "Refund made", true),
        TradeFactKind::Void => (AlertKind::Void, "交易已撤销", "Sale voided", true),
    };
    let amount = f.amount;
    let sn = &f.terminal_sn;
    let (body_zh, body_en) = match f.kind {
        TradeFactKind::Sale => (
            format!("{}收款 {amount} 元，终端 {sn}", channel_zh(f.channel)),
            format!(
                "{} payment of ¥{amount} on terminal {sn}",
                channel_en(f.channel)
            ),
        ),
        TradeFactKind::Refund => (
            format!("{}退款 {amount} 元，终端 {sn}", channel_zh(f.channel)),
            format!(
                "{} refund of ¥{amount} on terminal {sn}",
                channel_en(f.channel)
            ),
        ),
        TradeFactKind::Void => (
            format!("撤销 {amount} 元，终端 {sn}"),
            format!("Sale of ¥{amount} voided on terminal {sn}"),
        ),
    };
    Some(NewAlert {
        kind,
        trade_id: Some(f.trade_id.clone()),
        status: Some(f.status.clone()),
        finding_id: None,
        title_zh: title_zh.to_owned(),
        title_en: title_en.to_owned(),
        body_zh,
        body_en,
        voice: voice(s, f, refund_prefix, now_ms),
        highlight: rules::highlights(s, amount),
        protection: false,
    })
}

fn text<'a>(data: &'a serde_json::Value, key: &str) -> &'a str {
    data.get(key).and_then(|v| v.as_str()).unwrap_or("")
}

fn status(kind: AlertKind, zh: (&str, String), en: (&str, String)) -> Option<NewAlert> {
    Some(NewAlert {
        kind,
        trade_id: None,
        status: None,
        finding_id: None,
        title_zh: zh.0.to_owned(),
        title_en: en.0.to_owned(),
        body_zh: zh.1,
        body_en: en.1,
        voice: None,
        highlight: false,
        protection: false,
    })
}

/// The status alert of a non-trade event (its capability applied it
/// first, so its data is known to be well formed); `None` for events that
/// tell the merchant nothing (`device.registered`, `speaker.changed`).
pub fn status_alert(event_type: &str, data: &serde_json::Value) -> Option<NewAlert> {
    let sn = text(data, "sn");
    let t = AlertKind::Terminal;
    match event_type {
        event_types::TERMINAL_BOUND => status(
            t,
            ("终端已绑定", format!("终端 {sn} 已绑定到您的商户")),
            ("Terminal bound", format!("Terminal {sn} is now yours")),
        ),
        event_types::TERMINAL_UPDATED => status(
            t,
            ("终端已更新", format!("终端 {sn} 的信息已更新")),
            ("Terminal updated", format!("Terminal {sn} was updated")),
        ),
        event_types::TERMINAL_FROZEN => status(
            t,
            ("终端已冻结", format!("终端 {sn} 已被冻结，暂不能收款")),
            (
                "Terminal frozen",
                format!("Terminal {sn} is frozen and cannot take payments"),
            ),
        ),
        event_types::TERMINAL_UNFROZEN => status(
            t,
            ("终端已解冻", format!("终端 {sn} 已恢复收款")),
            (
                "Terminal unfrozen",
                format!("Terminal {sn} takes payments again"),
            ),
        ),
        event_types::TERMINAL_UNBOUND => status(
            t,
            ("终端已解绑", format!("终端 {sn} 已解绑")),
            ("Terminal unbound", format!("Terminal {sn} was unbound")),
        ),
        event_types::APPLICATION_REVIEWED => {
            if text(data, "status") == "approved" {
                status(
                    AlertKind::Application,
                    (
                        "进件审核通过",
                        "审核已通过，激活码已通过短信发送".to_owned(),
                    ),
                    (
                        "Application approved",
                        "Approved: the activation code was sent by SMS".to_owned(),
                    ),
                )
            } else {
                status(
                    AlertKind::Application,
                    (
                        "进件未通过",
                        "审核未通过，请查看原因并修改后重新提交".to_owned(),
                    ),
                    (
                        "Application rejected",
                        "Rejected: see why, correct it and submit again".to_owned(),
                    ),
                )
            }
        }
        event_types::MERCHANT_ACTIVATED => status(
            AlertKind::Application,
            ("商户已激活", "您的商户已激活，可以开始收款".to_owned()),
            (
                "Merchant activated",
                "Your merchant account is active: you can take payments".to_owned(),
            ),
        ),
        event_types::SETTLEMENT_READY => {
            let date = text(data, "date");
            let settled = text(data, "settled_amount");
            status(
                AlertKind::Settlement,
                ("结算到账", format!("{date} 结算 {settled} 元")),
                ("Settled", format!("{date}: ¥{settled} settled")),
            )
        }
        _ => None,
    }
}

/// The protection alert of a finding just recorded.
pub fn protection_alert(
    finding_id: i64,
    critical: bool,
    message_zh: String,
    message_en: String,
) -> NewAlert {
    let text = if critical {
        "商户安全警告，请立即查看"
    } else {
        "商户安全提醒，请查看"
    };
    NewAlert {
        kind: AlertKind::Protection,
        trade_id: None,
        status: None,
        finding_id: Some(finding_id),
        title_zh: if critical {
            "安全警告"
        } else {
            "安全提醒"
        }
        .to_owned(),
        title_en: if critical {
            "Protection warning"
        } else {
            "Protection notice"
        }
        .to_owned(),
        body_zh: message_zh,
        body_en: message_en,
        voice: Some(VoiceBroadcast {
            text: text.to_owned(),
            clips: Vec::new(),
        }),
        highlight: critical,
        protection: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sale(status: &str) -> TradeFact {
        TradeFact {
            trade_id: "T1".to_owned(),
            kind: TradeFactKind::Sale,
            status: status.to_owned(),
            channel: Channel::WeChat,
            amount: Amount::from_fen(85_000).unwrap(),
            terminal_sn: "LKLA800123455".to_owned(),
            stale: false,
            changed_at_ms: 0,
        }
    }

    #[test]
    fn a_paid_sale_speaks_its_broadcast() {
        let a = trade_alert(&sale("success"), &AlertSettings::default(), 0).unwrap();
        assert_eq!(a.kind, AlertKind::TradeReceived);
        assert_eq!(a.voice.unwrap().text, "微信收款八百五十元");
        assert!(a.body_zh.contains("850.00"));
    }

    #[test]
    fn pending_stale_and_refunded_sales_tell_nothing() {
        let s = AlertSettings::default();
        assert!(trade_alert(&sale("pending"), &s, 0).is_none());
        assert!(trade_alert(&sale("refunded"), &s, 0).is_none());
        let stale = TradeFact {
            stale: true,
            ..sale("success")
        };
        assert!(trade_alert(&stale, &s, 0).is_none());
    }

    #[test]
    fn refunds_and_voids_speak_the_refund_prefix() {
        let s = AlertSettings::default();
        for kind in [TradeFactKind::Refund, TradeFactKind::Void] {
            let f = TradeFact {
                kind,
                ..sale("success")
            };
            let v = trade_alert(&f, &s, 0).unwrap().voice.unwrap();
            assert_eq!(v.text, "退款八百五十元");
        }
    }

    #[test]
    fn a_trade_told_long_after_it_happened_is_shown_but_not_said() {
        let s = AlertSettings::default();
        let late = rules::SPEAK_WITHIN_MS + 1;
        let a = trade_alert(&sale("success"), &s, late).unwrap();
        assert!(a.voice.is_none(), "history is not read aloud");
        assert!(a.body_zh.contains("850.00"));
        let fresh = trade_alert(&sale("success"), &s, rules::SPEAK_WITHIN_MS).unwrap();
        assert!(fresh.voice.is_some());
    }

    #[test]
    fn a_silenced_alert_is_still_made_without_voice() {
        let s = AlertSettings {
            broadcast: false,
            ..Default::default()
        };
        let a = trade_alert(&sale("success"), &s, 0).unwrap();
        assert!(a.voice.is_none());
    }
}
