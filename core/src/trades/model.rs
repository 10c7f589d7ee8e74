//! What the trades capability shows the app.

use crate::money::{Amount, Channel};

/// What a trade record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum TradeKind {
    /// 消费: a card sale or a scan-code payment.
    Sale,
    /// 撤销: a card sale cancelled whole on its own business day.
    Void,
    /// 退货: all or part of a sale given back.
    Refund,
}

impl TradeKind {
    pub const ALL: [TradeKind; 3] = [TradeKind::Sale, TradeKind::Void, TradeKind::Refund];

    pub fn as_str(self) -> &'static str {
        match self {
            TradeKind::Sale => "sale",
            TradeKind::Void => "void",
            TradeKind::Refund => "refund",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// Where a trade record stands (the contract's statuses; a status only
/// moves forward, see `merchant_contract::domain::TradeStatus::may_become`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum TradeStatus {
    /// A scan code shown; not paid yet.
    Pending,
    Success,
    /// Declined.
    Failed,
    /// An unpaid scan code expired.
    Closed,
    PartiallyRefunded,
    Refunded,
    /// Cancelled whole by a void.
    Voided,
}

impl TradeStatus {
    pub const ALL: [TradeStatus; 7] = [
        TradeStatus::Pending,
        TradeStatus::Success,
        TradeStatus::Failed,
        TradeStatus::Closed,
        TradeStatus::PartiallyRefunded,
        TradeStatus::Refunded,
        TradeStatus::Voided,
    ];

    pub fn as_str(self) -> &'static str {
        self.wire().as_str()
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// The contract's form.
    pub fn wire(self) -> merchant_contract::domain::TradeStatus {
        use merchant_contract::domain::TradeStatus as W;
        match self {
            TradeStatus::Pending => W::Pending,
            TradeStatus::Success => W::Success,
            TradeStatus::Failed => W::Failed,
            TradeStatus::Closed => W::Closed,
            TradeStatus::PartiallyRefunded => W::PartiallyRefunded,
            TradeStatus::Refunded => W::Refunded,
            TradeStatus::Voided => W::Voided,
        }
    }

    /// From the contract's form.
    pub fn from_wire(w: merchant_contract::domain::TradeStatus) -> Self {
        use merchant_contract::domain::TradeStatus as W;
        match w {
            W::Pending => TradeStatus::Pending,
            W::Success => TradeStatus::Success,
            W::Failed => TradeStatus::Failed,
            W::Closed => TradeStatus::Closed,
            W::PartiallyRefunded => TradeStatus::PartiallyRefunded,
            W::Refunded => TradeStatus::Refunded,
            W::Voided => TradeStatus::Voided,
        }
    }
}

/// One trade record as the phone keeps it (and shows it offline).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Trade {
    /// 订单号.
    pub trade_id: String,
    pub kind: TradeKind,
    /// A void or refund: the sale it gives back.
    pub original_trade_id: Option<String>,
    pub channel: Channel,
    /// A sale: what the customer paid; a void or refund: what was given back.
    pub amount: Amount,
    /// A sale: the fee taken; a void or refund: the fee returned.
    pub fee: Amount,
    /// The rate (percent) the sale's fee was computed with, as the platform
    /// gave it.
    pub rate: String,
    pub status: TradeStatus,
    /// A sale: the sum of its refunds so far.
    pub refunded_amount: Amount,
    pub terminal_sn: String,
    /// 商户编号 the trade was routed under.
    pub merchant_no: String,
    /// 商户名称 on the receipt for that merchant number.
    pub merchant_name: String,
    /// Card trades: the first six digits. Nothing more of a card is kept.
    pub card_bin: Option<String>,
    /// Card trades: the last four digits.
    pub card_last4: Option<String>,
    /// `debit`, `credit`, `prepaid` or `unknown`.
    pub card_kind: Option<String>,
    pub card_bank: Option<String>,
    /// Scan-code trades: the platform's opaque token of the paying account.
    pub payer: Option<String>,
    /// 参考号.
    pub reference_no: String,
    /// 批次号.
    pub batch_no: String,
    /// 凭证号.
    pub voucher_no: String,
    /// 流水号.
    pub log_no: String,
    /// The business day (China time) it counts in, `YYYY-MM-DD`.
    pub business_date: String,
    /// Unix milliseconds.
    pub created_at_ms: i64,
    /// Unix milliseconds of the last change.
    pub updated_at_ms: i64,
    /// Its place in the platform's change feed.
    pub change_seq: u64,
}
