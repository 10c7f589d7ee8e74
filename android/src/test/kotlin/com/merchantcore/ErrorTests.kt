package com.merchantcore

import com.merchantcore.ffi.Lang
import com.merchantcore.ffi.currentLanguage
import com.merchantcore.ffi.errorMessage
import com.merchantcore.ffi.setLanguage
import com.merchantcore.testing.Suite
import kotlin.test.assertEquals
import kotlin.test.assertNull

class ErrorTests : Suite("errors") {
    init {
        test("the catalogue gives each code's message in Chinese and English") {
            assertEquals("本地文件读写失败", errorMessage("store.io", Lang.ZH))
            assertEquals("Reading or writing a local file failed", errorMessage("store.io", Lang.EN))
            assertNull(errorMessage("no.such.code", Lang.ZH))
        }

        test("the message language is chosen once for the whole core") {
            val before = currentLanguage()
            try {
                setLanguage(Lang.EN)
                assertEquals(Lang.EN, currentLanguage())
                setLanguage(Lang.ZH)
                assertEquals(Lang.ZH, currentLanguage())
            } finally {
                setLanguage(before)
            }
        }
    }
}
