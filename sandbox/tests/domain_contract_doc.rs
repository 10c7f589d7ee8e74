//! docs/platform-api.md documents every code the domain answers with (in the
//! same row form as the infrastructure's codes), every document kind and
//! every anomaly the sandbox can inject.

use merchant_contract::domain::sandbox::Anomaly;
use merchant_contract::domain::{self, DocumentKind};

fn doc() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/platform-api.md"
    ))
    .expect("docs/platform-api.md exists")
}

#[test]
fn every_domain_code_has_its_row() {
    let doc = doc();
    for c in domain::all_codes() {
        let row = format!("| `{}` | {} | {} | {} |", c.code, c.status, c.zh, c.en);
        assert!(
            doc.contains(&row),
            "docs/platform-api.md lacks the row {row}"
        );
    }
}

#[test]
fn every_document_kind_and_anomaly_is_documented() {
    let doc = doc();
    for k in DocumentKind::ALL {
        assert!(doc.contains(&format!("`{}`", k.as_str())), "{}", k.as_str());
    }
    for a in [
        Anomaly::MerchantCode,
        Anomaly::FeeAboveRate,
        Anomaly::DoubleCharge,
        Anomaly::ForeignTerminal,
    ] {
        let name = serde_json::to_value(a).unwrap();
        let name = name.as_str().unwrap();
        assert!(doc.contains(&format!("`{name}`")), "{name}");
    }
}
