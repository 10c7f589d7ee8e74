package com.merchantcore

import com.merchantcore.ffi.MerchantException
import com.merchantcore.testing.Suite
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey
import javax.crypto.spec.SecretKeySpec
import kotlin.test.assertContentEquals
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertNotEquals
import kotlin.test.assertTrue

/** The Kotlin side of the key store contract, without the core. */
class SecretStoreTests : Suite("secret store") {
    init {
        test("a wrapped secret unwraps under its own key name only") {
            val store = MemorySecretStore()
            val secret = ByteArray(32) { it.toByte() }
            val wrapped = store.wrap("data-key", secret.copyOf())
            assertFalse(wrapped.asList().windowed(secret.size).any { it == secret.asList() }, "secret in the clear")
            assertContentEquals(secret, store.unwrap("data-key", wrapped))

            store.wrap("other", byteArrayOf(1)) // creates the other key
            val e = assertFailsWith<MerchantException.Integrity> { store.unwrap("other", wrapped) }
            assertEquals("store.key_lost", e.errorCode)
        }

        test("each wrap uses a fresh IV") {
            val store = MemorySecretStore()
            val a = store.wrap("k", ByteArray(16))
            val b = store.wrap("k", ByteArray(16))
            assertNotEquals(a.toList(), b.toList())
        }

        test("altered, truncated or foreign bytes are refused, never returned") {
            val store = MemorySecretStore()
            val wrapped = store.wrap("k", ByteArray(32) { 7 })
            val altered = wrapped.copyOf().also { it[it.size - 1] = (it[it.size - 1].toInt() xor 1).toByte() }
            assertEquals("store.key_lost", assertFailsWith<MerchantException.Integrity> { store.unwrap("k", altered) }.errorCode)
            val truncated = wrapped.copyOf(10)
            assertEquals("store.key_corrupt", assertFailsWith<MerchantException.Integrity> { store.unwrap("k", truncated) }.errorCode)
            assertEquals("store.key_corrupt", assertFailsWith<MerchantException.Integrity> { store.unwrap("k", ByteArray(0)) }.errorCode)
            val otherVersion = wrapped.copyOf().also { it[0] = 9 }
            assertEquals("store.key_corrupt", assertFailsWith<MerchantException.Integrity> { store.unwrap("k", otherVersion) }.errorCode)
        }

        test("a key the key store invalidated is replaced on the next wrap") {
            val store = object : CipherSecretStore() {
                var key: SecretKey? = SecretKeySpec(ByteArray(5), "AES") // no AES key has 5 bytes
                var deleted = 0

                override fun findKey(keyName: String, create: Boolean): SecretKey? =
                    key ?: if (create) KeyGenerator.getInstance("AES").apply { init(256) }.generateKey().also { key = it } else null

                override fun deleteKey(keyName: String) {
                    deleted++
                    key = null
                }
            }
            val secret = byteArrayOf(4, 5, 6)
            val wrapped = store.wrap("k", secret.copyOf())
            assertEquals(1, store.deleted)
            assertContentEquals(secret, store.unwrap("k", wrapped))
        }

        test("a forgotten key can never unwrap again") {
            val store = MemorySecretStore()
            val wrapped = store.wrap("k", byteArrayOf(1, 2, 3))
            store.forget("k")
            val e = assertFailsWith<MerchantException.Integrity> { store.unwrap("k", wrapped) }
            assertEquals("store.key_lost", e.errorCode)
            assertTrue(e.merchantMessage.isNotBlank())
            // Forgetting again is harmless.
            store.forget("k")
        }
    }
}
