//! One merchant's session can never read or change another merchant's
//! terminals, trades, refunds or settlements: another merchant's thing is the
//! same 404 `resource.not_found` as a thing that does not exist.

mod common;
mod domain_common;

use std::collections::HashSet;

use common::*;
use domain_common::*;
use merchant_contract::domain::{Refund, Settlement, Terminal, Trade, TradeRefunded};
use merchant_contract::wire::Page;
use merchant_sandbox::SandboxConfig;
use merchant_sandbox::clock::rfc3339;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn merchant_a_cannot_read_or_change_merchant_bs_terminals_trades_refunds_or_settlements() {
    let sandbox = start(SandboxConfig::default()).await;
    let a = active_app(&sandbox, "13400000101").await;
    let b = active_app(&sandbox, "13400000102").await;
    let a_terminal = bind_free(&a, 1).await.remove(0);
    let b_terminal = bind_free(&b, 1).await.remove(0);
    let now = sandbox_now(&a).await;
    let yesterday = rfc3339(now - 86_400);
    for app in [&a, &b] {
        inject(app, json!({"count": 3, "at": yesterday})).await;
        inject(app, json!({"count": 4, "amount": "100.00"})).await;
    }
    let b_trades = all_trades(&b, "").await;
    let b_trade = b_trades[0].clone();
    let b_refund: TradeRefunded = ok(b
        .write(
            Method::POST,
            &format!("/v1/trades/{}/refunds", b_trade.trade_id),
            Some(json!({"amount": "10.00"})),
        )
        .await)
    .parse();
    let a_trades = all_trades(&a, "").await;

    // Lists hold only one's own.
    let a_ids: HashSet<String> = a_trades.iter().map(|t| t.trade_id.clone()).collect();
    assert_eq!(a_ids.len(), 7);
    assert!(b_trades.iter().all(|t| !a_ids.contains(&t.trade_id)));
    assert!(a_trades.iter().all(|t| t.terminal_sn == a_terminal.sn));
    let filtered = all_trades(&a, &format!("terminal_sn={}", b_terminal.sn)).await;
    assert!(filtered.is_empty());
    let a_refunds: Page<Refund> = ok(a.get("/v1/refunds").await).parse();
    assert!(a_refunds.items.is_empty());
    let by_trade: Page<Refund> = ok(a
        .get(&format!("/v1/refunds?trade_id={}", b_trade.trade_id))
        .await)
    .parse();
    assert!(by_trade.items.is_empty());
    // Each terminal's last trade is its merchant's newest trade.
    let a_terminal = Terminal {
        last_trade_at: Some(a_trades[0].created_at.clone()),
        ..a_terminal
    };
    let b_terminal = Terminal {
        last_trade_at: Some(b_trades[0].created_at.clone()),
        ..b_terminal
    };
    let a_terminals: Page<Terminal> = ok(a.get("/v1/terminals").await).parse();
    assert_eq!(a_terminals.items, vec![a_terminal.clone()]);

    // B's trade: not found for A, exactly like a trade that never existed.
    let theirs = a
        .get(&format!("/v1/trades/{}", b_trade.trade_id))
        .await
        .expect_error(404, "resource.not_found");
    let nobody = a
        .get("/v1/trades/T20250101000000000000")
        .await
        .expect_error(404, "resource.not_found");
    assert_eq!(
        (theirs.message, theirs.message_en),
        (nobody.message, nobody.message_en)
    );
    // Nor can A refund it or drop B's terminal.
    a.write(
        Method::POST,
        &format!("/v1/trades/{}/refunds", b_trade.trade_id),
        Some(json!({"amount": "1.00"})),
    )
    .await
    .expect_error(404, "resource.not_found");
    a.write(
        Method::DELETE,
        &format!("/v1/terminals/{}", b_terminal.sn),
        None,
    )
    .await
    .expect_error(404, "resource.not_found");
    let still: Trade = ok(b.get(&format!("/v1/trades/{}", b_trade.trade_id)).await).parse();
    assert_eq!(still, b_refund.trade, "B's trade is untouched");
    let b_list: Page<Terminal> = ok(b.get("/v1/terminals").await).parse();
    assert_eq!(b_list.items, vec![b_terminal.clone()]);

    // Settlements: each sees only its own day, with its own sums.
    let a_days: Vec<Settlement> = all_pages(&a, "/v1/settlements", "", 50).await.0;
    let b_days: Vec<Settlement> = all_pages(&b, "/v1/settlements", "", 50).await.0;
    assert_eq!((a_days.len(), b_days.len()), (1, 1));
    let a_gross: i64 = a_trades
        .iter()
        .filter(|t| t.created_at.starts_with(&a_days[0].date))
        .map(|t| {
            merchant_core::money::Amount::parse(&t.amount)
                .unwrap()
                .to_fen()
        })
        .sum();
    assert_eq!(
        merchant_core::money::Amount::parse(&a_days[0].gross_amount)
            .unwrap()
            .to_fen(),
        a_gross
    );
    assert_eq!(a_days[0].trade_count, 3);
    // A's statement of the day never counts B's trades.
    let b_gross: i64 = b_trades
        .iter()
        .filter(|t| t.created_at.starts_with(&b_days[0].date))
        .map(|t| {
            merchant_core::money::Amount::parse(&t.amount)
                .unwrap()
                .to_fen()
        })
        .sum();
    assert_eq!(
        merchant_core::money::Amount::parse(&b_days[0].gross_amount)
            .unwrap()
            .to_fen(),
        b_gross
    );
}
