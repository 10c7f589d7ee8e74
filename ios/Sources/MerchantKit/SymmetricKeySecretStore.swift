import CryptoKit
import Foundation

/// A `SecretStore` that wraps secrets with AES-256-GCM (CryptoKit) under keys
/// a key store holds: the Keychain (`KeychainSecretStore`) or memory in tests.
///
/// Subclasses override `findKey` and `deleteKey` (the base class has no keys
/// and fails every call). The wrapped format is the
/// one the Android shell uses: `version (1) | nonce length (12) | nonce |
/// ciphertext | 16-byte tag`, with the key name bound as associated data, so
/// bytes wrapped under one name never unwrap under another.
///
/// Failures reach the core as `MerchantError`s with the store's codes:
/// `store.key_wrap_failed` when wrapping fails, `store.key_lost` when the key
/// is gone or does not open the bytes (never other bytes), `store.key_corrupt`
/// when the wrapped bytes are not in this format.
open class SymmetricKeySecretStore: SecretStore, @unchecked Sendable {
    public static let keyWrapFailed = "store.key_wrap_failed"
    public static let keyLost = "store.key_lost"
    public static let keyCorrupt = "store.key_corrupt"

    private static let version: UInt8 = 1
    private static let nonceLength = 12
    private static let tagLength = 16
    private let keyLock = NSLock()

    public init() {}

    /// The key named `keyName`: when it does not exist, a new 256-bit key if
    /// `create`, else nil. Called under a lock, so creation does not race.
    open func findKey(_ keyName: String, create: Bool) throws -> SymmetricKey? {
        throw MerchantError.make(.`internal`, code: "internal")
    }

    /// Deletes the key named `keyName`; nothing if it does not exist.
    open func deleteKey(_ keyName: String) throws {
        throw MerchantError.make(.`internal`, code: "internal")
    }

    public func wrap(keyName: String, secret: Data) throws -> Data {
        do {
            guard let key = try locked({ try findKey(keyName, create: true) }) else {
                throw MerchantError.make(.storage, code: Self.keyWrapFailed)
            }
            let box = try AES.GCM.seal(secret, using: key, authenticating: associatedData(keyName))
            var out = Data([Self.version, UInt8(Self.nonceLength)])
            box.nonce.withUnsafeBytes { out.append(contentsOf: $0) }
            out.append(box.ciphertext)
            out.append(box.tag)
            return out
        } catch let error as MerchantError {
            throw error
        } catch {
            throw MerchantError.make(.storage, code: Self.keyWrapFailed)
        }
    }

    public func unwrap(keyName: String, wrapped: Data) throws -> Data {
        let bytes = [UInt8](wrapped)
        guard bytes.count >= 2 + Self.nonceLength + Self.tagLength,
              bytes[0] == Self.version,
              Int(bytes[1]) == Self.nonceLength
        else {
            throw MerchantError.make(.integrity, code: Self.keyCorrupt)
        }
        let nonceEnd = 2 + Self.nonceLength
        let tagStart = bytes.count - Self.tagLength
        do {
            guard let key = try locked({ try findKey(keyName, create: false) }) else {
                throw MerchantError.make(.integrity, code: Self.keyLost)
            }
            let box = try AES.GCM.SealedBox(
                nonce: AES.GCM.Nonce(data: bytes[2..<nonceEnd]),
                ciphertext: bytes[nonceEnd..<tagStart],
                tag: bytes[tagStart...]
            )
            return try AES.GCM.open(box, using: key, authenticating: associatedData(keyName))
        } catch let error as MerchantError {
            throw error
        } catch {
            // Wrong or replaced key, or altered bytes: the secret is lost, never guessed.
            throw MerchantError.make(.integrity, code: Self.keyLost)
        }
    }

    public func forget(keyName: String) throws {
        do {
            try locked { try deleteKey(keyName) }
        } catch let error as MerchantError {
            throw error
        } catch {
            throw MerchantError.make(.storage, code: Self.keyWrapFailed)
        }
    }

    private func associatedData(_ keyName: String) -> Data {
        Data("merchant-core/secret-store/v1/\(keyName)".utf8)
    }

    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        keyLock.lock()
        defer { keyLock.unlock() }
        return try body()
    }
}
