package com.merchantcore.android

import com.google.firebase.messaging.FirebaseMessagingService
import com.google.firebase.messaging.RemoteMessage
import com.merchantcore.MerchantPushHandler
import com.merchantcore.SignedPushPayload

/**
 * FCM glue: passes the registration token and the platform's signed payloads
 * to the app's [MerchantPushHandler], which hands them to the core.
 *
 * The app declares it (firebase-messaging is the app's dependency; this
 * library only compiles against it):
 *
 * ```xml
 * <service android:name="com.merchantcore.android.MerchantMessagingService" android:exported="false">
 *     <intent-filter><action android:name="com.google.firebase.MESSAGING_EVENT" /></intent-filter>
 * </service>
 * ```
 *
 * and its `Application` implements [MerchantPushHandler.Provider]. Both calls
 * arrive on a background thread with a few seconds to finish; a handler that
 * calls a suspending core method may block on it there (`runBlocking` with a
 * timeout) or enqueue work.
 */
open class MerchantMessagingService : FirebaseMessagingService() {
    /** The handler; by default the one the `Application` provides. */
    protected open fun handler(): MerchantPushHandler? =
        (application as? MerchantPushHandler.Provider)?.merchantPushHandler

    override fun onNewToken(token: String) {
        handler()?.onPushToken(token)
    }

    override fun onMessageReceived(message: RemoteMessage) {
        val json = SignedPushPayload.fromData(message.data) ?: return
        handler()?.onSignedPush(json)
    }
}
