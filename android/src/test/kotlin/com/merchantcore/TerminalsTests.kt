package com.merchantcore

import com.merchantcore.ffi.BindOutcome
import com.merchantcore.ffi.MerchantCore
import com.merchantcore.ffi.MerchantException
import com.merchantcore.ffi.TerminalRole
import com.merchantcore.ffi.TerminalUpdate
import com.merchantcore.testing.Sandbox
import com.merchantcore.testing.Suite
import com.merchantcore.testing.withTempDir
import java.io.File
import kotlinx.coroutines.flow.toList
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertTrue

/**
 * Binding terminals from Kotlin against the sandbox the test command
 * started: by the back QR's text, by a photo of it, renaming one, and the
 * loud refusal of a terminal that belongs to another merchant.
 */
class TerminalsTests : Suite("terminals") {
    private val sandbox by lazy { Sandbox.fromProperties() }

    private fun config(dir: File) = sandbox.coreConfig(dir)

    init {
        asyncTest("binds by QR text and by photo, renames one, and refuses another merchant's terminal") {
            withTempDir { dir ->
                MerchantCore(config(dir), MemorySecretStore()).use { core ->
                    // The sandbox's seeded active merchant.
                    val phone = "13800000001"
                    core.requestSmsCode(phone)
                    val me = core.signIn(phone, sandbox.smsCode(phone))
                    val stock = sandbox.inventory()
                    val free = stock.filter { it.state == "free" && core.terminals().none { t -> t.sn == it.sn } }
                    val byText = free[0]
                    val byPhoto = free[1]

                    val parsed = core.parseTerminalQr(byText.qrText)
                    assertEquals(byText.sn, parsed.sn)
                    val bound = core.bindTerminalByQr(byText.qrText)
                    assertEquals(BindOutcome.BOUND, bound.outcome)
                    assertEquals(byText.sn, bound.terminal.sn)

                    val photo = sandbox.getBytes("/sandbox/terminals/${byPhoto.sn}/back-photo")
                    assertEquals(byPhoto.sn, core.scanTerminalQr(photo).sn)
                    val boundByPhoto = core.bindTerminalByQrPhoto(photo)
                    assertEquals(BindOutcome.BOUND, boundByPhoto.outcome)
                    assertEquals(byPhoto.sn, boundByPhoto.terminal.sn)

                    val renamed = core.updateTerminal(
                        byText.sn,
                        TerminalUpdate(alias = "收银台1号", role = bound.terminal.role, mainSn = bound.terminal.mainSn),
                    )
                    assertEquals("收银台1号", renamed.alias)
                    assertTrue(core.terminals().any { it.sn == byText.sn && it.alias == "收银台1号" })
                    assertTrue(core.terminals().any { it.sn == byPhoto.sn && it.role == TerminalRole.SECONDARY }, "a later terminal binds as a secondary")

                    val theirs = stock.first { it.state == "bound" && it.merchantId != me.merchantId }
                    val e = assertFailsWith<MerchantException.Conflict> { core.bindTerminalByQr(theirs.qrText) }
                    assertEquals("terminal.owned_by_other", e.errorCode)
                    assertTrue(e.merchantMessage.contains("核实机主"), e.merchantMessage)
                    val findings = core.findings(false)
                    assertTrue(findings.any { it.code == "terminal.owned_by_other" && it.subject == theirs.sn }, "$findings")

                    val phishing = assertFailsWith<MerchantException.Input> {
                        core.parseTerminalQr("https://qr.sandbox.lakala.example.evil.com/activate?sn=${byText.sn}&sig=0011223344556677")
                    }
                    assertEquals("qr.untrusted_host", phishing.errorCode)
                }
            }
        }

        asyncTest("a Bluetooth scan without an adapter ends the flow with a typed bluetooth error") {
            withTempDir { dir ->
                MerchantCore(config(dir), MemorySecretStore()).use { core ->
                    val e = assertFailsWith<MerchantException.Bluetooth> {
                        core.scanTerminals(timeoutMs = 3_000).toList()
                    }
                    assertTrue(e.errorCode.startsWith("bluetooth."), e.errorCode)
                    assertTrue(e.merchantMessage.isNotBlank())
                }
            }
        }
    }
}
