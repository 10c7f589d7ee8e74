//! The arithmetic of refunds and settlements, in integer fen.
//!
//! - A refund gives back the part of the trade's fee proportional to the
//!   refunded amount, rounded half-up to the fen; the refund that completes a
//!   full refund gives back whatever of the fee is left, so a fully refunded
//!   trade has cost the merchant no fee.
//! - A day's settlement: `net = gross - (fees - fees returned) - refunds`,
//!   trades counted on the day they were made, refunds on the day they were
//!   made. `settled = net - shortfall` (the injectable shortfall).
//! - A refund must not make the day's net negative (the platform pays
//!   refunds out of the day's takings): see [`refund_fits`].

/// The fee to give back with a refund of `refund` fen from a trade of
/// `amount` fen that cost `fee` fen, `already_refunded` and `fee_already_returned`
/// fen having gone back before. `None` when the refund is not possible
/// (zero, or above what is left).
pub fn fee_returned(
    amount: i64,
    fee: i64,
    already_refunded: i64,
    fee_already_returned: i64,
    refund: i64,
) -> Option<i64> {
    if refund <= 0 || amount <= 0 || already_refunded < 0 || refund > amount - already_refunded {
        return None;
    }
    let fee_left = fee - fee_already_returned;
    if refund == amount - already_refunded {
        return Some(fee_left.max(0));
    }
    // half-up: floor((fee * refund * 2 + amount) / (2 * amount)), all non-negative.
    let share =
        (i128::from(fee) * i128::from(refund) * 2 + i128::from(amount)) / (2 * i128::from(amount));
    let share = i64::try_from(share).ok()?;
    Some(share.clamp(0, fee_left.max(0)))
}

/// A day's movements for one merchant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DayTotals {
    pub trade_count: u32,
    pub refund_count: u32,
    /// Sum of the day's trade amounts.
    pub gross: i64,
    /// Fees charged on the day's trades.
    pub fees_charged: i64,
    /// Fees given back with the day's refunds.
    pub fees_returned: i64,
    /// Sum of the day's refunds.
    pub refunds: i64,
}

impl DayTotals {
    /// Fees the day cost, net of fees given back.
    pub fn fees(&self) -> i64 {
        self.fees_charged - self.fees_returned
    }

    /// What is due for the day.
    pub fn net(&self) -> i64 {
        self.gross - self.fees() - self.refunds
    }
}

/// Whether a refund of `refund` fen giving back `fee_back` fen fits in the
/// day's takings `today` (the day's net must stay at or above zero).
pub fn refund_fits(today: &DayTotals, refund: i64, fee_back: i64) -> bool {
    today.net() - refund + fee_back >= 0
}

/// What is paid for a day with `net` due and a `shortfall` injected: never
/// below zero.
pub fn settled(net: i64, shortfall: i64) -> i64 {
    (net - shortfall.max(0)).max(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_refund_gives_the_whole_fee_back() {
        // 100.00 yuan at 0.38%: fee 0.38.
        assert_eq!(fee_returned(10_000, 38, 0, 0, 10_000), Some(38));
    }

    #[test]
    fn partial_refunds_give_back_proportional_fees_and_add_up() {
        // 850.00 at 0.38% = 3.23. Refund 100.00: 3.23 * 100/850 = 0.38 (0.38000..).
        assert_eq!(fee_returned(85_000, 323, 0, 0, 10_000), Some(38));
        // Refund 0.01 of 850.00: 0.0000038 rounds to 0.
        assert_eq!(fee_returned(85_000, 323, 0, 0, 1), Some(0));
        // Half-up: fee 1 fen, half the amount refunded -> 0.5 fen -> 1 fen.
        assert_eq!(fee_returned(200, 1, 0, 0, 100), Some(1));
        // Three refunds that add up to the amount give back exactly the fee.
        let (amount, fee) = (85_000, 323);
        let mut refunded = 0;
        let mut returned = 0;
        for part in [30_000, 30_000, 25_000] {
            let back = fee_returned(amount, fee, refunded, returned, part).unwrap();
            refunded += part;
            returned += back;
        }
        assert_eq!(refunded, amount);
        assert_eq!(returned, fee);
    }

    #[test]
    fn refunds_above_what_is_left_or_not_positive_are_refused() {
        assert_eq!(fee_returned(10_000, 38, 0, 0, 10_001), None);
        assert_eq!(fee_returned(10_000, 38, 6_000, 23, 4_001), None);
        assert_eq!(fee_returned(10_000, 38, 10_000, 38, 1), None);
        assert_eq!(fee_returned(10_000, 38, 0, 0, 0), None);
        assert_eq!(fee_returned(10_000, 38, 0, 0, -5), None);
        assert_eq!(fee_returned(10_000, 38, 6_000, 23, 4_000), Some(15));
    }

    #[test]
    fn day_totals_net_and_shortfall() {
        let day = DayTotals {
            trade_count: 3,
            refund_count: 1,
            gross: 100_000,
            fees_charged: 380,
            fees_returned: 38,
            refunds: 10_000,
        };
        assert_eq!(day.fees(), 342);
        assert_eq!(day.net(), 100_000 - 342 - 10_000);
        assert_eq!(settled(day.net(), 0), day.net());
        assert_eq!(settled(day.net(), 1_234), day.net() - 1_234);
        assert_eq!(settled(500, 10_000), 0);
        assert!(refund_fits(&day, day.net(), 0));
        assert!(!refund_fits(&day, day.net() + 1, 0));
        assert!(refund_fits(&day, day.net() + 1, 1));
    }
}
