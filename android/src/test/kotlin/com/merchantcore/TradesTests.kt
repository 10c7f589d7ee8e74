package com.merchantcore

import com.merchantcore.ffi.Channel
import com.merchantcore.ffi.MerchantCore
import com.merchantcore.ffi.TradeFilter
import com.merchantcore.ffi.TradeKind
import com.merchantcore.ffi.TradeStatus
import com.merchantcore.ffi.TradeSyncListener
import com.merchantcore.ffi.TradeSyncProgress
import com.merchantcore.testing.Sandbox
import com.merchantcore.testing.Suite
import com.merchantcore.testing.withTempDir
import java.io.File
import java.util.concurrent.CopyOnWriteArrayList
import kotlinx.coroutines.async
import kotlinx.coroutines.coroutineScope
import kotlin.test.assertEquals
import kotlin.test.assertTrue

/**
 * Trades from Kotlin against the sandbox the test command started: the
 * change feed synced onto the phone with progress, history pages with two
 * mixes of filters, and a refund sent once under a double tap.
 */
class TradesTests : Suite("trades") {
    private val sandbox by lazy { Sandbox.fromProperties() }

    private fun config(dir: File) = sandbox.coreConfig(dir)

    private class Progress : TradeSyncListener {
        val seen = CopyOnWriteArrayList<TradeSyncProgress>()
        override fun onProgress(progress: TradeSyncProgress) {
            seen.add(progress)
        }
    }

    init {
        asyncTest("syncs the feed, pages with two filter mixes, and refunds once under a double tap") {
            withTempDir { dir ->
                MerchantCore(config(dir), MemorySecretStore()).use { core ->
                    // A new shop: activated by the sandbox, one terminal bound
                    // by its back QR, 300 sales over 5 days, and a card sale today.
                    val phone = "13700000021"
                    core.requestSmsCode(phone)
                    val me = core.signIn(phone, sandbox.smsCode(phone))
                    sandbox.post("/sandbox/merchants/activate", """{"merchant_id":"${me.merchantId}"}""")
                    val free = sandbox.inventory().first { it.state == "free" }
                    core.bindTerminalByQr(free.qrText)
                    sandbox.post(
                        "/sandbox/trades/seed",
                        """{"merchant_id":"${me.merchantId}","count":300,"days":5}""",
                    )
                    val made = sandbox.post(
                        "/sandbox/trades",
                        """{"merchant_id":"${me.merchantId}","count":1,"channel":"credit_card","amount":"100.00","status":"success"}""",
                    )
                    val saleId = requireNotNull(Sandbox.jsonString(made, "trade_id"))

                    val progress = Progress()
                    val report = core.syncTrades(progress)
                    assertTrue(report.applied > 300uL, "$report")
                    assertTrue(progress.seen.isNotEmpty(), "the listener heard each page")
                    assertEquals(0uL, progress.seen.last().remaining)
                    val kept = core.tradeSyncState()
                    assertEquals(report.cursor, kept.cursor)
                    assertTrue(kept.trades >= report.applied, "$kept")

                    // Mix 1: card sales only.
                    val cards = core.tradePage(
                        TradeFilter(
                            channels = listOf(Channel.DEBIT_CARD, Channel.CREDIT_CARD),
                            kinds = listOf(TradeKind.SALE),
                        ),
                        null,
                        20u,
                    )
                    assertTrue(cards.trades.isNotEmpty())
                    assertTrue(cards.trades.all { it.kind == TradeKind.SALE && it.cardLast4 != null }, "${cards.trades}")
                    assertTrue(cards.trades.any { it.tradeId == saleId }, "the new card sale is on the phone")
                    assertTrue(
                        cards.trades.zipWithNext().all { (a, b) -> a.createdAtMs >= b.createdAtMs },
                        "newest first",
                    )
                    // Mix 2: the voids and refunds of the history, paged three by three.
                    val refunds = mutableListOf<String>()
                    var cursor: String? = null
                    do {
                        val page = core.tradePage(TradeFilter(kinds = listOf(TradeKind.REFUND, TradeKind.VOID)), cursor, 3u)
                        refunds += page.trades.map { it.tradeId }
                        assertTrue(page.trades.all { it.kind != TradeKind.SALE && it.originalTradeId != null })
                        cursor = page.nextCursor
                    } while (cursor != null)
                    assertTrue(refunds.isNotEmpty(), "the history has voids or refunds")
                    assertEquals(refunds.size, refunds.toSet().size, "no page repeats a record")

                    // A double tap: two refunds at once, one refund.
                    val (x, y) = coroutineScope {
                        val first = async { core.refundTrade(saleId, "30.00", "顾客退货") }
                        val second = async { core.refundTrade(saleId, "30.00", "顾客退货") }
                        first.await() to second.await()
                    }
                    assertEquals(x.refund.tradeId, y.refund.tradeId, "the same refund")
                    assertEquals(TradeStatus.PARTIALLY_REFUNDED, x.trade.status)
                    val sale = requireNotNull(core.trade(saleId))
                    assertEquals("30.00", sale.refundedAmount)
                    val refundRecords = core.tradePage(TradeFilter(kinds = listOf(TradeKind.REFUND), text = x.refund.tradeId), null, 10u)
                    assertEquals(1, refundRecords.trades.size, "one refund record on the phone")
                }
            }
        }
    }
}
