package com.merchantcore

import com.merchantcore.ffi.Alert
import com.merchantcore.ffi.AlertListener
import com.merchantcore.ffi.MerchantCore
import com.merchantcore.ffi.PushEvent
import com.merchantcore.ffi.StreamHandle
import com.merchantcore.ffi.StreamStatus
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.receiveAsFlow

/*
 * Alerts, the Kotlin way (docs/alerts.md): the core's live stream as a Flow,
 * with the handle's network hint and cancel. The same shape as the Swift
 * facade's `LiveAlerts`.
 */

/** What the live stream tells the app, in order. */
sealed interface LiveAlertItem {
    /** An alert to show (and say), exactly once. */
    data class Told(val alert: Alert) : LiveAlertItem

    /** Where the stream is: connecting, connected, waiting to reconnect... */
    data class Status(val status: StreamStatus) : LiveAlertItem

    /** A verified event, already applied to what the phone keeps. */
    data class Event(val event: PushEvent) : LiveAlertItem
}

/**
 * A running subscription to the core's live stream:
 *
 * ```kotlin
 * val live = LiveAlerts(core)
 * connectivity.registerDefaultNetworkCallback(onAvailable = { live.networkAvailable() })
 * live.items.collect { if (it is LiveAlertItem.Told) { show(it.alert); speak(it.alert.voiceText) } }
 * ```
 *
 * The core marks an alert delivered once it is handed to [items] (an
 * unbounded queue: none is dropped): collect promptly, and keep `live` open
 * as long as the app listens. [items] is collected once. [close] (or
 * [cancel]) ends the subscription; [items] completes after the stream's
 * `Stopped` status.
 */
class LiveAlerts(core: MerchantCore) : AutoCloseable {
    private val queue = Channel<LiveAlertItem>(Channel.UNLIMITED)
    private val handle: StreamHandle = core.subscribe(object : AlertListener {
        override fun onEvent(event: PushEvent) {
            queue.trySend(LiveAlertItem.Event(event))
        }

        override fun onAlert(alert: Alert) {
            queue.trySend(LiveAlertItem.Told(alert))
        }

        override fun onStatus(status: StreamStatus) {
            queue.trySend(LiveAlertItem.Status(status))
            if (status is StreamStatus.Stopped) queue.close()
        }
    })

    /** What the stream tells, in order; completes when the subscription has ended. */
    val items: Flow<LiveAlertItem> = queue.receiveAsFlow()

    /** The network is back: a wait before reconnecting ends now. */
    fun networkAvailable() = handle.networkAvailable()

    /** Ends the subscription. */
    fun cancel() = handle.cancel()

    val isStopped: Boolean get() = handle.isStopped()

    override fun close() {
        handle.cancel()
        handle.close()
    }
}
