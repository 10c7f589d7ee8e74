//! Exports of any filtered view of the history, as CSV or XLSX.
//!
//! Rows are streamed through the same keyset pages as the history (pages of
//! [`EXPORT_PAGE`] rows, each its own short read), so memory stays flat at a
//! million rows: CSV goes through a buffered writer, XLSX through
//! rust_xlsxwriter's constant-memory worksheet (rows spill to a temporary
//! file beside the export). Both are written to a temporary file in the
//! target's directory and renamed into place at the end, so a failed export
//! leaves nothing at `path`.
//!
//! - CSV: UTF-8 with a BOM (Excel then reads the Chinese), a Chinese header,
//!   one line per trade; long numbers (流水号, 参考号, 批次号, 凭证号, 卡号)
//!   start with a tab so Excel keeps them as text; a cell that would start
//!   with `=`, `+`, `-` or `@` gets a leading `'` (no formula injection).
//! - XLSX: typed cells: times as Excel dates (China time) formatted
//!   `yyyy-mm-dd hh:mm:ss`, money as numbers formatted `0.00`.
//!
//! Both end with totals by the summary's rules (see [`super::summary`]):
//! paid sales and gross, refunds, voids, fees and net, and gross and net in
//! 大写.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rust_xlsxwriter::{ExcelDateTime, Format, Workbook, Worksheet};

use super::model::{Trade, TradeKind, TradeStatus};
use super::query::{self, CHINA, Cursor, PageRequest, TradeFilter};
use super::summary::{Acc, Total};
use crate::error::{Error, Lang, Result};
use crate::store::Db;

crate::codes! {
    EXPORT_FAILED = Storage, "trades.export_failed", "导出文件无法写入，请检查保存位置和剩余空间", "The export file could not be written; check the place and the free space";
}

/// Rows per page read while exporting.
pub const EXPORT_PAGE: u32 = 1000;

/// The file format of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ExportFormat {
    Csv,
    Xlsx,
}

/// Told every [`EXPORT_PAGE`] rows and at the end.
#[uniffi::export(with_foreign)]
pub trait TradeExportListener: Send + Sync {
    fn on_progress(&self, rows_written: u64, rows_total: u64);
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TradeExportReport {
    pub path: String,
    pub format: ExportFormat,
    pub rows: u64,
    pub bytes: u64,
    pub sales: u64,
    pub total_gross: Total,
    pub refund_count: u64,
    pub total_refunds: Total,
    pub void_count: u64,
    pub total_voids: Total,
    pub total_fees: Total,
    pub total_net: Total,
    /// 大写 of the gross.
    pub gross_in_words: String,
}

const HEADER: [&str; 17] = [
    "交易时间",
    "订单号",
    "原订单号",
    "流水号",
    "参考号",
    "批次号",
    "凭证号",
    "终端",
    "渠道",
    "类型",
    "状态",
    "金额(元)",
    "手续费(元)",
    "已退金额(元)",
    "卡号",
    "商户编号",
    "商户名称",
];

fn failed(what: &str, e: impl std::fmt::Display) -> Error {
    Error::new(&EXPORT_FAILED).detail(format!("{what}: {e}"))
}

pub(crate) fn kind_label(k: TradeKind) -> &'static str {
    match k {
        TradeKind::Sale => "消费",
        TradeKind::Void => "撤销",
        TradeKind::Refund => "退货",
    }
}

pub(crate) fn status_label(s: TradeStatus) -> &'static str {
    match s {
        TradeStatus::Pending => "待支付",
        TradeStatus::Success => "成功",
        TradeStatus::Failed => "失败",
        TradeStatus::Closed => "已关闭",
        TradeStatus::PartiallyRefunded => "部分退货",
        TradeStatus::Refunded => "已退货",
        TradeStatus::Voided => "已撤销",
    }
}

/// `622848****0017`, or empty for a scan-code trade.
fn card(t: &Trade) -> String {
    match (&t.card_bin, &t.card_last4) {
        (Some(bin), Some(last4)) => format!("{bin}****{last4}"),
        _ => String::new(),
    }
}

/// China time `YYYY-MM-DD HH:MM:SS`.
fn china_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| {
            t.with_timezone(&CHINA)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_default()
}

/// Streams every trade of `filter`, newest first, into `write_row`, with
/// progress; returns the rows and the totals.
fn stream(
    db: &Db,
    filter: &TradeFilter,
    listener: Option<&Arc<dyn TradeExportListener>>,
    mut write_row: impl FnMut(&Trade) -> Result<()>,
) -> Result<(u64, Acc)> {
    let checked = query::check(filter)?;
    let total = db.read(|c| query::count_on(c, &checked))?;
    let mut req = PageRequest {
        filter: checked,
        cursor: None,
        limit: EXPORT_PAGE,
    };
    let mut rows = 0u64;
    let mut acc = Acc::default();
    loop {
        let (trades, next): (Vec<Trade>, Option<Cursor>) =
            db.read(|c| query::page_rows(c, &req))?;
        for t in &trades {
            write_row(t)?;
            acc.add_trade(t);
            rows += 1;
        }
        if let Some(l) = listener {
            l.on_progress(rows, total.max(rows));
        }
        match next {
            Some(c) => req.cursor = Some(c),
            None => break,
        }
    }
    Ok((rows, acc))
}

/// A temporary file beside `path`, renamed into place by `finish`.
fn temp_beside(path: &Path) -> Result<(tempfile::NamedTempFile, PathBuf)> {
    let target = PathBuf::from(path);
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if target.file_name().is_none() || target.is_dir() {
        return Err(failed("path", "not a file path"));
    }
    let tmp = tempfile::Builder::new()
        .prefix(".export-")
        .suffix(".part")
        .tempfile_in(&dir)
        .map_err(|e| failed("create", e))?;
    Ok((tmp, dir))
}

/// Writes the export of `filter` to `path`.
pub fn export(
    db: &Db,
    filter: &TradeFilter,
    format: ExportFormat,
    path: &str,
    listener: Option<Arc<dyn TradeExportListener>>,
) -> Result<TradeExportReport> {
    let target = PathBuf::from(path);
    let (tmp, dir) = temp_beside(&target)?;
    let (rows, acc) = match format {
        ExportFormat::Csv => write_csv(db, filter, tmp.as_file(), listener.as_ref())?,
        ExportFormat::Xlsx => write_xlsx(db, filter, tmp.as_file(), &dir, listener.as_ref())?,
    };
    tmp.as_file().sync_all().map_err(|e| failed("sync", e))?;
    let file = tmp
        .persist(&target)
        .map_err(|e| failed("rename", e.error))?;
    let bytes = file.metadata().map_err(|e| failed("size", e))?.len();
    let line = acc.line();
    Ok(TradeExportReport {
        path: path.to_owned(),
        format,
        rows,
        bytes,
        sales: line.sales,
        total_gross: line.gross,
        refund_count: line.refund_count,
        total_refunds: line.refunds,
        void_count: line.void_count,
        total_voids: line.voids,
        total_fees: line.fees,
        total_net: line.net,
        gross_in_words: line.gross.in_words().unwrap_or_default(),
    })
}

// ---------------------------------------------------------------------------
// CSV
// ---------------------------------------------------------------------------

fn csv_cell(out: &mut String, text: &str) {
    let guarded;
    let text = if text.starts_with(['=', '+', '-', '@']) {
        guarded = format!("'{text}");
        guarded.as_str()
    } else {
        text
    };
    if text.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&text.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(text);
    }
}

fn csv_line(out: &mut String, cells: &[&str]) {
    for (i, c) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        csv_cell(out, c);
    }
    out.push_str("\r\n");
}

fn write_csv(
    db: &Db,
    filter: &TradeFilter,
    file: &std::fs::File,
    listener: Option<&Arc<dyn TradeExportListener>>,
) -> Result<(u64, Acc)> {
    let mut w = BufWriter::with_capacity(64 * 1024, file);
    let mut line = String::with_capacity(512);
    line.push('\u{feff}');
    csv_line(&mut line, &HEADER);
    w.write_all(line.as_bytes())
        .map_err(|e| failed("write", e))?;
    let text = |s: &str| format!("\t{s}");
    let (rows, acc) = stream(db, filter, listener, |t| {
        line.clear();
        let cells = [
            china_time(t.created_at_ms),
            t.trade_id.clone(),
            t.original_trade_id.clone().unwrap_or_default(),
            text(&t.log_no),
            text(&t.reference_no),
            text(&t.batch_no),
            text(&t.voucher_no),
            t.terminal_sn.clone(),
            t.channel.label(Lang::Zh).to_owned(),
            kind_label(t.kind).to_owned(),
            status_label(t.status).to_owned(),
            t.amount.to_string(),
            t.fee.to_string(),
            t.refunded_amount.to_string(),
            if t.card_last4.is_some() {
                text(&card(t))
            } else {
                String::new()
            },
            t.merchant_no.clone(),
            t.merchant_name.clone(),
        ];
        let refs: Vec<&str> = cells.iter().map(String::as_str).collect();
        csv_line(&mut line, &refs);
        w.write_all(line.as_bytes()).map_err(|e| failed("write", e))
    })?;
    line.clear();
    for (label, value) in totals_rows(rows, &acc) {
        csv_line(&mut line, &[&label, &value]);
    }
    w.write_all(line.as_bytes())
        .map_err(|e| failed("write", e))?;
    w.flush().map_err(|e| failed("flush", e))?;
    Ok((rows, acc))
}

/// The closing rows: a label and a value each.
fn totals_rows(rows: u64, acc: &Acc) -> Vec<(String, String)> {
    let l = acc.line();
    let words = |t: Total| t.in_words().unwrap_or_default();
    vec![
        ("合计".to_owned(), String::new()),
        ("导出笔数".to_owned(), rows.to_string()),
        ("交易笔数".to_owned(), l.sales.to_string()),
        ("交易金额(元)".to_owned(), l.gross.to_string()),
        ("交易金额(大写)".to_owned(), words(l.gross)),
        ("退货笔数".to_owned(), l.refund_count.to_string()),
        ("退货金额(元)".to_owned(), l.refunds.to_string()),
        ("撤销笔数".to_owned(), l.void_count.to_string()),
        ("撤销金额(元)".to_owned(), l.voids.to_string()),
        ("手续费(元)".to_owned(), l.fees.to_string()),
        ("净额(元)".to_owned(), l.net.to_string()),
        ("净额(大写)".to_owned(), words(l.net)),
    ]
}

// ---------------------------------------------------------------------------
// XLSX
// ---------------------------------------------------------------------------

fn xlsx_err(e: rust_xlsxwriter::XlsxError) -> Error {
    failed("xlsx", e)
}

fn money(fen: i64) -> f64 {
    // Display only: Excel cells are doubles; two decimals survive exactly
    // to the fen far beyond any amount here.
    fen as f64 / 100.0
}

fn write_xlsx(
    db: &Db,
    filter: &TradeFilter,
    file: &std::fs::File,
    dir: &Path,
    listener: Option<&Arc<dyn TradeExportListener>>,
) -> Result<(u64, Acc)> {
    let mut book = Workbook::new();
    book.set_tempdir(dir).map_err(xlsx_err)?;
    let bold = Format::new().set_bold();
    let money_fmt = Format::new().set_num_format("0.00");
    let time_fmt = Format::new().set_num_format("yyyy-mm-dd hh:mm:ss");
    let sheet: &mut Worksheet = book
        .add_worksheet_with_constant_memory()
        .map_err(xlsx_err)?;
    sheet.set_name("交易明细").map_err(xlsx_err)?;
    for (col, h) in HEADER.iter().enumerate() {
        sheet
            .write_string_with_format(0, col as u16, *h, &bold)
            .map_err(xlsx_err)?;
    }
    for (col, width) in [
        (0u16, 20.0),
        (1, 24.0),
        (2, 24.0),
        (3, 16.0),
        (4, 14.0),
        (7, 15.0),
        (14, 16.0),
        (16, 16.0),
    ] {
        sheet.set_column_width(col, width).map_err(xlsx_err)?;
    }
    let mut row: u32 = 1;
    let (rows, acc) = stream(db, filter, listener, |t| {
        let when = ExcelDateTime::from_timestamp(t.created_at_ms.div_euclid(1000) + 8 * 3600)
            .map_err(xlsx_err)?;
        sheet
            .write_datetime_with_format(row, 0, &when, &time_fmt)
            .map_err(xlsx_err)?;
        let texts: [(u16, &str); 8] = [
            (1, &t.trade_id),
            (2, t.original_trade_id.as_deref().unwrap_or("")),
            (3, &t.log_no),
            (4, &t.reference_no),
            (5, &t.batch_no),
            (6, &t.voucher_no),
            (7, &t.terminal_sn),
            (15, &t.merchant_no),
        ];
        for (col, v) in texts {
            if !v.is_empty() {
                sheet.write_string(row, col, v).map_err(xlsx_err)?;
            }
        }
        sheet
            .write_string(row, 8, t.channel.label(Lang::Zh))
            .map_err(xlsx_err)?;
        sheet
            .write_string(row, 9, kind_label(t.kind))
            .map_err(xlsx_err)?;
        sheet
            .write_string(row, 10, status_label(t.status))
            .map_err(xlsx_err)?;
        sheet
            .write_number_with_format(row, 11, money(t.amount.to_fen()), &money_fmt)
            .map_err(xlsx_err)?;
        sheet
            .write_number_with_format(row, 12, money(t.fee.to_fen()), &money_fmt)
            .map_err(xlsx_err)?;
        sheet
            .write_number_with_format(row, 13, money(t.refunded_amount.to_fen()), &money_fmt)
            .map_err(xlsx_err)?;
        let c = card(t);
        if !c.is_empty() {
            sheet.write_string(row, 14, &c).map_err(xlsx_err)?;
        }
        sheet
            .write_string(row, 16, &t.merchant_name)
            .map_err(xlsx_err)?;
        row = row.saturating_add(1);
        Ok(())
    })?;
    let l = acc.line();
    row = row.saturating_add(1);
    for (label, value) in totals_rows(rows, &acc) {
        sheet
            .write_string_with_format(row, 0, &label, &bold)
            .map_err(xlsx_err)?;
        let money_total = match label.as_str() {
            "交易金额(元)" => Some(l.gross),
            "退货金额(元)" => Some(l.refunds),
            "撤销金额(元)" => Some(l.voids),
            "手续费(元)" => Some(l.fees),
            "净额(元)" => Some(l.net),
            _ => None,
        };
        match (money_total, value.parse::<f64>()) {
            (Some(t), _) => sheet.write_number_with_format(row, 1, money(t.to_fen()), &money_fmt),
            (None, Ok(n)) if label.contains("笔数") => sheet.write_number(row, 1, n),
            _ if !value.is_empty() => sheet.write_string(row, 1, &value),
            _ => Ok(&mut *sheet),
        }
        .map_err(xlsx_err)?;
        row = row.saturating_add(1);
    }
    let mut out = BufWriter::with_capacity(64 * 1024, file);
    book.save_to_writer(&mut out).map_err(xlsx_err)?;
    out.flush().map_err(|e| failed("flush", e))?;
    Ok((rows, acc))
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::sync::Mutex;

    use super::*;
    use crate::trades::testing;

    const T0: i64 = 1_748_736_000_000;

    #[derive(Default)]
    struct Progress(Mutex<Vec<(u64, u64)>>);

    impl TradeExportListener for Progress {
        fn on_progress(&self, rows_written: u64, rows_total: u64) {
            self.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push((rows_written, rows_total));
        }
    }

    #[test]
    fn csv_has_a_bom_a_chinese_header_every_row_and_totals_in_words() {
        let dir = tempfile::tempdir().expect("tempdir");
        let rows = testing::generate(12, 2500, T0, 3_600_000);
        let db = testing::store_with(dir.path(), &rows);
        let path = dir.path().join("out.csv");
        let progress = Arc::new(Progress::default());
        let listener: Arc<dyn TradeExportListener> = progress.clone();
        let f = TradeFilter::default();
        let report = export(
            &db,
            &f,
            ExportFormat::Csv,
            path.to_str().expect("utf-8"),
            Some(listener),
        )
        .expect("export");
        let bytes = std::fs::read(&path).expect("read");
        assert!(bytes.starts_with(&[0xEF, 0xBB, 0xBF]), "BOM");
        let text = String::from_utf8(bytes.clone()).expect("utf-8");
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0]
                .trim_start_matches('\u{feff}')
                .starts_with("交易时间,订单号,原订单号,流水号,参考号")
        );
        assert_eq!(report.rows, 2500);
        assert_eq!(report.bytes, bytes.len() as u64);
        // Newest first: the first data line is the last row inserted.
        assert!(lines[1].contains(&rows[2499].trade_id), "{}", lines[1]);
        let summary = db
            .read(|c| {
                crate::trades::summary::summary_on(
                    c,
                    &crate::trades::summary::SummaryRange::Custom {
                        from_ms: T0,
                        to_ms: T0 + 3_600_000,
                    },
                )
            })
            .expect("summary");
        assert_eq!(report.total_gross, summary.totals.gross);
        assert_eq!(report.total_net, summary.totals.net);
        let words = summary.totals.gross.in_words().expect("words");
        assert!(
            text.contains(&format!("交易金额(大写),{words}")),
            "gross in words"
        );
        assert!(
            lines.last().expect("last").starts_with("净额(大写),"),
            "{:?}",
            lines.last()
        );
        assert_eq!(report.gross_in_words, words);
        // A card shows as BIN****last4, nothing more.
        let card = rows
            .iter()
            .find_map(|r| r.card_last4.clone())
            .expect("card");
        assert!(text.contains(&format!("622848****{card}")));
        let p = progress.0.lock().expect("progress").clone();
        assert_eq!(p.last(), Some(&(2500, 2500)));
        assert!(p.len() >= 3, "progress every page: {p:?}");
        // No temporary file is left beside it.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("dir")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name())
            .collect();
        assert!(
            names
                .iter()
                .all(|n| !n.to_string_lossy().ends_with(".part")),
            "{names:?}"
        );
    }

    #[test]
    fn a_filtered_csv_holds_only_the_filtered_rows() {
        let dir = tempfile::tempdir().expect("tempdir");
        let rows = testing::generate(13, 400, T0, 3_600_000);
        let db = testing::store_with(dir.path(), &rows);
        let path = dir.path().join("refunds.csv");
        let f = TradeFilter {
            kinds: vec![TradeKind::Refund],
            ..Default::default()
        };
        let report = export(
            &db,
            &f,
            ExportFormat::Csv,
            path.to_str().expect("utf-8"),
            None,
        )
        .expect("export");
        let want = rows.iter().filter(|r| r.kind == TradeKind::Refund).count() as u64;
        assert!(want > 0);
        assert_eq!(report.rows, want);
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(
            text.lines().filter(|l| l.contains(",退货,")).count() as u64,
            want
        );
        assert_eq!(report.sales, 0);
    }

    #[test]
    fn xlsx_is_a_workbook_with_typed_cells_and_totals() {
        let dir = tempfile::tempdir().expect("tempdir");
        let rows = testing::generate(14, 1500, T0, 3_600_000);
        let db = testing::store_with(dir.path(), &rows);
        let path = dir.path().join("out.xlsx");
        let report = export(
            &db,
            &TradeFilter::default(),
            ExportFormat::Xlsx,
            path.to_str().expect("utf-8"),
            None,
        )
        .expect("export");
        assert_eq!(report.rows, 1500);
        let file = std::fs::File::open(&path).expect("open");
        let mut zip = zip::ZipArchive::new(file).expect("a zip");
        let mut sheet = String::new();
        zip.by_name("xl/worksheets/sheet1.xml")
            .expect("sheet")
            .read_to_string(&mut sheet)
            .expect("xml");
        let mut book = String::new();
        zip.by_name("xl/workbook.xml")
            .expect("workbook")
            .read_to_string(&mut book)
            .expect("xml");
        assert!(book.contains("交易明细"));
        let mut styles = String::new();
        zip.by_name("xl/styles.xml")
            .expect("styles")
            .read_to_string(&mut styles)
            .expect("xml");
        assert!(
            styles.contains("formatCode=\"0.00\"") && styles.contains("yyyy-mm-dd hh:mm:ss"),
            "number formats"
        );
        // Header and the newest row (inline strings in constant-memory mode).
        assert!(sheet.contains("<t>交易时间</t>") && sheet.contains("<t>金额(元)</t>"));
        assert!(sheet.contains(&format!("<t>{}</t>", rows[1499].trade_id)));
        // Row 2 (the newest trade): A2 a date serial, L2 the amount as a number.
        let newest = &rows[1499];
        let amount = "<c r=\"L2\" s=\"";
        let at = sheet.find(amount).expect("L2");
        let cell = &sheet[at..at + 60];
        assert!(
            cell.contains(&format!("<v>{}</v>", newest.amount as f64 / 100.0)),
            "{cell}"
        );
        let a2 = &sheet[sheet.find("<c r=\"A2\"").expect("A2")..];
        assert!(
            !a2[..60].contains("t=\"inlineStr\""),
            "A2 is a number (a date): {}",
            &a2[..60]
        );
        assert!(sheet.contains("<t>交易金额(大写)</t>"));
        assert!(sheet.contains(&format!("<t>{}</t>", report.gross_in_words)));
    }

    #[test]
    fn a_path_that_cannot_be_written_fails_with_its_code_and_leaves_no_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let rows = testing::generate(15, 30, T0, 3_600_000);
        let db = testing::store_with(dir.path(), &rows);
        let missing = dir.path().join("no-such-dir").join("out.csv");
        for format in [ExportFormat::Csv, ExportFormat::Xlsx] {
            let e = export(
                &db,
                &TradeFilter::default(),
                format,
                missing.to_str().expect("utf-8"),
                None,
            )
            .expect_err("fails");
            assert_eq!(e.code, "trades.export_failed");
            assert!(!missing.exists());
            // A directory in the way of the file.
            let e = export(
                &db,
                &TradeFilter::default(),
                format,
                dir.path().to_str().expect("utf-8"),
                None,
            )
            .expect_err("fails");
            assert_eq!(e.code, "trades.export_failed");
        }
        // A failure halfway (the rename onto a non-empty directory) leaves
        // neither the file nor the temporary one.
        let blocked = dir.path().join("blocked.csv");
        std::fs::create_dir(&blocked).expect("dir");
        std::fs::write(blocked.join("x"), b"x").expect("file");
        let e = export(
            &db,
            &TradeFilter::default(),
            ExportFormat::Csv,
            blocked.to_str().expect("utf-8"),
            None,
        )
        .expect_err("fails");
        assert_eq!(e.code, "trades.export_failed");
        let parts: Vec<_> = std::fs::read_dir(dir.path())
            .expect("dir")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".part"))
            .collect();
        assert!(parts.is_empty());
        // A bad filter is refused before anything is written.
        let bad = TradeFilter {
            text: Some("?".into()),
            ..Default::default()
        };
        let ok_path = dir.path().join("x.csv");
        let e = export(
            &db,
            &bad,
            ExportFormat::Csv,
            ok_path.to_str().expect("utf-8"),
            None,
        )
        .expect_err("fails");
        assert_eq!(e.code, "trades.filter_text_invalid");
        assert!(!ok_path.exists());
    }
}
