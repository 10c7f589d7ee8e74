//! The onboarding lookups against the real sandbox: the region tree level by
//! level, the MCC tree, the bank branches, their versions and refusals.

mod common;
mod domain_common;

use common::*;
use domain_common::*;
use merchant_contract::domain::{BankBranchList, MccList, RegionList};
use merchant_sandbox::SandboxConfig;

#[tokio::test]
async fn the_region_tree_goes_province_city_district() {
    let sandbox = start(SandboxConfig::default()).await;
    let app = App::ready(&sandbox, "13700000901").await;
    let provinces: RegionList = ok(app.get("/v1/regions").await).parse();
    assert_eq!(provinces.parent, None);
    assert_eq!(provinces.items.len(), 31);
    assert!(!provinces.version.is_empty());
    let sichuan = provinces.items.iter().find(|r| r.code == "510000").unwrap();
    assert_eq!(
        (sichuan.name.as_str(), sichuan.level.as_str()),
        ("四川省", "province")
    );
    assert!(sichuan.has_children);

    let cities: RegionList = ok(app.get("/v1/regions?parent=510000").await).parse();
    assert_eq!(cities.parent.as_deref(), Some("510000"));
    assert_eq!(cities.items.len(), 21);
    assert!(
        cities
            .items
            .iter()
            .all(|c| c.level == "city" && c.code.starts_with("51"))
    );
    let chengdu = cities.items.iter().find(|c| c.code == "510100").unwrap();
    assert_eq!(chengdu.name, "成都市");
    assert!(chengdu.has_children);

    let districts: RegionList = ok(app.get("/v1/regions?parent=510100").await).parse();
    let wuhou = districts.items.iter().find(|d| d.code == "510107").unwrap();
    assert_eq!(
        (wuhou.name.as_str(), wuhou.level.as_str()),
        ("武侯区", "district")
    );
    assert!(!wuhou.has_children);

    // A municipality's single city is its 市辖区.
    let beijing: RegionList = ok(app.get("/v1/regions?parent=110000").await).parse();
    assert_eq!(beijing.items.len(), 1);
    assert_eq!(beijing.items[0].code, "110100");
    let bj: RegionList = ok(app.get("/v1/regions?parent=110100").await).parse();
    assert!(
        bj.items
            .iter()
            .any(|d| d.code == "110105" && d.name == "朝阳区")
    );

    // Refusals: a malformed code, an unknown one, a district as parent.
    let e = app
        .get("/v1/regions?parent=51")
        .await
        .expect_error(400, "request.field_invalid");
    assert_eq!(e.fields.unwrap()[0].field, "parent");
    app.get("/v1/regions?parent=990000")
        .await
        .expect_error(404, "lookup.parent_unknown");
    app.get("/v1/regions?parent=510107")
        .await
        .expect_error(404, "lookup.parent_unknown");
    app.get("/v1/regions?level=1")
        .await
        .expect_error(400, "request.field_invalid");
    // Signed-in merchants only.
    let anonymous = App::new(&sandbox);
    anonymous
        .get("/v1/regions")
        .await
        .expect_error(401, "auth.device_unknown");
}

#[tokio::test]
async fn the_mcc_tree_lists_categories_then_codes() {
    let sandbox = start(SandboxConfig::default()).await;
    let app = App::ready(&sandbox, "13700000911").await;
    let cats: MccList = ok(app.get("/v1/mcc").await).parse();
    assert!(cats.items.len() >= 5);
    assert!(
        cats.items
            .iter()
            .all(|c| c.level == "category" && c.has_children)
    );
    let mut total = 0;
    for c in &cats.items {
        let codes: MccList = ok(app.get(&format!("/v1/mcc?parent={}", c.code)).await).parse();
        assert!(
            codes
                .items
                .iter()
                .all(|m| m.level == "mcc" && m.code.len() == 4)
        );
        total += codes.items.len();
    }
    assert!(total >= 60, "{total}");
    let catering: MccList = ok(app.get("/v1/mcc?parent=catering").await).parse();
    let m = catering.items.iter().find(|m| m.code == "5812").unwrap();
    assert!(!m.name.is_empty() && !m.name_en.is_empty());
    app.get("/v1/mcc?parent=5812")
        .await
        .expect_error(404, "lookup.parent_unknown");
}

#[tokio::test]
async fn bank_branches_filter_by_bank_and_region() {
    let sandbox = start(SandboxConfig::default()).await;
    let app = App::ready(&sandbox, "13700000921").await;
    let all: BankBranchList = ok(app.get("/v1/bank-branches").await).parse();
    assert!(all.items.iter().any(|b| b.branch_code == "102651000017"));
    let icbc_cd: BankBranchList =
        ok(app.get("/v1/bank-branches?bank=102&region=510100").await).parse();
    assert!(!icbc_cd.items.is_empty());
    for b in &icbc_cd.items {
        assert_eq!(
            (b.bank_code.as_str(), b.region_code.as_str()),
            ("102", "510100")
        );
        assert_eq!(b.branch_code.len(), 12);
        assert_eq!(b.bank_name, "中国工商银行");
    }
    // A province takes its cities' branches.
    let sichuan: BankBranchList = ok(app.get("/v1/bank-branches?region=510000").await).parse();
    assert_eq!(
        sichuan.items.len(),
        all.items
            .iter()
            .filter(|b| b.region_code == "510100")
            .count()
    );
    let bj: BankBranchList = ok(app.get("/v1/bank-branches?bank=105&region=110100").await).parse();
    assert!(!bj.items.is_empty());
    let e = app
        .get("/v1/bank-branches?bank=ICBC&region=51")
        .await
        .expect_error(400, "request.field_invalid");
    let fields: Vec<String> = e.fields.unwrap().into_iter().map(|f| f.field).collect();
    assert_eq!(fields, ["bank", "region"]);
}
