package com.merchantcore

import com.merchantcore.ffi.DeviceInfo
import com.merchantcore.ffi.MerchantCore
import com.merchantcore.ffi.MerchantException
import com.merchantcore.testing.Sandbox
import com.merchantcore.testing.Suite
import com.merchantcore.testing.withTempDir
import java.io.File
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue

/**
 * Sign-in from Kotlin against the sandbox the test command started, over TLS
 * pinned by the certificate's SPKI SHA-256, as an app would do it.
 */
class SignInTests : Suite("sign-in") {
    private val sandbox by lazy { Sandbox.fromProperties() }

    private fun config(dir: File, pin: String? = sandbox.pin) = sandbox.coreConfig(dir).copy(platformPin = pin)

    init {
        asyncTest("a merchant signs in by SMS code over pinned TLS, this device is registered, and signs out") {
            withTempDir { dir ->
                val store = MemorySecretStore()
                MerchantCore(config(dir), store).use { core ->
                    core.setDeviceInfo(DeviceInfo(name = "收银台", os = "Android 14", model = "JVM test", appVersion = "1.0.0"))
                    val phone = "13800138001"
                    val sent = core.requestSmsCode(phone)
                    assertTrue(sent.expiresInSecs > 0, "$sent")

                    val signedIn = core.signIn(phone, sandbox.smsCode(phone))

                    assertTrue(signedIn.merchantId.isNotBlank())
                    assertEquals("138****8001", signedIn.phoneMasked)
                    assertTrue(signedIn.deviceRegistered, "$signedIn")
                    assertEquals(core.deviceId(), signedIn.deviceId)
                    assertEquals(signedIn.merchantId, assertNotNull(core.session()).merchantId)
                    val devices = core.devices()
                    assertTrue(devices.any { it.thisDevice && it.deviceId == signedIn.deviceId && it.name == "收银台" }, "$devices")
                    assertTrue(store.callsSnapshot().any { it.startsWith("wrap:") }, "keys wrapped through the Kotlin store")

                    core.signOut()
                    assertNull(core.session())
                }
            }
        }

        asyncTest("a wrong SMS code is refused with the platform's code") {
            withTempDir { dir ->
                MerchantCore(config(dir), MemorySecretStore()).use { core ->
                    val phone = "13800138002"
                    core.requestSmsCode(phone)
                    val wrong = sandbox.smsCode(phone).map { d -> if (d.isDigit()) '0' + (d - '0' + 1) % 10 else d }.joinToString("")
                    val e = assertFailsWith<MerchantException> { core.signIn(phone, wrong) }
                    assertEquals("auth.sms_code_wrong", e.errorCode)
                    assertTrue(e.merchantMessage.isNotBlank())
                    assertNull(core.session())
                }
            }
        }

        asyncTest("a server whose certificate does not match the pin is refused") {
            withTempDir { dir ->
                val otherPin = java.util.Base64.getEncoder().encodeToString(ByteArray(32) { 7 })
                MerchantCore(config(dir, pin = otherPin), MemorySecretStore()).use { core ->
                    val e = assertFailsWith<MerchantException> { core.requestSmsCode("13800138003") }
                    assertEquals("platform.pin_mismatch", e.errorCode)
                }
            }
        }
    }
}
