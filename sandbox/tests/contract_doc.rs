//! docs/platform-api.md and the contract's route table (which the sandbox's
//! router and guard are built from) must agree: an endpoint documented but
//! not in the table, in the table but not documented, documented with
//! another access or idempotency than the table's, or in the table but not
//! served, fails here. (A route served but not in the table is refused by the
//! guard with 500 `server.internal`: see the unit test in src/server.rs.)

mod common;

use std::collections::BTreeSet;

use common::*;
use merchant_contract::codes;
use merchant_contract::routes::{self, Access};
use merchant_contract::wire::event_types;
use merchant_sandbox::SandboxConfig;
use reqwest::Method;

fn doc() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/platform-api.md"
    ))
    .expect("docs/platform-api.md exists")
}

/// One endpoint as the doc describes it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Documented {
    method: String,
    path: String,
    /// The phrase after `Access:` up to its full stop, whitespace collapsed;
    /// `None` when the section has no Access line.
    access: Option<String>,
    /// Whether the section marks the endpoint **Idempotent**.
    idempotent: bool,
}

/// Every `### METHOD /path` (or `####`) heading of the doc, with its
/// section's text up to the next heading.
fn documented_endpoints(doc: &str) -> Vec<Documented> {
    let lines: Vec<&str> = doc.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(rest) = line.strip_prefix("###") else {
            continue;
        };
        let Some(rest) = rest.trim_start_matches('#').strip_prefix(' ') else {
            continue;
        };
        let Some((method, path)) = rest.split_once(' ') else {
            continue;
        };
        let known = ["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&method);
        if !(known && path.starts_with('/') && !path.contains(' ')) {
            continue;
        }
        let section: Vec<&str> = lines[i + 1..]
            .iter()
            .take_while(|l| !l.starts_with('#'))
            .copied()
            .collect();
        // Lines wrap anywhere: read the section as one run of words.
        let text = section
            .join(" ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let mut accesses = text.split("Access: ").skip(1).map(|after| {
            after
                .split_once('.')
                .map(|(phrase, _)| phrase)
                .unwrap_or(after)
                .to_owned()
        });
        let access = accesses.next();
        assert!(
            accesses.next().is_none(),
            "{method} {path}: more than one Access line"
        );
        out.push(Documented {
            method: method.to_owned(),
            path: path.to_owned(),
            access,
            idempotent: text.contains("**Idempotent"),
        });
    }
    out
}

/// The doc's words for each kind of access. An endpoint without an Access
/// line is open (the sandbox-only controls, which the doc says take no
/// signature and no session).
fn access_of(phrase: Option<&str>) -> Option<Access> {
    match phrase {
        None | Some("open") => Some(Access::Open),
        Some("device (new allowed)") => Some(Access::DeviceOrNew),
        Some("device (no session header needed)") => Some(Access::Device),
        Some("session, any device") => Some(Access::SessionAnyDevice),
        Some("session") => Some(Access::Session),
        Some(_) => None,
    }
}

fn documented_routes(doc: &str) -> Vec<(String, String)> {
    documented_endpoints(doc)
        .into_iter()
        .map(|d| (d.method, d.path))
        .collect()
}

#[test]
fn the_doc_lists_exactly_the_contracts_routes() {
    let documented = documented_routes(&doc());
    let unique: BTreeSet<_> = documented.iter().cloned().collect();
    assert_eq!(
        unique.len(),
        documented.len(),
        "an endpoint is documented twice"
    );
    let table: BTreeSet<(String, String)> = routes::all()
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    let missing_in_doc: Vec<_> = table.difference(&unique).collect();
    let missing_in_table: Vec<_> = unique.difference(&table).collect();
    assert!(
        missing_in_doc.is_empty() && missing_in_table.is_empty(),
        "routes not documented: {missing_in_doc:?}; documented but not in the contract: {missing_in_table:?}"
    );
    assert!(table.len() >= routes::INFRASTRUCTURE.len());
}

#[test]
fn the_doc_gives_each_route_the_tables_access_and_idempotency() {
    let documented = documented_endpoints(&doc());
    let mut drift = Vec::new();
    for d in &documented {
        let Some(route) = routes::all().find(|r| r.method == d.method && r.path == d.path) else {
            continue; // the_doc_lists_exactly_the_contracts_routes says so
        };
        let what = format!("{} {}", d.method, d.path);
        match access_of(d.access.as_deref()) {
            None => drift.push(format!("{what}: unknown Access phrase {:?}", d.access)),
            Some(access) if access != route.access => drift.push(format!(
                "{what}: the doc says {:?} ({access:?}), the table {:?}",
                d.access, route.access
            )),
            Some(_) => {}
        }
        if d.idempotent != route.idempotent {
            drift.push(format!(
                "{what}: the doc says idempotent={}, the table {}",
                d.idempotent, route.idempotent
            ));
        }
    }
    assert!(
        drift.is_empty(),
        "the doc and the route table differ:\n{}",
        drift.join("\n")
    );
    // The parser reads what it should: every kind of access and both
    // markings occur.
    for access in [
        Access::Open,
        Access::DeviceOrNew,
        Access::Device,
        Access::SessionAnyDevice,
        Access::Session,
    ] {
        assert!(
            documented
                .iter()
                .any(|d| access_of(d.access.as_deref()) == Some(access)),
            "no endpoint documented as {access:?}"
        );
    }
    assert!(documented.iter().any(|d| d.idempotent));
    assert!(documented.iter().any(|d| !d.idempotent));
}

#[test]
fn the_section_parser_reads_wrapped_access_lines_and_markers() {
    let doc = "## X\n\n### POST /v1/a\n\nDoes a. Access:\nsession, any\ndevice.\n**Idempotent.** More.\n\n#### GET /sandbox/b\n\nOpen.\n\n### GET /v1/c\n\nAccess: session. Not marked.\n";
    let got = documented_endpoints(doc);
    assert_eq!(
        got,
        vec![
            Documented {
                method: "POST".into(),
                path: "/v1/a".into(),
                access: Some("session, any device".into()),
                idempotent: true,
            },
            Documented {
                method: "GET".into(),
                path: "/sandbox/b".into(),
                access: None,
                idempotent: false,
            },
            Documented {
                method: "GET".into(),
                path: "/v1/c".into(),
                access: Some("session".into()),
                idempotent: false,
            },
        ]
    );
    assert_eq!(
        access_of(got[0].access.as_deref()),
        Some(Access::SessionAnyDevice)
    );
    assert_eq!(access_of(Some("sessions")), None);
}

#[test]
fn the_doc_lists_every_infrastructure_code_and_event_type() {
    let doc = doc();
    for c in codes::ALL {
        let row = format!("| `{}` | {} | {} | {} |", c.code, c.status, c.zh, c.en);
        assert!(
            doc.contains(&row),
            "docs/platform-api.md lacks the row {row}"
        );
    }
    for t in event_types::ALL {
        assert!(
            doc.contains(&format!("| `{t}` |")),
            "event type {t} undocumented"
        );
    }
}

#[tokio::test]
async fn every_route_of_the_contract_is_served() {
    let sandbox = start(SandboxConfig::default()).await;
    let app = App::new(&sandbox);
    for route in routes::all() {
        let path = route
            .path
            .split('/')
            .map(|seg| if seg.starts_with('{') { "x" } else { seg })
            .collect::<Vec<_>>()
            .join("/");
        let method = Method::from_bytes(route.method.as_bytes()).unwrap();
        let body: Option<&[u8]> = (route.method != "GET").then_some(b"{}");
        let reply = app.raw(method, &path, body, &[]).await;
        let what = format!("{} {}", route.method, route.path);
        if route.access == Access::Open {
            assert!(reply.status < 500, "{what}: {}", reply.status);
            if reply.status >= 400 {
                let code = reply.error().code;
                assert!(
                    code != "route.not_found" && code != "route.method_not_allowed",
                    "{what} is not served ({code})"
                );
            }
        } else {
            // The guard ran: the route is matched and needs a signature.
            let e = reply.expect_error(401, "auth.signature_missing");
            assert!(!e.request_id.is_empty(), "{what}");
        }
    }
}
