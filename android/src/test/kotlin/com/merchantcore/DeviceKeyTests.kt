package com.merchantcore

import com.merchantcore.ffi.CoreConfig
import com.merchantcore.ffi.Lang
import com.merchantcore.ffi.MerchantCore
import com.merchantcore.ffi.MerchantException
import com.merchantcore.ffi.SecretStore
import com.merchantcore.testing.Suite
import com.merchantcore.testing.withTempDir
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import java.io.File
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertTrue

/**
 * An async core call (`suspend fun deviceId()`), with the device key wrapped
 * by a SecretStore written in Kotlin and called back from Rust.
 */
class DeviceKeyTests : Suite("device key") {
    private val deviceKeyName = "merchant-core.device"

    private fun config(dir: File) = CoreConfig(
        dataDir = File(dir, "data").path,
        platformUrl = "http://127.0.0.1:9",
        platformPin = null,
        platformPublicKey = "",
        appId = "OP00000001",
        language = Lang.ZH,
    )

    private fun core(dir: File, store: SecretStore) = MerchantCore(config(dir), store)

    init {
        asyncTest("deviceId() suspends, creates the key once and wraps it through the Kotlin store") {
            withTempDir { dir ->
                val store = MemorySecretStore()
                val id = core(dir, store).use { core -> core.deviceId().also { assertEquals(it, core.deviceId()) } }
                assertTrue(Regex("[0-9a-f]{32}").matches(id), "device id looks like a serial: $id")
                val calls = store.callsSnapshot()
                assertEquals(1, calls.count { it == "wrap:$deviceKeyName" }, "one wrap: $calls")
                assertTrue(store.callingThreads.isNotEmpty())
                assertTrue(File(dir, "data").walkTopDown().any { it.isFile }, "the wrapped key is on disk")
            }
        }

        asyncTest("a second core over the same directory unwraps the same key through the store") {
            withTempDir { dir ->
                val store = MemorySecretStore()
                val first = core(dir, store).use { it.deviceId() }
                val wrapsBefore = store.callsSnapshot().count { it.startsWith("wrap:") }
                val unwrapsBefore = store.callsSnapshot().count { it == "unwrap:$deviceKeyName" }

                val second = core(dir, store).use { it.deviceId() }

                assertEquals(first, second)
                val calls = store.callsSnapshot()
                assertEquals(wrapsBefore, calls.count { it.startsWith("wrap:") }, "no new key: $calls")
                assertTrue(calls.count { it == "unwrap:$deviceKeyName" } > unwrapsBefore, "unwrapped: $calls")
            }
        }

        asyncTest("concurrent first calls agree on one device key") {
            withTempDir { dir ->
                core(dir, MemorySecretStore()).use { core ->
                    val ids = List(4) { async { core.deviceId() } }.awaitAll()
                    assertEquals(1, ids.toSet().size, "ids: $ids")
                }
            }
        }

        asyncTest("a key store that lost its key fails deviceId() with a typed error, not a new identity") {
            withTempDir { dir ->
                core(dir, MemorySecretStore()).use { it.deviceId() }
                val amnesiac = MemorySecretStore()
                val e = assertFailsWith<MerchantException.Integrity> {
                    core(dir, amnesiac).use { it.deviceId() }
                }
                assertEquals("store.key_lost", e.errorCode)
                assertTrue(amnesiac.callsSnapshot().contains("unwrap:$deviceKeyName"))
            }
        }
    }
}
