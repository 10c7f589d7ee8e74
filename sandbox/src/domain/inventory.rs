//! The seeded terminal inventory: serials, models, firmware and the text of
//! the QR on each terminal's back, all derived from the sandbox seed.
//!
//! - A serial (SN) is `LKL` + a two-character model code + 7 digits + one
//!   Luhn check digit over those 7 digits, e.g. `LKLA80123456x`.
//! - The back QR is `https://qr.sandbox.lakala.example/activate?sn=<SN>&sig=<16 hex>`,
//!   `sig` being the first 8 bytes of HMAC-SHA256 over `sn=<SN>` under a key
//!   derived from the seed: a QR cannot be forged for another serial.
//! - Every [`BOUND_ELSEWHERE_EVERY`]th terminal is seeded as bound to another
//!   merchant (not one of this sandbox's), so binding it is refused.
//! - [`unknown_sns`] gives well-formed serials that are in no inventory.

use merchant_contract::domain::{TerminalModel, squeeze_serial};
use merchant_core::validate::bank_card::luhn_check_digit;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use ring::{digest, hmac};

/// How many terminals the inventory holds.
pub const INVENTORY_SIZE: usize = 60;
/// Every this-many-th terminal (1-based: the 5th, 10th, ...) belongs to another merchant.
pub const BOUND_ELSEWHERE_EVERY: usize = 5;
/// Where the back QR points.
pub const QR_PREFIX: &str = "https://qr.sandbox.lakala.example/activate?";
/// The host of the back QRs.
pub const QR_HOST: &str = "qr.sandbox.lakala.example";
/// The longest QR text we read.
pub const QR_MAX_LEN: usize = 256;

/// A terminal model: how terminals name it, its name for people, its SN
/// code, whether it has Bluetooth LE, and the firmware versions seen in the
/// field.
struct Model {
    name: &'static str,
    display: &'static str,
    code: &'static str,
    bluetooth: bool,
    firmware: &'static [&'static str],
}

/// How many characters a serial has.
pub const SN_LENGTH: usize = 13;

const MODELS: &[Model] = &[
    Model {
        name: "A8",
        display: "拉卡拉电签 A8",
        code: "A8",
        bluetooth: true,
        firmware: &["A8_V2.3.1", "A8_V2.4.0", "A8_V2.4.2"],
    },
    Model {
        name: "LK-Q1",
        display: "拉卡拉电签 Q1",
        code: "Q1",
        bluetooth: true,
        firmware: &["Q1_V1.8.6", "Q1_V1.9.0"],
    },
    Model {
        name: "LK-M2",
        display: "拉卡拉电签 M2",
        code: "M2",
        bluetooth: false,
        firmware: &["M2_V3.0.5", "M2_V3.1.1"],
    },
];

/// The model table as `GET /v1/terminal-models` publishes it.
pub fn models() -> Vec<TerminalModel> {
    MODELS
        .iter()
        .map(|m| TerminalModel {
            model: m.name.to_owned(),
            name: m.display.to_owned(),
            serial_prefix: format!("LKL{}", m.code),
            serial_length: SN_LENGTH as u32,
            has_bluetooth: m.bluetooth,
        })
        .collect()
}

/// One terminal of the seeded inventory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedTerminal {
    pub sn: String,
    pub model: &'static str,
    pub firmware: &'static str,
    pub qr_text: String,
    /// Seeded as another merchant's (binding it is refused).
    pub bound_elsewhere: bool,
}

/// The inventory of a sandbox started with `seed`. Same seed, same inventory.
pub fn seed_terminals(seed: u64) -> Vec<SeedTerminal> {
    let key = qr_key(seed);
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x7465_726d_696e_616c); // "terminal"
    let mut out: Vec<SeedTerminal> = Vec::with_capacity(INVENTORY_SIZE);
    while out.len() < INVENTORY_SIZE {
        let model = &MODELS[rng.random_range(0..MODELS.len())];
        let body: u32 = rng.random_range(0..10_000_000);
        let sn = make_sn(model.code, body);
        let firmware = model.firmware[rng.random_range(0..model.firmware.len())];
        if out.iter().any(|t| t.sn == sn) {
            continue;
        }
        let bound_elsewhere = (out.len() + 1).is_multiple_of(BOUND_ELSEWHERE_EVERY);
        out.push(SeedTerminal {
            qr_text: qr_text(&key, &sn),
            sn,
            model: model.name,
            firmware,
            bound_elsewhere,
        });
    }
    out
}

/// Well-formed serials (valid check digit) that are in no inventory of this seed.
pub fn unknown_sns(seed: u64) -> Vec<String> {
    let inventory = seed_terminals(seed);
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x756e_6b6e_6f77_6e00); // "unknown"
    let mut out = Vec::new();
    while out.len() < 5 {
        let model = &MODELS[rng.random_range(0..MODELS.len())];
        let sn = make_sn(model.code, rng.random_range(0..10_000_000));
        if !inventory.iter().any(|t| t.sn == sn) && !out.contains(&sn) {
            out.push(sn);
        }
    }
    out
}

fn make_sn(code: &str, body: u32) -> String {
    let digits = format!("{body:07}");
    // Formatted digits always have a check digit.
    let check = luhn_check_digit(digits.as_bytes()).map_or('0', char::from);
    format!("LKL{code}{digits}{check}")
}

/// Normalises a typed serial as the contract says ([`squeeze_serial`]:
/// spaces and dashes dropped, upper-cased) and checks its form: `LKL`, two
/// model characters, 8 digits whose last is the Luhn check of the 7 before.
/// `None` when it is not a serial at all. (The model code is not checked
/// against the model table: an unknown model's serial is simply in no
/// inventory.)
pub fn normalize_sn(text: &str) -> Option<String> {
    let sn = squeeze_serial(text)?;
    if sn.len() != SN_LENGTH || !sn.is_ascii() || !sn.starts_with("LKL") {
        return None;
    }
    let code = &sn[3..5];
    let digits = &sn[5..12];
    let check = &sn[12..13];
    if !code
        .bytes()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || !check.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    if luhn_check_digit(digits.as_bytes()) != check.bytes().next() {
        return None;
    }
    Some(sn)
}

/// The key that signs the back QRs of a sandbox started with `seed`.
pub fn qr_key(seed: u64) -> hmac::Key {
    let mut material = b"merchant-sandbox back-qr key v1:".to_vec();
    material.extend_from_slice(&seed.to_be_bytes());
    let d = digest::digest(&digest::SHA256, &material);
    hmac::Key::new(hmac::HMAC_SHA256, d.as_ref())
}

fn qr_text(key: &hmac::Key, sn: &str) -> String {
    let tag = hmac::sign(key, format!("sn={sn}").as_bytes());
    format!("{QR_PREFIX}sn={sn}&sig={}", hex::encode(&tag.as_ref()[..8]))
}

/// Why a scanned QR text is not a terminal's back QR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QrProblem {
    /// Not our QR at all (another URL, a payment code, junk).
    NotTerminalQr,
    /// Our form, but the signature does not match the serial: forged or damaged.
    BadSignature,
}

/// Reads the serial out of a back-QR text, checking its signature.
/// The query of a back QR's URL: `https://`, the QR host (any case, one
/// trailing dot allowed: a host name is the same name so written), the path
/// `/activate` and `?`; nothing else (no port, no user-info).
fn qr_query(text: &str) -> Option<&str> {
    let scheme = text.get(..8)?;
    if !scheme.eq_ignore_ascii_case("https://") {
        return None;
    }
    let rest = text.get(8..)?;
    let (host, path_and_query) = rest.split_at(rest.find('/')?);
    let host = host.strip_suffix('.').unwrap_or(host);
    if !host.eq_ignore_ascii_case(QR_HOST) {
        return None;
    }
    path_and_query.strip_prefix("/activate?")
}

pub fn parse_qr(key: &hmac::Key, text: &str) -> Result<String, QrProblem> {
    let text = text.trim();
    if text.len() > QR_MAX_LEN {
        return Err(QrProblem::NotTerminalQr);
    }
    let query = qr_query(text).ok_or(QrProblem::NotTerminalQr)?;
    let mut sn = None;
    let mut sig = None;
    let mut names = std::collections::HashSet::new();
    for pair in query.split('&') {
        let (name, value) = pair.split_once('=').ok_or(QrProblem::NotTerminalQr)?;
        // Other parameters (a model, a print batch …) may ride along in any
        // order; each name once, in a plain form, and they are not read.
        let plain = |t: &str, max: usize| {
            !t.is_empty()
                && t.len() <= max
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        };
        if !plain(name, 32) || !plain(value, 64) || !names.insert(name) {
            return Err(QrProblem::NotTerminalQr);
        }
        match name {
            "sn" => sn = Some(value),
            "sig" => sig = Some(value),
            _ => {}
        }
    }
    let (Some(sn), Some(sig)) = (sn, sig) else {
        return Err(QrProblem::NotTerminalQr);
    };
    // The QR carries the serial exactly as printed: no normalising here.
    if normalize_sn(sn).as_deref() != Some(sn) {
        return Err(QrProblem::NotTerminalQr);
    }
    let sig = hex::decode(sig).map_err(|_| QrProblem::BadSignature)?;
    if sig.len() != 8 {
        return Err(QrProblem::BadSignature);
    }
    let tag = hmac::sign(key, format!("sn={sn}").as_bytes());
    // Constant-time comparison of the truncated tag.
    let diff = tag.as_ref()[..8]
        .iter()
        .zip(&sig)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    if diff != 0 {
        return Err(QrProblem::BadSignature);
    }
    Ok(sn.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_inventory_other_seed_other_inventory() {
        let a = seed_terminals(7);
        assert_eq!(a, seed_terminals(7));
        assert_eq!(a.len(), INVENTORY_SIZE);
        let b = seed_terminals(8);
        assert_ne!(a, b);
        assert_eq!(unknown_sns(7), unknown_sns(7));
    }

    #[test]
    fn serials_are_unique_well_formed_and_some_are_bound_elsewhere() {
        let inv = seed_terminals(42);
        let mut sns: Vec<&str> = inv.iter().map(|t| t.sn.as_str()).collect();
        sns.sort();
        sns.dedup();
        assert_eq!(sns.len(), INVENTORY_SIZE);
        for t in &inv {
            assert_eq!(normalize_sn(&t.sn).as_deref(), Some(t.sn.as_str()));
            assert!(t.firmware.starts_with(&t.sn[3..5]), "{t:?}");
        }
        let elsewhere = inv.iter().filter(|t| t.bound_elsewhere).count();
        assert_eq!(elsewhere, INVENTORY_SIZE / BOUND_ELSEWHERE_EVERY);
        for sn in unknown_sns(42) {
            assert!(normalize_sn(&sn).is_some());
            assert!(!inv.iter().any(|t| t.sn == sn));
        }
    }

    #[test]
    fn typed_serials_are_normalised_and_checked() {
        let sn = make_sn("A8", 1234567);
        assert_eq!(sn.len(), 13);
        assert_eq!(
            normalize_sn(&format!("  {} ", sn.to_lowercase())),
            Some(sn.clone())
        );
        // A wrong check digit, a short serial, junk and non-ASCII are refused.
        let last = sn.as_bytes()[12] - b'0';
        let wrong = format!("{}{}", &sn[..12], (last + 1) % 10);
        assert_eq!(normalize_sn(&wrong), None);
        assert_eq!(normalize_sn("LKLA8123"), None);
        assert_eq!(normalize_sn(""), None);
        assert_eq!(normalize_sn("LKLA８１２３４５６７８"), None);
        assert_eq!(normalize_sn("LKLa-12345678"), None);
        // Spaces and dashes anywhere are dropped, as the core drops them.
        let typed = format!(
            "{}-{} {} {}",
            &sn[..3],
            &sn[3..7].to_lowercase(),
            &sn[7..11],
            &sn[11..]
        );
        assert_eq!(normalize_sn(&typed), Some(sn.clone()));
        assert_eq!(normalize_sn(&format!("{sn}\n")), Some(sn.clone()));
        assert_eq!(normalize_sn(&format!("{sn}_")), None);
        assert_eq!(
            normalize_sn("lkl-a800 1234 55").as_deref(),
            Some("LKLA800123455")
        );
    }

    #[test]
    fn the_model_table_matches_the_inventory() {
        let models = models();
        assert!(models.iter().any(|m| m.has_bluetooth));
        assert!(models.iter().any(|m| !m.has_bluetooth));
        for t in seed_terminals(5) {
            let m = models.iter().find(|m| m.model == t.model).unwrap();
            assert!(t.sn.starts_with(&m.serial_prefix), "{t:?}");
            assert_eq!(t.sn.len(), m.serial_length as usize);
        }
    }

    #[test]
    fn back_qr_round_trips_and_refuses_forgery() {
        let key = qr_key(3);
        for t in seed_terminals(3) {
            assert_eq!(parse_qr(&key, &t.qr_text), Ok(t.sn.clone()));
        }
        let t = &seed_terminals(3)[0];
        let other = &seed_terminals(3)[1];
        // Another terminal's signature on this serial.
        let forged = format!(
            "{QR_PREFIX}sn={}&sig={}",
            t.sn,
            other.qr_text.rsplit("sig=").next().unwrap()
        );
        assert_eq!(parse_qr(&key, &forged), Err(QrProblem::BadSignature));
        // The QR of a sandbox with another seed.
        assert_eq!(
            parse_qr(&qr_key(4), &t.qr_text),
            Err(QrProblem::BadSignature)
        );
        for junk in [
            "",
            "weixin://wxpay/bizpayurl?pr=abc",
            "https://qr.sandbox.lakala.example/activate?",
            &format!("{QR_PREFIX}sn={}", t.sn),
            &format!("{}&sig=00", t.qr_text),
            &format!("{}&x=a%20b", t.qr_text),
            &format!("{}&sn={}", t.qr_text, t.sn),
            &format!("http://qr.sandbox.lakala.example/activate?sn={}", t.sn),
            &t.qr_text.replace("/activate?", ":443/activate?"),
            &format!("{QR_PREFIX}sn=LKLA8&sig=0011223344556677"),
            &"A".repeat(10_000),
        ] {
            assert!(parse_qr(&key, junk).is_err(), "{junk:.80}");
        }
        // Other parameters in any order, the host in any case with a dot.
        let (_, sig) = t.qr_text.split_once("&sig=").unwrap();
        let reordered = format!(
            "HTTPS://QR.Sandbox.Lakala.Example./activate?model=A8&sig={sig}&batch=7&sn={}",
            t.sn
        );
        assert_eq!(parse_qr(&key, &reordered), Ok(t.sn.clone()));
        let bad_hex = format!("{QR_PREFIX}sn={}&sig=zz", t.sn);
        assert_eq!(parse_qr(&key, &bad_hex), Err(QrProblem::BadSignature));
    }
}

#[cfg(test)]
mod hostile {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn any_text_is_read_without_panic(text in any::<String>()) {
            let key = qr_key(1);
            if let Some(sn) = normalize_sn(&text) {
                prop_assert_eq!(normalize_sn(&sn), Some(sn.clone()));
            }
            let _ = parse_qr(&key, &text);
            let _ = parse_qr(&key, &format!("{QR_PREFIX}{text}"));
        }
    }
}
