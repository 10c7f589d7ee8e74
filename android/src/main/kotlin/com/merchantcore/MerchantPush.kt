package com.merchantcore

/**
 * Push glue shared by every platform shell: what the app does with a push
 * token and with a push payload from the platform.
 *
 * The platform signs every push payload (docs/platform-api.md, "Push"): the
 * payload is a SignedPush, six string fields (`appid`, `serial_no`,
 * `timestamp`, `nonce_str`, `body`, `signature`). Over FCM they arrive as the
 * data message's keys; a payload may instead arrive whole, as JSON text under
 * the one key `payload`. Either way the handler receives the SignedPush JSON
 * text and hands it to the core, which verifies the signature before it
 * believes a word of it.
 */
interface MerchantPushHandler {
    /**
     * The push service gave this installation a token (FCM calls `onNewToken`
     * for the first one and for every rotation): hand it to
     * `core.rotatePushToken(PushProvider.FCM, token)`, which registers the
     * first token and rotates the kept registration to later ones (the
     * platform then pushes to the new value only). `core.unregisterPushToken()`
     * stops pushes to this installation.
     */
    fun onPushToken(token: String)

    /** A signed payload arrived: give its JSON text to the core. */
    fun onSignedPush(json: String)

    /** Implemented by the app's `Application`, so the push service finds the handler. */
    interface Provider {
        val merchantPushHandler: MerchantPushHandler
    }
}

/** Reads the SignedPush JSON text out of a push service's data map. */
object SignedPushPayload {
    /** The fields of a SignedPush, in the contract's order. */
    val FIELDS = listOf("appid", "serial_no", "timestamp", "nonce_str", "body", "signature")

    /** The key under which a whole payload may arrive as JSON text. */
    const val WHOLE_PAYLOAD_KEY = "payload"

    /** The longest payload accepted (the contract's MAX_PUSH_LEN, 64 KiB). */
    const val MAX_LENGTH = 64 * 1024

    /**
     * The SignedPush JSON text of [data], or null when [data] is not a
     * platform payload (another SDK's message, say) or is too large.
     */
    fun fromData(data: Map<String, String>): String? {
        val json = data[WHOLE_PAYLOAD_KEY]
            ?: if (FIELDS.all { data.containsKey(it) }) toJson(FIELDS.associateWith { data.getValue(it) }) else null
        return json?.takeIf { it.length <= MAX_LENGTH }
    }

    private fun toJson(fields: Map<String, String>): String =
        fields.entries.joinToString(",", "{", "}") { (k, v) -> "${quote(k)}:${quote(v)}" }

    private fun quote(s: String): String {
        val out = StringBuilder(s.length + 2).append('"')
        for (c in s) {
            when (c) {
                '"' -> out.append("\\\"")
                '\\' -> out.append("\\\\")
                '\n' -> out.append("\\n")
                '\r' -> out.append("\\r")
                '\t' -> out.append("\\t")
                else -> if (c < ' ') out.append("\\u%04x".format(c.code)) else out.append(c)
            }
        }
        return out.append('"').toString()
    }
}
