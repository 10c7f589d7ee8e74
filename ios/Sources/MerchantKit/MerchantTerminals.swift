import Foundation

/// Terminals, the Swift way: a Bluetooth LE scan as an `AsyncThrowingStream`.
///
/// The core reports a scan to a listener and returns a handle that stops it.
/// `scanTerminals(timeoutMs:)` wraps both: iterating starts the scan, each
/// terminal is yielded once, the stream finishes when the scan ends, throws
/// the scan's `MerchantError.Bluetooth` (`bluetooth.no_adapter`, `.off`,
/// `.permission_denied`, `.scan_timeout` …), and ending the iteration (or
/// cancelling its task) cancels the scan.
///
/// The app's Info.plist needs `NSBluetoothAlwaysUsageDescription`; without
/// the merchant's permission the scan ends with `bluetooth.permission_denied`.
extension MerchantCore {
    /// Scans for terminals for at most `timeoutMs` milliseconds (the core caps it at 120 s).
    public func scanTerminals(timeoutMs: UInt64 = 10_000) -> AsyncThrowingStream<BleTerminalSeen, Error> {
        AsyncThrowingStream(bufferingPolicy: .bufferingNewest(64)) { continuation in
            let listener = StreamingScanListener(continuation)
            do {
                let handle = try self.scanTerminalsBle(timeoutMs: timeoutMs, listener: listener)
                continuation.onTermination = { _ in handle.cancel() }
            } catch {
                continuation.finish(throwing: error)
            }
        }
    }
}

/// Feeds a scan's reports into a stream.
private final class StreamingScanListener: BleScanListener, @unchecked Sendable {
    private let continuation: AsyncThrowingStream<BleTerminalSeen, Error>.Continuation

    init(_ continuation: AsyncThrowingStream<BleTerminalSeen, Error>.Continuation) {
        self.continuation = continuation
    }

    func onTerminal(seen: BleTerminalSeen) throws {
        continuation.yield(seen)
    }

    func onFinished(error: MerchantError?) throws {
        if let error {
            continuation.finish(throwing: error)
        } else {
            continuation.finish()
        }
    }
}
