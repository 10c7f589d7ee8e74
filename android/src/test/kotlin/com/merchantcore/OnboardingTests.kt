package com.merchantcore

import com.merchantcore.ffi.ApplicationField
import com.merchantcore.ffi.ApplicationStatus
import com.merchantcore.ffi.MerchantCore
import com.merchantcore.ffi.MerchantException
import com.merchantcore.ffi.PhotoKind
import com.merchantcore.ffi.UploadListener
import com.merchantcore.ffi.UploadState
import com.merchantcore.testing.Sandbox
import com.merchantcore.testing.Suite
import com.merchantcore.testing.withTempDir
import java.awt.image.BufferedImage
import java.io.ByteArrayOutputStream
import java.io.File
import java.util.Collections
import javax.imageio.ImageIO
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertNotNull
import kotlin.test.assertTrue
import kotlin.time.Duration.Companion.seconds

/**
 * A whole micro merchant onboarding from Kotlin against the sandbox the test
 * command started: the form typed field by field, lookups, photos uploaded
 * with their progress seen through an [UploadListener], the e-signed
 * agreement, one rejection fixed, activation by the texted code.
 */
class OnboardingTests : Suite("onboarding") {
    private val sandbox by lazy { Sandbox.fromProperties() }

    private fun config(dir: File) = sandbox.coreConfig(dir)

    /** What the listener was told, from the core's threads. */
    private class Recorder : UploadListener {
        val progress: MutableList<Triple<PhotoKind, ULong, ULong>> = Collections.synchronizedList(mutableListOf())
        val done: MutableList<PhotoKind> = Collections.synchronizedList(mutableListOf())
        val failed: MutableList<String> = Collections.synchronizedList(mutableListOf())
        override fun onProgress(kind: PhotoKind, bytesSent: ULong, total: ULong) {
            progress += Triple(kind, bytesSent, total)
        }
        override fun onDone(kind: PhotoKind) {
            done += kind
        }
        override fun onFailed(kind: PhotoKind, code: String) {
            failed += "$kind $code"
        }
    }

    private fun image(width: Int, height: Int, format: String, seed: Int): ByteArray {
        val type = if (format == "png") BufferedImage.TYPE_INT_ARGB else BufferedImage.TYPE_INT_RGB
        val img = BufferedImage(width, height, type)
        for (x in 0 until width) for (y in 0 until height) {
            val r = (x * 3 + seed) and 0xff
            val g = (y * 5) and 0xff
            val b = (x + y + seed) and 0xff
            img.setRGB(x, y, (0xff shl 24) or (r shl 16) or (g shl 8) or b)
        }
        val out = ByteArrayOutputStream()
        check(ImageIO.write(img, format, out)) { "no $format writer" }
        return out.toByteArray()
    }

    /** A valid ID number (born 1985-03-07) from its first 17 digits. */
    private fun idNumber(): String {
        val first17 = "51010719850307123"
        val weights = intArrayOf(7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
        val sum = first17.mapIndexed { i, c -> (c - '0') * weights[i] }.sum()
        return first17 + "10X98765432"[sum % 11]
    }

    /** A Luhn-valid card number from its digits before the check digit. */
    private fun card(partial: String): String {
        val sum = partial.reversed().mapIndexed { i, c ->
            val d = c - '0'
            if (i % 2 == 0) (d * 2).let { if (it > 9) it - 9 else it } else d
        }.sum()
        return partial + ((10 - sum % 10) % 10)
    }

    /** Polls until the review decided (the sandbox decides on its next read). */
    private suspend fun reviewed(core: MerchantCore): ApplicationStatus {
        while (true) {
            val s = core.refreshApplicationStatus()
            if (s != ApplicationStatus.SUBMITTED && s != ApplicationStatus.UNDER_REVIEW) return s
            // The review is due 30 s later on the sandbox's business clock.
            sandbox.post("/sandbox/clock", "{\"advance_secs\":31}")
        }
    }

    init {
        asyncTest("a micro merchant is rejected once, fixes it, sees upload progress and is activated", timeout = 120.seconds) {
            withTempDir { dir ->
                MerchantCore(config(dir), MemorySecretStore()).use { core ->
                    val phone = "13800138041"
                    core.requestSmsCode(phone)
                    core.signIn(phone, sandbox.smsCode(phone))

                    // Lookups, cached for offline filling.
                    assertTrue(core.lookupRegions(null).entries.any { it.code == "510000" })
                    core.lookupRegions("510000")
                    assertTrue(core.lookupRegions("510100").entries.any { it.code == "510107" })
                    for (c in core.lookupMcc(null).entries) core.lookupMcc(c.code)
                    assertTrue(core.lookupBankBranches("102", "510100").entries.any { it.code == "102651000017" })

                    val fields = mapOf(
                        ApplicationField.KIND to "micro",
                        ApplicationField.LEGAL_NAME to "王小明",
                        ApplicationField.ID_NUMBER to idNumber(),
                        ApplicationField.ID_VALID_FROM to "2015-03-07",
                        ApplicationField.ID_VALID_UNTIL to "2035-03-07",
                        ApplicationField.SHOP_NAME to "测试拒绝小卖部",
                        ApplicationField.PROVINCE_CODE to "510000",
                        ApplicationField.CITY_CODE to "510100",
                        ApplicationField.DISTRICT_CODE to "510107",
                        ApplicationField.STREET to "人民南路四段 1 号",
                        ApplicationField.MCC to "5812",
                        ApplicationField.ACCOUNT_TYPE to "personal",
                        ApplicationField.ACCOUNT_NUMBER to card("622202100000000001"),
                        ApplicationField.HOLDER_NAME to "王小明",
                        ApplicationField.BRANCH_CODE to "102651000017",
                        ApplicationField.RESERVED_MOBILE to "13800000001",
                    )
                    for ((field, value) in fields) core.setApplicationField(field, value)
                    assertEquals(idNumber(), core.applicationDraft().idNumber, "the merchant's own value, in full")

                    val kinds = listOf(
                        PhotoKind.ID_FRONT, PhotoKind.ID_BACK, PhotoKind.BANK_CARD,
                        PhotoKind.SHOP_FRONT, PhotoKind.SHOP_INSIDE, PhotoKind.CHECKSTAND,
                    )
                    kinds.forEachIndexed { i, k -> core.addApplicationPhoto(k, image(800, 600, "jpg", i)) }
                    val recorder = Recorder()
                    val photos = core.uploadApplicationPhotos(recorder)
                    assertTrue(photos.all { it.state == UploadState.UPLOADED }, "$photos")
                    assertEquals(kinds.toSet(), recorder.done.toSet())
                    for (p in photos) {
                        val seen = recorder.progress.filter { it.first == p.kind }
                        assertEquals(0uL, seen.first().second, "${p.kind} starts at 0")
                        assertEquals(p.size, seen.last().second, "${p.kind} ends at its size")
                    }
                    assertTrue(recorder.failed.isEmpty(), "${recorder.failed}")

                    val agreement = core.fetchAgreement()
                    assertTrue(agreement.text.isNotBlank())
                    val record = core.signAgreement(image(300, 120, "png", 9))
                    assertEquals(agreement.textSha256, record.textSha256)
                    assertEquals(record, core.verifyAgreementRecord(null))
                    assertTrue(core.validateApplication().isEmpty())

                    core.submitApplication()
                    assertEquals(ApplicationStatus.REJECTED, reviewed(core))
                    val reason = core.applicationDraft().rejections.single()
                    assertEquals(ApplicationField.SHOP_NAME, reason.formField)
                    assertEquals("review.shop_name_refused", reason.code)

                    core.setApplicationField(ApplicationField.SHOP_NAME, "老王面馆")
                    assertEquals(ApplicationStatus.DRAFT, core.applicationDraft().status)
                    core.submitApplication()
                    assertEquals(ApplicationStatus.ACTIVATION_CODE_SENT, reviewed(core))

                    val wrong = assertFailsWith<MerchantException> { core.activateMerchant("00000000") }
                    assertEquals("activation.code_wrong", wrong.errorCode)
                    val profile = core.activateMerchant(sandbox.smsCode(phone, "activation"))
                    assertEquals(15, assertNotNull(profile.merchantNo).length)
                    assertEquals(profile, core.merchantProfile())
                    assertEquals(ApplicationStatus.ACTIVATED, core.applicationDraft().status)
                }
            }
        }
    }
}
