//! Errors: the public `MerchantError`, the internal `Error`, and the catalogue
//! of stable codes.
//!
//! Every failure a user, a file, the network or the other side of the FFI can
//! cause is an internal [`Error`] carrying a stable [`Code`]. The one mapping
//! point to the public [`MerchantError`] is `impl From<Error> for MerchantError`,
//! which is also the one place that logs the technical detail.
//!
//! Codes are declared per module with [`codes!`], which yields constants and a
//! `CODES` slice; [`catalogue`] gathers every module's slice. docs/errors.md is
//! generated from the catalogue (`merchant errors --markdown`) and a test keeps
//! the two equal.
//!
//! No personal data (ID numbers, card numbers, names, phones, photos) ever goes
//! into a message or a detail.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU8, Ordering};

/// One stable error code with its default Chinese and its English message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Code {
    pub code: &'static str,
    pub kind: ErrorKind,
    pub zh: &'static str,
    pub en: &'static str,
}

impl Code {
    pub fn message(&self, lang: Lang) -> &'static str {
        match lang {
            Lang::Zh => self.zh,
            Lang::En => self.en,
        }
    }
}

/// Declares a module's error codes:
///
/// ```
/// mod amounts {
///     merchant_core::codes! {
///         AMOUNT_EMPTY = Input, "amount.empty", "金额不能为空", "The amount is empty";
///     }
/// }
/// assert_eq!(amounts::AMOUNT_EMPTY.code, "amount.empty");
/// assert_eq!(amounts::CODES, &[amounts::AMOUNT_EMPTY]);
/// ```
///
/// gives `pub const AMOUNT_EMPTY: Code` and `pub const CODES: &[Code]`.
#[macro_export]
#[doc(hidden)]
macro_rules! codes {
    ($($name:ident = $kind:ident, $code:literal, $zh:literal, $en:literal;)+) => {
        $(
            pub const $name: $crate::error::Code = $crate::error::Code {
                code: $code,
                kind: $crate::error::ErrorKind::$kind,
                zh: $zh,
                en: $en,
            };
        )+
        /// Every code this module declares, for the catalogue.
        pub const CODES: &[$crate::error::Code] = &[$($name),+];
    };
}
pub use crate::codes;

/// The language of messages meant for the merchant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, uniffi::Enum)]
pub enum Lang {
    /// 简体中文, the default.
    #[default]
    Zh,
    /// English.
    En,
}

static LANG: AtomicU8 = AtomicU8::new(0);

/// Chooses the language of every message the core produces from now on.
#[uniffi::export]
pub fn set_language(lang: Lang) {
    LANG.store(
        match lang {
            Lang::Zh => 0,
            Lang::En => 1,
        },
        Ordering::Relaxed,
    );
}

/// The language currently used for messages.
#[uniffi::export]
pub fn current_language() -> Lang {
    match LANG.load(Ordering::Relaxed) {
        1 => Lang::En,
        _ => Lang::Zh,
    }
}

/// The message of a stable code in the language asked for, or `None` for a
/// code the catalogue does not know.
#[uniffi::export]
pub fn error_message(code: String, lang: Lang) -> Option<String> {
    find(&code).map(|c| c.message(lang).to_owned())
}

/// The broad class of a failure; it decides the `MerchantError` variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum ErrorKind {
    /// Input from the user or the app is not acceptable.
    Input,
    /// The network could not be reached or timed out.
    Network,
    /// The platform refused the request with one of its codes.
    Platform,
    /// Sign-in, session, signature or pin trouble.
    Auth,
    /// The request conflicts with the state of things (already bound, ...).
    Conflict,
    /// The thing asked for does not exist.
    NotFound,
    /// Data failed an integrity check: tampered, wrong key, bad signature.
    Integrity,
    /// The local database or file system failed.
    Storage,
    /// Bluetooth is off, missing, not permitted or failed.
    Bluetooth,
    /// A defect in the core itself.
    Internal,
}

/// One problem found in an input: which field, which rule (stable code), and
/// a message for the merchant.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, uniffi::Record)]
pub struct Problem {
    /// The stable code, such as `id_card.checksum`.
    pub code: String,
    /// The input field the problem belongs to, such as `id_number`; empty for
    /// the value as a whole.
    pub field: String,
    /// The message in the current language.
    pub message: String,
}

impl Problem {
    pub fn new(code: &Code, field: &str) -> Self {
        Problem {
            code: code.code.to_owned(),
            field: field.to_owned(),
            message: code.message(current_language()).to_owned(),
        }
    }
}

/// The error every exported function returns.
///
/// Each variant carries a stable `code` (see docs/errors.md) and a `detail`
/// in the current language that is safe to show: it never holds personal data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum MerchantError {
    /// Input is not acceptable; `problems` lists every problem found, not the first.
    #[error("{code}: {detail}")]
    Input {
        code: String,
        detail: String,
        problems: Vec<Problem>,
    },
    #[error("{code}: {detail}")]
    Network { code: String, detail: String },
    /// The platform refused; `code` is the platform's own code.
    #[error("{code}: {detail}")]
    Platform {
        code: String,
        detail: String,
        http_status: u16,
    },
    #[error("{code}: {detail}")]
    Auth { code: String, detail: String },
    #[error("{code}: {detail}")]
    Conflict { code: String, detail: String },
    #[error("{code}: {detail}")]
    NotFound { code: String, detail: String },
    #[error("{code}: {detail}")]
    Integrity { code: String, detail: String },
    #[error("{code}: {detail}")]
    Storage { code: String, detail: String },
    #[error("{code}: {detail}")]
    Bluetooth { code: String, detail: String },
    #[error("{code}: {detail}")]
    Internal { code: String, detail: String },
}

impl MerchantError {
    /// The stable code of any variant.
    pub fn code(&self) -> &str {
        match self {
            MerchantError::Input { code, .. }
            | MerchantError::Network { code, .. }
            | MerchantError::Platform { code, .. }
            | MerchantError::Auth { code, .. }
            | MerchantError::Conflict { code, .. }
            | MerchantError::NotFound { code, .. }
            | MerchantError::Integrity { code, .. }
            | MerchantError::Storage { code, .. }
            | MerchantError::Bluetooth { code, .. }
            | MerchantError::Internal { code, .. } => code,
        }
    }

    /// The problems of an `Input` error; empty for every other variant.
    pub fn problems(&self) -> &[Problem] {
        match self {
            MerchantError::Input { problems, .. } => problems,
            _ => &[],
        }
    }
}

/// The internal error. Build it from a [`Code`]; add a technical `detail` for
/// the log (never personal data); convert with `?` at the FFI edge.
#[derive(Debug, Clone)]
pub struct Error {
    pub kind: ErrorKind,
    pub code: Cow<'static, str>,
    /// Message for the merchant; `None` takes the catalogue's.
    pub message: Option<String>,
    pub problems: Vec<Problem>,
    /// Technical detail for the log only. Never personal data.
    pub detail: Option<String>,
    /// The HTTP status of a platform refusal.
    pub http_status: u16,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(code: &Code) -> Self {
        Error {
            kind: code.kind,
            code: Cow::Borrowed(code.code),
            message: None,
            problems: Vec::new(),
            detail: None,
            http_status: 0,
        }
    }

    /// An input error listing every problem found.
    pub fn input(code: &Code, problems: Vec<Problem>) -> Self {
        Error {
            kind: ErrorKind::Input,
            problems,
            ..Error::new(code)
        }
    }

    /// A refusal from the platform with its own code, which the catalogue may
    /// or may not know.
    pub fn platform(
        kind: ErrorKind,
        code: String,
        message: Option<String>,
        http_status: u16,
    ) -> Self {
        Error {
            kind,
            code: Cow::Owned(code),
            message,
            problems: Vec::new(),
            detail: None,
            http_status,
        }
    }

    /// Adds technical detail for the log. Never pass personal data.
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn is(&self, code: &Code) -> bool {
        self.code == code.code
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.code)?;
        if let Some(d) = &self.detail {
            write!(f, " ({d})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

/// The one mapping point from the internal error to the public one.
impl From<Error> for MerchantError {
    fn from(e: Error) -> Self {
        if let Some(d) = &e.detail {
            tracing::debug!(code = %e.code, detail = %d, "merchant error");
        }
        let lang = current_language();
        let detail = e
            .message
            .clone()
            .or_else(|| find(&e.code).map(|c| c.message(lang).to_owned()))
            .unwrap_or_else(|| e.code.to_string());
        let code = e.code.into_owned();
        match e.kind {
            ErrorKind::Input => MerchantError::Input {
                code,
                detail,
                problems: e.problems,
            },
            ErrorKind::Network => MerchantError::Network { code, detail },
            ErrorKind::Platform => MerchantError::Platform {
                code,
                detail,
                http_status: e.http_status,
            },
            ErrorKind::Auth => MerchantError::Auth { code, detail },
            ErrorKind::Conflict => MerchantError::Conflict { code, detail },
            ErrorKind::NotFound => MerchantError::NotFound { code, detail },
            ErrorKind::Integrity => MerchantError::Integrity { code, detail },
            ErrorKind::Storage => MerchantError::Storage { code, detail },
            ErrorKind::Bluetooth => MerchantError::Bluetooth { code, detail },
            ErrorKind::Internal => MerchantError::Internal { code, detail },
        }
    }
}

/// Lets UniFFI report a foreign-side callback failure (a panic or an
/// unexpected exception in a foreign trait implementation) as a typed error.
impl From<uniffi::UnexpectedUniFFICallbackError> for MerchantError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        tracing::warn!(reason = %e.reason, "foreign callback failed");
        Error::new(&CALLBACK_FAILED).into()
    }
}

codes! {
    INTERNAL = Internal, "internal", "内部错误，请重试或联系客服", "Internal error; please retry or contact support";
    CALLBACK_FAILED = Internal, "internal.callback", "应用回调失败", "A callback into the app failed";
    RUNTIME = Internal, "internal.runtime", "后台任务未能完成", "A background task did not finish";
}

/// Every code of every module: the source of docs/errors.md.
pub fn catalogue() -> Vec<Code> {
    let modules: &[&[Code]] = &[
        CODES,
        crate::money::CODES,
        crate::validate::CODES,
        crate::store::CODES,
        crate::platform::CODES,
        crate::platform::sse::CODES,
        crate::media::CODES,
        crate::findings::CODES,
        crate::onboarding::CODES,
    ];
    modules
        .iter()
        .flat_map(|m| m.iter().copied())
        .chain(crate::terminals::codes().copied())
        .chain(crate::trades::codes().copied())
        .chain(crate::alerts::codes().copied())
        .collect()
}

/// Looks a code up in the catalogue.
pub fn find(code: &str) -> Option<Code> {
    catalogue().into_iter().find(|c| c.code == code)
}

/// docs/errors.md, generated from the catalogue.
pub fn errors_markdown() -> String {
    let mut out = String::from(
        "# Error codes\n\n\
         Generated by `merchant errors --markdown` from the catalogue in core/src; \
         a test keeps this file equal to it. Every `MerchantError` carries one of \
         these codes (or, for `Platform`, the platform's own code, listed under \
         `platform.`). Messages never contain personal data.\n\n\
         | code | kind | 中文 | English |\n|---|---|---|---|\n",
    );
    for c in catalogue() {
        out.push_str(&format!(
            "| `{}` | {:?} | {} | {} |\n",
            c.code, c.kind, c.zh, c.en
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_dotted_lowercase() {
        let all = catalogue();
        let mut seen = std::collections::HashSet::new();
        for c in &all {
            assert!(seen.insert(c.code), "duplicate code {}", c.code);
            assert!(
                c.code.chars().all(|ch| ch.is_ascii_lowercase()
                    || ch.is_ascii_digit()
                    || ch == '.'
                    || ch == '_'),
                "code {} is not lowercase dotted",
                c.code
            );
            assert!(
                !c.zh.is_empty() && !c.en.is_empty(),
                "code {} lacks a message",
                c.code
            );
        }
    }

    #[test]
    fn docs_errors_md_matches_the_catalogue() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/errors.md");
        let on_disk = std::fs::read_to_string(path).expect("docs/errors.md exists");
        assert_eq!(
            on_disk,
            errors_markdown(),
            "docs/errors.md is stale: run `cargo run -p merchant-cli -- errors --markdown > docs/errors.md`"
        );
    }

    #[test]
    fn mapping_keeps_code_kind_and_problems() {
        let e: MerchantError = Error::input(&INTERNAL, vec![Problem::new(&RUNTIME, "x")]).into();
        assert_eq!(e.code(), "internal");
        assert_eq!(e.problems().len(), 1);
        let p: MerchantError =
            Error::platform(ErrorKind::Platform, "platform.zzz".into(), None, 409).into();
        match p {
            MerchantError::Platform {
                code,
                http_status,
                detail,
            } => {
                assert_eq!(code, "platform.zzz");
                assert_eq!(http_status, 409);
                assert_eq!(detail, "platform.zzz");
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
