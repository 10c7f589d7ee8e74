import CryptoKit
import Foundation
import Security

/// The `SecretStore` of an iOS app: one random 256-bit key per key name, kept
/// in the Keychain as a generic password of this device only, readable after
/// the first unlock (push payloads arrive while the phone is locked). The core
/// keeps only what these keys wrapped.
///
/// ```swift
/// let core = try MerchantCore(config: config, secretStore: KeychainSecretStore())
/// ```
public final class KeychainSecretStore: SymmetricKeySecretStore {
    private let service: String
    private let accessGroup: String?

    /// - Parameters:
    ///   - service: the Keychain service the keys are filed under.
    ///   - accessGroup: a shared Keychain access group (app + extensions), if any.
    public init(service: String = "merchant-core.secret-store", accessGroup: String? = nil) {
        self.service = service
        self.accessGroup = accessGroup
        super.init()
    }

    override public func findKey(_ keyName: String, create: Bool) throws -> SymmetricKey? {
        if let data = try read(keyName) {
            return SymmetricKey(data: data)
        }
        guard create else { return nil }
        let key = SymmetricKey(size: .bits256)
        let data = key.withUnsafeBytes { Data($0) }
        var add = baseQuery(keyName)
        add[kSecValueData as String] = data
        add[kSecAttrAccessible as String] = kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly
        let status = SecItemAdd(add as CFDictionary, nil)
        switch status {
        case errSecSuccess:
            return key
        case errSecDuplicateItem:
            // Another process (an app extension) created it first: use theirs.
            return try read(keyName).map { SymmetricKey(data: $0) }
        default:
            throw KeychainError(status: status)
        }
    }

    override public func deleteKey(_ keyName: String) throws {
        let status = SecItemDelete(baseQuery(keyName) as CFDictionary)
        guard status == errSecSuccess || status == errSecItemNotFound else {
            throw KeychainError(status: status)
        }
    }

    private func read(_ keyName: String) throws -> Data? {
        var query = baseQuery(keyName)
        query[kSecReturnData as String] = true
        query[kSecMatchLimit as String] = kSecMatchLimitOne
        var result: CFTypeRef?
        let status = SecItemCopyMatching(query as CFDictionary, &result)
        switch status {
        case errSecSuccess:
            guard let data = result as? Data, data.count == 32 else { return nil }
            return data
        case errSecItemNotFound:
            return nil
        default:
            throw KeychainError(status: status)
        }
    }

    private func baseQuery(_ keyName: String) -> [String: Any] {
        var query: [String: Any] = [
            kSecClass as String: kSecClassGenericPassword,
            kSecAttrService as String: service,
            kSecAttrAccount as String: keyName,
            kSecAttrSynchronizable as String: false,
            kSecUseDataProtectionKeychain as String: true,
        ]
        if let accessGroup { query[kSecAttrAccessGroup as String] = accessGroup }
        return query
    }
}

/// A Keychain call failed with `status`; the store reports it to the core with
/// the store's codes, never with the status text.
struct KeychainError: Error {
    let status: OSStatus
}
