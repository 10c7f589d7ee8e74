import CryptoKit
import Foundation
import XCTest
@testable import MerchantKit

/// A key store in memory, recording the calls the core makes into it.
final class MemorySecretStore: SymmetricKeySecretStore {
    private var keys: [String: SymmetricKey] = [:]
    private let lock = NSLock()
    private var recorded: [String] = []

    var calls: [String] {
        lock.lock(); defer { lock.unlock() }
        return recorded
    }

    private func record(_ call: String) {
        lock.lock(); defer { lock.unlock() }
        recorded.append(call)
    }

    override func findKey(_ keyName: String, create: Bool) throws -> SymmetricKey? {
        if let key = keys[keyName] { return key }
        guard create else { return nil }
        let key = SymmetricKey(size: .bits256)
        keys[keyName] = key
        return key
    }

    override func deleteKey(_ keyName: String) throws {
        keys[keyName] = nil
    }

    override func wrap(keyName: String, secret: Data) throws -> Data {
        record("wrap:\(keyName)")
        return try super.wrap(keyName: keyName, secret: secret)
    }

    override func unwrap(keyName: String, wrapped: Data) throws -> Data {
        record("unwrap:\(keyName)")
        return try super.unwrap(keyName: keyName, wrapped: wrapped)
    }
}

final class MoneyTests: XCTestCase {
    func testAmountsAndReadings() throws {
        XCTAssertEqual(try parseAmount(text: "850.5"), "850.50")
        XCTAssertEqual(try amountInWords(amount: "1010.01"), "壹仟零壹拾元零壹分")
        XCTAssertEqual(try amountSpoken(amount: "1005.5"), "一千零五点五元")
    }

    func testFeesFollowTheSeeds() throws {
        let table = defaultRateTable()
        XCTAssertEqual(try feeFor(table: table, channel: .weChat, amount: "850"), "3.23")
        XCTAssertEqual(try feeFor(table: table, channel: .alipay, amount: "1000.01"), "6.00")
    }

    func testBadAmountIsATypedErrorWithItsCode() {
        XCTAssertThrowsError(try parseAmount(text: "abc")) { error in
            guard let error = error as? MerchantError, case .Input = error else {
                return XCTFail("expected MerchantError.Input, got \(error)")
            }
            XCTAssertEqual(error.code, "amount.not_a_number")
            XCTAssertEqual(error.problems.map(\.code), ["amount.not_a_number"])
            XCTAssertFalse(error.merchantMessage.isEmpty)
        }
    }
}

final class SecretStoreTests: XCTestCase {
    func testWrapsAndUnwrapsUnderItsOwnNameOnly() throws {
        let store = MemorySecretStore()
        let secret = Data((0..<32).map { UInt8($0) })
        let wrapped = try store.wrap(keyName: "data-key", secret: secret)
        XCTAssertEqual(try store.unwrap(keyName: "data-key", wrapped: wrapped), secret)
        _ = try store.wrap(keyName: "other", secret: Data([1]))
        XCTAssertThrowsError(try store.unwrap(keyName: "other", wrapped: wrapped)) { error in
            XCTAssertEqual((error as? MerchantError)?.code, "store.key_lost")
        }
        XCTAssertThrowsError(try store.unwrap(keyName: "data-key", wrapped: wrapped.prefix(10))) { error in
            XCTAssertEqual((error as? MerchantError)?.code, "store.key_corrupt")
        }
    }
}

final class DeviceKeyTests: XCTestCase {
    private func config(_ dir: URL) -> CoreConfig {
        CoreConfig(
            dataDir: dir.appendingPathComponent("data").path,
            platformUrl: "http://127.0.0.1:9",
            platformPin: nil,
            platformPublicKey: "",
            appId: "OP00000001",
            language: .zh
        )
    }

    func testDeviceIdIsAsyncAndWrapsTheKeyThroughTheSwiftStore() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = MemorySecretStore()
        let first = try await MerchantCore(config: config(dir), secretStore: store).deviceId()
        XCTAssertEqual(first.count, 32)
        XCTAssertEqual(store.calls.filter { $0 == "wrap:merchant-core.device" }.count, 1)
        let again = try await MerchantCore(config: config(dir), secretStore: store).deviceId()
        XCTAssertEqual(again, first)
        XCTAssertTrue(store.calls.contains("unwrap:merchant-core.device"))
    }
}

final class PushTests: XCTestCase {
    func testSignedPushFromUserInfo() throws {
        let info: [AnyHashable: Any] = [
            "appid": "OP00000001", "serial_no": "00ff", "timestamp": "1700000000",
            "nonce_str": "abc", "body": "{\"type\":\"trade.created\"}", "signature": "c2ln", "aps": [:] as [String: Any],
        ]
        let json = try XCTUnwrap(SignedPushPayload.fromUserInfo(info))
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: String])
        XCTAssertEqual(object["body"], "{\"type\":\"trade.created\"}")
        XCTAssertEqual(Set(object.keys), Set(SignedPushPayload.fields))
        XCTAssertNil(SignedPushPayload.fromUserInfo(["aps": [:] as [String: Any]]))
        XCTAssertEqual(SignedPushPayload.apnsToken(Data([0x0a, 0xff])), "0aff")
    }
}
