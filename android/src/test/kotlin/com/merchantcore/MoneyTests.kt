package com.merchantcore

import com.merchantcore.ffi.Channel
import com.merchantcore.ffi.ChannelRate
import com.merchantcore.ffi.MerchantException
import com.merchantcore.ffi.RateTable
import com.merchantcore.ffi.amountInWords
import com.merchantcore.ffi.amountSpoken
import com.merchantcore.ffi.defaultRateTable
import com.merchantcore.ffi.feeFor
import com.merchantcore.ffi.parseAmount
import com.merchantcore.testing.Suite
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertNull
import kotlin.test.assertTrue

/** Amounts, readings and fees across the FFI: money crosses as decimal text, never a float. */
class MoneyTests : Suite("money") {
    private fun codes(e: MerchantException) = e.problems.map { it.code }

    init {
        test("amounts parse to text with exactly two decimals") {
            assertEquals("850.00", parseAmount("850"))
            assertEquals("850.50", parseAmount("850.5"))
            assertEquals("850.50", parseAmount("850.50"))
            assertEquals("99999999.99", parseAmount("99999999.99"))
            assertEquals("850.50", parseAmount("８５０．５"), "full-width digits from a Chinese input method")
        }

        test("bad amount text is a typed input exception carrying its code") {
            val e = assertFailsWith<MerchantException.Input> { parseAmount("abc") }
            assertEquals("amount.not_a_number", e.code)
            assertEquals("amount.not_a_number", e.errorCode)
            assertEquals(listOf("amount.not_a_number"), codes(e))
            assertTrue(e.detail.isNotBlank())
            assertEquals("amount.empty", assertFailsWith<MerchantException.Input> { parseAmount("  ") }.code)
            assertEquals("amount.too_large", assertFailsWith<MerchantException.Input> { parseAmount("100000000") }.code)
            assertEquals("amount.signed", assertFailsWith<MerchantException.Input> { parseAmount("-5") }.code)
        }

        test("every problem of an amount is listed, not only the first") {
            val e = assertFailsWith<MerchantException.Input> { parseAmount("-123456789.123") }
            assertEquals(
                setOf("amount.signed", "amount.too_many_decimals", "amount.too_large"),
                codes(e).toSet(),
            )
        }

        test("an amount that is not text of an amount is refused where it crosses into Rust") {
            // Amount is decimal text on the Kotlin side; Rust checks it on the way in.
            val e = assertFailsWith<MerchantException.Input> { amountSpoken("8.505") }
            assertEquals("amount.too_many_decimals", e.code)
        }

        test("uppercase readings for bills and statements") {
            assertEquals("壹仟零壹拾元零壹分", amountInWords("1010.01"))
            assertEquals("壹拾万元整", amountInWords("100000"))
            assertEquals("伍角", amountInWords("0.5"))
        }

        test("spoken readings for voice broadcast") {
            assertEquals("八百五十元", amountSpoken("850"))
            assertEquals("一千零五点五元", amountSpoken("1005.5"))
            assertEquals("十元", amountSpoken("10"))
            assertEquals("二万点零八元", amountSpoken("20000.08"))
        }

        test("the default rate table follows the seeds") {
            val table = defaultRateTable()
            assertEquals(Channel.entries.toSet(), table.rates.map { it.channel }.toSet())
            val wechat = table.rates.single { it.channel == Channel.WE_CHAT }
            assertEquals("0.38", wechat.rate)
            assertEquals("1000.00", wechat.threshold)
            assertEquals("0.60", wechat.rateAbove)
            val credit = table.rates.single { it.channel == Channel.CREDIT_CARD }
            assertEquals("0.60", credit.rate)
            assertNull(credit.threshold)
        }

        test("fees by channel, tiered at 1,000 yuan and rounded half up to the fen") {
            val table = defaultRateTable()
            assertEquals("3.23", feeFor(table, Channel.WE_CHAT, "850"))         // 3.23
            assertEquals("3.80", feeFor(table, Channel.ALIPAY, "1000"))        // up to the threshold: 0.38 %
            assertEquals("6.00", feeFor(table, Channel.UNION_PAY_QR, "1000.01")) // 6.00006 above it: 0.60 %
            assertEquals("0.01", feeFor(table, Channel.WE_CHAT, "1.32"))        // 0.005016 rounds up
            assertEquals("0.00", feeFor(table, Channel.WE_CHAT, "1.31"))        // 0.004978 rounds down
            assertEquals("0.02", feeFor(table, Channel.DEBIT_CARD, "2.50"))     // 0.015 half up
            assertEquals("60.00", feeFor(table, Channel.CREDIT_CARD, "10000"))
        }

        test("a fee cap per trade holds") {
            val capped = RateTable(
                defaultRateTable().rates.map {
                    if (it.channel == Channel.DEBIT_CARD) ChannelRate(Channel.DEBIT_CARD, "0.50", null, null, "20.00") else it
                },
            )
            assertEquals("20.00", feeFor(capped, Channel.DEBIT_CARD, "10000"))
            assertEquals("5.00", feeFor(capped, Channel.DEBIT_CARD, "1000"))
        }

        test("a bad rate table is an input error naming each problem") {
            val broken = RateTable(defaultRateTable().rates.filter { it.channel != Channel.ALIPAY })
            val e = assertFailsWith<MerchantException.Input> { feeFor(broken, Channel.WE_CHAT, "1") }
            assertEquals("rate_table.invalid", e.code)
            assertEquals(listOf("rate_table.missing_channel"), codes(e))
            assertEquals(listOf("rates.alipay"), e.problems.map { it.field })
        }
    }
}
