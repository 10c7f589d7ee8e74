//! The list of routes the platform serves: method, path (with `{param}`
//! segments), who may call it, whether it needs an Idempotency-Key, and its
//! body limit. The sandbox's guard reads this table for every request, and a
//! test keeps docs/platform-api.md equal to it: a route that is not listed here
//! cannot be served, and a listed route that is not served fails the test.

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    /// Sandbox-only control: no signature, no session.
    Open,
    /// Signed by a device key; before the device is known, the body's
    /// `device_public_key` may prove possession (sms-code, sign-in only).
    DeviceOrNew,
    /// Signed by a known device key; no session (refresh).
    Device,
    /// Signed, with a live session; the device may still be unregistered
    /// (device registration, sign-out).
    SessionAnyDevice,
    /// Signed, with a live session of a device registered for the merchant.
    Session,
}

impl Access {
    /// Whether the route needs the envelope (signature, freshness, nonce).
    pub fn signed(self) -> bool {
        !matches!(self, Access::Open)
    }

    /// Whether the route needs a session.
    pub fn session(self) -> bool {
        matches!(self, Access::SessionAnyDevice | Access::Session)
    }
}

/// One route of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Route {
    /// `GET`, `POST`, `PUT`, `PATCH` or `DELETE`.
    pub method: &'static str,
    /// The path, `{name}` for a parameter segment: `/v1/terminals/{sn}`.
    pub path: &'static str,
    pub access: Access,
    /// Whether the route is a write that needs an `Idempotency-Key`.
    pub idempotent: bool,
    /// The largest request body accepted, in bytes.
    pub body_limit: usize,
}

/// The body limit of ordinary JSON requests: 64 KiB.
pub const BODY_LIMIT: usize = 64 * 1024;
/// The body limit of document uploads: 8 MiB.
pub const UPLOAD_BODY_LIMIT: usize = 8 * 1024 * 1024;

impl Route {
    /// A route with the ordinary body limit and no idempotency key.
    pub const fn new(method: &'static str, path: &'static str, access: Access) -> Route {
        Route {
            method,
            path,
            access,
            idempotent: false,
            body_limit: BODY_LIMIT,
        }
    }

    /// The same route, needing an `Idempotency-Key`.
    pub const fn idempotent(mut self) -> Route {
        self.idempotent = true;
        self
    }

    /// The same route with another body limit.
    pub const fn body_limit(mut self, bytes: usize) -> Route {
        self.body_limit = bytes;
        self
    }

    /// Whether `path` (a concrete request path) matches this route's
    /// pattern, `{name}` standing for one non-empty segment.
    pub fn matches_path(&self, path: &str) -> bool {
        let mut want = self.path.split('/');
        let mut got = path.split('/');
        loop {
            match (want.next(), got.next()) {
                (None, None) => return true,
                (Some(w), Some(g)) => {
                    let param = w.starts_with('{') && w.ends_with('}');
                    if (param && g.is_empty()) || (!param && w != g) {
                        return false;
                    }
                }
                _ => return false,
            }
        }
    }
}

use Access::*;

pub const SMS_CODE: Route = Route::new("POST", "/v1/auth/sms-code", DeviceOrNew);
pub const SIGN_IN: Route = Route::new("POST", "/v1/auth/sign-in", DeviceOrNew);
pub const REFRESH: Route = Route::new("POST", "/v1/auth/refresh", Device);
pub const SIGN_OUT: Route = Route::new("POST", "/v1/auth/sign-out", SessionAnyDevice);
pub const REGISTER_DEVICE: Route = Route::new("POST", "/v1/devices", SessionAnyDevice).idempotent();
pub const LIST_DEVICES: Route = Route::new("GET", "/v1/devices", Session);
pub const REMOVE_DEVICE: Route =
    Route::new("DELETE", "/v1/devices/{device_id}", Session).idempotent();
pub const REGISTER_PUSH_TOKEN: Route = Route::new("POST", "/v1/push-tokens", Session).idempotent();
pub const LIST_PUSH_TOKENS: Route = Route::new("GET", "/v1/push-tokens", Session);
/// Unregisters one of the signing device's push tokens.
pub const UNREGISTER_PUSH_TOKEN: Route =
    Route::new("DELETE", "/v1/push-tokens/{token_id}", Session).idempotent();
/// Rotates one of the signing device's push tokens to a new value.
pub const ROTATE_PUSH_TOKEN: Route =
    Route::new("PUT", "/v1/push-tokens/{token_id}", Session).idempotent();
pub const EVENTS: Route = Route::new("GET", "/v1/events", Session);
/// Which device speaks the merchant's voice broadcast.
pub const SPEAKER: Route = Route::new("GET", "/v1/speaker", Session);
/// The signing device claims the speaker role.
pub const CLAIM_SPEAKER: Route = Route::new("PUT", "/v1/speaker", Session).idempotent();
/// The signing device gives the speaker role up.
pub const RELEASE_SPEAKER: Route = Route::new("DELETE", "/v1/speaker", Session).idempotent();

pub const SANDBOX_INFO: Route = Route::new("GET", "/sandbox/info", Open);
pub const SANDBOX_SMS: Route = Route::new("GET", "/sandbox/sms", Open);
pub const SANDBOX_OUTBOX: Route = Route::new("GET", "/sandbox/outbox", Open);
pub const SANDBOX_EMIT: Route = Route::new("POST", "/sandbox/events", Open);
pub const SANDBOX_DISCONNECT: Route = Route::new("POST", "/sandbox/events/disconnect", Open);
/// Writes raw bytes (a hostile frame, perhaps) to a merchant's open streams.
pub const SANDBOX_RAW_FRAME: Route = Route::new("POST", "/sandbox/events/raw", Open);
pub const SANDBOX_CLOCK: Route = Route::new("GET", "/sandbox/clock", Open);
pub const SANDBOX_ADVANCE_CLOCK: Route = Route::new("POST", "/sandbox/clock", Open);
pub const SANDBOX_MERCHANTS: Route = Route::new("GET", "/sandbox/merchants", Open);

/// The infrastructure's routes: auth, devices, push tokens, events, the
/// speaker role and the sandbox-only controls of those.
pub const INFRASTRUCTURE: &[Route] = &[
    SMS_CODE,
    SIGN_IN,
    REFRESH,
    SIGN_OUT,
    REGISTER_DEVICE,
    LIST_DEVICES,
    REMOVE_DEVICE,
    REGISTER_PUSH_TOKEN,
    LIST_PUSH_TOKENS,
    UNREGISTER_PUSH_TOKEN,
    ROTATE_PUSH_TOKEN,
    EVENTS,
    SPEAKER,
    CLAIM_SPEAKER,
    RELEASE_SPEAKER,
    SANDBOX_INFO,
    SANDBOX_SMS,
    SANDBOX_OUTBOX,
    SANDBOX_EMIT,
    SANDBOX_DISCONNECT,
    SANDBOX_RAW_FRAME,
    SANDBOX_CLOCK,
    SANDBOX_ADVANCE_CLOCK,
    SANDBOX_MERCHANTS,
];

/// The domain's routes (onboarding, card BIN, terminals, trades, refunds,
/// settlements and their sandbox-only controls). The domain's part of the
/// contract: listed here so the guard and the doc test see them.
pub const DOMAIN: &[Route] = crate::domain::routes::ALL;

/// Every route of the contract.
pub fn all() -> impl Iterator<Item = &'static Route> {
    INFRASTRUCTURE.iter().chain(DOMAIN.iter())
}

/// The route for a method and a concrete path (a `HEAD` finds the `GET`).
pub fn find(method: &str, path: &str) -> Option<&'static Route> {
    let method = if method == "HEAD" { "GET" } else { method };
    // A literal segment wins over a parameter: try exact patterns first.
    all()
        .find(|r| r.method == method && r.path == path)
        .or_else(|| all().find(|r| r.method == method && r.matches_path(path)))
}

/// The route for a method and a route pattern (as the router matched it).
pub fn find_pattern(method: &str, pattern: &str) -> Option<&'static Route> {
    let method = if method == "HEAD" { "GET" } else { method };
    all().find(|r| r.method == method && r.path == pattern)
}

/// Whether any route has this pattern (with another method, perhaps).
pub fn pattern_exists(pattern: &str) -> bool {
    all().any(|r| r.path == pattern)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn routes_are_unique_and_well_formed() {
        let mut seen = HashSet::new();
        for r in all() {
            assert!(
                seen.insert((r.method, r.path)),
                "duplicate {} {}",
                r.method,
                r.path
            );
            assert!(["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&r.method));
            assert!(r.path.starts_with("/v1/") || r.path.starts_with("/sandbox/"));
            // Sandbox-only routes are open; platform routes are signed.
            assert_eq!(
                r.path.starts_with("/sandbox/"),
                r.access == Access::Open,
                "{}",
                r.path
            );
            if r.idempotent {
                assert!(
                    r.method != "GET" && r.access.session(),
                    "{} {}",
                    r.method,
                    r.path
                );
            }
        }
    }

    #[test]
    fn find_matches_parameters_and_head() {
        assert_eq!(find("GET", "/v1/devices"), Some(&LIST_DEVICES));
        assert_eq!(find("HEAD", "/v1/devices"), Some(&LIST_DEVICES));
        assert_eq!(find("DELETE", "/v1/devices/dev_1"), Some(&REMOVE_DEVICE));
        assert_eq!(find("DELETE", "/v1/devices/"), None);
        assert_eq!(find("DELETE", "/v1/devices/a/b"), None);
        assert_eq!(find("PUT", "/v1/devices"), None);
        assert_eq!(
            find_pattern("DELETE", "/v1/devices/{device_id}"),
            Some(&REMOVE_DEVICE)
        );
        assert!(pattern_exists("/v1/devices"));
        assert!(!pattern_exists("/v1/nothing"));
    }
}
