package com.merchantcore

import com.merchantcore.ffi.CardKind
import com.merchantcore.ffi.EntityKind
import com.merchantcore.ffi.Gender
import com.merchantcore.ffi.NameScript
import com.merchantcore.ffi.checkBankCard
import com.merchantcore.ffi.checkCreditCode
import com.merchantcore.ffi.checkIdCard
import com.merchantcore.ffi.checkName
import com.merchantcore.ffi.checkPhone
import com.merchantcore.ffi.lookupBin
import com.merchantcore.ffi.maskBankCard
import com.merchantcore.ffi.maskIdCard
import com.merchantcore.ffi.maskName
import com.merchantcore.ffi.maskPhone
import com.merchantcore.testing.Suite
import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue

/**
 * Validators across the FFI: each returns a record with every problem found
 * (stable codes), a masked form for display, and what a valid value tells.
 */
class ValidationTests : Suite("validation") {
    /** GB 11643-1999's published sample. */
    private val idNumber = "11010519491231002X"

    /** An independent Luhn: the check digit that completes [body]. */
    private fun luhnComplete(body: String): String {
        var sum = 0
        for ((i, c) in body.reversed().withIndex()) {
            var d = c - '0'
            if (i % 2 == 0) {
                d *= 2
                if (d > 9) d -= 9
            }
            sum += d
        }
        return body + ((10 - sum % 10) % 10)
    }

    init {
        test("a resident ID: valid with gender, birth date and province; masked 3 + 4") {
            val c = checkIdCard(idNumber)
            assertTrue(c.valid, "${c.problems}")
            assertTrue(c.problems.isEmpty())
            assertEquals(Gender.FEMALE, c.gender)
            assertEquals("1949-12-31", c.birthDate)
            assertEquals("北京市", c.province)
            assertEquals("110***********002X", c.masked)
            assertTrue(checkIdCard("11010519491231002x").valid, "lower-case x")
        }

        test("a resident ID: each broken rule has its code, the old form its own") {
            assertEquals(listOf("id_card.checksum"), checkIdCard("110105194912310021").problems.map { it.code })
            assertEquals(listOf("id_card.old_form"), checkIdCard("110105491231002").problems.map { it.code })
            assertEquals(listOf("id_card.empty"), checkIdCard("").problems.map { it.code })
            assertEquals(listOf("id_card.characters"), checkIdCard("11010519491231002Y").problems.map { it.code })
            val bad = checkIdCard("110105194912310021")
            assertFalse(bad.valid)
            assertNull(bad.gender)
            assertNull(bad.birthDate)
            assertTrue(bad.problems.all { it.message.isNotBlank() && it.field.isEmpty() })
        }

        test("a unified social credit code: valid, its entity and province; bad check character refused") {
            val c = checkCreditCode("9144030071526726XG")
            assertTrue(c.valid, "${c.problems}")
            assertEquals(EntityKind.ENTERPRISE, c.entity)
            assertEquals("广东省", c.province)
            assertEquals("91440300********XG", c.masked)
            assertEquals(listOf("credit_code.checksum"), checkCreditCode("9144030071526726XH").problems.map { it.code })
            assertTrue("credit_code.characters" in checkCreditCode("9144030071526726XI").problems.map { it.code })
        }

        test("a bank card: Luhn, and the BIN names the bank and card kind") {
            val card = luhnComplete("622202123456789012")
            val c = checkBankCard(card)
            assertTrue(c.valid, "${c.problems}")
            val bin = assertNotNull(c.bin)
            assertEquals("ICBC", bin.bankCode)
            assertEquals("中国工商银行", bin.bankName)
            assertEquals(CardKind.DEBIT, bin.cardKind)
            assertEquals("622202*********" + card.substring(15), c.masked)

            val typo = card.dropLast(1) + ((card.last() - '0' + 1) % 10)
            assertEquals(listOf("bank_card.checksum"), checkBankCard(typo).problems.map { it.code })
            assertEquals(listOf("bank_card.length"), checkBankCard(luhnComplete("6222021234567")).problems.map { it.code })
        }

        test("an unknown BIN is unknown, not an error") {
            val c = checkBankCard(luhnComplete("123456789012345"))
            assertTrue(c.valid, "${c.problems}")
            assertNull(c.bin)
            assertNull(lookupBin("000000"))
            assertEquals("CCB", lookupBin("622700")?.bankCode)
        }

        test("a mainland mobile number in its usual forms") {
            for (v in listOf("13800138000", "+86 138 0013 8000", "86-138-0013-8000")) {
                val c = checkPhone(v)
                assertTrue(c.valid, "$v: ${c.problems}")
                assertEquals("138****8000", c.masked)
            }
            assertEquals(listOf("phone.country"), checkPhone("+1 415 555 0100").problems.map { it.code })
            assertEquals(listOf("phone.prefix"), checkPhone("12800138000").problems.map { it.code })
            assertEquals(listOf("phone.characters", "phone.length"), checkPhone("138001380abc").problems.map { it.code })
        }

        test("names: Chinese with the middle dot, Latin; every problem listed") {
            val uyghur = checkName("阿依古丽·买买提")
            assertTrue(uyghur.valid, "${uyghur.problems}")
            assertEquals(NameScript.CHINESE, uyghur.script)
            assertEquals("阿******提", uyghur.masked)
            val latin = checkName("John Smith")
            assertTrue(latin.valid, "${latin.problems}")
            assertEquals(NameScript.LATIN, latin.script)
            assertEquals(listOf("name.empty"), checkName("").problems.map { it.code })
            assertTrue("name.dot_position" in checkName("·张三").problems.map { it.code })
            assertTrue("name.digits" in checkName("张3").problems.map { it.code })
        }

        test("masking for display: card 6 + 4, ID 3 + 4") {
            assertEquals("622202*********0123", maskBankCard("6222021234567890123"))
            assertEquals("110***********002X", maskIdCard("11010519491231002x"))
            assertEquals("138****8000", maskPhone("13800138000"))
            assertEquals("张*明", maskName("张小明"))
        }

        test("the records never carry the number they checked") {
            val card = luhnComplete("622202123456789012")
            val records = listOf(checkIdCard(idNumber), checkBankCard(card), checkPhone("13800138000"))
            for (r in records) {
                val text = r.toString()
                assertFalse(text.contains(idNumber) || text.contains(card) || text.contains("13800138000"), text)
            }
        }
    }
}
