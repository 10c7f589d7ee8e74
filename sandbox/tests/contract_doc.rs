//! docs/platform-api.md and the contract's route table (which the sandbox's
//! router and guard are built from) must agree: an endpoint documented but
//! not in the table, in the table but not documented, or in the table but not
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

/// Every `### METHOD /path` (or `####`) heading of the doc.
fn documented_routes(doc: &str) -> Vec<(String, String)> {
    doc.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("###")?.trim_start_matches('#');
            let rest = rest.strip_prefix(' ')?;
            let (method, path) = rest.split_once(' ')?;
            let known = ["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&method);
            (known && path.starts_with('/') && !path.contains(' '))
                .then(|| (method.to_owned(), path.to_owned()))
        })
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
