import Foundation

/// Push glue shared with the Android shell: what the app does with an APNs
/// token and with a payload from the platform.
///
/// The platform signs every push payload (docs/platform-api.md, "Push"): a
/// SignedPush, six string fields (`appid`, `serial_no`, `timestamp`,
/// `nonce_str`, `body`, `signature`), at the top level of the notification's
/// `userInfo`, or whole as JSON text under the one key `payload`. The handler
/// receives the SignedPush JSON text and hands it to the core, which verifies
/// the signature before it believes a word of it.
public protocol MerchantPushHandler: AnyObject {
    /// APNs gave this installation a token (lowercase hex), at every
    /// `didRegisterForRemoteNotificationsWithDeviceToken`: hand it to
    /// `core.rotatePushToken(provider: .apns, token: token)`, which registers
    /// the first token and rotates the kept registration to a changed one
    /// (the platform then pushes to the new value only).
    /// `core.unregisterPushToken()` stops pushes to this installation.
    func onPushToken(_ token: String)
    /// A signed payload arrived: give its JSON text to the core.
    func onSignedPush(_ json: String)
}

public enum SignedPushPayload {
    /// The fields of a SignedPush, in the contract's order.
    public static let fields = ["appid", "serial_no", "timestamp", "nonce_str", "body", "signature"]
    /// The key under which a whole payload may arrive as JSON text.
    public static let wholePayloadKey = "payload"
    /// The longest payload accepted (the contract's MAX_PUSH_LEN, 64 KiB).
    public static let maxLength = 64 * 1024

    /// The SignedPush JSON text of a notification's `userInfo`, or nil when it
    /// is not a platform payload or is too large.
    public static func fromUserInfo(_ userInfo: [AnyHashable: Any]) -> String? {
        if let whole = userInfo[wholePayloadKey] as? String {
            return whole.utf8.count <= maxLength ? whole : nil
        }
        var object: [String: String] = [:]
        for field in fields {
            guard let value = userInfo[field] as? String else { return nil }
            object[field] = value
        }
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]),
              data.count <= maxLength
        else { return nil }
        return String(data: data, encoding: .utf8)
    }

    /// The APNs device token as the platform registers it: lowercase hex.
    public static func apnsToken(_ deviceToken: Data) -> String {
        deviceToken.map { String(format: "%02x", $0) }.joined()
    }
}

/// Forwards APNs callbacks of the app delegate to a `MerchantPushHandler`:
///
/// ```swift
/// func application(_ app: UIApplication, didRegisterForRemoteNotificationsWithDeviceToken token: Data) {
///     push.didRegister(deviceToken: token)
/// }
/// func application(_ app: UIApplication, didReceiveRemoteNotification userInfo: [AnyHashable: Any],
///                  fetchCompletionHandler done: @escaping (UIBackgroundFetchResult) -> Void) {
///     done(push.didReceive(userInfo: userInfo) ? .newData : .noData)
/// }
/// ```
public final class MerchantPushRelay {
    private weak var handler: MerchantPushHandler?

    public init(handler: MerchantPushHandler) {
        self.handler = handler
    }

    public func didRegister(deviceToken: Data) {
        handler?.onPushToken(SignedPushPayload.apnsToken(deviceToken))
    }

    /// Returns whether `userInfo` was a platform payload (and was handed on).
    @discardableResult
    public func didReceive(userInfo: [AnyHashable: Any]) -> Bool {
        guard let json = SignedPushPayload.fromUserInfo(userInfo), let handler else { return false }
        handler.onSignedPush(json)
        return true
    }
}
