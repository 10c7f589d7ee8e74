import Foundation
import UserNotifications

// Alerts, the Swift way (docs/alerts.md):
//
// - `LiveAlerts`: the core's live stream as an `AsyncStream`, with the
//   handle's network hint and cancel;
// - `MerchantNotificationService`: the Notification Service Extension's part,
//   handing the platform's signed payload to `handlePush(payload:)` in a
//   process iOS has just started, and turning the notification it returns
//   into what the lock screen shows and says;
// - `VoiceClipSound`: a clip sequence joined into one notification sound, so
//   "微信收款八百五十元" is said from recordings, offline, even when the app
//   is not running.
//
// In this module `Notification` is the core's record (title, body, voice
// text, clips); in app code that also imports Foundation, write
// `MerchantKit.Notification`.

/// What the live stream tells the app, in order.
public enum LiveAlertItem {
    /// An alert to show (and say), exactly once.
    case alert(Alert)
    /// Where the stream is: connecting, connected, waiting to reconnect...
    case status(StreamStatus)
    /// A verified event, already applied to what the phone keeps.
    case event(PushEvent)
}

/// A running subscription to the core's live stream:
///
/// ```swift
/// let live = try LiveAlerts(core: core)
/// networkMonitor.pathUpdateHandler = { if $0.status == .satisfied { live.networkAvailable() } }
/// for await item in live.items {
///     if case .alert(let alert) = item { show(alert); speak(alert.voiceText) }
/// }
/// ```
///
/// The core marks an alert delivered once it is handed to `items`: iterate
/// promptly and keep `live` alive as long as the app listens. `cancel()`,
/// or releasing `live`, ends the subscription and finishes `items`.
public final class LiveAlerts: @unchecked Sendable {
    public let items: AsyncStream<LiveAlertItem>
    private let handle: StreamHandle

    public init(core: MerchantCore) throws {
        var continuation: AsyncStream<LiveAlertItem>.Continuation?
        // Unbounded: an alert handed over is never dropped.
        items = AsyncStream(bufferingPolicy: .unbounded) { continuation = $0 }
        guard let continuation else {
            throw MerchantKitError.notConfigured("the alert stream could not be made")
        }
        let listener = StreamingAlertListener(continuation)
        handle = try core.subscribe(listener: listener)
        let handle = handle
        continuation.onTermination = { _ in handle.cancel() }
    }

    /// The network is back (NWPathMonitor): a wait before reconnecting ends now.
    public func networkAvailable() {
        handle.networkAvailable()
    }

    /// Ends the subscription; `items` finishes.
    public func cancel() {
        handle.cancel()
    }

    public var isStopped: Bool {
        handle.isStopped()
    }

    deinit {
        handle.cancel()
    }
}

/// Errors of the Swift facade itself (the core's are `MerchantError`).
public enum MerchantKitError: Error, Equatable {
    /// The app did not provide what the facade needs (a core for the
    /// extension, a clip recording).
    case notConfigured(String)
    /// A clip recording is not a PCM WAV file the composer can join.
    case clipUnreadable(String)
}

/// Feeds the core's callbacks into a stream.
private final class StreamingAlertListener: AlertListener, @unchecked Sendable {
    private let continuation: AsyncStream<LiveAlertItem>.Continuation

    init(_ continuation: AsyncStream<LiveAlertItem>.Continuation) {
        self.continuation = continuation
    }

    func onEvent(event: PushEvent) throws {
        continuation.yield(.event(event))
    }

    func onAlert(alert: Alert) throws {
        continuation.yield(.alert(alert))
    }

    func onStatus(status: StreamStatus) throws {
        continuation.yield(.status(status))
        if case .stopped = status {
            continuation.finish()
        }
    }
}

/// The Notification Service Extension of an app that hears trades. The
/// platform's APNs message carries `mutable-content: 1` and the signed
/// payload in its `userInfo`; iOS starts the extension, which opens the core
/// cold (its files in the app group's container) and calls
/// `handlePush(payload:)`: no network call, the signature and the timestamp
/// window checked, a replay refused, the event applied and stored.
///
/// Subclass it in the extension target and give it the core:
///
/// ```swift
/// final class NotificationService: MerchantNotificationService {
///     override func makeCore() throws -> MerchantCore {
///         try MerchantCore(config: sharedConfig(), secretStore: KeychainSecretStore(accessGroup: group))
///     }
///     override var clipDirectory: URL? { Bundle.main.url(forResource: "VoiceClips", withExtension: nil) }
///     override var soundDirectory: URL? { groupContainer.appendingPathComponent("Library/Sounds") }
/// }
/// ```
///
/// - A new alert: its title and body are shown; a protection alert or a
///   highlighted trade is time-sensitive; its voice is the clip sequence
///   joined into one sound (`clipDirectory` holds `<clip>.wav` recordings,
///   see docs/voice.md), or the default sound when a clip is missing.
/// - A duplicate (the stream or an earlier push already told it): an empty
///   content, which iOS drops when the extension has the
///   `com.apple.developer.usernotifications.filtering` entitlement (without
///   it, the platform's own placeholder text shows, silent).
/// - A refused payload (forged, stale, replayed): the same as a duplicate;
///   nothing was stored or said.
open class MerchantNotificationService: UNNotificationServiceExtension {
    private var contentHandler: ((UNNotificationContent) -> Void)?
    private var bestAttempt: UNMutableNotificationContent?
    private let lock = NSLock()

    /// The core, opened cold in the extension's process. The default throws:
    /// a subclass must provide it.
    open func makeCore() throws -> MerchantCore {
        throw MerchantKitError.notConfigured("MerchantNotificationService.makeCore")
    }

    /// Where the `<clip>.wav` recordings are; nil: the default sound.
    open var clipDirectory: URL? { nil }

    /// Where composed sounds go: `Library/Sounds` of the app group's
    /// container (iOS looks for named notification sounds there); nil: the
    /// default sound.
    open var soundDirectory: URL? { nil }

    override open func didReceive(
        _ request: UNNotificationRequest,
        withContentHandler contentHandler: @escaping (UNNotificationContent) -> Void
    ) {
        let content = (request.content.mutableCopy() as? UNMutableNotificationContent)
            ?? UNMutableNotificationContent()
        lock.lock()
        self.contentHandler = contentHandler
        bestAttempt = content
        lock.unlock()
        guard let json = SignedPushPayload.fromUserInfo(request.content.userInfo) else {
            // Not the platform's: shown as it came.
            finish(content)
            return
        }
        Task {
            let shown = await self.content(for: json, base: content)
            self.finish(shown)
        }
    }

    override open func serviceExtensionTimeWillExpire() {
        lock.lock()
        let content = bestAttempt
        lock.unlock()
        finish(content ?? UNNotificationContent())
    }

    /// What to show for the signed payload `json`.
    open func content(for json: String, base: UNMutableNotificationContent) async -> UNNotificationContent {
        let notification: Notification?
        do {
            notification = try await makeCore().handlePush(payload: Data(json.utf8))
        } catch {
            // Refused (forged, stale, replayed) or the core could not open:
            // nothing was stored; say nothing.
            return UNNotificationContent()
        }
        guard let notification else {
            return UNNotificationContent()
        }
        base.title = notification.title
        base.body = notification.body
        if #available(iOS 15.0, *), notification.protection || notification.highlight {
            base.interruptionLevel = .timeSensitive
        }
        base.sound = sound(for: notification)
        return base
    }

    /// The clip sequence joined into a sound named after the alert; the
    /// default sound when it cannot be made; none when the rules keep the
    /// alert silent.
    open func sound(for notification: Notification) -> UNNotificationSound? {
        if notification.voiceText.isEmpty {
            return nil
        }
        guard let clips = clipDirectory, let sounds = soundDirectory, !notification.clips.isEmpty,
              let name = try? VoiceClipSound.compose(
                  clips: notification.clips,
                  from: clips,
                  into: sounds,
                  name: "alert-\(notification.alertId)"
              )
        else {
            return .default
        }
        return UNNotificationSound(named: UNNotificationSoundName(name))
    }

    private func finish(_ content: UNNotificationContent) {
        lock.lock()
        let handler = contentHandler
        contentHandler = nil
        bestAttempt = nil
        lock.unlock()
        handler?(content)
    }
}

/// Joins recorded clips (`<clip>.wav`, 16-bit PCM, all of one format) into
/// one WAV file: a notification sound that says the whole sentence. iOS plays
/// a named notification sound up to 30 s long from the `Library/Sounds`
/// folder of the app's or the app group's container.
public enum VoiceClipSound {
    /// Writes `<name>.wav` into `directory` from the clips named `clips`
    /// found in `clipDirectory`; returns the sound's file name. Throws
    /// `MerchantKitError.clipUnreadable` for a missing clip or one that is
    /// not PCM WAV of the first clip's format.
    public static func compose(clips: [String], from clipDirectory: URL, into directory: URL, name: String) throws -> String {
        var format: Data?
        var samples = Data()
        for clip in clips {
            let url = clipDirectory.appendingPathComponent(clip).appendingPathExtension("wav")
            guard let file = try? Data(contentsOf: url) else {
                throw MerchantKitError.clipUnreadable(clip)
            }
            let (fmt, data) = try chunks(of: file, clip: clip)
            if let format, format != fmt {
                throw MerchantKitError.clipUnreadable(clip)
            }
            format = fmt
            samples.append(data)
        }
        guard let format else {
            throw MerchantKitError.clipUnreadable("no clips")
        }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let fileName = name + ".wav"
        try wav(format: format, samples: samples).write(to: directory.appendingPathComponent(fileName), options: .atomic)
        return fileName
    }

    /// The `fmt ` chunk's body and the `data` chunk's body of a RIFF WAVE file.
    static func chunks(of file: Data, clip: String) throws -> (Data, Data) {
        let bytes = [UInt8](file)
        guard bytes.count >= 12, bytes[0..<4] == [0x52, 0x49, 0x46, 0x46], bytes[8..<12] == [0x57, 0x41, 0x56, 0x45] else {
            throw MerchantKitError.clipUnreadable(clip)
        }
        var fmt: Data?
        var data: Data?
        var at = 12
        while at + 8 <= bytes.count {
            let id = bytes[at..<at + 4]
            let size = Int(UInt32(bytes[at + 4]) | UInt32(bytes[at + 5]) << 8 | UInt32(bytes[at + 6]) << 16 | UInt32(bytes[at + 7]) << 24)
            let start = at + 8
            guard size >= 0, start + size <= bytes.count else {
                throw MerchantKitError.clipUnreadable(clip)
            }
            if id.elementsEqual([0x66, 0x6d, 0x74, 0x20]) {
                fmt = Data(bytes[start..<start + size])
            } else if id.elementsEqual([0x64, 0x61, 0x74, 0x61]) {
                data = Data(bytes[start..<start + size])
            }
            // Chunks are padded to an even size.
            at = start + size + (size % 2)
        }
        // PCM (format tag 1), 16 bits a sample.
        guard let fmt, let data, fmt.count >= 16, fmt[fmt.startIndex] == 1, fmt[fmt.startIndex + 1] == 0,
              fmt[fmt.startIndex + 14] == 16
        else {
            throw MerchantKitError.clipUnreadable(clip)
        }
        return (fmt, data)
    }

    static func wav(format: Data, samples: Data) -> Data {
        func le32(_ v: Int) -> [UInt8] {
            let u = UInt32(truncatingIfNeeded: v)
            return [UInt8(u & 0xff), UInt8(u >> 8 & 0xff), UInt8(u >> 16 & 0xff), UInt8(u >> 24 & 0xff)]
        }
        var out = Data()
        let pad = samples.count % 2
        out.append(contentsOf: [0x52, 0x49, 0x46, 0x46])
        out.append(contentsOf: le32(4 + 8 + format.count + 8 + samples.count + pad))
        out.append(contentsOf: [0x57, 0x41, 0x56, 0x45, 0x66, 0x6d, 0x74, 0x20])
        out.append(contentsOf: le32(format.count))
        out.append(format)
        out.append(contentsOf: [0x64, 0x61, 0x74, 0x61])
        out.append(contentsOf: le32(samples.count))
        out.append(samples)
        if pad == 1 {
            out.append(0)
        }
        return out
    }
}
