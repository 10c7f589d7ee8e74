//! Money: `Amount` (yuan with fen precision), rates and fees, 大写 and spoken readings.

crate::codes! {
    AMOUNT_EMPTY = Input, "amount.empty", "金额不能为空", "The amount is empty";
}
