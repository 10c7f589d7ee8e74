//! terminals::qr: what the camera decoded from a terminal's back QR, read
//! into a serial (and the model and `sig` when the QR carries them).
//!
//! Two forms are recognised:
//!
//! - the contract's back QR, `https://HOST/activate?sn=SERIAL&sig=HEX`
//!   (other query parameters allowed, in any order; `model=` read when
//!   present; names and values percent-decoded), whose HOST is one of the
//!   trusted hosts;
//! - a bare serial, typed-serial rules (any case, spaces or dashes).
//!
//! A swapped QR sticker that leads to a look-alike site is the fraud this
//! guards against, so the URL is read by a small strict parser of our own
//! that refuses whatever a browser might read differently:
//!
//! - the host must equal a trusted host, compared without case and without
//!   one trailing dot; `trusted.example.evil.com` and
//!   `evil.com/trusted.example/…` are other hosts (`qr.untrusted_host`);
//! - user-info before an `@` is refused outright, whatever it says
//!   (`qr.user_info`);
//! - a non-ASCII host or a punycode label (`xn--`) is refused
//!   (`qr.host_not_ascii`);
//! - an IP literal is accepted only when it is loopback (127.0.0.0/8,
//!   `[::1]`) **and** appears in the trusted list; every other IP literal is
//!   `qr.ip_address`. Numeric forms a browser would also read as an address
//!   (`127.1`, `0x7f.0.0.1`, `2130706433`, leading zeros) are ambiguous;
//! - `http://` is accepted only to loopback (the IPs above or `localhost`),
//!   and only when trusted (`qr.insecure`); a port is fine;
//! - backslashes, whitespace or non-ASCII inside the URL, a fragment,
//!   percent-encoding in the host, an encoded control byte (`%00`), a
//!   malformed escape, an empty parameter, a second `=` or a repeated `sn`,
//!   `sig` or `model` (names matched without case) are `qr.ambiguous`;
//! - on a trusted host, a path other than `/activate` is `qr.path`; a missing
//!   serial `qr.serial_missing`, one that is not exactly a well-formed serial
//!   `qr.serial_invalid` (with the serial's own code as a second problem); a
//!   `sig` that is not 16 hex digits `qr.sig_invalid`; a `model` that is not
//!   1 to 16 letters, digits, `-` or `_` `qr.model_invalid`.
//!
//! Before any of that: text over [`MAX_QR_TEXT`] bytes is `qr.too_long`, a
//! control character (after trimming spaces, tabs and line ends at the two
//! ends), or a bidirectional or zero-width format character, is
//! `qr.control_characters`, empty text `qr.empty`, and anything that is
//! neither a URL nor a serial `qr.unrecognised`. The text itself never goes
//! into an error or a log.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::error::{Code, Error, Problem, Result};
use crate::terminals::serial::{self, normalise_serial};

crate::codes! {
    QR_EMPTY = Input, "qr.empty", "二维码内容为空", "The QR code is empty";
    QR_TOO_LONG = Input, "qr.too_long", "二维码内容过长，不是终端背面二维码", "The QR text is too long to be a terminal's back QR";
    QR_CONTROL_CHARACTERS = Input, "qr.control_characters", "二维码内容含有控制字符，不是终端背面二维码", "The QR text contains control characters";
    QR_UNRECOGNISED = Input, "qr.unrecognised", "不是终端背面二维码，也不是终端序列号", "This is neither a terminal's back QR nor a serial number";
    QR_AMBIGUOUS = Input, "qr.ambiguous", "二维码中的网址格式异常（如重复参数、反斜杠、空白或编码的控制字符），可能是伪造的二维码", "The QR's address is malformed or ambiguous (repeated parameters, backslashes, spaces, encoded control bytes); it may be forged";
    QR_UNTRUSTED_HOST = Input, "qr.untrusted_host", "二维码指向的不是拉卡拉官方网址，可能是仿冒二维码，请勿继续并联系客服", "The QR leads to a site that is not the platform's; it may be a forged sticker, do not go on";
    QR_USER_INFO = Input, "qr.user_info", "二维码网址中含有“@”前的用户信息，可能是仿冒网址", "The QR's address has user information before an @; it may be a look-alike";
    QR_HOST_NOT_ASCII = Input, "qr.host_not_ascii", "二维码网址的域名含有非 ASCII 字符或 punycode，可能是仿冒网址", "The QR's host has non-ASCII characters or punycode; it may be a look-alike";
    QR_IP_ADDRESS = Input, "qr.ip_address", "二维码网址使用 IP 地址而不是官方域名", "The QR's address is an IP address, not the platform's host";
    QR_INSECURE = Input, "qr.insecure", "二维码网址未使用 https 加密", "The QR's address does not use https";
    QR_PATH = Input, "qr.path", "二维码网址不是终端激活地址", "The QR's address is not the terminal activation address";
    QR_SERIAL_MISSING = Input, "qr.serial_missing", "二维码中没有终端序列号", "The QR carries no serial number";
    QR_SERIAL_INVALID = Input, "qr.serial_invalid", "二维码中的终端序列号格式不正确", "The QR's serial number is not well formed";
    QR_SIG_INVALID = Input, "qr.sig_invalid", "二维码中的签名格式不正确（应为 16 位十六进制）", "The QR's signature is not 16 hexadecimal digits";
    QR_MODEL_INVALID = Input, "qr.model_invalid", "二维码中的机型格式不正确", "The QR's model is not well formed";
}

/// The longest QR text read (bytes).
pub const MAX_QR_TEXT: usize = 2048;
/// The path of the activation address on the back QR.
pub const ACTIVATE_PATH: &str = "/activate";
/// The length of `sig` in hex digits.
pub const SIG_HEX_LENGTH: usize = 16;
const MAX_MODEL_LENGTH: usize = 16;

/// What a terminal's back QR (or a bare serial) says.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, uniffi::Record)]
pub struct TerminalQr {
    /// The serial in canonical form, e.g. `LKLA800123455`.
    pub sn: String,
    /// The model the QR names (`model=`), as written.
    pub model: Option<String>,
    /// The platform's MAC over the serial: 16 lower-case hex digits.
    pub sig: Option<String>,
}

impl TerminalQr {
    /// The canonical text of this QR: the activation URL on `host` when it
    /// carries a model or a `sig`, the bare serial otherwise. Parsing it
    /// (with `host` trusted) gives `self` back.
    pub fn to_text(&self, host: &str) -> String {
        if self.model.is_none() && self.sig.is_none() {
            return self.sn.clone();
        }
        let mut url = format!("https://{host}{ACTIVATE_PATH}?sn={}", self.sn);
        if let Some(model) = &self.model {
            url.push_str("&model=");
            url.push_str(model);
        }
        if let Some(sig) = &self.sig {
            url.push_str("&sig=");
            url.push_str(sig);
        }
        url
    }
}

/// The hosts trusted by default: those of a `CoreConfig` that configures
/// none (the sandbox's QR host).
pub fn default_trusted_hosts() -> Vec<String> {
    crate::core::DEFAULT_QR_HOSTS
        .iter()
        .map(|h| (*h).to_owned())
        .collect()
}

fn refuse(code: &'static Code) -> Error {
    Error::input(code, vec![Problem::new(code, "")])
}

/// Characters that are refused anywhere in the text: C0, DEL, C1, and the
/// zero-width and bidirectional format characters that can disguise what a
/// text says.
fn is_control(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}')
}

/// Reads a QR text into a terminal's serial, model and `sig`; see the module
/// documentation for what is accepted and each refusal's code.
/// `trusted_hosts` come from `CoreConfig::qr_hosts`.
pub fn parse_qr_text(text: &str, trusted_hosts: &[String]) -> Result<TerminalQr> {
    if text.len() > MAX_QR_TEXT {
        return Err(refuse(&QR_TOO_LONG));
    }
    let text = text.trim_matches([' ', '\t', '\r', '\n']);
    if text.chars().any(is_control) {
        return Err(refuse(&QR_CONTROL_CHARACTERS));
    }
    if text.is_empty() {
        return Err(refuse(&QR_EMPTY));
    }
    match scheme_of(text) {
        Some((scheme, rest)) => parse_url(&scheme, rest, trusted_hosts),
        None => parse_bare_serial(text),
    }
}

/// The scheme (lower case) and what follows `://`, for text that starts like
/// a URL; `None` for text that does not.
fn scheme_of(text: &str) -> Option<(String, &str)> {
    let colon = text.find(':')?;
    let scheme = text.get(..colon)?;
    let valid = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !valid {
        return None;
    }
    let rest = text.get(colon + 1..)?;
    Some((scheme.to_ascii_lowercase(), rest))
}

fn parse_bare_serial(text: &str) -> Result<TerminalQr> {
    // Text that cannot be a typed serial at all is just something else.
    let serial_like = text.len() <= serial::MAX_SERIAL_INPUT
        && crate::validate::ascii_forms(text)
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c.is_whitespace())
        && crate::validate::ascii_forms(text)
            .chars()
            .find(|c| c.is_ascii_alphanumeric())
            .is_some_and(|c| c.eq_ignore_ascii_case(&'L'));
    if !serial_like {
        return Err(refuse(&QR_UNRECOGNISED));
    }
    match normalise_serial(text) {
        Ok(s) => Ok(TerminalQr {
            sn: s.sn,
            model: None,
            sig: None,
        }),
        Err(e) if e.is(&serial::SERIAL_PREFIX) => Err(refuse(&QR_UNRECOGNISED)),
        Err(e) => Err(serial_invalid(e)),
    }
}

/// `qr.serial_invalid`, with the serial's own problems after it.
fn serial_invalid(e: Error) -> Error {
    let mut problems = vec![Problem::new(&QR_SERIAL_INVALID, "sn")];
    problems.extend(e.problems.into_iter().map(|mut p| {
        p.field = "sn".to_owned();
        p
    }));
    Error::input(&QR_SERIAL_INVALID, problems)
}

/// The host of a URL as the parser understood it.
enum Host {
    Name(String),
    V4(Ipv4Addr),
    V6(Ipv6Addr),
}

impl Host {
    fn is_loopback(&self) -> bool {
        match self {
            Host::Name(n) => n == "localhost",
            Host::V4(ip) => ip.is_loopback(),
            Host::V6(ip) => ip.is_loopback(),
        }
    }
}

fn parse_url(scheme: &str, rest: &str, trusted_hosts: &[String]) -> Result<TerminalQr> {
    let secure = match scheme {
        "https" => true,
        "http" => false,
        _ => return Err(refuse(&QR_UNRECOGNISED)),
    };
    let Some(rest) = rest.strip_prefix("//") else {
        // `https:host/…` or `https:/host/…`: browsers guess; we do not.
        return Err(refuse(&QR_AMBIGUOUS).detail("url without //"));
    };
    // Whatever a browser would read differently from us: refuse it all.
    if rest
        .chars()
        .any(|c| c == '\\' || c == '#' || c.is_whitespace())
    {
        return Err(refuse(&QR_AMBIGUOUS).detail("backslash, fragment or whitespace in url"));
    }
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    if authority.contains('@') {
        return Err(refuse(&QR_USER_INFO));
    }
    let host = parse_authority(authority)?;
    let trusted = match &host {
        Host::Name(name) => trusted_hosts
            .iter()
            .any(|t| canonical_host(t).as_deref() == Some(name.as_str())),
        Host::V4(ip) => {
            if !ip.is_loopback() {
                return Err(refuse(&QR_IP_ADDRESS));
            }
            trusted_hosts
                .iter()
                .any(|t| t.parse::<Ipv4Addr>().ok() == Some(*ip))
        }
        Host::V6(ip) => {
            if !ip.is_loopback() {
                return Err(refuse(&QR_IP_ADDRESS));
            }
            trusted_hosts.iter().any(|t| {
                let t = t.trim_start_matches('[').trim_end_matches(']');
                t.parse::<Ipv6Addr>().ok() == Some(*ip)
            })
        }
    };
    if !trusted {
        return Err(match host {
            Host::Name(_) => refuse(&QR_UNTRUSTED_HOST),
            _ => refuse(&QR_IP_ADDRESS),
        });
    }
    if !secure && !host.is_loopback() {
        return Err(refuse(&QR_INSECURE));
    }
    if !tail.is_ascii() {
        return Err(refuse(&QR_AMBIGUOUS).detail("non-ascii in path or query"));
    }
    let (path, query) = tail.split_once('?').unwrap_or((tail, ""));
    if path != ACTIVATE_PATH {
        return Err(refuse(&QR_PATH));
    }
    parse_query(query)
}

/// A host name in the form hosts are compared in: lower case, without one
/// trailing dot. `None` for an empty name.
fn canonical_host(name: &str) -> Option<String> {
    let name = name.strip_suffix('.').unwrap_or(name);
    (!name.is_empty()).then(|| name.to_ascii_lowercase())
}

/// Splits `host[:port]` or `[v6][:port]` and reads the host strictly.
fn parse_authority(authority: &str) -> Result<Host> {
    let ambiguous = |why: &'static str| refuse(&QR_AMBIGUOUS).detail(why);
    if authority.contains('%') {
        return Err(ambiguous("percent-encoding in host"));
    }
    let (host, port) = if let Some(inner) = authority.strip_prefix('[') {
        let (v6, after) = inner
            .split_once(']')
            .ok_or_else(|| ambiguous("unclosed ["))?;
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or_else(|| ambiguous("junk after ]"))?,
            ),
        };
        let ip = v6
            .parse::<Ipv6Addr>()
            .map_err(|_| ambiguous("bad ipv6 literal"))?;
        check_port(port)?;
        return Ok(Host::V6(ip));
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    check_port(port)?;
    if !host.is_ascii() {
        return Err(refuse(&QR_HOST_NOT_ASCII));
    }
    let name = canonical_host(host).ok_or_else(|| ambiguous("empty host"))?;
    if name.len() > 253 {
        return Err(ambiguous("host too long"));
    }
    let labels: Vec<&str> = name.split('.').collect();
    if labels.iter().any(|l| l.starts_with("xn--")) {
        return Err(refuse(&QR_HOST_NOT_ASCII));
    }
    for label in &labels {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(ambiguous("bad host label"));
        }
    }
    // A browser reads a host whose last label is numeric as an IPv4 address
    // (decimal, octal or hex parts, 1 to 4 of them). Accept only the plain
    // dotted quad; every other numeric form is ambiguous.
    let last = labels.last().copied().unwrap_or_default();
    let numeric_last = last.bytes().all(|b| b.is_ascii_digit())
        || (last.starts_with("0x") && last.bytes().skip(2).all(|b| b.is_ascii_hexdigit()));
    if numeric_last {
        let quad = labels.len() == 4
            && labels.iter().all(|l| {
                l.bytes().all(|b| b.is_ascii_digit()) && (l.len() == 1 || !l.starts_with('0'))
            });
        return match name.parse::<Ipv4Addr>() {
            Ok(ip) if quad => Ok(Host::V4(ip)),
            _ => Err(ambiguous("numeric host that is not a dotted quad")),
        };
    }
    Ok(Host::Name(name))
}

fn check_port(port: Option<&str>) -> Result<()> {
    let Some(port) = port else { return Ok(()) };
    let ok = !port.is_empty()
        && port.len() <= 5
        && port.bytes().all(|b| b.is_ascii_digit())
        && port.parse::<u32>().is_ok_and(|p| (1..=65535).contains(&p));
    if ok {
        Ok(())
    } else {
        Err(refuse(&QR_AMBIGUOUS).detail("bad port"))
    }
}

/// Percent-decodes one query name or value. Only printable ASCII may come
/// out: `%00`, any other encoded control byte and encoded non-ASCII are
/// ambiguous, as is a `%` not followed by two hex digits.
fn percent_decode(s: &str) -> Result<String> {
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let decoded = if b == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| {
                    u8::from_str_radix(h, 16)
                        .ok()
                        .filter(|_| h.bytes().all(|c| c.is_ascii_hexdigit()))
                })
                .ok_or_else(|| refuse(&QR_AMBIGUOUS).detail("malformed percent escape"))?;
            i += 3;
            hex
        } else {
            i += 1;
            b
        };
        if !(0x20..0x7f).contains(&decoded) {
            return Err(refuse(&QR_AMBIGUOUS).detail("encoded control or non-ascii byte"));
        }
        out.push(char::from(decoded));
    }
    Ok(out)
}

fn parse_query(query: &str) -> Result<TerminalQr> {
    let mut sn: Option<String> = None;
    let mut sig: Option<String> = None;
    let mut model: Option<String> = None;
    if !query.is_empty() {
        for pair in query.split('&') {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            if name.is_empty() || value.contains('=') {
                return Err(refuse(&QR_AMBIGUOUS).detail("empty parameter or second ="));
            }
            let name = percent_decode(name)?.to_ascii_lowercase();
            let value = percent_decode(value)?;
            let slot = match name.as_str() {
                "sn" => &mut sn,
                "sig" => &mut sig,
                "model" => &mut model,
                _ => continue,
            };
            if slot.replace(value).is_some() {
                return Err(refuse(&QR_AMBIGUOUS).detail("repeated parameter"));
            }
        }
    }
    let sn = match sn {
        None => return Err(refuse(&QR_SERIAL_MISSING)),
        Some(v) if v.is_empty() => return Err(refuse(&QR_SERIAL_MISSING)),
        Some(v) => v,
    };
    // The QR carries the serial exactly as printed: it must already be in
    // canonical form.
    let sn = match normalise_serial(&sn) {
        Ok(s) if s.sn == sn => s.sn,
        Ok(_) => return Err(refuse(&QR_SERIAL_INVALID).detail("serial not in canonical form")),
        Err(e) => return Err(serial_invalid(e)),
    };
    let sig = match sig {
        None => None,
        Some(s) if s.len() == SIG_HEX_LENGTH && s.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Some(s.to_ascii_lowercase())
        }
        Some(_) => return Err(refuse(&QR_SIG_INVALID)),
    };
    let model = match model {
        None => None,
        Some(m)
            if (1..=MAX_MODEL_LENGTH).contains(&m.len())
                && m.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            Some(m)
        }
        Some(_) => return Err(refuse(&QR_MODEL_INVALID)),
    };
    Ok(TerminalQr { sn, model, sig })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SN: &str = "LKLA800123455";
    const SIG: &str = "0123456789abcdef";
    const HOST: &str = "qr.sandbox.lakala.example";

    fn hosts() -> Vec<String> {
        default_trusted_hosts()
    }

    fn parse(text: &str) -> Result<TerminalQr> {
        parse_qr_text(text, &hosts())
    }

    fn code(text: &str) -> String {
        match parse(text) {
            Ok(q) => format!("ok {q:?}"),
            Err(e) => e.code.to_string(),
        }
    }

    fn qr(sn: &str, model: Option<&str>, sig: Option<&str>) -> TerminalQr {
        TerminalQr {
            sn: sn.to_owned(),
            model: model.map(str::to_owned),
            sig: sig.map(str::to_owned),
        }
    }

    #[test]
    fn the_contracts_back_qr_is_read() {
        let text = format!("https://{HOST}/activate?sn={SN}&sig={SIG}");
        assert_eq!(parse(&text).unwrap(), qr(SN, None, Some(SIG)));
    }

    #[test]
    fn accepted_url_forms() {
        let ok = qr(SN, None, Some(SIG));
        for text in [
            // parameters in any order, others allowed, names without case
            format!("https://{HOST}/activate?sig={SIG}&sn={SN}"),
            format!("https://{HOST}/activate?from=sticker&sn={SN}&v=2&sig={SIG}&flag"),
            format!("https://{HOST}/activate?SN={SN}&Sig={}", SIG.to_uppercase()),
            // host without case and with one trailing dot; a port; scheme case
            format!("HTTPS://QR.Sandbox.Lakala.Example./activate?sn={SN}&sig={SIG}"),
            format!("https://{HOST}:8443/activate?sn={SN}&sig={SIG}"),
            // percent-encoding in names and values
            format!("https://{HOST}/activate?s%6E=LKL%41800123455&sig={SIG}"),
            // line end and spaces around the text
            format!("  https://{HOST}/activate?sn={SN}&sig={SIG}\r\n"),
        ] {
            assert_eq!(parse(&text).unwrap(), ok, "{text}");
        }
        assert_eq!(
            parse(&format!(
                "https://{HOST}/activate?sn={SN}&model=A8&sig={SIG}"
            ))
            .unwrap(),
            qr(SN, Some("A8"), Some(SIG))
        );
        assert_eq!(
            parse(&format!("https://{HOST}/activate?sn={SN}")).unwrap(),
            qr(SN, None, None)
        );
        // a trusted list entry with a trailing dot and capitals
        let listed = vec!["QR.Example.COM.".to_owned()];
        assert!(
            parse_qr_text(&format!("https://qr.example.com/activate?sn={SN}"), &listed).is_ok()
        );
    }

    #[test]
    fn bare_serials_are_read_in_their_typed_forms() {
        for text in [
            SN,
            "lkla800123455",
            "LKL-A8-0012345-5",
            " lkl a8 0012 3455 ",
            "ＬＫＬＡ８００１２３４５５",
        ] {
            assert_eq!(parse(text).unwrap(), qr(SN, None, None), "{text}");
        }
        let e = parse("LKLA800123456").unwrap_err();
        assert_eq!(e.code, "qr.serial_invalid");
        let codes: Vec<&str> = e.problems.iter().map(|p| p.code.as_str()).collect();
        assert_eq!(codes, ["qr.serial_invalid", "serial.check_digit"]);
        assert_eq!(code("LKLA8001234"), "qr.serial_invalid");
    }

    #[test]
    fn look_alike_hosts_are_untrusted() {
        let q = format!("/activate?sn={SN}&sig={SIG}");
        for host in [
            "qr.sandbox.lakala.example.evil.com",
            "evil.com",
            "evilqr.sandbox.lakala.example",
            "sandbox.lakala.example",
            "qr.sandbox.lakala.example..",
            "qr-sandbox.lakala.example",
            "localhost",
        ] {
            let text = format!("https://{host}{q}");
            let c = code(&text);
            assert!(
                c == "qr.untrusted_host" || c == "qr.ambiguous",
                "{host}: {c}"
            );
        }
        assert_eq!(
            code(&format!("https://{HOST}.evil.com{q}")),
            "qr.untrusted_host"
        );
        assert_eq!(
            code(&format!("https://evil.com/{HOST}{q}")),
            "qr.untrusted_host"
        );
        assert_eq!(
            code(&format!("https://evil.com/{HOST}/activate?sn={SN}")),
            "qr.untrusted_host"
        );
        assert_eq!(
            code(&format!("evil.com/{HOST}/activate?sn={SN}")),
            "qr.unrecognised"
        );
        assert_eq!(
            code(&format!(
                "https://evil.com?x=https://{HOST}/activate&sn={SN}"
            )),
            "qr.untrusted_host"
        );
    }

    #[test]
    fn user_info_is_refused_whatever_it_says() {
        let q = format!("/activate?sn={SN}&sig={SIG}");
        assert_eq!(code(&format!("https://{HOST}@evil.com{q}")), "qr.user_info");
        assert_eq!(code(&format!("https://user@{HOST}{q}")), "qr.user_info");
        assert_eq!(code(&format!("https://user:pw@{HOST}{q}")), "qr.user_info");
        assert_eq!(
            code(&format!("https://{HOST}:443@evil.com{q}")),
            "qr.user_info"
        );
    }

    #[test]
    fn punycode_and_non_ascii_hosts_are_refused() {
        let q = format!("/activate?sn={SN}");
        assert_eq!(
            code(&format!("https://qr.sandbox.xn--lakala-9za.example{q}")),
            "qr.host_not_ascii"
        );
        assert_eq!(
            code(&format!("https://XN--80ak6aa92e.com{q}")),
            "qr.host_not_ascii"
        );
        assert_eq!(
            code(&format!("https://qr.sandbox.lаkala.example{q}")),
            "qr.host_not_ascii"
        ); // Cyrillic а
        assert_eq!(
            code(&format!("https://ｑｒ.sandbox.lakala.example{q}")),
            "qr.host_not_ascii"
        );
    }

    #[test]
    fn ip_literals_only_loopback_and_listed() {
        let q = format!("/activate?sn={SN}");
        assert_eq!(code(&format!("https://8.8.8.8{q}")), "qr.ip_address");
        assert_eq!(code(&format!("https://[2001:db8::1]{q}")), "qr.ip_address");
        assert_eq!(
            code(&format!("https://[::ffff:127.0.0.1]{q}")),
            "qr.ip_address"
        );
        // loopback but not listed
        assert_eq!(code(&format!("https://127.0.0.1{q}")), "qr.ip_address");
        assert_eq!(code(&format!("https://[::1]{q}")), "qr.ip_address");
        // other spellings of an address are ambiguous
        for h in [
            "127.1",
            "0x7f.0.0.1",
            "2130706433",
            "127.000.000.001",
            "1.2.3.4.5",
            "example.123",
        ] {
            assert_eq!(code(&format!("https://{h}{q}")), "qr.ambiguous", "{h}");
        }
        let listed = vec![
            "127.0.0.1".to_owned(),
            "[::1]".to_owned(),
            "8.8.8.8".to_owned(),
        ];
        let ok = |t: &str| parse_qr_text(t, &listed).map(|q| q.sn);
        assert_eq!(ok(&format!("https://127.0.0.1:8700{q}")).unwrap(), SN);
        assert_eq!(ok(&format!("http://127.0.0.1:8700{q}")).unwrap(), SN);
        assert_eq!(ok(&format!("http://[::1]:8700{q}")).unwrap(), SN);
        // listed, but not loopback
        assert_eq!(
            parse_qr_text(&format!("https://8.8.8.8{q}"), &listed)
                .unwrap_err()
                .code,
            "qr.ip_address"
        );
        // loopback but another loopback address than the listed one
        assert_eq!(
            parse_qr_text(&format!("https://127.0.0.2{q}"), &listed)
                .unwrap_err()
                .code,
            "qr.ip_address"
        );
    }

    #[test]
    fn http_only_to_loopback() {
        let q = format!("/activate?sn={SN}");
        assert_eq!(code(&format!("http://{HOST}{q}")), "qr.insecure");
        assert_eq!(code(&format!("http://evil.com{q}")), "qr.untrusted_host");
        let listed = vec!["localhost".to_owned()];
        assert!(parse_qr_text(&format!("http://localhost:8080{q}"), &listed).is_ok());
    }

    #[test]
    fn trusted_urls_without_a_good_serial_sig_or_model() {
        let base = format!("https://{HOST}");
        assert_eq!(code(&format!("{base}/activate")), "qr.serial_missing");
        assert_eq!(
            code(&format!("{base}/activate?sig={SIG}")),
            "qr.serial_missing"
        );
        assert_eq!(
            code(&format!("{base}/activate?sn=&sig={SIG}")),
            "qr.serial_missing"
        );
        assert_eq!(
            code(&format!("{base}/activate?sn=LKLA800123456")),
            "qr.serial_invalid"
        );
        assert_eq!(
            code(&format!("{base}/activate?sn=lkla800123455")),
            "qr.serial_invalid"
        );
        assert_eq!(
            code(&format!("{base}/activate?sn=LKL-A8-0012345-5")),
            "qr.serial_invalid"
        );
        assert_eq!(
            code(&format!("{base}/activate?sn=<script>")),
            "qr.serial_invalid"
        );
        assert_eq!(
            code(&format!("{base}/activate?sn={SN}&sig=0123")),
            "qr.sig_invalid"
        );
        assert_eq!(
            code(&format!("{base}/activate?sn={SN}&sig={SIG}00")),
            "qr.sig_invalid"
        );
        assert_eq!(
            code(&format!("{base}/activate?sn={SN}&sig=0123456789abcdeg")),
            "qr.sig_invalid"
        );
        assert_eq!(
            code(&format!("{base}/activate?sn={SN}&sig=")),
            "qr.sig_invalid"
        );
        assert_eq!(
            code(&format!("{base}/activate?sn={SN}&model=")),
            "qr.model_invalid"
        );
        assert_eq!(
            code(&format!("{base}/activate?sn={SN}&model=A%2F8")),
            "qr.model_invalid"
        );
        assert_eq!(
            code(&format!("{base}/activate?sn={SN}&model={}", "A".repeat(17))),
            "qr.model_invalid"
        );
        for path in [
            "",
            "/",
            "/activate/",
            "/Activate",
            "/activate.php",
            "/x/activate",
            "/activat%65",
            "//activate",
        ] {
            assert_eq!(code(&format!("{base}{path}?sn={SN}")), "qr.path", "{path}");
        }
    }

    #[test]
    fn ambiguous_urls_are_refused() {
        let base = format!("https://{HOST}/activate");
        for text in [
            format!("{base}?sn={SN}&sn=LKLQ100000000"),
            format!("{base}?sn={SN}&SN={SN}"),
            format!("{base}?sn={SN}&s%6e={SN}"),
            format!("{base}?sn={SN}&sig={SIG}&sig={SIG}"),
            format!("{base}?sn={SN}&model=A8&model=Q1"),
            format!("{base}?sn={SN}%00"),
            format!("{base}?sn={SN}&x=%0a"),
            format!("{base}?sn={SN}&x=%e4%b8%ad"),
            format!("{base}?sn={SN}&x=%zz"),
            format!("{base}?sn={SN}&x=%4"),
            format!("{base}?sn={SN}&&sig={SIG}"),
            format!("{base}?sn={SN}&=x"),
            format!("{base}?sn={SN}=x"),
            format!("{base}?sn={SN}#frag"),
            format!("{base}?sn={SN}&x=中"),
            format!("https://{HOST}\\@evil.com/activate?sn={SN}"),
            format!("https:\\\\{HOST}/activate?sn={SN}"),
            format!("https:/{HOST}/activate?sn={SN}"),
            format!("https:{HOST}/activate?sn={SN}"),
            format!("https://{HOST} /activate?sn={SN}"),
            format!("https://{HOST}/activate?sn= {SN}"),
            format!("https://{HOST}%2eevil.com/activate?sn={SN}"),
            format!("https://{HOST}:/activate?sn={SN}"),
            format!("https://{HOST}:0/activate?sn={SN}"),
            format!("https://{HOST}:99999/activate?sn={SN}"),
            format!("https://{HOST}:x/activate?sn={SN}"),
            format!("https://qr..example/activate?sn={SN}"),
            format!("https://-qr.example/activate?sn={SN}"),
            format!("https://qr_x.example/activate?sn={SN}"),
            format!("https:///activate?sn={SN}"),
            format!("https://[::1/activate?sn={SN}"),
            format!("https://[::1]x/activate?sn={SN}"),
        ] {
            assert_eq!(code(&text), "qr.ambiguous", "{text}");
        }
    }

    #[test]
    fn size_control_characters_and_other_text() {
        let long = format!(
            "https://{HOST}/activate?sn={SN}&pad={}",
            "a".repeat(MAX_QR_TEXT)
        );
        assert_eq!(code(&long), "qr.too_long");
        assert_eq!(code(&"x".repeat(10 * MAX_QR_TEXT)), "qr.too_long");
        let at_limit = format!("https://{HOST}/activate?sn={SN}&pad=");
        let at_limit = format!("{at_limit}{}", "a".repeat(MAX_QR_TEXT - at_limit.len()));
        assert_eq!(parse(&at_limit).unwrap().sn, SN);
        for text in [
            format!("https://{HOST}/activate?sn={SN}\u{0}"),
            format!("https://{HOST}/act\u{7f}ivate?sn={SN}"),
            format!("https://{HOST}/activate?sn={SN}\u{85}"),
            format!("https://{HOST}\u{202E}/activate?sn={SN}"),
            format!("\u{200B}{SN}"),
            format!("{SN}\tX"),
            format!("https://{HOST}/activate?sn={SN}\nhttps://evil.com"),
        ] {
            assert_eq!(code(&text), "qr.control_characters", "{text:?}");
        }
        assert_eq!(code(""), "qr.empty");
        assert_eq!(code(" \r\n"), "qr.empty");
        for text in [
            "hello",
            "https",
            "weixin://wxpay/bizpayurl?pr=abc",
            "ftp://qr.sandbox.lakala.example/activate?sn=LKLA800123455",
            "javascript:alert(1)",
            "1234567890123",
            "XKLA800123455",
            "拉卡拉",
            "mailto:a@b.c",
        ] {
            assert_eq!(code(text), "qr.unrecognised", "{text}");
        }
    }

    #[test]
    fn errors_never_carry_the_text() {
        let text = format!("https://evil.com/activate?sn={SN}&sig={SIG}");
        let e = parse(&text).unwrap_err();
        let public = crate::MerchantError::from(e.clone());
        let all = format!("{e} {e:?} {public} {public:?}");
        assert!(!all.contains("evil") && !all.contains("0012345") && !all.contains(SIG));
    }

    #[test]
    fn the_canonical_text_parses_back() {
        for q in [
            qr(SN, None, None),
            qr(SN, Some("A8"), Some(SIG)),
            qr(SN, None, Some(SIG)),
        ] {
            assert_eq!(parse(&q.to_text(HOST)).unwrap(), q);
        }
        assert_eq!(
            qr(SN, None, Some(SIG)).to_text(HOST),
            format!("https://{HOST}/activate?sn={SN}&sig={SIG}")
        );
    }

    /// Round trip of whatever parsed, and the host rule: a URL that parsed
    /// names a trusted host.
    fn check_parsed(text: &str) -> std::result::Result<(), TestCaseError> {
        if let Ok(q) = parse(text) {
            prop_assert_eq!(parse(&q.to_text(HOST)).ok(), Some(q.clone()));
            prop_assert!(serial::normalise_serial(&q.sn).is_ok());
            if let Some(rest) = text.trim().to_ascii_lowercase().strip_prefix("https://") {
                let host = rest.split(['/', '?', ':']).next().unwrap_or_default();
                prop_assert!(host == HOST || host == format!("{HOST}."), "host {}", host);
            }
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn any_text_parses_without_panic_and_round_trips(text in any::<String>()) {
            check_parsed(&text)?;
        }

        #[test]
        fn url_shaped_text_parses_without_panic_and_round_trips(
            text in "(https?://)?[a-zA-Z0-9.:@\\[\\]%/?&=#\\\\ -]{0,80}"
        ) {
            check_parsed(&text)?;
        }

        #[test]
        fn spliced_urls_parse_without_panic_and_round_trip(
            host in prop_oneof![Just(HOST.to_owned()), any::<String>(), "[a-zA-Z0-9.:@%\\[\\]-]{0,40}"],
            path in prop_oneof![Just("/activate".to_owned()), any::<String>()],
            sn in prop_oneof![Just(SN.to_owned()), any::<String>(), "[A-Z0-9%]{0,16}"],
            sig in prop_oneof![Just(SIG.to_owned()), any::<String>(), "[0-9a-fA-F%]{0,20}"],
            extra in prop_oneof![Just(String::new()), any::<String>(), "&[a-z%=&]{0,10}"],
        ) {
            let text = format!("https://{host}{path}?sn={sn}&sig={sig}{extra}");
            check_parsed(&text)?;
            let text = format!("https://{HOST}/activate?{extra}&sn={sn}&sig={sig}");
            check_parsed(&text)?;
        }
    }
}
