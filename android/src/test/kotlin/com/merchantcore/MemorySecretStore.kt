package com.merchantcore

import java.util.Collections
import java.util.concurrent.ConcurrentHashMap
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey

/**
 * A [CipherSecretStore] whose AES-256 keys live in memory only (javax.crypto),
 * standing in for the Android Keystore on the JVM. It records every call the
 * core makes into it, so tests can see Rust calling back into Kotlin.
 */
class MemorySecretStore : CipherSecretStore() {
    private val keys = ConcurrentHashMap<String, SecretKey>()

    /** "wrap:<key name>", "unwrap:<key name>", "forget:<key name>", in call order. */
    val calls: MutableList<String> = Collections.synchronizedList(mutableListOf())

    /** The threads the core called in on (callbacks come from Rust's threads). */
    val callingThreads: MutableSet<String> = Collections.synchronizedSet(mutableSetOf())

    fun callsSnapshot(): List<String> = synchronized(calls) { calls.toList() }

    override fun findKey(keyName: String, create: Boolean): SecretKey? =
        keys[keyName] ?: if (create) {
            KeyGenerator.getInstance("AES").apply { init(256) }.generateKey().also { keys[keyName] = it }
        } else {
            null
        }

    override fun deleteKey(keyName: String) {
        keys.remove(keyName)
    }

    override fun wrap(keyName: String, secret: ByteArray): ByteArray {
        record("wrap", keyName)
        return super.wrap(keyName, secret)
    }

    override fun unwrap(keyName: String, wrapped: ByteArray): ByteArray {
        record("unwrap", keyName)
        return super.unwrap(keyName, wrapped)
    }

    override fun forget(keyName: String) {
        record("forget", keyName)
        super.forget(keyName)
    }

    private fun record(call: String, keyName: String) {
        calls += "$call:$keyName"
        callingThreads += Thread.currentThread().name
    }
}
