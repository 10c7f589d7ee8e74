package com.merchantcore

import com.merchantcore.ffi.ErrorKind
import com.merchantcore.ffi.Lang
import com.merchantcore.ffi.MerchantException
import com.merchantcore.ffi.Problem
import com.merchantcore.ffi.currentLanguage
import com.merchantcore.ffi.errorMessage

/*
 * Idiomatic access to the one error type of the core.
 *
 * Every failure of a core call is a [MerchantException] subclass carrying a
 * stable code (docs/errors.md) and a message safe to show: it never holds
 * personal data. These helpers read those fields without a `when` over every
 * variant at each call site.
 */

/** The stable code of any variant, such as "amount.not_a_number" or "terminal.owned_by_other". */
val MerchantException.errorCode: String
    get() = when (this) {
        is MerchantException.Input -> code
        is MerchantException.Network -> code
        is MerchantException.Platform -> code
        is MerchantException.Auth -> code
        is MerchantException.Conflict -> code
        is MerchantException.NotFound -> code
        is MerchantException.Integrity -> code
        is MerchantException.Storage -> code
        is MerchantException.Bluetooth -> code
        is MerchantException.Internal -> code
    }

/** The message for the merchant, in the language the core was set to. */
val MerchantException.merchantMessage: String
    get() = when (this) {
        is MerchantException.Input -> detail
        is MerchantException.Network -> detail
        is MerchantException.Platform -> detail
        is MerchantException.Auth -> detail
        is MerchantException.Conflict -> detail
        is MerchantException.NotFound -> detail
        is MerchantException.Integrity -> detail
        is MerchantException.Storage -> detail
        is MerchantException.Bluetooth -> detail
        is MerchantException.Internal -> detail
    }

/** The broad class of the failure. */
val MerchantException.kind: ErrorKind
    get() = when (this) {
        is MerchantException.Input -> ErrorKind.INPUT
        is MerchantException.Network -> ErrorKind.NETWORK
        is MerchantException.Platform -> ErrorKind.PLATFORM
        is MerchantException.Auth -> ErrorKind.AUTH
        is MerchantException.Conflict -> ErrorKind.CONFLICT
        is MerchantException.NotFound -> ErrorKind.NOT_FOUND
        is MerchantException.Integrity -> ErrorKind.INTEGRITY
        is MerchantException.Storage -> ErrorKind.STORAGE
        is MerchantException.Bluetooth -> ErrorKind.BLUETOOTH
        is MerchantException.Internal -> ErrorKind.INTERNAL
    }

/** Every problem of an input error, one per field and rule; empty for other kinds. */
val MerchantException.problems: List<Problem>
    get() = (this as? MerchantException.Input)?.problems ?: emptyList()

/** The problems of an input error grouped by form field ("" is the value as a whole). */
fun MerchantException.problemsByField(): Map<String, List<Problem>> = problems.groupBy { it.field }

/** Whether trying the same call again later may succeed (the network was unreachable). */
val MerchantException.isTransient: Boolean
    get() = this is MerchantException.Network

/**
 * Builds a [MerchantException] of the kind the catalogue gives for [code], with
 * the catalogue's message in the current language. For app-side code that
 * must report a failure back to the core, such as a [com.merchantcore.ffi.SecretStore]
 * implementation: the core then sees a code it knows.
 */
fun merchantException(kind: ErrorKind, code: String, lang: Lang = currentLanguage()): MerchantException {
    val detail = errorMessage(code, lang) ?: code
    return when (kind) {
        ErrorKind.INPUT -> MerchantException.Input(code, detail, emptyList())
        ErrorKind.NETWORK -> MerchantException.Network(code, detail)
        ErrorKind.PLATFORM -> MerchantException.Platform(code, detail, 0u)
        ErrorKind.AUTH -> MerchantException.Auth(code, detail)
        ErrorKind.CONFLICT -> MerchantException.Conflict(code, detail)
        ErrorKind.NOT_FOUND -> MerchantException.NotFound(code, detail)
        ErrorKind.INTEGRITY -> MerchantException.Integrity(code, detail)
        ErrorKind.STORAGE -> MerchantException.Storage(code, detail)
        ErrorKind.BLUETOOTH -> MerchantException.Bluetooth(code, detail)
        ErrorKind.INTERNAL -> MerchantException.Internal(code, detail)
    }
}
