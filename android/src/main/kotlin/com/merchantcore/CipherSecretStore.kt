package com.merchantcore

import com.merchantcore.ffi.ErrorKind
import com.merchantcore.ffi.MerchantException
import com.merchantcore.ffi.SecretStore
import java.nio.ByteBuffer
import java.security.GeneralSecurityException
import java.security.InvalidKeyException
import javax.crypto.Cipher
import javax.crypto.SecretKey
import javax.crypto.spec.GCMParameterSpec

/**
 * A [SecretStore] that wraps secrets with AES-256-GCM under keys a key store
 * holds and never exports: the Android Keystore ([com.merchantcore.android.KeystoreSecretStore]),
 * or any other JCA key source.
 *
 * Subclasses only find, create and delete keys. The wrapped format is
 * `version (1) | iv length (1) | iv | ciphertext + 128-bit tag`, with the key
 * name bound as associated data, so bytes wrapped under one name never unwrap
 * under another. The IV is chosen by the cipher provider (the Android Keystore
 * insists on that), fresh for every wrap.
 *
 * A key the key store invalidated for good is replaced on the next wrap
 * (what it wrapped could not be read any more anyway).
 *
 * Failures reach the core as [MerchantException]s with the store's codes:
 * `store.key_wrap_failed` when wrapping fails, `store.key_lost` when the key is
 * gone or does not open the bytes (never other bytes), `store.key_corrupt`
 * when the wrapped bytes are not in this format.
 */
abstract class CipherSecretStore : SecretStore {
    private val keyLock = Any()

    /**
     * The key named [keyName]: when it does not exist, a new AES-256 key if
     * [create], else null. Called under a lock, so creation does not race.
     */
    protected abstract fun findKey(keyName: String, create: Boolean): SecretKey?

    /** Deletes the key named [keyName]; nothing if it does not exist. */
    protected abstract fun deleteKey(keyName: String)

    override fun wrap(keyName: String, secret: ByteArray): ByteArray {
        try {
            val cipher = try {
                encryptingCipher(keyName)
            } catch (e: InvalidKeyException) {
                // The key store invalidated this key for good (on Android,
                // KeyPermanentlyInvalidatedException once the lock screen is
                // removed). What it wrapped is lost already; wrap under a new key.
                synchronized(keyLock) { deleteKey(keyName) }
                encryptingCipher(keyName)
            }
            cipher.updateAAD(associatedData(keyName))
            val sealed = cipher.doFinal(secret)
            val iv = cipher.iv ?: throw failure(ErrorKind.STORAGE, KEY_WRAP_FAILED)
            if (iv.isEmpty() || iv.size > 255) throw failure(ErrorKind.STORAGE, KEY_WRAP_FAILED)
            return ByteBuffer.allocate(2 + iv.size + sealed.size)
                .put(VERSION)
                .put(iv.size.toByte())
                .put(iv)
                .put(sealed)
                .array()
        } catch (e: GeneralSecurityException) {
            throw failure(ErrorKind.STORAGE, KEY_WRAP_FAILED)
        } catch (e: java.security.ProviderException) {
            throw failure(ErrorKind.STORAGE, KEY_WRAP_FAILED)
        } finally {
            secret.fill(0)
        }
    }

    override fun unwrap(keyName: String, wrapped: ByteArray): ByteArray {
        if (wrapped.size < 2 || wrapped[0] != VERSION) throw failure(ErrorKind.INTEGRITY, KEY_CORRUPT)
        val ivLength = wrapped[1].toInt() and 0xff
        if (ivLength == 0 || wrapped.size < 2 + ivLength + TAG_BYTES) {
            throw failure(ErrorKind.INTEGRITY, KEY_CORRUPT)
        }
        try {
            val key = synchronized(keyLock) { findKey(keyName, create = false) }
                ?: throw failure(ErrorKind.INTEGRITY, KEY_LOST)
            val cipher = Cipher.getInstance(TRANSFORMATION)
            cipher.init(Cipher.DECRYPT_MODE, key, GCMParameterSpec(TAG_BYTES * 8, wrapped, 2, ivLength))
            cipher.updateAAD(associatedData(keyName))
            return cipher.doFinal(wrapped, 2 + ivLength, wrapped.size - 2 - ivLength)
        } catch (e: GeneralSecurityException) {
            // Wrong or replaced key, altered bytes, or a key the system invalidated
            // (KeyPermanentlyInvalidatedException): the secret is lost, never guessed.
            throw failure(ErrorKind.INTEGRITY, KEY_LOST)
        } catch (e: java.security.ProviderException) {
            throw failure(ErrorKind.INTEGRITY, KEY_LOST)
        }
    }

    override fun forget(keyName: String) {
        try {
            synchronized(keyLock) { deleteKey(keyName) }
        } catch (e: GeneralSecurityException) {
            throw failure(ErrorKind.STORAGE, KEY_WRAP_FAILED)
        }
    }

    private fun encryptingCipher(keyName: String): Cipher {
        val key = synchronized(keyLock) { findKey(keyName, create = true) }
            ?: throw failure(ErrorKind.STORAGE, KEY_WRAP_FAILED)
        return Cipher.getInstance(TRANSFORMATION).apply { init(Cipher.ENCRYPT_MODE, key) }
    }

    private fun associatedData(keyName: String): ByteArray =
        "merchant-core/secret-store/v1/$keyName".toByteArray(Charsets.UTF_8)

    private fun failure(kind: ErrorKind, code: String): MerchantException = merchantException(kind, code)

    companion object {
        const val TRANSFORMATION = "AES/GCM/NoPadding"
        private const val VERSION: Byte = 1
        private const val TAG_BYTES = 16

        /** Codes of the core's store module (docs/errors.md). */
        const val KEY_WRAP_FAILED = "store.key_wrap_failed"
        const val KEY_LOST = "store.key_lost"
        const val KEY_CORRUPT = "store.key_corrupt"
    }
}
