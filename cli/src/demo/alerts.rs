//! The alerts part of the story (issue #9): this phone's alert rules and
//! the speaker role; the live subscription printing each alert as it
//! arrives (title, body, the voice text and its clips); live payments of
//! each channel and a refund, with the stream dropped once in the middle and
//! resumed with nothing lost or repeated; each trade anomaly raising its
//! protection alert; the stored alerts and open findings, one acknowledged;
//! and a signed push payload handled once, its repeat recognised.
//!
//! The trades, the drop and the outbox are sandbox controls: a platform
//! without them skips this part. Every wait is bounded by [`LIMIT`]; nothing
//! sleeps to wait.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use merchant_contract::domain::sandbox::InjectedTrades;
use merchant_contract::wire::sandbox::{Clock, OutboxItem};
use merchant_contract::wire::{Page, event_types};
use merchant_core::alerts::Alert;
use merchant_core::alerts::stream::{AlertListener, StreamStatus};
use merchant_core::findings::{Finding, FindingSeverity};
use merchant_core::money::Amount;
use merchant_core::platform::Call;
use merchant_core::session::{PushEvent, PushProvider};
use merchant_core::{MerchantCore, MerchantError};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{Args, Failed, Platform, Story, control_call, control_get};

/// The longest any step waits for what it expects.
const LIMIT: Duration = Duration::from_secs(30);

/// The trade anomalies the sandbox injects, each raising the protection
/// alert of the same name (`alert.<anomaly>`).
const ANOMALIES: [&str; 4] = [
    "merchant_code",
    "fee_above_rate",
    "double_charge",
    "foreign_terminal",
];

/// The overcharged trade: a scan code (no fee cap) large enough that the
/// quarter point above the agreed rate shows in fen.
const OVERCHARGED: (&str, &str) = ("wechat", "388.00");

/// What the listener heard, handed to the story in order.
enum Heard {
    Alert(Alert),
    Status(StreamStatus),
    Event(PushEvent),
}

/// The app's listener: prints each alert and stream status as it arrives,
/// counts the trade alerts told, and hands everything to the story.
struct Printer {
    heard: mpsc::UnboundedSender<Heard>,
    /// Times told, by (trade record, status).
    told: Mutex<HashMap<(String, String), u32>>,
    /// Whether the stream is connected now.
    connected: AtomicBool,
    /// Alerts told in all.
    alerts: AtomicUsize,
}

impl Printer {
    fn times_told(&self, trade_id: &str) -> u32 {
        let told = self.told.lock().unwrap_or_else(|p| p.into_inner());
        told.iter()
            .filter(|((t, _), _)| t == trade_id)
            .map(|(_, n)| n)
            .sum()
    }
}

impl AlertListener for Printer {
    fn on_event(&self, event: PushEvent) -> Result<(), MerchantError> {
        let _ = self.heard.send(Heard::Event(event));
        Ok(())
    }

    fn on_alert(&self, alert: Alert) -> Result<(), MerchantError> {
        print_alert(&alert);
        self.alerts.fetch_add(1, Ordering::SeqCst);
        if let (Some(t), Some(s)) = (&alert.trade_id, &alert.status) {
            let mut told = self.told.lock().unwrap_or_else(|p| p.into_inner());
            *told.entry((t.clone(), s.clone())).or_default() += 1;
        }
        let _ = self.heard.send(Heard::Alert(alert));
        Ok(())
    }

    fn on_status(&self, status: StreamStatus) -> Result<(), MerchantError> {
        print_status(&status);
        self.connected
            .store(status == StreamStatus::Connected, Ordering::SeqCst);
        let _ = self.heard.send(Heard::Status(status));
        Ok(())
    }
}

/// One alert: its title and body, then what the phone says and the clips
/// that say it offline (a protection alert's text has no clips: the
/// speech engine reads it).
fn print_alert(a: &Alert) {
    let mark = if a.protection { "🛡" } else { "🔔" };
    let large = if a.highlight && !a.protection {
        "  ⭐ 大额 / large"
    } else {
        ""
    };
    // A trade anomaly's text ends with its advice: shown on a line of its own.
    let lang = merchant_core::error::current_language();
    let split = ANOMALIES
        .iter()
        .map(|x| merchant_core::alerts::detect::advice(&format!("alert.{x}"), lang))
        .find_map(|advice| {
            let text = a.body.strip_suffix(advice)?;
            Some((text.trim_end(), advice))
        })
        .filter(|_| a.protection);
    match split {
        Some((text, advice)) => {
            println!("    {mark} {}：{text}", a.title);
            println!("       建议 / advice: {advice}");
        }
        None => println!("    {mark} {}：{}{large}", a.title, a.body),
    }
    if !a.voice_text.is_empty() {
        let clips = if a.clips.is_empty() {
            "TTS".to_owned()
        } else {
            a.clips.join(" ")
        };
        println!("       🔊 {}  [{clips}]", a.voice_text);
    }
}

fn print_status(s: &StreamStatus) {
    match s {
        StreamStatus::Connecting => println!("    ⇄ 连接中 / connecting"),
        StreamStatus::Connected => println!("    ⇄ 已连接 / connected"),
        StreamStatus::Waiting { retry_in_ms, error } => println!(
            "    ⇄ 连接中断，{:.1} 秒后重连 / dropped, retrying in {:.1} s [{}]",
            *retry_in_ms as f64 / 1000.0,
            *retry_in_ms as f64 / 1000.0,
            error.code()
        ),
        StreamStatus::Rejected { error } => {
            println!(
                "    ⇄ 丢弃一条消息 / one message dropped [{}]",
                error.code()
            )
        }
        StreamStatus::Stopped { error: None } => println!("    ⇄ 已停止 / stopped"),
        StreamStatus::Stopped { error: Some(e) } => {
            println!("    ⇄ 已停止 / stopped [{}]", e.code())
        }
    }
}

/// The story's side of the listener.
struct Ears {
    heard: mpsc::UnboundedReceiver<Heard>,
}

impl Ears {
    /// The next thing heard before `deadline`; `None` when it passed.
    async fn next(&mut self, deadline: Instant) -> Option<Heard> {
        tokio::time::timeout_at(deadline, self.heard.recv())
            .await
            .ok()
            .flatten()
    }

    /// Waits (at most [`LIMIT`]) for a status `pick` accepts.
    async fn status(&mut self, pick: impl Fn(&StreamStatus) -> bool) -> bool {
        let deadline = Instant::now() + LIMIT;
        while let Some(h) = self.next(deadline).await {
            if let Heard::Status(s) = h
                && pick(&s)
            {
                return true;
            }
        }
        false
    }

    /// Waits (at most [`LIMIT`]) for the `speaker.changed` event naming
    /// `holder`.
    async fn caught_up(&mut self, holder: &str) -> bool {
        let deadline = Instant::now() + LIMIT;
        while let Some(h) = self.next(deadline).await {
            if let Heard::Event(e) = h
                && e.event_type == event_types::SPEAKER_CHANGED
            {
                let data: serde_json::Value =
                    serde_json::from_str(&e.body_json).unwrap_or_default();
                if data["device_id"].as_str() == Some(holder) {
                    return true;
                }
            }
        }
        false
    }

    /// Waits (at most [`LIMIT`]) until a trade alert of each record in
    /// `wanted` was told.
    async fn trade_alerts(&mut self, wanted: &[String]) -> Result<(), Vec<String>> {
        let mut left: HashSet<&String> = wanted.iter().collect();
        let deadline = Instant::now() + LIMIT;
        while !left.is_empty() {
            match self.next(deadline).await {
                Some(Heard::Alert(a)) => {
                    if let Some(t) = &a.trade_id {
                        left.remove(t);
                    }
                }
                Some(Heard::Status(_) | Heard::Event(_)) => {}
                None => return Err(left.into_iter().cloned().collect()),
            }
        }
        Ok(())
    }
}

/// The alerts part of the story.
pub(super) async fn alerts_story(
    s: &mut Story,
    core: &Arc<MerchantCore>,
    platform: &Platform,
    args: &Args,
) -> Result<(), Failed> {
    let Some(me) = core.session().await.map_err(|e| s.fail("session", &e))? else {
        println!("    ✗ 未登录 / not signed in");
        return Err(Failed);
    };
    if let Err(e) = control_get::<Clock>(platform, &args.app_id, "/sandbox/clock").await {
        println!();
        println!(
            "（跳过实时提醒演示：平台没有沙箱交易控制，{}）/ (live alerts skipped: the platform has no sandbox trade controls, {})",
            e.code(),
            e.code()
        );
        return Ok(());
    }
    let merchant = me.merchant_id.as_str();
    let sandbox = Sandbox { platform, args };

    s.step(
        "本机提醒设置，认领语音播报",
        "Alert settings on this phone, and claiming the speaker role",
    );
    let large = Amount::parse("500.00").map_err(|e| s.fail("amount", &e.into()))?;
    let settings = core
        .alert_settings()
        .await
        .map_err(|e| s.fail("alert_settings", &e))?;
    let settings = merchant_core::alerts::AlertSettings {
        broadcast: true,
        large_amount: Some(large),
        ..settings
    };
    core.set_alert_settings(settings)
        .await
        .map_err(|e| s.fail("set_alert_settings", &e))?;
    s.say("语音播报", "voice broadcast", "开 / on");
    s.say(
        "大额提醒（元）",
        "large-amount highlight (yuan)",
        format!("≥ {large}"),
    );
    let before = core.speaker().await.map_err(|e| s.fail("speaker", &e))?;
    let speaker = core
        .claim_speaker()
        .await
        .map_err(|e| s.fail("claim_speaker", &e))?;
    s.say(
        "播报设备",
        "speaker",
        match speaker.this_device {
            true => "本机 / this phone",
            false => "其他设备 / another device",
        },
    );
    let speaks = core
        .this_device_speaks()
        .await
        .map_err(|e| s.fail("this_device_speaks", &e))?;
    if !speaks {
        println!("    ✗ 本机未获得播报权 / this phone does not speak");
        return Err(Failed);
    }

    s.step(
        "订阅实时提醒（先补发此前未提醒的事件）",
        "Subscribing to live alerts (events not told before come first)",
    );
    let (tx, rx) = mpsc::unbounded_channel();
    let printer = Arc::new(Printer {
        heard: tx,
        told: Mutex::new(HashMap::new()),
        connected: AtomicBool::new(false),
        alerts: AtomicUsize::new(0),
    });
    let mut ears = Ears { heard: rx };
    let handle = core
        .clone()
        .subscribe(printer.clone())
        .map_err(|e| s.fail("subscribe", &e))?;
    if !ears.status(|st| *st == StreamStatus::Connected).await {
        println!("    ✗ 实时连接未建立 / the live stream did not connect");
        return Err(Failed);
    }
    // The stream first brings what this phone was not told yet, up to the
    // latest event: this phone's own claim of the speaker role (when the
    // claim changed the role).
    if let (false, Some(holder)) = (before.this_device, speaker.device_id.as_deref()) {
        if !ears.caught_up(holder).await {
            println!("    ✗ 补发未完成 / the stream did not catch up");
            return Err(Failed);
        }
        s.say(
            "补发的提醒",
            "alerts caught up",
            printer.alerts.load(Ordering::SeqCst),
        );
    }

    s.step(
        "实时收款：微信、支付宝（沙箱收款）",
        "Live payments: WeChat and Alipay (sandbox trades)",
    );
    let mut made = Vec::new();
    for (channel, amount) in [("wechat", "850.00"), ("alipay", "36.50")] {
        made.extend(sandbox.trade(s, merchant, channel, amount).await?);
    }
    wait_for(&mut ears, &made).await?;

    s.step(
        "实时连接被切断一次（沙箱控制），其间继续收款",
        "The live stream is dropped once (a sandbox control) while payments go on",
    );
    let dropped = control_call::<serde_json::Value>(
        platform,
        &args.app_id,
        Call::post_json(
            "/sandbox/events/disconnect",
            &serde_json::json!({"merchant_id": merchant}),
        ),
    )
    .await
    .map_err(|e| s.fail("/sandbox/events/disconnect", &e))?;
    let streams = dropped["streams"].as_u64().unwrap_or(0);
    s.say("切断的连接", "streams dropped", streams);
    if streams > 0
        && !ears
            .status(|st| matches!(st, StreamStatus::Waiting { .. }))
            .await
    {
        println!("    ✗ 没有察觉断线 / the drop was not noticed");
        return Err(Failed);
    }
    let mut later = Vec::new();
    for (channel, amount) in [("unionpay_qr", "128.00"), ("debit_card", "1280.00")] {
        later.extend(sandbox.trade(s, merchant, channel, amount).await?);
    }
    // The reconnect waits a random part of a second (full jitter): say
    // whether these payments came while the stream was down.
    if printer.connected.load(Ordering::SeqCst) {
        s.say("重连后收款", "payments after it came back", later.len());
    } else {
        s.say(
            "断线期间收款",
            "payments while the stream was down",
            later.len(),
        );
    }
    if streams > 0 && !ears.status(|st| *st == StreamStatus::Connected).await {
        println!("    ✗ 没有重连 / the stream did not come back");
        return Err(Failed);
    }
    wait_for(&mut ears, &later).await?;
    made.extend(later);

    s.step("退款一笔（实时提醒）", "Refunding one of them (told live)");
    let Some(sale) = made.first().cloned() else {
        println!("    ✗ 没有可退款的交易 / no trade to refund");
        return Err(Failed);
    };
    let half = Amount::parse("425.00").map_err(|e| s.fail("amount", &e.into()))?;
    let refund = core
        .refund_trade(sale.clone(), half, Some("顾客退货".to_owned()))
        .await
        .map_err(|e| s.fail("refund_trade", &e))?;
    s.say("原交易", "sale", &sale);
    s.say("退款金额", "refunded", format!("¥{}", refund.refund.amount));
    wait_for(&mut ears, std::slice::from_ref(&refund.refund.trade_id)).await?;
    made.push(refund.refund.trade_id);
    let once = made.iter().filter(|t| printer.times_told(t) == 1).count();
    s.say(
        "提醒次数",
        "alerts told",
        format!(
            "{once}/{} 笔各提醒一次，断线后续传无遗漏、无重复 / each told once: resumed with nothing lost or repeated",
            made.len()
        ),
    );
    if once != made.len() {
        println!("    ✗ 有交易未提醒或提醒了多次 / a trade was missed or told twice");
        return Err(Failed);
    }

    protection(s, core, &sandbox, &mut ears, merchant).await?;

    s.step(
        "已存提醒与待处理的安全提醒",
        "Stored alerts and the open protection findings",
    );
    let stored = stored_alerts(s, core).await?;
    s.say("本机保存的提醒", "alerts kept on this phone", stored);
    let open = core
        .findings(false)
        .await
        .map_err(|e| s.fail("findings", &e))?;
    s.say("待处理的安全提醒", "open protection findings", open.len());
    for f in &open {
        println!(
            "    #{} [{}] {} {}",
            f.id,
            f.code,
            severity(f.severity),
            f.subject
        );
    }
    if let Some(first) = open.first() {
        core.acknowledge_finding(first.id)
            .await
            .map_err(|e| s.fail("acknowledge_finding", &e))?;
        let still = core
            .findings(false)
            .await
            .map_err(|e| s.fail("findings", &e))?;
        s.say(
            "已确认",
            "acknowledged",
            format!(
                "#{} [{}]，尚余 / still open {}",
                first.id,
                first.code,
                still.len()
            ),
        );
        if still.iter().any(|f| f.id == first.id) {
            println!("    ✗ 确认后仍待处理 / still open after it was acknowledged");
            return Err(Failed);
        }
    }
    handle.cancel();
    if tokio::time::timeout(LIMIT, handle.wait()).await.is_err() {
        println!("    ✗ 订阅未结束 / the subscription did not end");
        return Err(Failed);
    }
    s.say("订阅", "subscription", "已取消 / cancelled");

    push_once(s, core, &sandbox, merchant).await
}

/// Waits for the trade alerts of `ids`, or fails naming the missing ones.
async fn wait_for(ears: &mut Ears, ids: &[String]) -> Result<(), Failed> {
    if let Err(missing) = ears.trade_alerts(ids).await {
        println!(
            "    ✗ {} 秒内未收到提醒 / no alert within {} s: {}",
            LIMIT.as_secs(),
            LIMIT.as_secs(),
            missing.join(", ")
        );
        return Err(Failed);
    }
    Ok(())
}

/// The sandbox controls this part uses.
struct Sandbox<'a> {
    platform: &'a Platform,
    args: &'a Args,
}

impl Sandbox<'_> {
    /// Makes trades now (`POST /sandbox/trades`); their record ids.
    async fn make(&self, s: &Story, body: serde_json::Value) -> Result<Vec<String>, Failed> {
        let made = control_call::<InjectedTrades>(
            self.platform,
            &self.args.app_id,
            Call::post_json("/sandbox/trades", &body),
        )
        .await
        .map_err(|e| s.fail("/sandbox/trades", &e))?;
        Ok(made.trades.into_iter().map(|t| t.trade_id).collect())
    }

    /// One paid trade of `channel` for `amount` yuan.
    async fn trade(
        &self,
        s: &Story,
        merchant: &str,
        channel: &str,
        amount: &str,
    ) -> Result<Vec<String>, Failed> {
        let label = merchant_core::money::Channel::parse(channel)
            .map(|c| {
                let lang = merchant_core::error::current_language();
                c.label(lang)
            })
            .unwrap_or(channel);
        println!("    → 顾客付款 / a customer pays: {label} ¥{amount}");
        self.make(
            s,
            serde_json::json!({"merchant_id": merchant, "channel": channel, "amount": amount, "status": "success"}),
        )
        .await
    }
}

fn severity(s: FindingSeverity) -> &'static str {
    match s {
        FindingSeverity::Critical => "严重 / critical",
        FindingSeverity::Warning => "提醒 / warning",
    }
}

/// Each anomaly once; its protection alert printed with its code,
/// severity, text and advice.
async fn protection(
    s: &mut Story,
    core: &MerchantCore,
    sandbox: &Sandbox<'_>,
    ears: &mut Ears,
    merchant: &str,
) -> Result<(), Failed> {
    s.step(
        "触发四种异常交易（沙箱控制），收到安全提醒",
        "Triggering each trade anomaly once (a sandbox control): the protection alerts",
    );
    // An open finding is not raised again (it is touched): findings of an
    // earlier run on this platform are acknowledged first, as a merchant
    // who has seen them would.
    let earlier: Vec<Finding> = core
        .findings(false)
        .await
        .map_err(|e| s.fail("findings", &e))?
        .into_iter()
        .filter(|f| ANOMALIES.iter().any(|a| f.code == format!("alert.{a}")))
        .collect();
    for f in &earlier {
        core.acknowledge_finding(f.id)
            .await
            .map_err(|e| s.fail("acknowledge_finding", &e))?;
    }
    if !earlier.is_empty() {
        s.say(
            "先确认此前的同类提醒",
            "earlier ones of these acknowledged first",
            earlier.len(),
        );
    }
    for anomaly in ANOMALIES {
        let code = format!("alert.{anomaly}");
        println!("    → 异常交易 / anomalous trade: {anomaly}");
        let mut body = serde_json::json!({"merchant_id": merchant, "anomaly": anomaly});
        if anomaly == "fee_above_rate" {
            body["channel"] = OVERCHARGED.0.into();
            body["amount"] = OVERCHARGED.1.into();
        }
        sandbox.make(s, body).await?;
        let deadline = Instant::now() + LIMIT;
        let mut raised = false;
        while !raised {
            let Some(heard) = ears.next(deadline).await else {
                println!(
                    "    ✗ {} 秒内没有 {code} 安全提醒 / no {code} protection alert within {} s",
                    LIMIT.as_secs(),
                    LIMIT.as_secs()
                );
                return Err(Failed);
            };
            let Heard::Alert(alert) = heard else { continue };
            let Some(id) = alert.finding_id.filter(|_| alert.protection) else {
                continue;
            };
            let findings = core
                .findings(true)
                .await
                .map_err(|e| s.fail("findings", &e))?;
            let Some(f) = findings.iter().find(|f| f.id == id) else {
                continue;
            };
            println!(
                "       ↳ [{}] {}，提醒编号 / finding #{}",
                f.code,
                severity(f.severity),
                f.id
            );
            raised = f.code == code;
        }
    }
    Ok(())
}

/// Every alert kept on this phone (the listing, page by page).
async fn stored_alerts(s: &Story, core: &MerchantCore) -> Result<usize, Failed> {
    let mut count = 0;
    let mut before = None;
    // 500 a page: a thousand pages is far more than the demo makes.
    for _ in 0..1000 {
        let page = core
            .alerts(500, before)
            .await
            .map_err(|e| s.fail("alerts", &e))?;
        let Some(last) = page.last() else { break };
        before = Some(last.id);
        count += page.len();
    }
    Ok(count)
}

/// The push path: this phone registers a push token, a customer pays, and
/// the signed payload the platform pushed (the sandbox's outbox) is handed
/// to `handle_push` twice: shown once, its repeat recognised.
async fn push_once(
    s: &mut Story,
    core: &MerchantCore,
    sandbox: &Sandbox<'_>,
    merchant: &str,
) -> Result<(), Failed> {
    s.step(
        "推送：离线验签并提醒一次，重复推送被识别",
        "Push: a signed payload verified offline and shown once, its repeat recognised",
    );
    let device = core
        .device_id()
        .await
        .map_err(|e| s.fail("device_id", &e))?;
    let tag: String = device
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(16)
        .collect();
    let token = format!("fcm:demo_{tag}");
    core.register_push_token(PushProvider::Fcm, token.clone())
        .await
        .map_err(|e| s.fail("register_push_token", &e))?;
    s.say("推送令牌已登记", "push token registered", "FCM");
    let made = sandbox.trade(s, merchant, "alipay", "23.00").await?;
    let Some(trade_id) = made.first() else {
        println!("    ✗ 沙箱没有生成交易 / the sandbox made no trade");
        return Err(Failed);
    };
    let Some(payload) = outbox_payload(s, sandbox, merchant, &token, trade_id).await? else {
        println!("    ✗ 推送发件箱里没有这笔交易 / the outbox has no push of this trade");
        return Err(Failed);
    };
    s.say("推送消息（字节）", "push payload (bytes)", payload.len());
    match core.handle_push(payload.clone().into_bytes()).await {
        Ok(Some(n)) => {
            println!("    📱 通知 / notification: {}：{}", n.title, n.body);
            if !n.voice_text.is_empty() {
                println!("       🔊 {}  [{}]", n.voice_text, n.clips.join(" "));
            }
        }
        Ok(None) => {
            println!("    ✗ 推送没有产生通知 / the push showed nothing");
            return Err(Failed);
        }
        Err(e) => return Err(s.fail("handle_push", &e)),
    }
    match core.handle_push(payload.into_bytes()).await {
        Err(e) if e.code() == "platform.push_replayed" => s.say(
            "同一推送再次到达",
            "the same push again",
            format!(
                "已识别为重放，不再提醒 / recognised as a replay, not shown [{}]",
                e.code()
            ),
        ),
        Ok(None) => s.say(
            "同一推送再次到达",
            "the same push again",
            "已识别为重复，不再提醒 / recognised as a duplicate, not shown",
        ),
        Ok(Some(_)) => {
            println!("    ✗ 重复推送又提醒了一次 / the repeat was shown again");
            return Err(Failed);
        }
        Err(e) => return Err(s.fail("handle_push", &e)),
    }
    Ok(())
}

/// The signed payload the platform pushed to `token` for `trade_id`'s
/// `trade.created` (`GET /sandbox/outbox`, page by page).
async fn outbox_payload(
    s: &Story,
    sandbox: &Sandbox<'_>,
    merchant: &str,
    token: &str,
    trade_id: &str,
) -> Result<Option<String>, Failed> {
    let mut cursor: Option<String> = None;
    // 200 a page: far more pages than the demo's events fill.
    for _ in 0..1000 {
        let path = match &cursor {
            None => format!("/sandbox/outbox?merchant_id={merchant}&limit=200"),
            Some(c) => format!("/sandbox/outbox?merchant_id={merchant}&limit=200&cursor={c}"),
        };
        let page = control_get::<Page<OutboxItem>>(sandbox.platform, &sandbox.args.app_id, &path)
            .await
            .map_err(|e| s.fail("/sandbox/outbox", &e))?;
        if let Some(item) = page.items.into_iter().find(|i| {
            i.token == token
                && i.event_type == event_types::TRADE_CREATED
                && i.payload.contains(trade_id)
        }) {
            return Ok(Some(item.payload));
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    Ok(None)
}
