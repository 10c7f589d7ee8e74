//! History queries: filters that combine freely and keyset pages, newest
//! first, served by an index for every combination.
//!
//! # Pages
//!
//! Trades come newest first by `(created_at DESC, id DESC)` (`id` is the
//! local rowid, the tie-break). A page's `next_cursor` is an opaque string
//! naming the last row given; the next page starts strictly after it. Rows
//! inserted while the merchant pages (a sync running, newer or older trades)
//! never make a row of the walked range appear twice or go missing: a newer
//! row sorts before the cursor and is not in the rest of the walk, an older
//! one sorts after it and shows up in its place.
//!
//! # How a page is found
//!
//! One SQL statement. Its inner part picks the ids of the page through ONE
//! driving index, chosen in Rust from the filters by a small cost model (so
//! the plan never depends on table statistics):
//!
//! - text: `trade_id` (unique), `trade_log_no`, `trade_reference_no`,
//!   `trade_card_last4`: a handful of rows at most;
//! - terminals: `trade_terminal (terminal_sn, created_at, channel, kind,
//!   status, amount)`, one arm per terminal;
//! - channels: `trade_channel (channel, created_at, kind, status, amount)`,
//!   one arm per channel;
//! - rare statuses (a list without `success`) and rare kinds (without
//!   `sale`): the partial indexes `trade_status_rare`, `trade_kind_rare`;
//! - otherwise time: `trade_time (created_at, channel, kind, status, amount,
//!   terminal_sn, fee)`, which also covers the summaries.
//!
//! Each arm walks its index newest first from the cursor (`created_at <=
//! cursor`: always a range, so always a `SEARCH`) and checks the other
//! filters inside the index where it covers them; several arms (an IN-list
//! on the driving column) are merged by `UNION ALL … ORDER BY … LIMIT`, each
//! arm giving at most one page. The outer part fetches the page's rows by
//! rowid. `EXPLAIN QUERY PLAN` of every combination of filters is checked by
//! a test: no full scan of `trade`.
//!
//! # Text
//!
//! Decided by its shape (spaces ignored): 4 digits, a card's last four; 12
//! digits, a reference number (参考号); 14 digits, a log number (流水号);
//! `T`, `R` or `V` and digits, an order number (订单号, any case). Anything
//! else is `trades.filter_text_invalid`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{Datelike, NaiveDate, TimeZone};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params_from_iter};

use super::model::{Trade, TradeKind, TradeStatus};
use super::store::{COLUMNS, read_row};
use crate::error::{Error, Problem, Result};
use crate::money::{Amount, Channel};

crate::codes! {
    FILTER_RANGE_INVALID = Input, "trades.filter_range_invalid", "结束时间不能早于开始时间", "The end of the time range is before its start";
    FILTER_AMOUNT_INVALID = Input, "trades.filter_amount_invalid", "最高金额不能低于最低金额", "The maximum amount is below the minimum amount";
    FILTER_TOO_MANY_TERMINALS = Input, "trades.filter_too_many_terminals", "一次最多筛选 50 台终端", "At most 50 terminals can be filtered at once";
    FILTER_TEXT_INVALID = Input, "trades.filter_text_invalid", "请输入订单号、14 位流水号、12 位参考号或卡号后四位", "Enter an order number, a 14-digit log number, a 12-digit reference number or a card's last four digits";
    DATE_INVALID = Input, "trades.date_invalid", "日期格式应为 YYYY-MM-DD（月份为 YYYY-MM）", "The date must be YYYY-MM-DD (a month YYYY-MM)";
    CURSOR_INVALID = Input, "trades.cursor_invalid", "翻页位置无效，请从第一页重新查询", "The page cursor is not valid; start again from the first page";
    PAGE_LIMIT_INVALID = Input, "trades.page_limit_invalid", "每页条数应在 1 到 200 之间", "A page holds 1 to 200 trades";
}

/// The most terminals one filter may name.
pub const MAX_TERMINALS: usize = 50;
/// The largest page.
pub const MAX_PAGE: u32 = 200;
/// Prepared statements kept per connection (see [`page_rows`]).
pub const STATEMENT_CACHE: usize = 64;

/// A time range in unix milliseconds: `from_ms` inclusive, `to_ms`
/// exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct TimeRange {
    pub from_ms: i64,
    pub to_ms: i64,
}

/// Which trades to show. Every field left empty (`None`, `[]`) filters
/// nothing; the filters given all apply together.
#[derive(Debug, Clone, Default, PartialEq, Eq, uniffi::Record)]
pub struct TradeFilter {
    /// Created at or after (unix ms).
    #[uniffi(default)]
    pub from_ms: Option<i64>,
    /// Created before (unix ms, exclusive).
    #[uniffi(default)]
    pub to_ms: Option<i64>,
    #[uniffi(default)]
    pub channels: Vec<Channel>,
    #[uniffi(default)]
    pub kinds: Vec<TradeKind>,
    #[uniffi(default)]
    pub statuses: Vec<TradeStatus>,
    /// Terminal serial numbers, at most [`MAX_TERMINALS`].
    #[uniffi(default)]
    pub terminals: Vec<String>,
    /// Amount at least (inclusive).
    #[uniffi(default)]
    pub min_amount: Option<Amount>,
    /// Amount at most (inclusive).
    #[uniffi(default)]
    pub max_amount: Option<Amount>,
    /// An order number, a log number, a reference number or a card's last
    /// four (see the module documentation).
    #[uniffi(default)]
    pub text: Option<String>,
}

/// One page of trades, newest first.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TradePage {
    pub trades: Vec<Trade>,
    /// Pass it back for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// The China-time (+08:00) day `YYYY-MM-DD` as a time range.
pub fn china_day_range(date: &str) -> Result<TimeRange> {
    let day = parse_date(date)?;
    Ok(TimeRange {
        from_ms: china_midnight_ms(day),
        to_ms: china_midnight_ms(day + chrono::Days::new(1)),
    })
}

pub(crate) use crate::validate::CHINA;

/// Unix ms of China midnight at the start of `day`.
pub(crate) fn china_midnight_ms(day: NaiveDate) -> i64 {
    let midnight = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    CHINA
        .from_local_datetime(&midnight)
        .single()
        .map_or(0, |t| t.timestamp_millis())
}

/// A strict `YYYY-MM-DD` date (four-digit year, zero-padded).
pub(crate) fn parse_date(date: &str) -> Result<NaiveDate> {
    let t = date.trim();
    let shaped = t.len() == 10
        && t.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    shaped
        .then(|| NaiveDate::parse_from_str(t, "%Y-%m-%d").ok())
        .flatten()
        .filter(|d| d.year() >= 1970)
        .ok_or_else(|| Error::input(&DATE_INVALID, vec![Problem::new(&DATE_INVALID, "date")]))
}

// ---------------------------------------------------------------------------
// Filter checks
// ---------------------------------------------------------------------------

/// What the text filter names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextQuery {
    TradeId(String),
    LogNo(String),
    ReferenceNo(String),
    CardLast4(String),
}

/// Reads the text filter by its shape.
pub fn parse_text(text: &str) -> Result<TextQuery> {
    let t: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let invalid = || {
        Error::input(
            &FILTER_TEXT_INVALID,
            vec![Problem::new(&FILTER_TEXT_INVALID, "text")],
        )
    };
    if digits(&t) {
        return match t.len() {
            4 => Ok(TextQuery::CardLast4(t)),
            12 => Ok(TextQuery::ReferenceNo(t)),
            14 => Ok(TextQuery::LogNo(t)),
            _ => Err(invalid()),
        };
    }
    let upper = t.to_ascii_uppercase();
    match upper.split_at_checked(1) {
        Some(("T" | "R" | "V", rest)) if digits(rest) && upper.len() <= 40 => {
            Ok(TextQuery::TradeId(upper))
        }
        _ => Err(invalid()),
    }
}

/// A filter checked and put in order: lists without repeats, a list naming
/// every value of its enum dropped (it filters nothing).
#[derive(Debug, Clone, Default)]
pub struct Checked {
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    pub channels: Vec<Channel>,
    pub kinds: Vec<TradeKind>,
    pub statuses: Vec<TradeStatus>,
    pub terminals: Vec<String>,
    pub min_fen: Option<i64>,
    pub max_fen: Option<i64>,
    pub text: Option<TextQuery>,
}

fn dedup<T: PartialEq + Clone>(items: &[T], all: usize) -> Vec<T> {
    let mut out: Vec<T> = Vec::new();
    for i in items {
        if !out.contains(i) {
            out.push(i.clone());
        }
    }
    if out.len() == all { Vec::new() } else { out }
}

/// Checks a filter; every problem is listed.
pub fn check(filter: &TradeFilter) -> Result<Checked> {
    let mut problems: Vec<(&'static crate::error::Code, &str)> = Vec::new();
    if let (Some(from), Some(to)) = (filter.from_ms, filter.to_ms)
        && to < from
    {
        problems.push((&FILTER_RANGE_INVALID, "to_ms"));
    }
    if let (Some(min), Some(max)) = (filter.min_amount, filter.max_amount)
        && max < min
    {
        problems.push((&FILTER_AMOUNT_INVALID, "max_amount"));
    }
    let mut terminals: Vec<String> = Vec::new();
    for t in &filter.terminals {
        let t = t.trim().to_ascii_uppercase();
        if !terminals.contains(&t) {
            terminals.push(t);
        }
    }
    if terminals.len() > MAX_TERMINALS {
        problems.push((&FILTER_TOO_MANY_TERMINALS, "terminals"));
    }
    let text = match filter
        .text
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        None => None,
        Some(t) => match parse_text(t) {
            Ok(q) => Some(q),
            Err(_) => {
                problems.push((&FILTER_TEXT_INVALID, "text"));
                None
            }
        },
    };
    if let Some((first, _)) = problems.first() {
        return Err(Error::input(
            first,
            problems.iter().map(|(c, f)| Problem::new(c, f)).collect(),
        ));
    }
    Ok(Checked {
        from_ms: filter.from_ms,
        to_ms: filter.to_ms,
        channels: dedup(&filter.channels, Channel::ALL.len()),
        kinds: dedup(&filter.kinds, TradeKind::ALL.len()),
        statuses: dedup(&filter.statuses, TradeStatus::ALL.len()),
        terminals,
        min_fen: filter.min_amount.map(Amount::to_fen),
        max_fen: filter.max_amount.map(Amount::to_fen),
        text,
    })
}

// ---------------------------------------------------------------------------
// Cursor
// ---------------------------------------------------------------------------

/// Where a page walk stands: the last row given, `(created_at, id)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor {
    pub created_at: i64,
    pub id: i64,
}

const CURSOR_TAG: u8 = 1;

impl Cursor {
    pub fn encode(self) -> String {
        let mut bytes = Vec::with_capacity(17);
        bytes.push(CURSOR_TAG);
        bytes.extend_from_slice(&self.created_at.to_be_bytes());
        bytes.extend_from_slice(&self.id.to_be_bytes());
        B64.encode(bytes)
    }

    pub fn decode(text: &str) -> Result<Cursor> {
        let invalid = || {
            Error::input(
                &CURSOR_INVALID,
                vec![Problem::new(&CURSOR_INVALID, "cursor")],
            )
        };
        if text.len() > 64 {
            return Err(invalid());
        }
        let bytes = B64.decode(text.trim()).map_err(|_| invalid())?;
        let (tag, rest) = bytes.split_first().ok_or_else(invalid)?;
        if *tag != CURSOR_TAG || rest.len() != 16 {
            return Err(invalid());
        }
        let (a, b) = rest.split_at(8);
        let created_at = i64::from_be_bytes(a.try_into().map_err(|_| invalid())?);
        let id = i64::from_be_bytes(b.try_into().map_err(|_| invalid())?);
        if id <= 0 {
            return Err(invalid());
        }
        Ok(Cursor { created_at, id })
    }
}

// ---------------------------------------------------------------------------
// The page statement
// ---------------------------------------------------------------------------

/// The statement of one page and its parameters, as `trade_page` runs it
/// (the bench times the same through bare rusqlite).
#[derive(Debug, Clone)]
pub struct PageSql {
    pub sql: String,
    pub params: Vec<Value>,
}

/// The index that drives a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    Text,
    Time,
    Terminal,
    Channel,
    Status,
    Kind,
}

fn channel_share(c: Channel) -> f64 {
    match c {
        Channel::WeChat => 0.45,
        Channel::Alipay => 0.30,
        Channel::UnionPayQr => 0.05,
        Channel::DebitCard => 0.11,
        Channel::CreditCard => 0.09,
    }
}

fn status_share(s: TradeStatus) -> f64 {
    match s {
        TradeStatus::Success => 0.88,
        TradeStatus::Pending | TradeStatus::Failed | TradeStatus::Closed | TradeStatus::Voided => {
            0.01
        }
        TradeStatus::PartiallyRefunded => 0.02,
        TradeStatus::Refunded => 0.03,
    }
}

fn kind_share(k: TradeKind) -> f64 {
    match k {
        TradeKind::Sale => 0.93,
        TradeKind::Refund => 0.05,
        TradeKind::Void => 0.02,
    }
}

/// Picks the driving index by a rough cost: entries walked to find a page,
/// with the a-priori shares of the platform's mix (a terminal a quarter of
/// the trades, an amount range a third). Covering walks (time, terminal,
/// channel) check the other filters inside the index; the rare-status and
/// rare-kind walks look the row up for them.
pub fn driver(f: &Checked) -> Driver {
    if f.text.is_some() {
        return Driver::Text;
    }
    let sum = |v: f64| v.clamp(1e-4, 1.0);
    let s_ch =
        (!f.channels.is_empty()).then(|| sum(f.channels.iter().map(|c| channel_share(*c)).sum()));
    let s_st =
        (!f.statuses.is_empty()).then(|| sum(f.statuses.iter().map(|s| status_share(*s)).sum()));
    let s_kd = (!f.kinds.is_empty()).then(|| sum(f.kinds.iter().map(|k| kind_share(*k)).sum()));
    let s_te = (!f.terminals.is_empty()).then(|| sum(0.25 * f.terminals.len() as f64));
    let s_am = match (f.min_fen, f.max_fen) {
        (None, None) => None,
        (Some(_), Some(_)) => Some(0.3),
        _ => Some(0.5),
    };
    let joint = [s_ch, s_st, s_kd, s_te, s_am]
        .iter()
        .flatten()
        .product::<f64>()
        .max(1e-6);
    const IN_INDEX: f64 = 0.15;
    const LOOKUP: f64 = 1.5;
    const SEEK: f64 = 3.0;
    let mut best = (Driver::Time, IN_INDEX * 50.0 / joint);
    let mut consider = |d: Driver, arms: usize, share: Option<f64>, per_entry: f64| {
        if let Some(s) = share {
            let cost = SEEK * arms as f64 + per_entry * 50.0 * s / joint;
            if cost < best.1 {
                best = (d, cost);
            }
        }
    };
    consider(Driver::Terminal, f.terminals.len(), s_te, IN_INDEX);
    consider(Driver::Channel, f.channels.len(), s_ch, IN_INDEX);
    if !f.statuses.contains(&TradeStatus::Success) {
        consider(Driver::Status, f.statuses.len(), s_st, LOOKUP);
    }
    if !f.kinds.contains(&TradeKind::Sale) {
        consider(Driver::Kind, f.kinds.len(), s_kd, LOOKUP);
    }
    best.0
}

fn quoted<'a>(items: impl Iterator<Item = &'a str>) -> String {
    // Enum names only (our own constants): safe to inline, and inlined they
    // let the planner see through them.
    items
        .map(|s| format!("'{s}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The page statement for a checked filter after `cursor` (none: the first
/// page), at most `limit` rows.
pub fn page_sql(f: &Checked, cursor: Option<Cursor>, limit: u32) -> PageSql {
    let (ids, params) = ids_sql(f, cursor, Some(limit));
    let sql = format!(
        "SELECT {cols}, trade.id FROM ({ids}) AS page JOIN trade ON trade.id = page.id \
         ORDER BY page.created_at DESC, page.id DESC",
        cols = qualified_columns()
    );
    PageSql { sql, params }
}

/// The statement counting every trade of a checked filter (through the same
/// driving index as its pages).
pub fn count_sql(f: &Checked) -> PageSql {
    let (ids, params) = ids_sql(f, None, None);
    PageSql {
        sql: format!("SELECT count(*) FROM ({ids})"),
        params,
    }
}

/// Counts the trades of a checked filter.
pub fn count_on(conn: &Connection, f: &Checked) -> Result<u64> {
    let q = count_sql(f);
    let n: i64 = conn
        .prepare_cached(&q.sql)?
        .query_row(params_from_iter(q.params.iter()), |r| r.get(0))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// The ids and `created_at` of a page (`limit`), or of every match (`None`:
/// unordered), and the statement's parameters.
fn ids_sql(f: &Checked, cursor: Option<Cursor>, limit: Option<u32>) -> (String, Vec<Value>) {
    let mut params: Vec<Value> = Vec::new();
    let mut p = |v: Value| {
        params.push(v);
        format!("?{}", params.len())
    };
    // Upper bound: the cursor, or the end of the time range, whichever is lower.
    let mut upper = Cursor {
        created_at: i64::MAX,
        id: i64::MAX,
    };
    if let Some(to) = f.to_ms {
        upper = Cursor {
            created_at: to.saturating_sub(1),
            id: i64::MAX,
        };
    }
    if let Some(c) = cursor
        && c < upper
    {
        upper = c;
    }
    let upper_at = p(Value::Integer(upper.created_at));
    let upper_id = p(Value::Integer(upper.id));
    let order = match limit {
        Some(n) => format!(
            " ORDER BY created_at DESC, id DESC LIMIT {}",
            p(Value::Integer(i64::from(n)))
        ),
        None => String::new(),
    };
    let mut common = vec![format!(
        "created_at <= {upper_at} AND (created_at < {upper_at} OR id < {upper_id})"
    )];
    if let Some(from) = f.from_ms {
        common.push(format!("created_at >= {}", p(Value::Integer(from))));
    }
    if let Some(min) = f.min_fen {
        common.push(format!("amount >= {}", p(Value::Integer(min))));
    }
    if let Some(max) = f.max_fen {
        common.push(format!("amount <= {}", p(Value::Integer(max))));
    }
    let d = driver(f);
    let mut residual = |common: &mut Vec<String>, skip: Driver| {
        if skip != Driver::Channel && !f.channels.is_empty() {
            common.push(format!(
                "channel IN ({})",
                quoted(f.channels.iter().map(|c| c.as_str()))
            ));
        }
        if skip != Driver::Kind && !f.kinds.is_empty() {
            common.push(format!(
                "kind IN ({})",
                quoted(f.kinds.iter().map(|k| k.as_str()))
            ));
        }
        if skip != Driver::Status && !f.statuses.is_empty() {
            common.push(format!(
                "status IN ({})",
                quoted(f.statuses.iter().map(|s| s.as_str()))
            ));
        }
        if skip != Driver::Terminal && !f.terminals.is_empty() {
            let list: Vec<String> = f
                .terminals
                .iter()
                .map(|t| p(Value::Text(t.clone())))
                .collect();
            common.push(format!("terminal_sn IN ({})", list.join(", ")));
        }
    };
    residual(&mut common, d);
    let arm = |index: &str, head: String, common: &[String]| {
        format!(
            "SELECT id, created_at FROM trade {index} WHERE {head} AND {}{order}",
            common.join(" AND ")
        )
    };
    let arms: Vec<String> = match (&f.text, d) {
        (Some(text), _) => {
            let (index, column, value) = match text {
                TextQuery::TradeId(t) => ("", "trade_id", t),
                TextQuery::LogNo(t) => ("INDEXED BY trade_log_no", "log_no", t),
                TextQuery::ReferenceNo(t) => ("INDEXED BY trade_reference_no", "reference_no", t),
                TextQuery::CardLast4(t) => ("INDEXED BY trade_card_last4", "card_last4", t),
            };
            let head = format!("{column} = {}", p(Value::Text(value.clone())));
            vec![arm(index, head, &common)]
        }
        (None, Driver::Time | Driver::Text) => {
            vec![arm("INDEXED BY trade_time", "1".to_owned(), &common)]
        }
        (None, Driver::Terminal) => f
            .terminals
            .iter()
            .map(|t| {
                let head = format!("terminal_sn = {}", p(Value::Text(t.clone())));
                arm("INDEXED BY trade_terminal", head, &common)
            })
            .collect(),
        (None, Driver::Channel) => f
            .channels
            .iter()
            .map(|c| {
                arm(
                    "INDEXED BY trade_channel",
                    format!("channel = '{}'", c.as_str()),
                    &common,
                )
            })
            .collect(),
        (None, Driver::Status) => f
            .statuses
            .iter()
            .map(|s| {
                let head = format!("status = '{}' AND status <> 'success'", s.as_str());
                arm("INDEXED BY trade_status_rare", head, &common)
            })
            .collect(),
        (None, Driver::Kind) => f
            .kinds
            .iter()
            .map(|k| {
                let head = format!("kind = '{}' AND kind <> 'sale'", k.as_str());
                arm("INDEXED BY trade_kind_rare", head, &common)
            })
            .collect(),
    };
    let ids = if arms.len() == 1 {
        arms.into_iter().next().unwrap_or_default()
    } else {
        let union = arms
            .iter()
            .map(|a| format!("SELECT * FROM ({a})"))
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        format!("{union}{order}")
    };
    (ids, params)
}

/// [`COLUMNS`] qualified with the table name (the page joins).
fn qualified_columns() -> String {
    COLUMNS
        .split(',')
        .map(|c| format!("trade.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Runs a page on `conn`: the trades and the cursor after the last of them
/// (`None` when the page is not full).
pub fn page_on(
    conn: &Connection,
    filter: &TradeFilter,
    cursor: Option<&str>,
    limit: u32,
) -> Result<TradePage> {
    let (trades, next) = page_rows(conn, &check_page(filter, cursor, limit)?)?;
    Ok(TradePage {
        trades,
        next_cursor: next.map(Cursor::encode),
    })
}

/// A checked page request.
#[derive(Debug, Clone)]
pub struct PageRequest {
    pub filter: Checked,
    pub cursor: Option<Cursor>,
    pub limit: u32,
}

/// Checks the filter, the cursor and the limit of a page request.
pub fn check_page(filter: &TradeFilter, cursor: Option<&str>, limit: u32) -> Result<PageRequest> {
    if limit == 0 || limit > MAX_PAGE {
        return Err(Error::input(
            &PAGE_LIMIT_INVALID,
            vec![Problem::new(&PAGE_LIMIT_INVALID, "limit")],
        ));
    }
    let cursor = cursor.map(Cursor::decode).transpose()?;
    Ok(PageRequest {
        filter: check(filter)?,
        cursor,
        limit,
    })
}

/// The rows of one page and the cursor after its last row when it was full.
pub fn page_rows(conn: &Connection, req: &PageRequest) -> Result<(Vec<Trade>, Option<Cursor>)> {
    let q = page_sql(&req.filter, req.cursor, req.limit);
    // Each mix of filters is its own statement: keep more of them prepared
    // than rusqlite's default 16, so a screen switching between a few
    // dozen views does not compile its page again each time.
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    let mut stmt = conn.prepare_cached(&q.sql)?;
    let mut rows = stmt.query(params_from_iter(q.params.iter()))?;
    let mut trades = Vec::with_capacity(req.limit as usize);
    let mut last = None;
    while let Some(r) = rows.next()? {
        let t = read_row(r)?;
        last = Some(Cursor {
            created_at: t.created_at_ms,
            id: r.get(25)?,
        });
        trades.push(t);
    }
    let full = trades.len() == req.limit as usize;
    Ok((trades, if full { last } else { None }))
}

/// One trade by its order number.
pub fn trade_by_id(conn: &Connection, trade_id: &str) -> Result<Option<Trade>> {
    let mut stmt =
        conn.prepare_cached(&format!("SELECT {COLUMNS} FROM trade WHERE trade_id = ?1"))?;
    let row = stmt.query_row([trade_id], |r| Ok(read_row(r))).optional()?;
    row.transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trades::testing::{self, Row, TERMINALS};

    const T0: i64 = 1_748_736_000_000; // 2025-06-01 08:00 China time

    fn matches(r: &Row, f: &TradeFilter) -> bool {
        let c = check(f).expect("filter");
        c.from_ms.is_none_or(|v| r.created_at >= v)
            && c.to_ms.is_none_or(|v| r.created_at < v)
            && (c.channels.is_empty() || c.channels.contains(&r.channel))
            && (c.kinds.is_empty() || c.kinds.contains(&r.kind))
            && (c.statuses.is_empty() || c.statuses.contains(&r.status))
            && (c.terminals.is_empty() || c.terminals.contains(&r.terminal_sn))
            && c.min_fen.is_none_or(|v| r.amount >= v)
            && c.max_fen.is_none_or(|v| r.amount <= v)
            && match &c.text {
                None => true,
                Some(TextQuery::TradeId(t)) => &r.trade_id == t,
                Some(TextQuery::LogNo(t)) => &r.log_no == t,
                Some(TextQuery::ReferenceNo(t)) => &r.reference_no == t,
                Some(TextQuery::CardLast4(t)) => r.card_last4.as_ref() == Some(t),
            }
    }

    /// Walks every page of `f` and returns the trade ids in page order.
    fn walk(conn: &Connection, f: &TradeFilter, limit: u32) -> Vec<String> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = page_on(conn, f, cursor.as_deref(), limit).expect("page");
            out.extend(page.trades.iter().map(|t| t.trade_id.clone()));
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => return out,
            }
        }
    }

    /// The expected ids: rows (inserted in id order) matching, newest first.
    fn expected(rows: &[Row], f: &TradeFilter) -> Vec<String> {
        let mut v: Vec<(i64, usize, String)> = rows
            .iter()
            .enumerate()
            .filter(|(_, r)| matches(r, f))
            .map(|(i, r)| (r.created_at, i, r.trade_id.clone()))
            .collect();
        v.sort_by_key(|x| std::cmp::Reverse((x.0, x.1)));
        v.into_iter().map(|x| x.2).collect()
    }

    fn amount(text: &str) -> Amount {
        Amount::parse(text).expect("amount")
    }

    fn sample_filters(rows: &[Row]) -> Vec<(&'static str, TradeFilter)> {
        let card = rows
            .iter()
            .find_map(|r| r.card_last4.clone())
            .expect("a card trade");
        let r = &rows[rows.len() / 2];
        let refund = rows
            .iter()
            .find(|r| r.kind == TradeKind::Refund)
            .expect("a refund");
        let mid = rows[rows.len() / 3].created_at;
        vec![
            ("none", TradeFilter::default()),
            (
                "from",
                TradeFilter {
                    from_ms: Some(mid),
                    ..Default::default()
                },
            ),
            (
                "to",
                TradeFilter {
                    to_ms: Some(mid),
                    ..Default::default()
                },
            ),
            (
                "range",
                TradeFilter {
                    from_ms: Some(mid),
                    to_ms: Some(mid + 3_600_000),
                    ..Default::default()
                },
            ),
            (
                "channel",
                TradeFilter {
                    channels: vec![Channel::UnionPayQr],
                    ..Default::default()
                },
            ),
            (
                "channels",
                TradeFilter {
                    channels: vec![Channel::WeChat, Channel::CreditCard],
                    ..Default::default()
                },
            ),
            (
                "kind",
                TradeFilter {
                    kinds: vec![TradeKind::Refund],
                    ..Default::default()
                },
            ),
            (
                "kinds",
                TradeFilter {
                    kinds: vec![TradeKind::Void, TradeKind::Refund],
                    ..Default::default()
                },
            ),
            (
                "status",
                TradeFilter {
                    statuses: vec![TradeStatus::Success],
                    ..Default::default()
                },
            ),
            (
                "statuses rare",
                TradeFilter {
                    statuses: vec![TradeStatus::Refunded, TradeStatus::Voided],
                    ..Default::default()
                },
            ),
            (
                "terminal",
                TradeFilter {
                    terminals: vec![TERMINALS[1].to_owned()],
                    ..Default::default()
                },
            ),
            (
                "terminals",
                TradeFilter {
                    terminals: vec![TERMINALS[0].to_ascii_lowercase(), TERMINALS[2].to_owned()],
                    ..Default::default()
                },
            ),
            (
                "min",
                TradeFilter {
                    min_amount: Some(amount("500")),
                    ..Default::default()
                },
            ),
            (
                "max",
                TradeFilter {
                    max_amount: Some(amount("20.5")),
                    ..Default::default()
                },
            ),
            (
                "amount",
                TradeFilter {
                    min_amount: Some(amount("100")),
                    max_amount: Some(amount("300")),
                    ..Default::default()
                },
            ),
            (
                "last4",
                TradeFilter {
                    text: Some(card),
                    ..Default::default()
                },
            ),
            (
                "log",
                TradeFilter {
                    text: Some(r.log_no.clone()),
                    ..Default::default()
                },
            ),
            (
                "reference",
                TradeFilter {
                    text: Some(format!(" {} ", r.reference_no)),
                    ..Default::default()
                },
            ),
            (
                "order",
                TradeFilter {
                    text: Some(r.trade_id.to_ascii_lowercase()),
                    ..Default::default()
                },
            ),
            (
                "refund order",
                TradeFilter {
                    text: Some(refund.trade_id.clone()),
                    ..Default::default()
                },
            ),
            (
                "mix scan success terminal",
                TradeFilter {
                    channels: vec![Channel::WeChat, Channel::Alipay],
                    statuses: vec![TradeStatus::Success],
                    terminals: vec![TERMINALS[0].to_owned()],
                    ..Default::default()
                },
            ),
            (
                "mix range card amount",
                TradeFilter {
                    from_ms: Some(mid),
                    channels: vec![Channel::DebitCard, Channel::CreditCard],
                    min_amount: Some(amount("50")),
                    kinds: vec![TradeKind::Sale],
                    ..Default::default()
                },
            ),
            (
                "mix refunds of a terminal",
                TradeFilter {
                    kinds: vec![TradeKind::Refund],
                    terminals: vec![TERMINALS[2].to_owned()],
                    max_amount: Some(amount("100")),
                    ..Default::default()
                },
            ),
            (
                "mix rare statuses scan",
                TradeFilter {
                    statuses: vec![TradeStatus::Pending, TradeStatus::Closed],
                    channels: vec![Channel::Alipay],
                    ..Default::default()
                },
            ),
            (
                "mix all channels = none",
                TradeFilter {
                    channels: Channel::ALL.to_vec(),
                    to_ms: Some(mid),
                    ..Default::default()
                },
            ),
        ]
    }

    #[test]
    fn every_filter_alone_and_mixed_gives_exactly_its_trades_newest_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        // 2000 rows over 20 hours; several share a millisecond.
        let rows = testing::generate(7, 2000, T0, 20 * 3_600_000);
        let db = testing::store_with(dir.path(), &rows);
        for (name, f) in sample_filters(&rows) {
            let want = expected(&rows, &f);
            for limit in [1, 7, 50, 200] {
                let got = db.read(|c| Ok(walk(c, &f, limit))).expect("walk");
                assert_eq!(got, want, "filter {name}, limit {limit}");
            }
            assert!(
                !want.is_empty() || name.contains("none"),
                "filter {name} matched nothing: a weak test"
            );
        }
    }

    #[test]
    fn the_count_and_a_lookup_by_order_number_agree_with_the_rows() {
        let dir = tempfile::tempdir().expect("tempdir");
        let rows = testing::generate(8, 500, T0, 3_600_000);
        let db = testing::store_with(dir.path(), &rows);
        for (name, f) in sample_filters(&rows) {
            let n = db.read(|c| count_on(c, &check(&f)?)).expect("count");
            assert_eq!(n as usize, expected(&rows, &f).len(), "count of {name}");
        }
        let t = db
            .read(|c| trade_by_id(c, &rows[3].trade_id))
            .expect("trade")
            .expect("found");
        assert_eq!(t.trade_id, rows[3].trade_id);
        assert_eq!(t.amount.to_fen(), rows[3].amount);
        assert_eq!(db.read(|c| trade_by_id(c, "T404")).expect("trade"), None);
    }

    #[test]
    fn keyset_pages_neither_repeat_nor_skip_while_rows_arrive() {
        let dir = tempfile::tempdir().expect("tempdir");
        let rows = testing::generate(9, 300, T0, 300 * 1000);
        let db = testing::store_with(dir.path(), &rows);
        let f = TradeFilter::default();
        let mut seen: Vec<String> = Vec::new();
        let mut cursor: Option<String> = None;
        let mut n = 10_000u64;
        let mut inserted_older = Vec::new();
        loop {
            let page = db
                .read(|c| page_on(c, &f, cursor.as_deref(), 25))
                .expect("page");
            seen.extend(page.trades.iter().map(|t| t.trade_id.clone()));
            let Some(next) = page.next_cursor else { break };
            let last = page.trades.last().expect("a full page").created_at_ms;
            // Between pages: a newer trade, one at the cursor's very
            // millisecond, and an older one (a late sync).
            let newer = Row::sale(n, T0 + 10_000_000);
            let same = Row::sale(n + 1, last);
            let older = Row::sale(n + 2, T0 - 1);
            n += 3;
            inserted_older.push(older.trade_id.clone());
            db.write(|tx| {
                testing::insert(tx, &[newer, same, older]);
                Ok(())
            })
            .expect("insert");
            cursor = Some(next);
        }
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), seen.len(), "a row came twice");
        for r in &rows {
            assert!(seen.contains(&r.trade_id), "row {} skipped", r.trade_id);
        }
        // Older rows inserted ahead of the walk show up in their place.
        for id in &inserted_older {
            assert!(seen.contains(id), "older row {id} missing");
        }
    }

    #[test]
    fn bad_filters_cursors_and_limits_have_their_codes() {
        let code = |r: Result<Checked>| r.expect_err("refused").code.to_string();
        let range = TradeFilter {
            from_ms: Some(10),
            to_ms: Some(9),
            ..Default::default()
        };
        assert_eq!(code(check(&range)), "trades.filter_range_invalid");
        let amounts = TradeFilter {
            min_amount: Some(amount("2")),
            max_amount: Some(amount("1.99")),
            ..Default::default()
        };
        assert_eq!(code(check(&amounts)), "trades.filter_amount_invalid");
        let many = TradeFilter {
            terminals: (0..51).map(|i| format!("SN{i}")).collect(),
            ..Default::default()
        };
        assert_eq!(code(check(&many)), "trades.filter_too_many_terminals");
        for bad in [
            "12345",
            "abc",
            "T",
            "T12x",
            "X123",
            "1234567890123",
            "１２３４",
            "T1234567890123456789012345678901234567890",
        ] {
            let f = TradeFilter {
                text: Some(bad.to_owned()),
                ..Default::default()
            };
            assert_eq!(
                code(check(&f)),
                "trades.filter_text_invalid",
                "text {bad:?}"
            );
        }
        // Every problem is listed.
        let both = TradeFilter {
            text: Some("?".into()),
            ..range.clone()
        };
        let err = check(&both).expect_err("refused");
        assert_eq!(err.problems.len(), 2);
        assert_eq!(
            parse_text("0017").expect("last4"),
            TextQuery::CardLast4("0017".into())
        );
        assert_eq!(
            parse_text("r123").expect("id"),
            TextQuery::TradeId("R123".into())
        );
        assert_eq!(
            parse_text("2025 0601 000017").expect("log"),
            TextQuery::LogNo("20250601000017".into())
        );

        for bad in [
            "",
            "!!!",
            "AQ",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            &B64.encode([2u8; 17]),
            &B64.encode([1u8; 16]),
        ] {
            let r = check_page(&TradeFilter::default(), Some(bad), 50).map(|_| ());
            assert_eq!(
                r.expect_err("bad cursor").code,
                "trades.cursor_invalid",
                "cursor {bad:?}"
            );
        }
        let good = Cursor {
            created_at: -5,
            id: 9,
        };
        assert_eq!(Cursor::decode(&good.encode()).expect("round trip"), good);
        for limit in [0, 201] {
            let r = check_page(&TradeFilter::default(), None, limit).map(|_| ());
            assert_eq!(r.expect_err("bad limit").code, "trades.page_limit_invalid");
        }
        assert_eq!(
            china_day_range("2025-13-01").expect_err("bad").code,
            "trades.date_invalid"
        );
        assert_eq!(
            china_day_range("2025-6-1").expect_err("bad").code,
            "trades.date_invalid"
        );
        let day = china_day_range("2025-06-01").expect("day");
        assert_eq!(day.from_ms, 1_748_707_200_000); // 2025-05-31T16:00:00Z
        assert_eq!(day.to_ms - day.from_ms, 86_400_000);
    }

    /// Every combination of the seven filters (with one value and with
    /// several in each list) is served by an index: no step of the plan
    /// walks the whole `trade` table or one of its indexes.
    #[test]
    fn every_filter_combination_is_served_by_an_index() {
        let dir = tempfile::tempdir().expect("tempdir");
        let rows = testing::generate(10, 50, T0, 3_600_000);
        let db = testing::store_with(dir.path(), &rows);
        let texts = [
            "0017",
            "601234567890",
            "20250601000017",
            "T20250601004711938265",
        ];
        let mut plans = 0;
        for mask in 0u32..128 {
            for many in [false, true] {
                for text in texts {
                    let bit = |i: u32| mask & (1 << i) != 0;
                    if !bit(6) && text != texts[0] {
                        continue;
                    }
                    let f = TradeFilter {
                        from_ms: bit(0).then_some(T0),
                        to_ms: bit(0).then_some(T0 + 86_400_000),
                        channels: match (bit(1), many) {
                            (false, _) => vec![],
                            (true, false) => vec![Channel::Alipay],
                            (true, true) => {
                                vec![Channel::WeChat, Channel::DebitCard, Channel::UnionPayQr]
                            }
                        },
                        kinds: match (bit(2), many) {
                            (false, _) => vec![],
                            (true, false) => vec![TradeKind::Refund],
                            (true, true) => vec![TradeKind::Sale, TradeKind::Void],
                        },
                        statuses: match (bit(3), many) {
                            (false, _) => vec![],
                            (true, false) => vec![TradeStatus::Success],
                            (true, true) => vec![
                                TradeStatus::Refunded,
                                TradeStatus::Voided,
                                TradeStatus::Pending,
                            ],
                        },
                        terminals: match (bit(4), many) {
                            (false, _) => vec![],
                            (true, false) => vec![TERMINALS[0].to_owned()],
                            (true, true) => TERMINALS.iter().map(|t| t.to_string()).collect(),
                        },
                        min_amount: bit(5).then(|| amount("10")),
                        max_amount: (bit(5) && many).then(|| amount("500")),
                        text: bit(6).then(|| text.to_owned()),
                    };
                    let checked = check(&f).expect("filter");
                    for cursor in [
                        None,
                        Some(Cursor {
                            created_at: T0 + 1000,
                            id: 5,
                        }),
                    ] {
                        for q in [page_sql(&checked, cursor, 50), count_sql(&checked)] {
                            let plan = explain(&db, &q);
                            for step in &plan {
                                assert!(
                                    !step.starts_with("SCAN trade"),
                                    "full scan for mask {mask:07b} many {many} text {text}: {plan:#?}\n{}",
                                    q.sql
                                );
                            }
                            assert!(
                                plan.iter().any(|s| s.starts_with("SEARCH trade")),
                                "no index search for mask {mask:07b}: {plan:#?}"
                            );
                            plans += 1;
                        }
                    }
                }
            }
        }
        assert!(plans >= 128 * 2 * 2 * 2, "{plans} plans checked");
    }

    fn explain(db: &crate::store::Db, q: &PageSql) -> Vec<String> {
        db.read(|c| {
            let mut stmt = c.prepare(&format!("EXPLAIN QUERY PLAN {}", q.sql))?;
            let rows =
                stmt.query_map(params_from_iter(q.params.iter()), |r| r.get::<_, String>(3))?;
            Ok(rows.collect::<std::result::Result<Vec<_>, _>>()?)
        })
        .expect("explain")
    }
}
