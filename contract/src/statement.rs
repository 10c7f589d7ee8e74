//! The day's statement file (对账单) of `GET /v1/settlements/{date}/statement`:
//! its line format, the writer the platform uses and the streaming reader the
//! core uses. One definition, so the two sides cannot drift.
//!
//! The file is UTF-8 CSV with `\n` line ends (a `\r\n` is read too), no BOM,
//! no quoting (no field may hold a comma, a quote or a line break):
//!
//! ```text
//! log_no,reference_no,trade_id,original_trade_id,terminal_sn,channel,kind,amount_fen,fee_fen,card_bin,card_last4,time
//! 20250601000001,601234567890,T20250601004711938265,,LKL8D0000001,credit_card,sale,128000,768,622848,0017,2025-06-01T09:30:00+08:00
//! 20250601000002,601234567891,V20250601004711938266,T20250601004711938265,LKL8D0000001,credit_card,void,128000,768,622848,0017,2025-06-01T09:41:07+08:00
//! TOTAL,2,128000,128000,0,0,0
//! ```
//!
//! - One line per record that counts in the day's settlement: every paid sale
//!   of the day (a sale later voided too, followed somewhere by its void
//!   line), every void and every refund made that day. Pending, failed and
//!   closed records are not listed.
//! - `amount_fen` and `fee_fen` are positive integer fen: a sale's amount and
//!   fee; a void's or refund's amount given back and fee returned.
//! - `card_bin` (6 digits) and `card_last4` (4 digits) are both given for a
//!   card trade and both empty otherwise; nothing more of a card ever is.
//! - `time`: when the record was made, `YYYY-MM-DDTHH:MM:SS+08:00`.
//! - The closing line, always last:
//!   `TOTAL,<lines>,<sale_fen>,<void_fen>,<refund_fen>,<fee_fen>,<net_fen>`,
//!   where `fee_fen` is the sales' fees minus the fees returned by voids and
//!   refunds, and `net_fen = sale_fen - void_fen - refund_fen - fee_fen`: the
//!   day's `net_amount`.

use std::io::{BufRead, Read as _};

/// The header line, without its line end.
pub const HEADER: &str = "log_no,reference_no,trade_id,original_trade_id,terminal_sn,channel,kind,amount_fen,fee_fen,card_bin,card_last4,time";

/// The longest line a reader accepts, in bytes (a line end included).
pub const MAX_LINE: usize = 512;

/// The content type of the file.
pub const CONTENT_TYPE: &str = "text/csv; charset=utf-8";

/// One record line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementLine {
    /// 流水号, 14 digits.
    pub log_no: String,
    /// 参考号, 12 digits.
    pub reference_no: String,
    pub trade_id: String,
    /// A void or refund: the sale it gives back.
    pub original_trade_id: Option<String>,
    pub terminal_sn: String,
    /// The channel's wire name (`wechat`, `credit_card`, ...).
    pub channel: String,
    /// `sale`, `void` or `refund`.
    pub kind: String,
    pub amount_fen: i64,
    pub fee_fen: i64,
    /// BIN (6 digits) and last four of a card trade.
    pub card: Option<(String, String)>,
    /// `YYYY-MM-DDTHH:MM:SS+08:00`.
    pub time: String,
}

/// The closing line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatementTotal {
    pub lines: u64,
    pub sale_fen: i64,
    pub void_fen: i64,
    pub refund_fen: i64,
    /// Sales' fees minus fees returned.
    pub fee_fen: i64,
    pub net_fen: i64,
}

impl StatementTotal {
    /// Adds one line to the running total.
    pub fn add(&mut self, line: &StatementLine) {
        self.lines += 1;
        match line.kind.as_str() {
            "sale" => {
                self.sale_fen += line.amount_fen;
                self.fee_fen += line.fee_fen;
            }
            "void" => {
                self.void_fen += line.amount_fen;
                self.fee_fen -= line.fee_fen;
            }
            _ => {
                self.refund_fen += line.amount_fen;
                self.fee_fen -= line.fee_fen;
            }
        }
        self.net_fen = self.sale_fen - self.void_fen - self.refund_fen - self.fee_fen;
    }
}

/// Why a statement file was refused. Every variant has a stable code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatementError {
    #[error("the file could not be read: {0}")]
    Io(String),
    #[error("the file is not UTF-8 (line {line})")]
    NotUtf8 { line: u64 },
    #[error("the header line is not the statement header")]
    Header,
    #[error("line {line} is longer than {MAX_LINE} bytes")]
    LineTooLong { line: u64 },
    #[error("line {line}: {field} is not valid")]
    Field { line: u64, field: &'static str },
    #[error("line {line}: expected 12 fields")]
    FieldCount { line: u64 },
    #[error("line {line}: the record {trade_id_hint} appears twice")]
    Duplicate { line: u64, trade_id_hint: String },
    #[error("the closing TOTAL line is missing")]
    TotalMissing,
    #[error("the closing TOTAL line does not add up to the lines")]
    TotalMismatch,
    #[error("line {line} follows the closing TOTAL line")]
    AfterTotal { line: u64 },
}

impl StatementError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            StatementError::Io(_) => "statement.unreadable",
            StatementError::NotUtf8 { .. } => "statement.not_utf8",
            StatementError::Header => "statement.header",
            StatementError::LineTooLong { .. } => "statement.line_too_long",
            StatementError::Field { .. } | StatementError::FieldCount { .. } => {
                "statement.line_invalid"
            }
            StatementError::Duplicate { .. } => "statement.duplicate",
            StatementError::TotalMissing => "statement.total_missing",
            StatementError::TotalMismatch => "statement.total_mismatch",
            StatementError::AfterTotal { .. } => "statement.after_total",
        }
    }
}

/// Writes the header line.
pub fn write_header(out: &mut String) {
    out.push_str(HEADER);
    out.push('\n');
}

/// Writes one record line.
pub fn write_line(out: &mut String, l: &StatementLine) {
    let (bin, last4) = match &l.card {
        Some((b, f)) => (b.as_str(), f.as_str()),
        None => ("", ""),
    };
    out.push_str(&format!(
        "{},{},{},{},{},{},{},{},{},{},{},{}\n",
        l.log_no,
        l.reference_no,
        l.trade_id,
        l.original_trade_id.as_deref().unwrap_or(""),
        l.terminal_sn,
        l.channel,
        l.kind,
        l.amount_fen,
        l.fee_fen,
        bin,
        last4,
        l.time
    ));
}

/// Writes the closing line.
pub fn write_total(out: &mut String, t: &StatementTotal) {
    out.push_str(&format!(
        "TOTAL,{},{},{},{},{},{}\n",
        t.lines, t.sale_fen, t.void_fen, t.refund_fen, t.fee_fen, t.net_fen
    ));
}

fn digits(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_digit())
}

fn id_like(s: &str) -> bool {
    !s.is_empty() && s.len() <= 40 && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn fen(s: &str) -> Option<i64> {
    if s.is_empty() || s.len() > 15 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `YYYY-MM-DDTHH:MM:SS+08:00` with plausible ranges.
fn china_time(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 25 || !s.ends_with("+08:00") {
        return false;
    }
    let num = |from: usize, to: usize| -> Option<u32> {
        let t = &s[from..to];
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())
            .flatten()
    };
    b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && num(0, 4).is_some()
        && num(5, 7).is_some_and(|m| (1..=12).contains(&m))
        && num(8, 10).is_some_and(|d| (1..=31).contains(&d))
        && num(11, 13).is_some_and(|h| h < 24)
        && num(14, 16).is_some_and(|m| m < 60)
        && num(17, 19).is_some_and(|s| s < 60)
}

/// Reads one record line (its line end removed).
pub fn parse_line(text: &str, line: u64) -> Result<StatementLine, StatementError> {
    let f: Vec<&str> = text.split(',').collect();
    if f.len() != 12 {
        return Err(StatementError::FieldCount { line });
    }
    let bad = |field: &'static str| StatementError::Field { line, field };
    if !digits(f[0], 14) {
        return Err(bad("log_no"));
    }
    if !digits(f[1], 12) {
        return Err(bad("reference_no"));
    }
    if !id_like(f[2]) {
        return Err(bad("trade_id"));
    }
    let kind = match f[6] {
        k @ ("sale" | "void" | "refund") => k,
        _ => return Err(bad("kind")),
    };
    let original = match (kind, f[3]) {
        ("sale", "") => None,
        ("sale", _) => return Err(bad("original_trade_id")),
        (_, o) if id_like(o) => Some(o.to_owned()),
        _ => return Err(bad("original_trade_id")),
    };
    if !id_like(f[4]) {
        return Err(bad("terminal_sn"));
    }
    if f[5].is_empty()
        || f[5].len() > 20
        || !f[5].bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
    {
        return Err(bad("channel"));
    }
    let amount = fen(f[7])
        .filter(|a| *a > 0)
        .ok_or_else(|| bad("amount_fen"))?;
    let fee = fen(f[8])
        .filter(|x| *x <= amount)
        .ok_or_else(|| bad("fee_fen"))?;
    let card = match (f[9], f[10]) {
        ("", "") => None,
        (b, l) if digits(b, 6) && digits(l, 4) => Some((b.to_owned(), l.to_owned())),
        _ => return Err(bad("card")),
    };
    if !china_time(f[11]) {
        return Err(bad("time"));
    }
    Ok(StatementLine {
        log_no: f[0].to_owned(),
        reference_no: f[1].to_owned(),
        trade_id: f[2].to_owned(),
        original_trade_id: original,
        terminal_sn: f[4].to_owned(),
        channel: f[5].to_owned(),
        kind: kind.to_owned(),
        amount_fen: amount,
        fee_fen: fee,
        card,
        time: f[11].to_owned(),
    })
}

fn parse_total(text: &str) -> Option<StatementTotal> {
    let f: Vec<&str> = text.split(',').collect();
    if f.len() != 7 || f[0] != "TOTAL" {
        return None;
    }
    let signed = |s: &str| -> Option<i64> {
        let (neg, body) = match s.strip_prefix('-') {
            Some(b) => (true, b),
            None => (false, s),
        };
        fen(body).map(|v| if neg { -v } else { v })
    };
    Some(StatementTotal {
        lines: fen(f[1])? as u64,
        sale_fen: fen(f[2])?,
        void_fen: fen(f[3])?,
        refund_fen: fen(f[4])?,
        fee_fen: signed(f[5])?,
        net_fen: signed(f[6])?,
    })
}

/// Reads a statement file line by line, holding one line at a time (plus
/// the record ids seen, to refuse a record listed twice). `on_line` gets
/// each record line in order; the whole file must be read before any of
/// them may be trusted: the caller applies them in a transaction it commits
/// only when this returns `Ok` with the checked total.
pub fn read<R: BufRead>(
    mut input: R,
    mut on_line: impl FnMut(StatementLine) -> Result<(), StatementError>,
) -> Result<StatementTotal, StatementError> {
    let mut buf = Vec::with_capacity(MAX_LINE);
    let mut n: u64 = 0;
    let mut running = StatementTotal::default();
    let mut closing: Option<StatementTotal> = None;
    let mut seen = std::collections::HashSet::new();
    loop {
        buf.clear();
        let got = std::io::Read::by_ref(&mut input)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut buf)
            .map_err(|e| StatementError::Io(e.kind().to_string()))?;
        if got == 0 {
            break;
        }
        n += 1;
        if buf.len() > MAX_LINE || (buf.last() != Some(&b'\n') && got > MAX_LINE) {
            return Err(StatementError::LineTooLong { line: n });
        }
        let text = std::str::from_utf8(&buf).map_err(|_| StatementError::NotUtf8 { line: n })?;
        let text = text
            .strip_suffix('\n')
            .map(|t| t.strip_suffix('\r').unwrap_or(t))
            .unwrap_or(text);
        if n == 1 {
            if text != HEADER {
                return Err(StatementError::Header);
            }
            continue;
        }
        if closing.is_some() {
            if text.is_empty() {
                continue;
            }
            return Err(StatementError::AfterTotal { line: n });
        }
        if text.starts_with("TOTAL,") {
            let t = parse_total(text).ok_or(StatementError::Field {
                line: n,
                field: "total",
            })?;
            closing = Some(t);
            continue;
        }
        let line = parse_line(text, n)?;
        if !seen.insert(line.trade_id.clone()) {
            return Err(StatementError::Duplicate {
                line: n,
                trade_id_hint: line.trade_id,
            });
        }
        running.add(&line);
        on_line(line)?;
    }
    if n == 0 {
        return Err(StatementError::Header);
    }
    let total = closing.ok_or(StatementError::TotalMissing)?;
    if total != running {
        return Err(StatementError::TotalMismatch);
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<StatementLine> {
        vec![
            StatementLine {
                log_no: "20250601000001".into(),
                reference_no: "601234567890".into(),
                trade_id: "T20250601004711938265".into(),
                original_trade_id: None,
                terminal_sn: "LKL8D0000001".into(),
                channel: "credit_card".into(),
                kind: "sale".into(),
                amount_fen: 128_000,
                fee_fen: 768,
                card: Some(("622848".into(), "0017".into())),
                time: "2025-06-01T09:30:00+08:00".into(),
            },
            StatementLine {
                log_no: "20250601000002".into(),
                reference_no: "601234567891".into(),
                trade_id: "R20250601004711938266".into(),
                original_trade_id: Some("T20250601004711938265".into()),
                terminal_sn: "LKL8D0000001".into(),
                channel: "credit_card".into(),
                kind: "refund".into(),
                amount_fen: 28_000,
                fee_fen: 168,
                card: Some(("622848".into(), "0017".into())),
                time: "2025-06-01T09:41:07+08:00".into(),
            },
        ]
    }

    fn file(lines: &[StatementLine]) -> String {
        let mut out = String::new();
        write_header(&mut out);
        let mut t = StatementTotal::default();
        for l in lines {
            write_line(&mut out, l);
            t.add(l);
        }
        write_total(&mut out, &t);
        out
    }

    #[test]
    fn what_is_written_reads_back_with_its_total() {
        let lines = sample();
        let text = file(&lines);
        let mut got = Vec::new();
        let total = read(text.as_bytes(), |l| {
            got.push(l);
            Ok(())
        })
        .unwrap();
        assert_eq!(got, lines);
        assert_eq!(total.lines, 2);
        assert_eq!(total.sale_fen, 128_000);
        assert_eq!(total.refund_fen, 28_000);
        assert_eq!(total.fee_fen, 600);
        assert_eq!(total.net_fen, 128_000 - 28_000 - 600);
    }

    #[test]
    fn crlf_line_ends_are_read() {
        let text = file(&sample()).replace('\n', "\r\n");
        assert!(read(text.as_bytes(), |_| Ok(())).is_ok());
    }

    fn code_of(text: &str) -> &'static str {
        read(text.as_bytes(), |_| Ok(())).unwrap_err().code()
    }

    #[test]
    fn a_malformed_file_is_refused_with_its_code() {
        let good = file(&sample());
        assert_eq!(code_of(""), "statement.header");
        assert_eq!(
            code_of(&good.replacen("log_no", "log", 1)),
            "statement.header"
        );
        assert_eq!(
            code_of(&good.replace(",TOTAL", "").replace("TOTAL,2", "TOTAL,3")),
            "statement.total_mismatch"
        );
        let no_total: String = good
            .lines()
            .filter(|l| !l.starts_with("TOTAL"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(code_of(&no_total), "statement.total_missing");
        assert_eq!(
            code_of(&format!("{good}{}", good.lines().nth(1).unwrap())),
            "statement.after_total"
        );
        // A full card number in the BIN column.
        assert_eq!(
            code_of(&good.replace("622848,0017", "6228480000000017,0017")),
            "statement.line_invalid"
        );
        assert_eq!(
            code_of(&good.replace(",128000,768,", ",-128000,768,")),
            "statement.line_invalid"
        );
        assert_eq!(
            code_of(&good.replace(",128000,768,", ",700,768,")),
            "statement.line_invalid"
        );
        assert_eq!(
            code_of(&good.replace(",sale,", ",gift,")),
            "statement.line_invalid"
        );
        let long = format!("{HEADER}\n{}\n", "1".repeat(MAX_LINE + 10));
        assert_eq!(code_of(&long), "statement.line_too_long");
        let mut bytes = good.clone().into_bytes();
        bytes[HEADER.len() + 3] = 0xff;
        assert_eq!(
            read(bytes.as_slice(), |_| Ok(())).unwrap_err().code(),
            "statement.not_utf8"
        );
        let second = good.lines().nth(1).unwrap();
        let dup = good.replacen(second, &format!("{second}\n{second}"), 1);
        assert_eq!(code_of(&dup), "statement.duplicate");
    }
}
