package com.merchantcore

import com.merchantcore.ffi.BleScanListener
import com.merchantcore.ffi.BleTerminalSeen
import com.merchantcore.ffi.MerchantCore
import com.merchantcore.ffi.MerchantException
import kotlinx.coroutines.channels.awaitClose
import kotlinx.coroutines.channels.trySendBlocking
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.buffer
import kotlinx.coroutines.flow.callbackFlow

/*
 * Terminals, the Kotlin way: a Bluetooth LE scan as a cold Flow.
 *
 * The core reports a scan to a listener and returns a handle that stops it.
 * [scanTerminals] wraps both: collecting starts the scan, each terminal is
 * emitted once, the flow completes when the scan ends, fails with the
 * scan's MerchantException.Bluetooth (bluetooth.no_adapter, .off,
 * .permission_denied, .scan_timeout …), and cancelling the collector
 * cancels the scan.
 *
 * On Android the app asks for BLUETOOTH_SCAN / BLUETOOTH_CONNECT (API 31+) or
 * ACCESS_FINE_LOCATION (older) before collecting; without them the scan
 * ends with bluetooth.permission_denied.
 */

/** Scans for terminals for at most [timeoutMs] milliseconds (the core caps it at 120 s). */
fun MerchantCore.scanTerminals(timeoutMs: Long = 10_000): Flow<BleTerminalSeen> = callbackFlow {
    val listener = object : BleScanListener {
        override fun onTerminal(seen: BleTerminalSeen) {
            trySendBlocking(seen)
        }

        override fun onFinished(error: MerchantException?) {
            if (error == null) channel.close() else channel.close(error)
        }
    }
    val handle = scanTerminalsBle(timeoutMs.coerceAtLeast(0).toULong(), listener)
    awaitClose {
        handle.cancel()
        handle.close()
    }
}.buffer(capacity = 64)
