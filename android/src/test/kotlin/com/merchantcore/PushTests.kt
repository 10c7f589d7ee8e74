package com.merchantcore

import com.merchantcore.testing.Suite
import kotlin.test.assertEquals
import kotlin.test.assertNull

/** The pure-Kotlin part of the push glue: reading a SignedPush out of a data message. */
class PushTests : Suite("push glue") {
    private val fields = mapOf(
        "appid" to "OP00000001",
        "serial_no" to "00ff",
        "timestamp" to "1700000000",
        "nonce_str" to "abc",
        "body" to """{"type":"trade.created","note":"a\"b\\c
d"}""",
        "signature" to "c2ln",
    )

    init {
        test("the six SignedPush fields of a data message become its JSON, escaped") {
            val json = SignedPushPayload.fromData(fields + ("google.message_id" to "x"))
            assertEquals(
                "{\"appid\":\"OP00000001\",\"serial_no\":\"00ff\",\"timestamp\":\"1700000000\"," +
                    "\"nonce_str\":\"abc\",\"body\":\"{\\\"type\\\":\\\"trade.created\\\",\\\"note\\\":\\\"a\\\\\\\"b\\\\\\\\c\\nd\\\"}\"," +
                    "\"signature\":\"c2ln\"}",
                json,
            )
        }

        test("a whole payload under one key passes through") {
            assertEquals("{\"appid\":\"x\"}", SignedPushPayload.fromData(mapOf("payload" to "{\"appid\":\"x\"}")))
        }

        test("other messages and oversized payloads are not the platform's") {
            assertNull(SignedPushPayload.fromData(mapOf("title" to "hello")))
            assertNull(SignedPushPayload.fromData(fields - "signature"))
            assertNull(SignedPushPayload.fromData(mapOf("payload" to "x".repeat(64 * 1024 + 1))))
        }
    }
}
