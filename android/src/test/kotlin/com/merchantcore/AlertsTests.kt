package com.merchantcore

import com.merchantcore.ffi.Alert
import com.merchantcore.ffi.AlertKind
import com.merchantcore.ffi.AlertListener
import com.merchantcore.ffi.MerchantCore
import com.merchantcore.ffi.MerchantException
import com.merchantcore.ffi.Notification
import com.merchantcore.ffi.PushEvent
import com.merchantcore.ffi.PushProvider
import com.merchantcore.ffi.StreamStatus
import com.merchantcore.testing.Json
import com.merchantcore.testing.Sandbox
import com.merchantcore.testing.Suite
import com.merchantcore.testing.withTempDir
import java.io.File
import java.util.concurrent.CopyOnWriteArrayList
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.launch
import kotlinx.coroutines.withTimeoutOrNull
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue
import kotlin.test.fail
import kotlin.time.Duration.Companion.seconds

/**
 * Alerts from Kotlin against the sandbox the test command started: a live
 * subscription that the sandbox drops between rounds of trades tells each
 * trade exactly once, with the channel's voice; `handlePush` of a payload
 * from the sandbox's push outbox gives the notification once, refuses the
 * replay, gives nothing for the same event pushed to another token or
 * already told by the stream, and a forged payload stores nothing.
 */
class AlertsTests : Suite("alerts") {
    private val sandbox by lazy { Sandbox.fromProperties() }

    private fun config(dir: File) = sandbox.coreConfig(dir)

    /** What a Kotlin app's listener hears, queued as it arrives on the core's thread. */
    private class Recorder : AlertListener {
        val alerts = Channel<Alert>(Channel.UNLIMITED)
        val statuses = Channel<StreamStatus>(Channel.UNLIMITED)
        val events = CopyOnWriteArrayList<PushEvent>()

        override fun onEvent(event: PushEvent) {
            events.add(event)
        }

        override fun onAlert(alert: Alert) {
            alerts.trySend(alert)
        }

        override fun onStatus(status: StreamStatus) {
            statuses.trySend(status)
        }

        /** The next status [pick] accepts (earlier ones are passed over). */
        suspend fun until(what: String, pick: (StreamStatus) -> Boolean): StreamStatus = bounded(what) {
            var s = statuses.receive()
            while (!pick(s)) s = statuses.receive()
            s
        }

        /** The next alert told. */
        suspend fun nextAlert(): Alert = bounded("an alert") { alerts.receive() }
    }

    /** A new active shop signed in on [core] (activated, a terminal bound); its merchant id. */
    private suspend fun activeShop(core: MerchantCore, phone: String): String {
        core.requestSmsCode(phone)
        val me = core.signIn(phone, sandbox.smsCode(phone))
        sandbox.post("/sandbox/merchants/activate", """{"merchant_id":"${me.merchantId}"}""")
        val free = sandbox.inventory().first { it.state == "free" }
        core.bindTerminalByQr(free.qrText)
        return me.merchantId
    }

    private suspend fun tradeAlerts(core: MerchantCore): List<Alert> =
        core.alerts(500u, null).filter { it.kind == AlertKind.TRADE_RECEIVED }

    init {
        asyncTest("LiveAlerts hands the stream over as a Flow and completes when cancelled", timeout = 60.seconds) {
            withTempDir { dir ->
                MerchantCore(config(dir), MemorySecretStore()).use { core ->
                    val merchantId = activeShop(core, "13700000033")
                    LiveAlerts(core).use { live ->
                        val items = Channel<LiveAlertItem>(Channel.UNLIMITED)
                        val collector = launch { live.items.collect { items.send(it) } }
                        bounded("connected") {
                            while ((items.receive() as? LiveAlertItem.Status)?.status !is StreamStatus.Connected) Unit
                        }
                        val made = sandbox.paidTrades(merchantId, 3, "wechat", "850.00")
                        val told = mutableListOf<Alert>()
                        val events = mutableListOf<PushEvent>()
                        bounded("three alerts") {
                            while (told.size < 3) {
                                when (val item = items.receive()) {
                                    // The shop's earlier events (activation, the
                                    // terminal bound) are told first on a new phone.
                                    is LiveAlertItem.Told -> if (item.alert.tradeId != null) told += item.alert
                                    is LiveAlertItem.Event -> events += item.event
                                    is LiveAlertItem.Status -> Unit
                                }
                            }
                        }
                        assertEquals(made.map { it.tradeId }, told.map { it.tradeId }, "in the order made, once each")
                        assertTrue(told.all { it.voiceText == "微信收款八百五十元" }, "$told")
                        assertTrue(events.isNotEmpty(), "the events came before their alerts")
                        live.cancel()
                        bounded("the flow completes") { collector.join() }
                        assertTrue(live.isStopped)
                        val rest = items.toListNow()
                        assertTrue(rest.none { it is LiveAlertItem.Told }, "nothing told after: $rest")
                        assertTrue(
                            rest.any { it is LiveAlertItem.Status && it.status is StreamStatus.Stopped },
                            "the flow ends with Stopped: $rest",
                        )
                    }
                }
            }
        }

        asyncTest(
            "a listener is told every trade exactly once, with its voice, while the sandbox drops the stream",
            timeout = 150.seconds,
        ) {
            withTempDir { dir ->
                MerchantCore(config(dir), MemorySecretStore()).use { core ->
                    val merchantId = activeShop(core, "13700000031")
                    val rec = Recorder()
                    core.subscribe(rec).use { handle ->
                        rec.until("connected") { it is StreamStatus.Connected }

                        // Five rounds of four paid trades, one channel each; the
                        // sandbox drops the stream after the first two of each
                        // of the first four rounds, and the next two are made
                        // while the stream is down or coming back.
                        val rounds = listOf(
                            "wechat" to "850.00",
                            "alipay" to "1234.50",
                            "credit_card" to "12.50",
                            "unionpay_qr" to "100.00",
                            "debit_card" to "0.10",
                        )
                        val made = mutableListOf<Sandbox.MadeTrade>()
                        var drops = 0
                        val closedCodes = mutableListOf<String>()
                        for ((i, round) in rounds.withIndex()) {
                            val (channel, amount) = round
                            made += sandbox.paidTrades(merchantId, 2, channel, amount)
                            if (i < rounds.lastIndex) {
                                val dropped = sandbox.disconnect(merchantId)
                                assertEquals(1, dropped, "the one open stream of the merchant is dropped")
                                drops += dropped
                                made += sandbox.paidTrades(merchantId, 2, channel, amount)
                                val waiting = rec.until("waiting after drop ${i + 1}") { it is StreamStatus.Waiting }
                                closedCodes += (waiting as StreamStatus.Waiting).error.errorCode
                                rec.until("connected again after drop ${i + 1}") { it is StreamStatus.Connected }
                            } else {
                                made += sandbox.paidTrades(merchantId, 2, channel, amount)
                            }
                        }
                        assertTrue(drops >= 3, "$drops drops")
                        assertEquals(listOf("stream.closed"), closedCodes.distinct(), "each wait names the closed stream")
                        assertEquals(20, made.size)
                        val byId = made.associateBy { it.tradeId }
                        assertEquals(made.size, byId.size, "the sandbox made distinct trades")

                        // Await an alert for every trade made; none twice, none of another trade.
                        val told = mutableListOf<Alert>()
                        val seen = mutableSetOf<String>()
                        while (!seen.containsAll(byId.keys)) {
                            val a = rec.nextAlert()
                            told += a
                            if (a.kind != AlertKind.TRADE_RECEIVED) continue
                            val id = assertNotNull(a.tradeId, "a trade alert names its trade")
                            assertTrue(id in byId, "alert ${a.id} (event ${a.eventId}) of a trade not made: $id")
                            assertTrue(seen.add(id), "trade $id told twice: alert ${a.id}, event ${a.eventId}")
                        }
                        assertTrue(told.zipWithNext().all { (x, y) -> x.id < y.id }, "told in the order stored: ${told.map { it.id }}")
                        val order = told.filter { it.kind == AlertKind.TRADE_RECEIVED }.map { it.tradeId }
                        assertEquals(made.map { it.tradeId }, order, "the trades told in the order made")

                        // The voice and the texts of each.
                        for (a in told.filter { it.kind == AlertKind.TRADE_RECEIVED }) {
                            val t = byId.getValue(requireNotNull(a.tradeId))
                            val (prefix, clip) = PREFIXES.getValue(t.channel)
                            assertEquals(prefix + READINGS.getValue(t.amount), a.voiceText, "${t.channel} ${t.amount}")
                            assertEquals(clip, a.clips.first(), "${a.clips}")
                            assertEquals("yuan", a.clips.last(), "${a.clips}")
                            assertTrue(a.clips.all { it.isNotBlank() }, "${a.clips}")
                            assertEquals("收款到账", a.title)
                            assertTrue(a.body.contains("${t.amount} 元") && a.body.contains(t.terminalSn), a.body)
                            assertEquals("success", a.status)
                            assertFalse(a.protection)
                        }

                        // The events arrived each once, in order.
                        val eventIds = rec.events.map { it.eventId }
                        assertTrue(eventIds.zipWithNext().all { (x, y) -> x < y }, "events once each, in order: $eventIds")
                        assertEquals(20, rec.events.count { it.eventType == "trade.created" })

                        handle.cancel()
                        val stopped = rec.until("stopped") { it is StreamStatus.Stopped }
                        assertNull((stopped as StreamStatus.Stopped).error, "cancelled, not failed")
                        assertTrue(handle.isStopped())
                        assertTrue(rec.alerts.tryReceive().isFailure, "nothing told after every trade was, nor after the cancel")

                        val kept = tradeAlerts(core)
                        assertEquals(byId.keys, kept.mapNotNull { it.tradeId }.toSet())
                        assertEquals(20, kept.size, "one stored alert per trade")
                        assertTrue(kept.all { it.delivered }, "each marked delivered")
                    }
                }
            }
        }

        asyncTest("handlePush notifies once, refuses the replay, is silent for a repeat of the event, and a forged payload stores nothing") {
            withTempDir { dir ->
                MerchantCore(config(dir), MemorySecretStore()).use { core ->
                    val merchantId = activeShop(core, "13700000032")
                    // Two registrations (as after a reinstall with a new FCM
                    // token): the platform pushes each event to both.
                    core.registerPushToken(PushProvider.FCM, "fcm:kotlin_alerts_a")
                    core.registerPushToken(PushProvider.FCM, "fcm:kotlin_alerts_b")
                    val first = sandbox.paidTrades(merchantId, 1, "wechat", "850.00").single()
                    val second = sandbox.paidTrades(merchantId, 1, "alipay", "12.50").single()
                    val third = sandbox.paidTrades(merchantId, 1, "credit_card", "100.00").single()
                    val pushed = sandbox.outbox(merchantId)
                        .filter { it.eventType == "trade.created" }
                        .groupBy { Json.str(it.data, "trade_id") }
                    val firstPushes = pushed.getValue(first.tradeId)
                    assertEquals(2, firstPushes.size, "one payload per token")
                    assertEquals(1, firstPushes.map { it.eventId }.distinct().size, "of one event")
                    assertTrue(firstPushes[0].payload != firstPushes[1].payload, "signed apart (their own nonces)")
                    val before = core.alerts(500u, null)

                    // A forged payload (a byte of the signature flipped): refused, nothing kept.
                    val forged = flipSignatureByte(firstPushes[0].payload)
                    val e = assertFailsWith<MerchantException> { core.handlePush(forged.toByteArray()) }
                    assertEquals("platform.push_signature_invalid", e.errorCode)
                    assertTrue(e.merchantMessage.isNotBlank())
                    assertEquals(before, core.alerts(500u, null), "a forged payload adds no alert")
                    assertNull(core.trade(first.tradeId), "nor the trade")

                    // The genuine payload: the notification, once.
                    val payload = firstPushes[0].payload.toByteArray(Charsets.UTF_8)
                    val n = assertNotNull(core.handlePush(payload), "a notification for a new paid trade")
                    assertEquals("收款到账", n.title)
                    assertTrue(n.body.contains("850.00 元") && n.body.contains(first.terminalSn), n.body)
                    assertEquals("微信收款八百五十元", n.voiceText)
                    assertEquals(listOf("wechat_received", "8", "hundred", "5", "ten", "yuan"), n.clips)
                    assertFalse(n.protection)
                    val stored = tradeAlerts(core)
                    assertEquals(listOf(first.tradeId), stored.map { it.tradeId })
                    assertEquals(n.alertId, stored.single().id)
                    assertTrue(stored.single().delivered, "shown by the OS, so delivered")
                    assertNotNull(core.trade(first.tradeId), "the trade is on the phone")

                    // The same bytes again: refused as a replay.
                    val replay = assertFailsWith<MerchantException> { core.handlePush(payload) }
                    assertEquals("platform.push_replayed", replay.errorCode)
                    // The same event pushed to the other token: nothing to show.
                    assertNull(core.handlePush(firstPushes[1].payload.toByteArray(Charsets.UTF_8)))
                    assertEquals(1, tradeAlerts(core).size, "still one alert")

                    // The third as FCM delivers it: the six fields of a data
                    // message, through the shell's glue to handlePush.
                    val shown = mutableListOf<Notification>()
                    val refused = mutableListOf<String>()
                    val glue = object : CorePushHandler(core, show = { shown += it }) {
                        override fun refused(error: MerchantException) {
                            refused += error.errorCode
                        }
                    }
                    val thirdPush = pushed.getValue(third.tradeId).first()
                    val fields = Json.obj(thirdPush.payload).mapValues { (_, v) -> v as String }
                    val json = assertNotNull(SignedPushPayload.fromData(fields + ("google.message_id" to "0:1")))
                    glue.onSignedPush(json)
                    glue.onSignedPush(json)
                    assertEquals(listOf("刷卡收款一百元"), shown.map { it.voiceText }, "shown once")
                    assertTrue(shown.single().body.contains("100.00 元"), shown.single().body)
                    assertEquals(listOf("platform.push_replayed"), refused, "the repeat refused")
                    assertEquals(2, tradeAlerts(core).size)

                    // The second trade comes by the stream first; its push then shows nothing.
                    val rec = Recorder()
                    core.subscribe(rec).use { handle ->
                        val a = rec.nextAlert().let { a ->
                            var x = a
                            while (x.kind != AlertKind.TRADE_RECEIVED) x = rec.nextAlert()
                            x
                        }
                        assertEquals(second.tradeId, a.tradeId, "the stream tells only what push did not")
                        assertEquals("支付宝收款十二点五元", a.voiceText)
                        for (p in pushed.getValue(second.tradeId)) {
                            assertNull(core.handlePush(p.payload.toByteArray(Charsets.UTF_8)), "told by the stream already")
                        }
                        handle.cancel()
                        rec.until("stopped") { it is StreamStatus.Stopped }
                    }
                    val trades = rec.alerts.toListNow().filter { it.kind == AlertKind.TRADE_RECEIVED }
                    assertTrue(trades.isEmpty(), "nothing else told: $trades")
                    val kept = tradeAlerts(core)
                    assertEquals(setOf(first.tradeId, second.tradeId, third.tradeId), kept.mapNotNull { it.tradeId }.toSet())
                    assertEquals(3, kept.size)
                }
            }
        }
    }

    private companion object {
        /** The spoken prefix and its clip of each channel's sale. */
        val PREFIXES = mapOf(
            "wechat" to ("微信收款" to "wechat_received"),
            "alipay" to ("支付宝收款" to "alipay_received"),
            "unionpay_qr" to ("云闪付收款" to "unionpay_received"),
            "credit_card" to ("刷卡收款" to "card_received"),
            "debit_card" to ("刷卡收款" to "card_received"),
        )

        /** How the amounts the tests use are read out. */
        val READINGS = mapOf(
            "850.00" to "八百五十元",
            "1234.50" to "一千二百三十四点五元",
            "12.50" to "十二点五元",
            "100.00" to "一百元",
            "0.10" to "零点一元",
        )

        suspend fun <T> bounded(what: String, body: suspend () -> T): T =
            withTimeoutOrNull(30.seconds) { body() } ?: fail("waited 30 s for $what")

        /** What is queued now, without waiting. */
        fun <T> Channel<T>.toListNow(): List<T> = generateSequence { tryReceive().getOrNull() }.toList()

        /**
         * [payload] with one character of its base64 signature changed into
         * another base64 digit (a flipped byte; the JSON stays well formed).
         */
        fun flipSignatureByte(payload: String): String {
            val sig = Json.str(Json.obj(payload), "signature")
            val at = sig.length / 2
            val flipped = sig.substring(0, at) + (if (sig[at] == 'A') 'B' else 'A') + sig.substring(at + 1)
            val out = payload.replace("\"signature\":\"$sig\"", "\"signature\":\"$flipped\"")
            check(out != payload) { "the signature was not where expected" }
            return out
        }
    }
}
