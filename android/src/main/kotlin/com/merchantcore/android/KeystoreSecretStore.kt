package com.merchantcore.android

import android.os.Build
import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyProperties
import android.security.keystore.StrongBoxUnavailableException
import com.merchantcore.CipherSecretStore
import java.security.KeyStore
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey

/**
 * The [com.merchantcore.ffi.SecretStore] of an Android app: AES-256-GCM keys
 * generated inside the Android Keystore (StrongBox when the device has one),
 * which never leave it. The core keeps only what they wrapped.
 *
 * Keys are named `<aliasPrefix><key name>`. A key the system invalidated
 * (device lock removed, factory reset of the keystore) makes unwrap fail with
 * `store.key_lost`, and the core asks the merchant to sign in again.
 *
 * ```
 * val core = MerchantCore(config, KeystoreSecretStore())
 * ```
 */
class KeystoreSecretStore(
    private val aliasPrefix: String = "merchant-core:",
    private val preferStrongBox: Boolean = true,
) : CipherSecretStore() {
    private val keyStore: KeyStore by lazy { KeyStore.getInstance(ANDROID_KEYSTORE).apply { load(null) } }

    override fun findKey(keyName: String, create: Boolean): SecretKey? {
        val alias = aliasPrefix + keyName
        (keyStore.getKey(alias, null) as? SecretKey)?.let { return it }
        if (!create) return null
        if (preferStrongBox && Build.VERSION.SDK_INT >= Build.VERSION_CODES.P) {
            try {
                return generate(alias, strongBox = true)
            } catch (e: StrongBoxUnavailableException) {
                // No secure element on this device: the TEE-backed keystore below.
            }
        }
        return generate(alias, strongBox = false)
    }

    override fun deleteKey(keyName: String) {
        val alias = aliasPrefix + keyName
        if (keyStore.containsAlias(alias)) keyStore.deleteEntry(alias)
    }

    private fun generate(alias: String, strongBox: Boolean): SecretKey {
        val spec = KeyGenParameterSpec.Builder(
            alias,
            KeyProperties.PURPOSE_ENCRYPT or KeyProperties.PURPOSE_DECRYPT,
        )
            .setBlockModes(KeyProperties.BLOCK_MODE_GCM)
            .setEncryptionPaddings(KeyProperties.ENCRYPTION_PADDING_NONE)
            .setKeySize(256)
            .setRandomizedEncryptionRequired(true)
            .apply { if (strongBox && Build.VERSION.SDK_INT >= Build.VERSION_CODES.P) setIsStrongBoxBacked(true) }
            .build()
        val generator = KeyGenerator.getInstance(KeyProperties.KEY_ALGORITHM_AES, ANDROID_KEYSTORE)
        generator.init(spec)
        return generator.generateKey()
    }

    private companion object {
        const val ANDROID_KEYSTORE = "AndroidKeyStore"
    }
}
