//! The domain's sandbox-only controls (no signature, no session; the real
//! platform has none of these): the terminal inventory, freezing and moving
//! terminals as the platform would, activating a
//! merchant without onboarding, trades on demand (with anomalies), the
//! steady trade stream (which refunds a few earlier trades too), refunds on
//! demand, and settling a day (with a shortfall).

use std::sync::{Arc, Weak};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use chrono::DateTime;
use merchant_contract::codes;
use merchant_contract::domain::sandbox::{
    ActivateMerchant, FreezeTerminal, InjectTrades, InjectedTrades, Inventory, InventoryTerminal,
    RefundTrade, RunSettlement, StartTradeStream, StopTradeStream, TerminalTransferred,
    TradeStreamState, TransferTerminal,
};
use merchant_contract::domain::{
    self as wire, MerchantProfile, Settlement, TradeRefunded, TradeStatus,
};
use merchant_contract::wire::FieldError;
use merchant_core::money::{Amount, Channel};
use rusqlite::{Connection, OptionalExtension as _, params};

use super::trades::{self, TradeOptions, day_of, day_settled};
use super::{inventory, merchant, review, settlements, terminals};
use crate::error::ApiError;
use crate::guard::JsonBody;
use crate::state::{AppState, Inner};

/// Trades one `POST /sandbox/trades` may make.
pub const INJECT_MAX: u32 = 200;
/// How far back an injected trade may be dated (days).
pub const INJECT_MAX_DAYS_BACK: i64 = 31;
/// The stream's interval bounds and default (milliseconds).
pub const STREAM_MIN_MS: u64 = 50;
pub const STREAM_MAX_MS: u64 = 3_600_000;
pub const STREAM_DEFAULT_MS: u64 = 2_000;
/// The shop name of a merchant activated by the control without one.
pub const DEFAULT_SHOP: &str = "沙箱测试商户";

fn known_merchant(state: &AppState, conn: &Connection, merchant_id: &str) -> Result<(), ApiError> {
    if state.merchant_exists(conn, merchant_id)? {
        Ok(())
    } else {
        Err(ApiError::new(&wire::SANDBOX_MERCHANT_UNKNOWN))
    }
}

/// `GET /sandbox/terminals`: the seeded inventory, who holds each terminal,
/// and serials that are in no inventory.
pub async fn inventory(State(state): State<AppState>) -> Result<Json<Inventory>, ApiError> {
    let terminals = state.db(|conn| terminals::inventory_rows(conn, None))?;
    Ok(Json(Inventory {
        terminals,
        unknown_sns: inventory::unknown_sns(state.seed()),
    }))
}

/// The inventory serial a control names: 400 `terminal.sn_invalid` (field
/// `sn`) when it is not a serial.
fn control_sn(sn: &str) -> Result<String, ApiError> {
    inventory::normalize_sn(sn).ok_or_else(|| {
        ApiError::fields(vec![FieldError::new("sn", wire::TERMINAL_SN_INVALID.code)])
    })
}

/// `POST /sandbox/terminals/freeze`: freezes or unfreezes a terminal of the
/// inventory, as the platform's risk control would.
pub async fn freeze_terminal(
    State(state): State<AppState>,
    JsonBody(req): JsonBody<FreezeTerminal>,
) -> Result<Json<InventoryTerminal>, ApiError> {
    let sn = control_sn(&req.sn)?;
    state.db(|conn| {
        let tx = conn.transaction()?;
        let t = terminals::set_frozen_with(&state, &tx, &sn, req.frozen)?
            .ok_or_else(|| ApiError::new(&wire::TERMINAL_NOT_FOUND))?;
        tx.commit()?;
        Ok(Json(t))
    })
}

/// `POST /sandbox/terminals/transfer`: the platform moves a bound terminal
/// to another (active) merchant, named by its phone or its id.
pub async fn transfer_terminal(
    State(state): State<AppState>,
    JsonBody(req): JsonBody<TransferTerminal>,
) -> Result<Json<TerminalTransferred>, ApiError> {
    let sn = control_sn(&req.sn)?;
    let (target_field, phone) = match (&req.to_phone, &req.to_merchant_id) {
        (Some(phone), None) => {
            let phone = merchant_core::validate::phone::normalize(phone).map_err(|_| {
                ApiError::fields(vec![FieldError::new(
                    "to_phone",
                    codes::AUTH_PHONE_INVALID.code,
                )])
            })?;
            ("to_phone", Some(phone))
        }
        (None, Some(_)) => ("to_merchant_id", None),
        _ => {
            return Err(ApiError::fields(vec![FieldError::new(
                "to_phone",
                wire::FIELD_INVALID.code,
            )])
            .detail("exactly one of to_phone, to_merchant_id"));
        }
    };
    let now = state.now_unix();
    state.db(|conn| {
        let tx = conn.transaction()?;
        let to = match (&phone, &req.to_merchant_id) {
            (Some(phone), _) => tx
                .query_row(
                    "SELECT merchant_id FROM merchants WHERE phone = ?1",
                    params![phone],
                    |r| r.get::<_, String>(0),
                )
                .optional()?
                .ok_or_else(|| ApiError::new(&wire::SANDBOX_MERCHANT_UNKNOWN))?,
            (None, Some(id)) => {
                known_merchant(&state, &tx, id)?;
                id.clone()
            }
            (None, None) => return Err(ApiError::internal("transfer target")),
        };
        let held =
            terminals::find(&tx, &sn)?.ok_or_else(|| ApiError::new(&wire::TERMINAL_NOT_FOUND))?;
        if held.merchant_id.as_deref() == Some(to.as_str()) {
            return Err(ApiError::fields(vec![FieldError::new(
                target_field,
                wire::FIELD_INVALID.code,
            )])
            .detail("the terminal is that merchant's already"));
        }
        let moved = terminals::transfer_with(&state, &tx, &held, &to, now)?;
        tx.commit()?;
        Ok(Json(moved))
    })
}

/// `POST /sandbox/merchants/activate`.
pub async fn activate_merchant(
    State(state): State<AppState>,
    JsonBody(req): JsonBody<ActivateMerchant>,
) -> Result<Json<MerchantProfile>, ApiError> {
    let shop = req
        .shop_name
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or(DEFAULT_SHOP)
        .to_owned();
    if shop.chars().count() > review::SHOP_NAME_MAX || shop.chars().any(char::is_control) {
        return Err(ApiError::fields(vec![FieldError::new(
            "shop_name",
            wire::FIELD_INVALID.code,
        )]));
    }
    let now = state.now_unix();
    state.db(|conn| {
        let tx = conn.transaction()?;
        known_merchant(&state, &tx, &req.merchant_id)?;
        let p =
            merchant::activate_with(&state, &tx, &req.merchant_id, Some(&shop), None, now, false)?;
        tx.commit()?;
        Ok(Json(merchant::to_wire(&req.merchant_id, Some(&p))))
    })
}

/// `POST /sandbox/trades`: trades for a merchant now (or at `at`).
pub async fn inject_trades(
    State(state): State<AppState>,
    JsonBody(req): JsonBody<InjectTrades>,
) -> Result<Json<InjectedTrades>, ApiError> {
    let now = state.now_unix();
    let mut problems = Vec::new();
    let count = req.count.unwrap_or(1);
    if !(1..=INJECT_MAX).contains(&count) {
        problems.push(FieldError::new("count", wire::FIELD_INVALID.code));
    }
    let channel = match req.channel.as_deref().map(Channel::parse) {
        None => None,
        Some(Ok(c)) => Some(c),
        Some(Err(_)) => {
            problems.push(FieldError::new("channel", wire::FIELD_CHANNEL.code));
            None
        }
    };
    let amount = match req.amount.as_deref().map(Amount::parse) {
        None => None,
        Some(Ok(a)) if a.is_zero() => {
            problems.push(FieldError::new("amount", wire::FIELD_INVALID.code));
            None
        }
        Some(Ok(a)) => Some(a),
        Some(Err(e)) => {
            problems.extend(
                e.problems
                    .iter()
                    .map(|p| FieldError::new("amount", &p.code)),
            );
            None
        }
    };
    let at = match req.at.as_deref() {
        None => now,
        Some(text) => match DateTime::parse_from_rfc3339(text) {
            Ok(t)
                if t.timestamp() <= now && t.timestamp() >= now - INJECT_MAX_DAYS_BACK * 86_400 =>
            {
                t.timestamp()
            }
            Ok(_) => {
                problems.push(FieldError::new("at", wire::FIELD_RANGE.code));
                now
            }
            Err(_) => {
                problems.push(FieldError::new("at", wire::FIELD_TIME.code));
                now
            }
        },
    };
    let terminal_sn = match req.terminal_sn.as_deref() {
        None => None,
        Some(sn) => match inventory::normalize_sn(sn) {
            Some(sn) => Some(sn),
            None => {
                problems.push(FieldError::new(
                    "terminal_sn",
                    wire::TERMINAL_SN_INVALID.code,
                ));
                None
            }
        },
    };
    let status = match req.status {
        None => None,
        Some(s @ (TradeStatus::Success | TradeStatus::Pending)) => Some(s),
        Some(_) => {
            problems.push(FieldError::new("status", wire::FIELD_INVALID.code));
            None
        }
    };
    if !problems.is_empty() {
        return Err(ApiError::fields(problems));
    }
    let opts = TradeOptions {
        channel,
        amount,
        terminal_sn,
        anomaly: req.anomaly,
        status,
    };
    state.db(|conn| {
        let tx = conn.transaction()?;
        trades::apply_due(&state, &tx, Some(&req.merchant_id), now)?;
        known_merchant(&state, &tx, &req.merchant_id)?;
        let p = merchant::require_active(&tx, &req.merchant_id)?;
        if day_settled(&tx, &p.merchant_id, &day_of(at))? {
            return Err(ApiError::new(&wire::SETTLEMENT_DAY_CLOSED));
        }
        let mut made = Vec::new();
        for _ in 0..count {
            made.extend(trades::make(&state, &tx, &p, &opts, at, false)?);
        }
        tx.commit()?;
        Ok(Json(InjectedTrades {
            trades: made,
            anomaly: req.anomaly,
        }))
    })
}

fn stream_state(conn: &Connection, merchant_id: &str) -> Result<TradeStreamState, ApiError> {
    let row: Option<(bool, i64)> = conn
        .query_row(
            "SELECT running, produced FROM dom_streams WHERE merchant_id = ?1",
            params![merchant_id],
            |r| Ok((r.get::<_, i64>(0)? != 0, r.get(1)?)),
        )
        .optional()?;
    let (running, produced) = row.unwrap_or((false, 0));
    Ok(TradeStreamState {
        merchant_id: merchant_id.to_owned(),
        running,
        produced: u32::try_from(produced).unwrap_or(u32::MAX),
    })
}

/// `POST /sandbox/trades/stream`: starts (or restarts) the merchant's
/// steady stream: a trade every `interval_ms`, drawn from the seeded mix,
/// on the merchant's terminals, each emitting `trade.created`; after one
/// trade in 20 it also refunds an earlier one ([`trades::stream_refund`]),
/// emitting `trade.refunded`.
pub async fn start_stream(
    State(state): State<AppState>,
    JsonBody(req): JsonBody<StartTradeStream>,
) -> Result<Json<TradeStreamState>, ApiError> {
    let interval = req.interval_ms.unwrap_or(STREAM_DEFAULT_MS);
    let mut problems = Vec::new();
    if !(STREAM_MIN_MS..=STREAM_MAX_MS).contains(&interval) {
        problems.push(FieldError::new("interval_ms", wire::FIELD_INVALID.code));
    }
    if req.count == Some(0) {
        problems.push(FieldError::new("count", wire::FIELD_INVALID.code));
    }
    if !problems.is_empty() {
        return Err(ApiError::fields(problems));
    }
    let (generation, answer) = state.db(|conn| {
        let tx = conn.transaction()?;
        known_merchant(&state, &tx, &req.merchant_id)?;
        merchant::require_active(&tx, &req.merchant_id)?;
        if terminals::serials_of(&tx, &req.merchant_id)?.is_empty() {
            return Err(ApiError::new(&wire::SANDBOX_NO_TERMINAL));
        }
        let generation: i64 = tx.query_row(
            "INSERT INTO dom_streams (merchant_id, generation, running, produced, remaining)
             VALUES (?1, 1, 1, 0, ?2)
             ON CONFLICT (merchant_id) DO UPDATE SET generation = generation + 1, running = 1,
                produced = 0, remaining = ?2
             RETURNING generation",
            params![req.merchant_id, req.count.map(i64::from)],
            |r| r.get(0),
        )?;
        let answer = stream_state(&tx, &req.merchant_id)?;
        tx.commit()?;
        Ok((generation, answer))
    })?;
    tokio::spawn(run_stream(
        Arc::downgrade(&state.inner),
        req.merchant_id.clone(),
        generation,
        Duration::from_millis(interval),
    ));
    Ok(Json(answer))
}

/// `POST /sandbox/trades/stream/stop`.
pub async fn stop_stream(
    State(state): State<AppState>,
    JsonBody(req): JsonBody<StopTradeStream>,
) -> Result<Json<TradeStreamState>, ApiError> {
    state.db(|conn| {
        known_merchant(&state, conn, &req.merchant_id)?;
        conn.execute(
            "UPDATE dom_streams SET running = 0 WHERE merchant_id = ?1",
            params![req.merchant_id],
        )?;
        Ok(Json(stream_state(conn, &req.merchant_id)?))
    })
}

/// `POST /sandbox/refunds`: refunds one of the merchant's trades now (all
/// that is left of it unless `amount` says less), through the same code as
/// the merchant's own refunds: the same rules, `trade.refunded`.
pub async fn refund_trade(
    State(state): State<AppState>,
    JsonBody(req): JsonBody<RefundTrade>,
) -> Result<Json<TradeRefunded>, ApiError> {
    let mut problems = Vec::new();
    let amount = req
        .amount
        .as_deref()
        .map(|a| trades::refund_amount(a, &mut problems));
    let reason = trades::refund_reason(req.reason.as_deref(), &mut problems);
    if !problems.is_empty() {
        return Err(ApiError::fields(problems));
    }
    let amount = amount.flatten().map(|a| a.to_fen());
    let now = state.now_unix();
    state.db(|conn| {
        let tx = conn.transaction()?;
        known_merchant(&state, &tx, &req.merchant_id)?;
        trades::apply_due(&state, &tx, Some(&req.merchant_id), now)?;
        let done = trades::refund_with(
            &state,
            &tx,
            &req.merchant_id,
            trades::RefundAsk {
                trade_id: &req.trade_id,
                amount,
                reason: reason.as_deref(),
            },
            now,
            false,
        )?;
        tx.commit()?;
        Ok(Json(done))
    })
}

/// One tick of a stream: makes a trade if this stream is still the
/// merchant's running one. `Ok(false)`: the stream is over.
fn tick(state: &AppState, merchant_id: &str, generation: i64) -> Result<bool, ApiError> {
    let now = state.now_unix();
    state.db(|conn| {
        let tx = conn.transaction()?;
        let row: Option<(i64, bool, Option<i64>)> = tx
            .query_row(
                "SELECT generation, running, remaining FROM dom_streams WHERE merchant_id = ?1",
                params![merchant_id],
                |r| Ok((r.get(0)?, r.get::<_, i64>(1)? != 0, r.get(2)?)),
            )
            .optional()?;
        match row {
            Some((g, true, remaining)) if g == generation => {
                let p = merchant::require_active(&tx, merchant_id)?;
                trades::apply_due(state, &tx, Some(merchant_id), now)?;
                let made = trades::make(state, &tx, &p, &TradeOptions::default(), now, false)?;
                trades::stream_refund(state, &tx, merchant_id, &made, now)?;
                let left = remaining.map(|n| n - 1);
                let running = left.is_none_or(|n| n > 0);
                tx.execute(
                    "UPDATE dom_streams SET produced = produced + 1, remaining = ?2, running = ?3 WHERE merchant_id = ?1",
                    params![merchant_id, left, running],
                )?;
                tx.commit()?;
                Ok(running)
            }
            _ => Ok(false),
        }
    })
}

async fn run_stream(weak: Weak<Inner>, merchant_id: String, generation: i64, every: Duration) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick of an interval is immediate: the first trade comes one
    // interval after the start.
    ticker.tick().await;
    loop {
        ticker.tick().await;
        // The sandbox is gone: so is its stream.
        let Some(inner) = weak.upgrade() else { return };
        let state = AppState { inner };
        match tick(&state, &merchant_id, generation) {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                tracing::info!(code = e.code.code, "trade stream stopped");
                let _ = state.db(|conn| {
                    conn.execute(
                        "UPDATE dom_streams SET running = 0 WHERE merchant_id = ?1 AND generation = ?2",
                        params![merchant_id, generation],
                    )?;
                    Ok(())
                });
                return;
            }
        }
    }
}

/// `POST /sandbox/settlements`: settles a finished day now, with an
/// optional shortfall.
pub async fn run_settlement(
    State(state): State<AppState>,
    JsonBody(req): JsonBody<RunSettlement>,
) -> Result<Json<Settlement>, ApiError> {
    let mut problems = Vec::new();
    let day = settlements::parse_day(&req.date);
    if day.is_none() {
        problems.push(FieldError::new("date", wire::FIELD_DATE.code));
    }
    let shortfall = match req.shortfall.as_deref().map(Amount::parse) {
        None => Amount::ZERO,
        Some(Ok(a)) => a,
        Some(Err(e)) => {
            problems.extend(
                e.problems
                    .iter()
                    .map(|p| FieldError::new("shortfall", &p.code)),
            );
            Amount::ZERO
        }
    };
    let Some(day) = day.filter(|_| problems.is_empty()) else {
        return Err(ApiError::fields(problems));
    };
    let day = day.format("%Y-%m-%d").to_string();
    let now = state.now_unix();
    if day >= day_of(now) {
        return Err(ApiError::new(&wire::SETTLEMENT_DAY_NOT_OVER));
    }
    state.db(|conn| {
        let tx = conn.transaction()?;
        known_merchant(&state, &tx, &req.merchant_id)?;
        let p = merchant::require_active(&tx, &req.merchant_id)?;
        trades::apply_due(&state, &tx, Some(&req.merchant_id), now)?;
        let s = settlements::settle_with(&state, &tx, &p, &day, shortfall.to_fen(), now, false)?;
        tx.commit()?;
        Ok(Json(s))
    })
}
