import Foundation

// Idiomatic access to the one error type of the core.
//
// Every failure of a core call is a `MerchantError` carrying a stable code
// (docs/errors.md) and a message safe to show: it never holds personal data.

extension MerchantError {
    /// The stable code of any case, such as "amount.not_a_number".
    public var code: String {
        switch self {
        case let .Input(code, _, _): return code
        case let .Network(code, _): return code
        case let .Platform(code, _, _): return code
        case let .Auth(code, _): return code
        case let .Conflict(code, _): return code
        case let .NotFound(code, _): return code
        case let .Integrity(code, _): return code
        case let .Storage(code, _): return code
        case let .Bluetooth(code, _): return code
        case let .Internal(code, _): return code
        }
    }

    /// The message for the merchant, in the language the core was set to.
    public var merchantMessage: String {
        switch self {
        case let .Input(_, detail, _): return detail
        case let .Network(_, detail): return detail
        case let .Platform(_, detail, _): return detail
        case let .Auth(_, detail): return detail
        case let .Conflict(_, detail): return detail
        case let .NotFound(_, detail): return detail
        case let .Integrity(_, detail): return detail
        case let .Storage(_, detail): return detail
        case let .Bluetooth(_, detail): return detail
        case let .Internal(_, detail): return detail
        }
    }

    /// The broad class of the failure.
    public var kind: ErrorKind {
        switch self {
        case .Input: return .input
        case .Network: return .network
        case .Platform: return .platform
        case .Auth: return .auth
        case .Conflict: return .conflict
        case .NotFound: return .notFound
        case .Integrity: return .integrity
        case .Storage: return .storage
        case .Bluetooth: return .bluetooth
        case .Internal: return .`internal`
        }
    }

    /// Every problem of an input error, one per field and rule; empty otherwise.
    public var problems: [Problem] {
        if case let .Input(_, _, problems) = self { return problems }
        return []
    }

    /// Whether the same call may succeed later (the network was unreachable).
    public var isTransient: Bool {
        if case .Network = self { return true }
        return false
    }

    /// An error of `kind` with the catalogue's message for `code`, for app-side
    /// code that reports a failure back to the core (a `SecretStore`, say).
    public static func make(_ kind: ErrorKind, code: String, lang: Lang = currentLanguage()) -> MerchantError {
        let detail = errorMessage(code: code, lang: lang) ?? code
        switch kind {
        case .input: return .Input(code: code, detail: detail, problems: [])
        case .network: return .Network(code: code, detail: detail)
        case .platform: return .Platform(code: code, detail: detail, httpStatus: 0)
        case .auth: return .Auth(code: code, detail: detail)
        case .conflict: return .Conflict(code: code, detail: detail)
        case .notFound: return .NotFound(code: code, detail: detail)
        case .integrity: return .Integrity(code: code, detail: detail)
        case .storage: return .Storage(code: code, detail: detail)
        case .bluetooth: return .Bluetooth(code: code, detail: detail)
        case .`internal`: return .Internal(code: code, detail: detail)
        }
    }
}
