//! The seeded trade generator: channels, amounts and customer cards the way a
//! small shop (便利店, 餐饮, 菜市场) sees them.
//!
//! Every draw of a merchant's `n`th generated trade comes from its own
//! ChaCha8 stream keyed by (sandbox seed, merchant id, n), so the same seed
//! and the same requests give the same trades, whatever else runs between
//! them (other merchants, the steady stream).
//!
//! The mix (documented in docs/platform-api.md, "Trades"):
//! - channels: WeChat 45 %, Alipay 30 %, UnionPay QR 5 %, debit card 11 %,
//!   credit card 9 %;
//! - scan-code amounts: 55 % 2–40 yuan, 30 % 40–150, 12 % 150–600, 3 %
//!   600–1 500 (a few above the 1 000-yuan rate threshold);
//! - debit cards: 50 % 30–300, 40 % 300–1 500, 10 % 1 500–5 000;
//! - credit cards: 40 % 100–800, 45 % 800–3 000, 15 % 3 000–20 000;
//! - half the amounts are whole yuan, a quarter end in .50, a quarter in any fen;
//! - a card trade's customer card is drawn from well-known BINs of the core's
//!   BIN table of the right kind; only its BIN and a random last four exist
//!   (no full card number is ever made).
//!
//! Refunds by the steady stream: after each of its trades, one time in 20
//! ([`STREAM_REFUND_PERCENT`]) the stream also refunds one of the merchant's
//! [`REFUND_RECENT`] latest earlier trades with something left to refund:
//! 60 % whole (what is left of it), 40 % partial (10–90 % of what is left,
//! in whole yuan when that is at least one yuan), with a drawn reason. The
//! draw of the stream's `n`th refund chance comes from its own ChaCha8 stream
//! keyed by (sandbox seed, merchant id, n).

use merchant_core::money::{Amount, Channel};
use merchant_core::validate::{BinInfo, CardKind, lookup_bin};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use ring::digest;

/// Customer cards of debit-card trades are drawn from these BINs (each kept
/// only if the core's BIN table calls it a debit card).
const DEBIT_BINS: &[&str] = &[
    "622202", "621700", "622848", "621661", "622588", "622262", "622150", "622700", "621483",
    "436742",
];
/// The same for credit-card trades.
const CREDIT_BINS: &[&str] = &[
    "622575", "625802", "628288", "524047", "518710", "622155", "356833",
];

/// A customer card as the trade records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrawnCard {
    pub bin: String,
    pub last4: String,
    pub info: Option<BinInfo>,
}

/// One generated trade, before fees and ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrawnTrade {
    pub channel: Channel,
    pub amount: Amount,
    pub card: Option<DrawnCard>,
    /// 参考号: 12 digits.
    pub reference_no: String,
}

/// The random stream of a merchant's `n`th generated trade.
pub fn trade_rng(seed: u64, merchant_id: &str, n: u64) -> ChaCha8Rng {
    keyed_rng(b"merchant-sandbox trade v1\0", seed, merchant_id, n)
}

/// The random stream of a merchant's `n`th refund chance (the stream's, or
/// a seeded day's).
pub fn refund_rng(seed: u64, merchant_id: &str, n: u64) -> ChaCha8Rng {
    keyed_rng(b"merchant-sandbox drawn refund v1\0", seed, merchant_id, n)
}

fn keyed_rng(tag: &[u8], seed: u64, merchant_id: &str, n: u64) -> ChaCha8Rng {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(tag);
    ctx.update(&seed.to_be_bytes());
    ctx.update(merchant_id.as_bytes());
    ctx.update(b"\0");
    ctx.update(&n.to_be_bytes());
    let mut key = [0u8; 32];
    key.copy_from_slice(ctx.finish().as_ref());
    ChaCha8Rng::from_seed(key)
}

/// The channel mix of a small shop.
pub fn draw_channel(rng: &mut impl Rng) -> Channel {
    match rng.random_range(0..100u32) {
        0..45 => Channel::WeChat,
        45..75 => Channel::Alipay,
        75..80 => Channel::UnionPayQr,
        80..91 => Channel::DebitCard,
        _ => Channel::CreditCard,
    }
}

/// An amount in fen for `channel` (see the module documentation).
pub fn draw_amount_fen(rng: &mut impl Rng, channel: Channel) -> i64 {
    let p = rng.random_range(0..100u32);
    let (lo, hi) = match channel {
        Channel::WeChat | Channel::Alipay | Channel::UnionPayQr => match p {
            0..55 => (2, 40),
            55..85 => (40, 150),
            85..97 => (150, 600),
            _ => (600, 1_500),
        },
        Channel::DebitCard => match p {
            0..50 => (30, 300),
            50..90 => (300, 1_500),
            _ => (1_500, 5_000),
        },
        Channel::CreditCard => match p {
            0..40 => (100, 800),
            40..85 => (800, 3_000),
            _ => (3_000, 20_000),
        },
    };
    let yuan: i64 = rng.random_range(lo..hi);
    let fen = match rng.random_range(0..4u32) {
        0 | 1 => 0,
        2 => 50,
        _ => rng.random_range(1..100),
    };
    yuan * 100 + fen
}

/// A customer card for a card channel (`None` for scan-code channels).
pub fn draw_card(rng: &mut impl Rng, channel: Channel) -> Option<DrawnCard> {
    let (bins, kind) = match channel {
        Channel::DebitCard => (DEBIT_BINS, CardKind::Debit),
        Channel::CreditCard => (CREDIT_BINS, CardKind::Credit),
        _ => return None,
    };
    let usable: Vec<(&str, BinInfo)> = bins
        .iter()
        .filter_map(|b| {
            lookup_bin((*b).to_owned())
                .filter(|i| i.card_kind == kind)
                .map(|i| (*b, i))
        })
        .collect();
    let last4 = format!("{:04}", rng.random_range(0..10_000u32));
    if usable.is_empty() {
        // The table lost every candidate: still a card of the right form.
        return Some(DrawnCard {
            bin: bins[0].to_owned(),
            last4,
            info: None,
        });
    }
    let (bin, info) = usable[rng.random_range(0..usable.len())].clone();
    Some(DrawnCard {
        bin: bin.to_owned(),
        last4,
        info: Some(info),
    })
}

/// A 12-digit reference number (参考号).
pub fn draw_reference_no(rng: &mut impl Rng) -> String {
    format!("{:012}", rng.random_range(0..1_000_000_000_000u64))
}

/// A whole trade: channel (unless given), amount (unless given), card and
/// reference number.
pub fn draw_trade(
    rng: &mut impl Rng,
    channel: Option<Channel>,
    amount: Option<Amount>,
) -> DrawnTrade {
    let channel = channel.unwrap_or_else(|| draw_channel(rng));
    let drawn_fen = draw_amount_fen(rng, channel);
    let amount = amount.unwrap_or_else(|| Amount::from_fen(drawn_fen).unwrap_or(Amount::ZERO));
    let card = draw_card(rng, channel);
    DrawnTrade {
        channel,
        amount,
        card,
        reference_no: draw_reference_no(rng),
    }
}

/// One time in how many (percent of its trades) the steady stream also
/// refunds an earlier trade.
pub const STREAM_REFUND_PERCENT: u32 = 5;
/// How many of the merchant's latest refundable trades a stream refund
/// chooses from.
pub const REFUND_RECENT: usize = 20;
/// The reasons a drawn refund gives.
pub const REFUND_REASONS: &[&str] = &["顾客退货", "商品缺货", "顾客取消订单", "多收款项"];

/// A drawn refund: which of the candidates, how much of what is left of it,
/// and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrawnRefund {
    /// Index into the candidates.
    pub pick: usize,
    /// Percent of what is left (100: whole).
    pub percent: u32,
    pub reason: &'static str,
}

/// Whether a stream tick refunds (one time in 20) and, if so, which of
/// `candidates` trades and how much: `None` without a candidate.
pub fn draw_stream_refund(rng: &mut impl Rng, candidates: usize) -> Option<DrawnRefund> {
    if rng.random_range(0..100u32) >= STREAM_REFUND_PERCENT {
        return None;
    }
    draw_refund(rng, candidates)
}

/// Which of `candidates` trades to refund and how much of it (60 % whole,
/// else 10–90 %): `None` without a candidate.
pub fn draw_refund(rng: &mut impl Rng, candidates: usize) -> Option<DrawnRefund> {
    if candidates == 0 {
        return None;
    }
    let pick = rng.random_range(0..candidates);
    let percent = if rng.random_range(0..100u32) < 60 {
        100
    } else {
        rng.random_range(10..=90u32)
    };
    let reason = REFUND_REASONS[rng.random_range(0..REFUND_REASONS.len())];
    Some(DrawnRefund {
        pick,
        percent,
        reason,
    })
}

/// The fen a drawn refund gives back of `left` fen: `percent` of it, in whole
/// yuan when that is at least one yuan, never zero (when `left` is above
/// zero) and never above `left`.
pub fn refund_fen(left: i64, percent: u32) -> i64 {
    if left <= 0 {
        return 0;
    }
    if percent >= 100 {
        return left;
    }
    let share = left.saturating_mul(i64::from(percent)) / 100;
    let whole = share - share % 100;
    if whole >= 100 { whole } else { share.max(1) }
}

/// Percent of scan-code trades that start `pending` (a code shown, not paid
/// yet).
pub const PENDING_PERCENT: u32 = 30;
/// Percent of pending trades that close unpaid (the code expired).
pub const CLOSED_PERCENT: u32 = 12;
/// Percent of card trades declined (`failed`).
pub const FAILED_PERCENT: u32 = 2;
/// The seconds a pending trade waits before it is paid or closed.
pub const PENDING_SECS: std::ops::RangeInclusive<i64> = 5..=60;

/// How a generated trade's life goes: every draw is made whatever the
/// outcome, so forcing a status leaves the rest of the stream unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrawnLife {
    /// Drawn `pending` (scan code) or `failed` (card).
    pub pending: bool,
    pub failed: bool,
    /// A pending trade resolves this many seconds later...
    pub delay_secs: i64,
    /// ...closed unpaid when true (scan codes only), else paid.
    pub closes: bool,
}

/// The life of a trade on `channel` (see the percentages above).
pub fn draw_life(rng: &mut impl Rng, channel: Channel) -> DrawnLife {
    let p = rng.random_range(0..100u32);
    let delay_secs = rng.random_range(PENDING_SECS);
    let closes = rng.random_range(0..100u32) < CLOSED_PERCENT;
    let scan = channel.is_scan_code();
    DrawnLife {
        pending: scan && p < PENDING_PERCENT,
        failed: !scan && p < FAILED_PERCENT,
        delay_secs,
        closes: scan && closes,
    }
}

/// Regular customers: a payer is one of these this percent of the time.
const REGULAR_PERCENT: u32 = 35;
const REGULARS: u32 = 40;
const PASSERSBY: u32 = 20_000;

/// Which of the merchant's payers pays: a few regulars often, many others
/// now and then.
pub fn draw_payer_index(rng: &mut impl Rng) -> u32 {
    if rng.random_range(0..100u32) < REGULAR_PERCENT {
        rng.random_range(0..REGULARS)
    } else {
        rng.random_range(0..PASSERSBY)
    }
}

/// The opaque token of payer `index` of a merchant on a scan-code channel:
/// a channel prefix (`wx_`, `ali_`, `up_`) and 16 hex digits of a keyed
/// SHA-256, the same for the same payer at the same merchant, different at
/// another merchant; nothing of the person in it. `None` for card channels.
pub fn payer(seed: u64, merchant_id: &str, channel: Channel, index: u32) -> Option<String> {
    let prefix = match channel {
        Channel::WeChat => "wx_",
        Channel::Alipay => "ali_",
        Channel::UnionPayQr => "up_",
        Channel::DebitCard | Channel::CreditCard => return None,
    };
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(b"merchant-sandbox payer v1\0");
    ctx.update(&seed.to_be_bytes());
    ctx.update(merchant_id.as_bytes());
    ctx.update(b"\0");
    ctx.update(prefix.as_bytes());
    ctx.update(&index.to_be_bytes());
    let d = ctx.finish();
    Some(format!("{prefix}{}", hex::encode(&d.as_ref()[..8])))
}

/// 批次号 of a terminal on a business day (days since 1970-01-01): a
/// terminal's batch moves on by one each business day, from a start drawn
/// from its serial; six digits, never `000000`.
pub fn batch_no(sn: &str, day_index: i64) -> String {
    let d = digest::digest(&digest::SHA256, sn.as_bytes());
    let mut start = [0u8; 8];
    start.copy_from_slice(&d.as_ref()[..8]);
    let start = (u64::from_be_bytes(start) % 900_000) as i64;
    format!("{:06}", (start + day_index).rem_euclid(999_999) + 1)
}

/// Merchants elsewhere, under whose codes a 跳码 trade is routed: their
/// 商户编号 and 商户名称.
pub const OTHER_MERCHANTS: &[(&str, &str)] = &[
    ("822290070115093", "广州市白云区聚福珠宝行"),
    ("822584053993017", "深圳市福田区鑫达汽车服务中心"),
    ("822331058120446", "杭州市上城区悦华大酒店"),
    ("822100059990231", "北京市朝阳区宏泰批发商行"),
];

/// A merchant's own 商户编号: `822` + a 4-digit area code + a 4-digit MCC +
/// 4 digits, drawn from the seed and the merchant id.
pub fn merchant_no(seed: u64, merchant_id: &str) -> String {
    let mut rng = trade_rng(seed, merchant_id, u64::MAX);
    const AREAS: &[&str] = &["5840", "5810", "2900", "3310", "1000", "3050"];
    const MCCS: &[&str] = &["5411", "5812", "5499", "5311", "5814"];
    format!(
        "822{}{}{:04}",
        AREAS[rng.random_range(0..AREAS.len())],
        MCCS[rng.random_range(0..MCCS.len())],
        rng.random_range(0..10_000u32)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_merchant_and_index_give_the_same_trade() {
        let a = draw_trade(&mut trade_rng(1, "mch_a", 5), None, None);
        let b = draw_trade(&mut trade_rng(1, "mch_a", 5), None, None);
        assert_eq!(a, b);
        let others = [
            draw_trade(&mut trade_rng(2, "mch_a", 5), None, None),
            draw_trade(&mut trade_rng(1, "mch_b", 5), None, None),
            draw_trade(&mut trade_rng(1, "mch_a", 6), None, None),
        ];
        assert!(others.iter().all(|o| o.reference_no != a.reference_no));
        assert_eq!(merchant_no(1, "mch_a"), merchant_no(1, "mch_a"));
        assert_eq!(merchant_no(1, "mch_a").len(), 15);
    }

    #[test]
    fn the_mix_looks_like_a_small_shop() {
        let n = 4_000u64;
        let trades: Vec<DrawnTrade> = (0..n)
            .map(|i| draw_trade(&mut trade_rng(9, "mch_mix", i), None, None))
            .collect();
        let share = |c: Channel| trades.iter().filter(|t| t.channel == c).count() as f64 / n as f64;
        // Mostly WeChat and Alipay; cards a minority (±4 points of the mix).
        assert!((share(Channel::WeChat) - 0.45).abs() < 0.04);
        assert!((share(Channel::Alipay) - 0.30).abs() < 0.04);
        assert!((share(Channel::UnionPayQr) - 0.05).abs() < 0.03);
        assert!((share(Channel::DebitCard) - 0.11).abs() < 0.03);
        assert!((share(Channel::CreditCard) - 0.09).abs() < 0.03);
        // Scan-code trades are small (median below 50 yuan), cards larger.
        let median = |scan: bool| {
            let mut v: Vec<i64> = trades
                .iter()
                .filter(|t| t.channel.is_scan_code() == scan)
                .map(|t| t.amount.to_fen())
                .collect();
            v.sort();
            v[v.len() / 2]
        };
        assert!(median(true) < 5_000, "{}", median(true));
        assert!(median(false) > median(true) * 5);
        for t in &trades {
            let fen = t.amount.to_fen();
            assert!((200..2_000_000).contains(&fen), "{fen}");
            assert_eq!(t.reference_no.len(), 12);
            match (t.channel.is_scan_code(), &t.card) {
                (true, None) => {}
                (false, Some(card)) => {
                    assert_eq!(card.bin.len(), 6);
                    assert_eq!(card.last4.len(), 4);
                    let info = card.info.as_ref().expect("candidate BINs are in the table");
                    let want = if t.channel == Channel::DebitCard {
                        CardKind::Debit
                    } else {
                        CardKind::Credit
                    };
                    assert_eq!(info.card_kind, want);
                }
                other => panic!("channel and card disagree: {other:?}"),
            }
        }
        // Some scan-code trades cross the 1 000-yuan rate threshold.
        assert!(
            trades
                .iter()
                .any(|t| t.channel.is_scan_code() && t.amount.to_fen() > 100_000)
        );
    }

    #[test]
    fn every_candidate_bin_is_in_the_core_table_with_its_kind() {
        for b in DEBIT_BINS {
            let info = lookup_bin((*b).to_owned()).expect(b);
            assert_eq!(info.card_kind, CardKind::Debit, "{b}");
        }
        for b in CREDIT_BINS {
            let info = lookup_bin((*b).to_owned()).expect(b);
            assert_eq!(info.card_kind, CardKind::Credit, "{b}");
        }
    }

    #[test]
    fn stream_refunds_are_rare_mostly_whole_and_never_above_what_is_left() {
        let n = 4_000u64;
        let drawn: Vec<DrawnRefund> = (0..n)
            .filter_map(|i| draw_stream_refund(&mut refund_rng(3, "mch_r", i), 10))
            .collect();
        let share = drawn.len() as f64 / n as f64;
        assert!((share - 0.05).abs() < 0.015, "{share}");
        let whole = drawn.iter().filter(|d| d.percent == 100).count() as f64;
        assert!((whole / drawn.len() as f64 - 0.6).abs() < 0.1);
        for d in &drawn {
            assert!(d.pick < 10);
            assert!((10..=100).contains(&d.percent));
            assert!(REFUND_REASONS.contains(&d.reason));
        }
        assert_eq!(draw_refund(&mut refund_rng(3, "mch_r", 0), 0), None);
        assert_eq!(
            draw_stream_refund(&mut refund_rng(3, "mch_r", 7), 10),
            draw_stream_refund(&mut refund_rng(3, "mch_r", 7), 10)
        );
        // Whole yuan when possible, never zero, never above what is left.
        assert_eq!(refund_fen(12_345, 100), 12_345);
        assert_eq!(refund_fen(12_345, 50), 6_100);
        assert_eq!(refund_fen(150, 50), 75);
        assert_eq!(refund_fen(5, 10), 1);
        assert_eq!(refund_fen(0, 50), 0);
        for left in [1, 99, 100, 101, 1_999, 2_000_000] {
            for percent in [10, 55, 90, 100] {
                let r = refund_fen(left, percent);
                assert!(r >= 1 && r <= left, "{left} {percent} {r}");
            }
        }
    }

    #[test]
    fn scan_codes_are_often_pending_cards_rarely_declined() {
        let n = 4_000u64;
        let lives = |channel: Channel| -> Vec<DrawnLife> {
            (0..n)
                .map(|i| draw_life(&mut trade_rng(5, "mch_life", i), channel))
                .collect()
        };
        let share = |v: &[DrawnLife], f: fn(&DrawnLife) -> bool| {
            v.iter().filter(|l| f(l)).count() as f64 / v.len() as f64
        };
        let scan = lives(Channel::WeChat);
        assert!((share(&scan, |l| l.pending) - 0.30).abs() < 0.03);
        assert!((share(&scan, |l| l.closes) - 0.12).abs() < 0.03);
        assert!(scan.iter().all(|l| !l.failed));
        let card = lives(Channel::DebitCard);
        assert!((share(&card, |l| l.failed) - 0.02).abs() < 0.01);
        assert!(card.iter().all(|l| !l.pending && !l.closes));
        assert!(
            scan.iter()
                .chain(&card)
                .all(|l| PENDING_SECS.contains(&l.delay_secs))
        );
    }

    #[test]
    fn payers_are_opaque_stable_per_merchant_and_only_for_scan_codes() {
        let a = payer(1, "mch_a", Channel::WeChat, 7).unwrap();
        assert_eq!(Some(a.clone()), payer(1, "mch_a", Channel::WeChat, 7));
        assert!(a.starts_with("wx_") && a.len() == 3 + 16);
        assert!(a[3..].bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(Some(a.clone()), payer(1, "mch_b", Channel::WeChat, 7));
        assert_ne!(Some(a.clone()), payer(1, "mch_a", Channel::WeChat, 8));
        assert!(
            payer(1, "mch_a", Channel::Alipay, 7)
                .unwrap()
                .starts_with("ali_")
        );
        assert!(
            payer(1, "mch_a", Channel::UnionPayQr, 7)
                .unwrap()
                .starts_with("up_")
        );
        assert_eq!(payer(1, "mch_a", Channel::CreditCard, 7), None);
        // Regulars come back: far fewer payers than payments.
        let mut rng = trade_rng(1, "mch_a", 0);
        let drawn: std::collections::HashSet<u32> =
            (0..1_000).map(|_| draw_payer_index(&mut rng)).collect();
        assert!(drawn.len() < 800, "{}", drawn.len());
    }

    #[test]
    fn a_terminals_batch_moves_on_by_one_each_day() {
        let a = batch_no("LKLA800123455", 20_000);
        let b = batch_no("LKLA800123455", 20_001);
        assert_eq!(a.len(), 6);
        assert!(a.bytes().all(|c| c.is_ascii_digit()) && a != "000000");
        let (a, b): (u32, u32) = (a.parse().unwrap(), b.parse().unwrap());
        assert!(b == a + 1 || (a == 999_999 && b == 1));
        assert_ne!(
            batch_no("LKLA800123455", 20_000),
            batch_no("LKLA800123456", 20_000)
        );
    }

    #[test]
    fn given_channel_and_amount_are_kept() {
        let amount = Amount::parse("850").unwrap();
        let t = draw_trade(
            &mut trade_rng(1, "m", 0),
            Some(Channel::CreditCard),
            Some(amount),
        );
        assert_eq!(t.channel, Channel::CreditCard);
        assert_eq!(t.amount, amount);
        assert!(t.card.is_some());
    }
}
