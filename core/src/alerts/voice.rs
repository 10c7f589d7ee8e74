//! Voice broadcast: what the phone says when a trade arrives
//! ("微信收款八百五十元"), as text for a speech engine and as a sequence of
//! recorded clips for offline playback.
//!
//! The text is a prefix for the kind of trade followed by the amount's spoken
//! reading ([`Amount::spoken`], the one number reader of the core):
//!
//! | trade | prefix |
//! |---|---|
//! | WeChat (`wechat`) | 微信收款 |
//! | Alipay (`alipay`) | 支付宝收款 |
//! | UnionPay QR (`unionpay_qr`) | 云闪付收款 |
//! | a card (`debit_card`, `credit_card`) | 刷卡收款 |
//! | a refund, any channel | 退款 |
//!
//! The clips come from the fixed set of [`voice_clip_set`] (docs/voice.md
//! lists it): five prefixes, the digits `0`–`9` (零…九), `ten` 十, `hundred`
//! 百, `thousand` 千, `ten_thousand` 万, `hundred_million` 亿, `point` 点 and
//! `yuan` 元. The reading is cut into clips by the set itself, and the text
//! is then the clips' texts joined: the two cannot drift apart. A reading
//! that some clip cannot say (a 两, should the reading ever use one) is the
//! error `voice.no_clip`, never a sequence that says something else.
//!
//! A zero amount is not broadcast (`voice.amount_zero`). The largest amount,
//! 99,999,999.99 yuan, stays below 亿; the `hundred_million` clip is in the set
//! for the reading's sake and is tested with readings of 亿.

use crate::error::{Error, MerchantError, Problem, Result};
use crate::money::{Amount, Channel};

crate::codes! {
    VOICE_AMOUNT_ZERO = Input, "voice.amount_zero", "金额为零，不播报", "A zero amount is not broadcast";
    VOICE_NO_CLIP = Internal, "voice.no_clip", "播报内容中有语音包读不出的字", "The broadcast holds a word that no voice clip says";
}

/// One recorded clip: its name (the shells' file name without extension)
/// and what it says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clip {
    pub name: &'static str,
    pub text: &'static str,
}

const fn clip(name: &'static str, text: &'static str) -> Clip {
    Clip { name, text }
}

/// 微信收款.
pub const WECHAT_RECEIVED: Clip = clip("wechat_received", "微信收款");
/// 支付宝收款.
pub const ALIPAY_RECEIVED: Clip = clip("alipay_received", "支付宝收款");
/// 云闪付收款 (UnionPay QR).
pub const UNIONPAY_RECEIVED: Clip = clip("unionpay_received", "云闪付收款");
/// 刷卡收款 (debit and credit cards).
pub const CARD_RECEIVED: Clip = clip("card_received", "刷卡收款");
/// 退款 (a refund through any channel).
pub const REFUND: Clip = clip("refund", "退款");

/// The prefix clips, one per kind of broadcast.
pub const PREFIX_CLIPS: [Clip; 5] = [
    WECHAT_RECEIVED,
    ALIPAY_RECEIVED,
    UNIONPAY_RECEIVED,
    CARD_RECEIVED,
    REFUND,
];

/// The clips that read an amount: digits, units, point and 元.
pub const READING_CLIPS: [Clip; 17] = [
    clip("0", "零"),
    clip("1", "一"),
    clip("2", "二"),
    clip("3", "三"),
    clip("4", "四"),
    clip("5", "五"),
    clip("6", "六"),
    clip("7", "七"),
    clip("8", "八"),
    clip("9", "九"),
    clip("ten", "十"),
    clip("hundred", "百"),
    clip("thousand", "千"),
    clip("ten_thousand", "万"),
    clip("hundred_million", "亿"),
    clip("point", "点"),
    clip("yuan", "元"),
];

/// What to say for one trade: the text for a speech engine and the names of
/// the clips that say exactly that text, in order.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct VoiceBroadcast {
    /// Such as 微信收款八百五十元.
    pub text: String,
    /// Such as `wechat_received 8 hundred 5 ten yuan`.
    pub clips: Vec<String>,
}

/// One clip of the fixed set, for the shells to check they ship every one.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct VoiceClip {
    /// The clip's name, such as `wechat_received` or `8`.
    pub name: String,
    /// What the clip says, such as 微信收款 or 八.
    pub text: String,
}

/// The prefix clip of a trade through `channel`; [`REFUND`] for a refund.
pub fn prefix_clip(channel: Channel, refund: bool) -> Clip {
    if refund {
        return REFUND;
    }
    match channel {
        Channel::WeChat => WECHAT_RECEIVED,
        Channel::Alipay => ALIPAY_RECEIVED,
        Channel::UnionPayQr => UNIONPAY_RECEIVED,
        Channel::DebitCard | Channel::CreditCard => CARD_RECEIVED,
    }
}

impl VoiceBroadcast {
    /// The broadcast of a trade of `amount` through `channel` (a refund when
    /// `refund`). A zero amount is `voice.amount_zero`.
    pub fn of(amount: Amount, channel: Channel, refund: bool) -> Result<VoiceBroadcast> {
        if amount.is_zero() {
            return Err(Error::input(
                &VOICE_AMOUNT_ZERO,
                vec![Problem::new(&VOICE_AMOUNT_ZERO, "amount")],
            ));
        }
        broadcast(prefix_clip(channel, refund), &amount.spoken())
    }
}

/// The prefix clip, then `reading` cut into reading clips (the longest clip
/// that starts the rest, each time); the text is the clips' texts joined.
fn broadcast(prefix: Clip, reading: &str) -> Result<VoiceBroadcast> {
    let mut clips = vec![prefix];
    let mut rest = reading;
    while !rest.is_empty() {
        let (clip, after) = READING_CLIPS
            .iter()
            .filter(|c| !c.text.is_empty())
            .filter_map(|c| rest.strip_prefix(c.text).map(|after| (*c, after)))
            .min_by_key(|(_, after)| after.len())
            .ok_or_else(|| {
                let word = rest.chars().next().unwrap_or_default();
                Error::new(&VOICE_NO_CLIP).detail(format!("no clip says {word:?}"))
            })?;
        clips.push(clip);
        rest = after;
    }
    Ok(VoiceBroadcast {
        text: clips.iter().map(|c| c.text).collect(),
        clips: clips.iter().map(|c| c.name.to_owned()).collect(),
    })
}

/// The whole clip set: the prefixes, then the reading clips.
pub fn clip_set() -> impl Iterator<Item = Clip> {
    PREFIX_CLIPS.into_iter().chain(READING_CLIPS)
}

/// What the phone says for a trade of `amount` through `channel`, or for a
/// refund when `refund`: 微信收款八百五十元, 支付宝收款…, 云闪付收款…,
/// 刷卡收款… (cards), 退款… (refunds), with the clips that say it. A zero
/// amount is the error `voice.amount_zero`.
#[uniffi::export]
pub fn voice_broadcast(
    amount: Amount,
    channel: Channel,
    refund: bool,
) -> Result<VoiceBroadcast, MerchantError> {
    Ok(VoiceBroadcast::of(amount, channel, refund)?)
}

/// Every clip a broadcast may use (docs/voice.md), so that a shell can check
/// that it ships each one.
#[uniffi::export]
pub fn voice_clip_set() -> Vec<VoiceClip> {
    clip_set()
        .map(|c| VoiceClip {
            name: c.name.to_owned(),
            text: c.text.to_owned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::spoken_reading;
    use proptest::prelude::*;
    use std::collections::HashSet;

    fn amount(text: &str) -> Amount {
        Amount::parse(text).expect("test amount parses")
    }

    /// Checks one broadcast against its prefix and reading: the text is the
    /// prefix's text and the reading, the clips' texts joined are the text,
    /// and every clip is in the set.
    fn assert_spells(b: &VoiceBroadcast, prefix: Clip, reading: &str) {
        assert_eq!(b.text, format!("{}{reading}", prefix.text));
        assert_eq!(b.clips.first().map(String::as_str), Some(prefix.name));
        let texts: Vec<&str> = b
            .clips
            .iter()
            .map(|name| {
                clip_set()
                    .find(|c| c.name == name)
                    .unwrap_or_else(|| panic!("clip {name} is not in the set"))
                    .text
            })
            .collect();
        assert_eq!(texts.concat(), b.text, "{:?}", b.clips);
    }

    #[test]
    fn wechat_850_is_the_field_phrasing() {
        let b = VoiceBroadcast::of(amount("850.00"), Channel::WeChat, false).expect("broadcast");
        assert_eq!(b.text, "微信收款八百五十元");
        assert_eq!(
            b.clips,
            ["wechat_received", "8", "hundred", "5", "ten", "yuan"]
        );
    }

    #[test]
    fn each_channel_has_its_prefix_and_a_refund_says_refund() {
        let cases = [
            (Channel::WeChat, "微信收款"),
            (Channel::Alipay, "支付宝收款"),
            (Channel::UnionPayQr, "云闪付收款"),
            (Channel::DebitCard, "刷卡收款"),
            (Channel::CreditCard, "刷卡收款"),
        ];
        for (channel, prefix) in cases {
            let b = VoiceBroadcast::of(amount("12.5"), channel, false).expect("broadcast");
            assert_eq!(b.text, format!("{prefix}十二点五元"), "{channel}");
        }
        for channel in Channel::ALL {
            let b = VoiceBroadcast::of(amount("12.5"), channel, true).expect("refund");
            assert_eq!(b.text, "退款十二点五元", "{channel}");
            assert_eq!(
                b.clips,
                ["refund", "ten", "2", "point", "5", "yuan"],
                "{channel}"
            );
        }
    }

    #[test]
    fn every_amount_class_spells_its_text_on_every_channel() {
        let classes = [
            ("0.01", "零点零一元"),
            ("0.10", "零点一元"),
            ("1.00", "一元"),
            ("10", "十元"),
            ("11", "十一元"),
            ("19", "十九元"),
            ("20", "二十元"),
            ("100", "一百元"),
            ("101", "一百零一元"),
            ("110", "一百一十元"),
            ("1000", "一千元"),
            ("1001", "一千零一元"),
            ("1010", "一千零一十元"),
            ("2222", "二千二百二十二元"),
            ("10000", "一万元"),
            ("10001", "一万零一元"),
            ("100000", "十万元"),
            ("1000000", "一百万元"),
            ("10000000", "一千万元"),
            ("850.05", "八百五十点零五元"),
            ("1234.50", "一千二百三十四点五元"),
            ("99999999.99", "九千九百九十九万九千九百九十九点九九元"),
        ];
        for (text, reading) in classes {
            let a = amount(text);
            assert_eq!(a.spoken(), reading, "{text}");
            for channel in Channel::ALL {
                for refund in [false, true] {
                    let b = VoiceBroadcast::of(a, channel, refund).expect(text);
                    assert_spells(&b, prefix_clip(channel, refund), reading);
                }
            }
        }
        let max = VoiceBroadcast::of(Amount::MAX, Channel::Alipay, false).expect("max");
        assert_eq!(max.text, "支付宝收款九千九百九十九万九千九百九十九点九九元");
    }

    #[test]
    fn readings_of_yi_spell_with_the_hundred_million_clip() {
        // No Amount reaches 亿 (the largest is 99,999,999.99); the reading
        // itself does, and its clips must still say it exactly.
        let classes = [
            (
                100_000_000u64,
                "一亿元",
                vec!["1", "hundred_million", "yuan"],
            ),
            (
                100_000_001,
                "一亿零一元",
                vec!["1", "hundred_million", "0", "1", "yuan"],
            ),
            (
                210_000_000,
                "二亿一千万元",
                vec![
                    "2",
                    "hundred_million",
                    "1",
                    "thousand",
                    "ten_thousand",
                    "yuan",
                ],
            ),
        ];
        for (yuan, reading, clips) in classes {
            let spoken = spoken_reading(yuan * 100);
            assert_eq!(spoken, reading);
            let b = broadcast(CARD_RECEIVED, &spoken).expect(reading);
            assert_spells(&b, CARD_RECEIVED, reading);
            assert_eq!(b.clips[1..], clips[..], "{reading}");
        }
    }

    #[test]
    fn a_zero_amount_is_not_broadcast() {
        for refund in [false, true] {
            let e = VoiceBroadcast::of(Amount::ZERO, Channel::WeChat, refund).expect_err("zero");
            assert!(e.is(&VOICE_AMOUNT_ZERO));
            assert_eq!(e.problems[0].code, "voice.amount_zero");
            assert_eq!(e.problems[0].field, "amount");
        }
        let e = voice_broadcast(Amount::ZERO, Channel::Alipay, false).expect_err("zero");
        assert!(matches!(e, MerchantError::Input { .. }));
        assert_eq!(e.code(), "voice.amount_zero");
    }

    #[test]
    fn a_word_no_clip_says_is_an_error_not_a_wrong_sequence() {
        // 两 is how some readers say 2 before 百 and 千; the set has no clip
        // for it, so such a reading must fail loudly.
        let e = broadcast(WECHAT_RECEIVED, "两百元").expect_err("两 has no clip");
        assert!(e.is(&VOICE_NO_CLIP));
        let e = broadcast(WECHAT_RECEIVED, "一百元整").expect_err("整 has no clip");
        assert!(e.is(&VOICE_NO_CLIP));
    }

    #[test]
    fn the_clip_set_is_the_documented_one() {
        let expected = [
            ("wechat_received", "微信收款"),
            ("alipay_received", "支付宝收款"),
            ("unionpay_received", "云闪付收款"),
            ("card_received", "刷卡收款"),
            ("refund", "退款"),
            ("0", "零"),
            ("1", "一"),
            ("2", "二"),
            ("3", "三"),
            ("4", "四"),
            ("5", "五"),
            ("6", "六"),
            ("7", "七"),
            ("8", "八"),
            ("9", "九"),
            ("ten", "十"),
            ("hundred", "百"),
            ("thousand", "千"),
            ("ten_thousand", "万"),
            ("hundred_million", "亿"),
            ("point", "点"),
            ("yuan", "元"),
        ];
        let set: Vec<(String, String)> = voice_clip_set()
            .into_iter()
            .map(|c| (c.name, c.text))
            .collect();
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect();
        assert_eq!(set, expected);
        let names: HashSet<&str> = clip_set().map(|c| c.name).collect();
        assert_eq!(names.len(), set.len(), "clip names are unique");

        // docs/voice.md lists exactly this set, one table row per clip.
        let doc = include_str!("../../../docs/voice.md");
        let rows: Vec<(String, String)> = doc
            .lines()
            .filter_map(|line| {
                let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                match cells.as_slice() {
                    ["", name, text, ""] if name.starts_with('`') => {
                        Some((name.trim_matches('`').to_owned(), text.to_string()))
                    }
                    _ => None,
                }
            })
            .collect();
        assert_eq!(rows, expected, "docs/voice.md's clip table");
    }

    proptest! {
        #[test]
        fn every_amount_spells_its_text(
            fen in 1..=Amount::MAX.to_fen(),
            c in 0usize..5,
            refund in any::<bool>(),
        ) {
            let a = Amount::from_fen(fen).expect("in range");
            let channel = Channel::ALL[c];
            let b = VoiceBroadcast::of(a, channel, refund).expect("broadcast");
            let prefix = prefix_clip(channel, refund);
            prop_assert_eq!(&b.text, &format!("{}{}", prefix.text, a.spoken()));
            let mut said = String::new();
            for name in &b.clips {
                let clip = clip_set().find(|c| c.name == name);
                prop_assert!(clip.is_some(), "clip {} is not in the set", name);
                said.push_str(clip.map_or("", |c| c.text));
            }
            prop_assert_eq!(said, b.text);
        }
    }
}
