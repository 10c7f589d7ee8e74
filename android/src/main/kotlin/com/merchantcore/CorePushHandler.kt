package com.merchantcore

import com.merchantcore.ffi.MerchantCore
import com.merchantcore.ffi.MerchantException
import com.merchantcore.ffi.Notification
import com.merchantcore.ffi.PushProvider
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeoutOrNull

/**
 * The [MerchantPushHandler] most apps need: each token the push service
 * gives goes to `core.rotatePushToken` (which registers the first one), each
 * signed payload to `core.handlePush`, and the notification the core returns
 * to [show]. The core returns none for an event the phone already has (told
 * by the live stream, or pushed again to another token of the merchant), so
 * [show] is called once per alert, whichever way the event came first.
 *
 * A token or payload the core refuses (a forged, stale, replayed or other
 * merchant's payload: `platform.push_*`, `push.*` codes) shows nothing and
 * goes to [refused]; the core keeps nothing of it.
 *
 * The push service calls on a background thread with a few seconds to
 * finish, so each call blocks on the core for at most [timeoutMs]; past that
 * it returns and shows nothing.
 */
open class CorePushHandler(
    private val core: MerchantCore,
    private val provider: PushProvider = PushProvider.FCM,
    private val timeoutMs: Long = 8_000,
    private val show: (Notification) -> Unit,
) : MerchantPushHandler {
    /** What the core refused; by default nothing more happens. */
    open fun refused(error: MerchantException) {}

    override fun onPushToken(token: String) {
        call { core.rotatePushToken(provider, token) }
    }

    override fun onSignedPush(json: String) {
        call { core.handlePush(json.toByteArray(Charsets.UTF_8)) }?.let(show)
    }

    /** [body] on the calling thread, for at most [timeoutMs]; null when refused or too slow. */
    private fun <T> call(body: suspend () -> T): T? = runBlocking {
        try {
            withTimeoutOrNull(timeoutMs) { body() }
        } catch (e: MerchantException) {
            refused(e)
            null
        }
    }
}
