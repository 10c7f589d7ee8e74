//! `merchant demo`: the README's main job.
//!
//! With no arguments it starts the embedded sandbox on loopback (TLS, pinned)
//! and walks one merchant through the story as an app would, through
//! `MerchantCore` only: device key, SMS code, sign-in, device registration,
//! binding a terminal by its back QR (and the refusal of another merchant's),
//! a transparent session refresh, sign-out. Each capability issue extends the
//! story. `--platform URL --pin PIN` runs the same story against another
//! platform (another sandbox: the SMS code is read from its `/sandbox/sms`,
//! or typed in when the platform has no such endpoint).
//!
//! Every step prints in Chinese with English alongside. Exit 0 when the story
//! completes, 1 when a step fails (its stable code is printed), 2 for usage.

mod alerts;

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;

use merchant_contract::domain::sandbox::Inventory;
use merchant_contract::envelope::{DeviceKey, PlatformSigner};
use merchant_contract::wire::sandbox as sbx;
use merchant_core::platform::{Call, PlatformClient, PlatformConfig};
use merchant_core::store::{FileSecretStore, SecretStore};
use merchant_core::terminals::{BindOutcome, TerminalRole, TerminalUpdate};
use merchant_core::{CoreConfig, Lang, MerchantCore, MerchantError};
use merchant_sandbox::{
    DEFAULT_APP_ID, RunningSandbox, SANDBOX_PLATFORM_KEY_PKCS8, Sandbox, SandboxConfig,
};

#[derive(clap::Args)]
pub struct Args {
    /// Another platform's base URL (default: the embedded sandbox).
    /// (`http://` is accepted for loopback hosts only.)
    #[arg(long)]
    platform: Option<String>,
    /// The platform certificate's SPKI SHA-256 pin, base64 (required for https).
    #[arg(long, requires = "platform")]
    pin: Option<String>,
    /// The platform's response-signing public key (base64 PKCS#1 DER);
    /// default: the public sandbox key.
    #[arg(long)]
    platform_key: Option<String>,
    /// The app id of the signing envelope.
    #[arg(long, default_value = DEFAULT_APP_ID)]
    app_id: String,
    /// The merchant's mobile number.
    #[arg(long, default_value = "13912345678")]
    phone: String,
    /// Keep the core's files here (default: a temporary folder, removed at the end).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// With --platform: also show the session renewal, which moves that
    /// sandbox's business clock forward about two hours (it expires the
    /// sessions and codes of everyone else using it).
    #[arg(long, requires = "platform")]
    move_clock: bool,
    /// The embedded sandbox's seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Write this month's trade exports (CSV and XLSX) into this folder.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Language of the core's own messages (the story prints both).
    #[arg(long, value_parser = ["zh", "en"], default_value = "zh")]
    lang: String,
}

/// A step failed: its message is already printed.
struct Failed;

pub fn run(args: Args) -> i32 {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("无法启动运行时 / cannot start the runtime: {e}");
            return 1;
        }
    };
    let started = std::time::Instant::now();
    let outcome = runtime.block_on(story(args));
    match outcome {
        Ok(()) => {
            println!();
            println!(
                "演示完成，用时 {:.1} 秒 / Demo complete in {:.1} s",
                started.elapsed().as_secs_f64(),
                started.elapsed().as_secs_f64()
            );
            0
        }
        Err(Failed) => 1,
    }
}

struct Story {
    step: u32,
}

impl Story {
    fn step(&mut self, zh: &str, en: &str) {
        self.step += 1;
        println!();
        println!("【{}】{} / {}", self.step, zh, en);
    }

    fn say(&self, zh: &str, en: &str, value: impl std::fmt::Display) {
        println!("    {zh} / {en}: {value}");
    }

    fn fail(&self, what: &str, e: &MerchantError) -> Failed {
        println!("    ✗ {what}: [{}] {}", e.code(), detail(e));
        eprintln!("merchant demo: {what} failed: {}", e.code());
        Failed
    }
}

fn detail(e: &MerchantError) -> String {
    match e {
        MerchantError::Input { detail, .. }
        | MerchantError::Network { detail, .. }
        | MerchantError::Platform { detail, .. }
        | MerchantError::Auth { detail, .. }
        | MerchantError::Conflict { detail, .. }
        | MerchantError::NotFound { detail, .. }
        | MerchantError::Integrity { detail, .. }
        | MerchantError::Storage { detail, .. }
        | MerchantError::Bluetooth { detail, .. }
        | MerchantError::Internal { detail, .. } => detail.clone(),
    }
}

/// Where the story runs: the embedded sandbox, or another platform.
pub(crate) struct Platform {
    pub(crate) url: String,
    pub(crate) pin: Option<String>,
    pub(crate) public_key: String,
    pub(crate) embedded: Option<RunningSandbox>,
}

async fn story(args: Args) -> Result<(), Failed> {
    let mut s = Story { step: 0 };
    merchant_core::error::set_language(if args.lang == "en" {
        Lang::En
    } else {
        Lang::Zh
    });

    // 1. The platform.
    let platform = match &args.platform {
        None => {
            s.step(
                "启动内置沙箱平台（回环地址，TLS）",
                "Starting the embedded sandbox platform (loopback, TLS)",
            );
            let config = SandboxConfig {
                tls: true,
                seed: args.seed,
                app_id: args.app_id.clone(),
                ..SandboxConfig::default()
            };
            let sandbox = match Sandbox::start(config).await {
                Ok(sb) => sb,
                Err(e) => {
                    println!("    ✗ 沙箱无法启动 / the sandbox did not start: {e}");
                    return Err(Failed);
                }
            };
            s.say("地址", "URL", &sandbox.base_url);
            s.say(
                "证书指纹（SPKI SHA-256）",
                "certificate pin (SPKI SHA-256)",
                sandbox.pin.as_deref().unwrap_or("-"),
            );
            Platform {
                url: sandbox.base_url.clone(),
                pin: sandbox.pin.clone(),
                public_key: sandbox.platform_public_key.clone(),
                embedded: Some(sandbox),
            }
        }
        Some(url) => {
            s.step("连接指定平台", "Using the given platform");
            let public_key = match &args.platform_key {
                Some(k) => k.clone(),
                None => match PlatformSigner::from_pkcs8(SANDBOX_PLATFORM_KEY_PKCS8) {
                    Ok(signer) => signer.public_key_base64(),
                    Err(e) => {
                        println!("    ✗ 沙箱公钥不可用 / the sandbox key is unusable: {e}");
                        return Err(Failed);
                    }
                },
            };
            s.say("地址", "URL", url);
            s.say(
                "证书指纹",
                "pin",
                args.pin
                    .as_deref()
                    .unwrap_or("-（仅限回环 http / loopback http only）"),
            );
            Platform {
                url: url.clone(),
                pin: args.pin.clone(),
                public_key,
                embedded: None,
            }
        }
    };

    // 2. The core, as an app opens it.
    s.step("打开商户核心", "Opening the merchant core");
    let temp;
    let data_root = match &args.data_dir {
        Some(dir) => dir.clone(),
        None => {
            temp = match tempfile::tempdir() {
                Ok(t) => t,
                Err(e) => {
                    println!("    ✗ 无法创建临时目录 / cannot create a temporary folder: {e}");
                    return Err(Failed);
                }
            };
            temp.path().to_path_buf()
        }
    };
    let secrets: Arc<dyn SecretStore> =
        match FileSecretStore::new(data_root.join("keys").to_string_lossy().into_owned()) {
            Ok(store) => store,
            Err(e) => return Err(s.fail("密钥库 / key store", &e)),
        };
    let config = CoreConfig {
        data_dir: data_root.join("data").to_string_lossy().into_owned(),
        platform_url: platform.url.clone(),
        platform_pin: platform.pin.clone(),
        platform_public_key: platform.public_key.clone(),
        app_id: args.app_id.clone(),
        language: merchant_core::error::current_language(),
        trusted_qr_hosts: Vec::new(),
    };
    let core = MerchantCore::new(config, secrets).map_err(|e| s.fail("MerchantCore::new", &e))?;
    s.say("数据目录", "data folder", core.data_dir());
    let device_id = core
        .device_id()
        .await
        .map_err(|e| s.fail("device_id", &e))?;
    s.say(
        "设备标识（设备密钥指纹）",
        "device id (device key fingerprint)",
        &device_id,
    );

    // 3. SMS code.
    s.step("请求短信验证码", "Requesting an SMS sign-in code");
    let sent = core
        .request_sms_code(args.phone.clone())
        .await
        .map_err(|e| s.fail("request_sms_code", &e))?;
    s.say(
        "手机号",
        "phone",
        merchant_core::validate::mask_phone(args.phone.clone()),
    );
    s.say("有效期（秒）", "valid for (s)", sent.expires_in_secs);
    let code = sms_code(&s, &platform, &args).await?;
    s.say("收到验证码", "code received", &code);

    // 4. Sign-in and device registration.
    s.step("登录并注册本设备", "Signing in and registering this device");
    let signed_in = core
        .sign_in(args.phone.clone(), code)
        .await
        .map_err(|e| s.fail("sign_in", &e))?;
    s.say("商户号", "merchant id", &signed_in.merchant_id);
    s.say("商户状态", "merchant status", &signed_in.merchant_status);
    s.say("手机号", "phone", &signed_in.phone_masked);
    s.say(
        "设备已注册",
        "device registered",
        signed_in.device_registered,
    );
    s.say(
        "访问令牌到期",
        "access token expires",
        unix_time(signed_in.access_expires_at),
    );
    let devices = core.devices().await.map_err(|e| s.fail("devices", &e))?;
    for d in &devices {
        s.say(
            "已注册设备",
            "registered device",
            format!("{} ({}, {})", d.name, d.os, d.device_id),
        );
    }
    if !devices
        .iter()
        .any(|d| d.this_device && d.device_id == device_id)
    {
        println!("    ✗ 本设备不在设备列表中 / this device is missing from the list");
        return Err(Failed);
    }

    // 5. Session renewal: on a sandbox, move its business clock past the
    // access token's expiry; the platform refuses the next call as expired
    // and the core renews the session with its refresh token and retries,
    // without the app noticing. A shared sandbox's clock moves only when
    // asked (--move-clock); a platform without the sandbox clock skips this.
    let renew = platform.embedded.is_some() || args.move_clock;
    if !renew {
        println!();
        println!(
            "（跳过续期演示：不移动共享沙箱的时钟；加 --move-clock 演示）/ (renewal step skipped: the shared sandbox's clock stays; add --move-clock to show it)"
        );
    }
    let clock = match renew {
        true => control_get::<sbx::Clock>(&platform, &args.app_id, "/sandbox/clock")
            .await
            .ok(),
        false => None,
    };
    if let Some(clock) = clock {
        s.step(
            "访问令牌过期后自动续期",
            "Renewing the session when the access token expires",
        );
        let now = clock.unix;
        let advance = (signed_in.access_expires_at - now + 60).max(1);
        let body = sbx::AdvanceClock {
            advance_secs: advance,
        };
        control_post(&s, &platform, &args.app_id, "/sandbox/clock", &body).await?;
        s.say(
            "平台时钟前移（秒）",
            "platform clock moved forward (s)",
            advance,
        );
        core.devices().await.map_err(|e| s.fail("devices", &e))?;
        let session = core
            .session()
            .await
            .map_err(|e| s.fail("session", &e))?
            .ok_or_else(|| {
                println!("    ✗ 会话丢失 / the session is gone");
                Failed
            })?;
        s.say(
            "新的访问令牌到期",
            "new access token expires",
            unix_time(session.access_expires_at),
        );
        if session.access_expires_at <= signed_in.access_expires_at {
            println!("    ✗ 会话未续期 / the session was not refreshed");
            return Err(Failed);
        }
    }

    // 6. Sign-out.
    s.step(
        "退出登录并清除本地数据",
        "Signing out and wiping local data",
    );
    core.sign_out().await.map_err(|e| s.fail("sign_out", &e))?;
    let after = core.session().await.map_err(|e| s.fail("session", &e))?;
    s.say(
        "当前会话",
        "current session",
        if after.is_none() {
            "无 / none"
        } else {
            "仍在 / still there"
        },
    );
    if after.is_some() {
        return Err(Failed);
    }

    // 7. A new merchant onboards.
    onboard(&mut s, &core, &platform, &args).await?;

    // 8. The merchant binds its terminal by the back QR and names it; another
    // merchant's terminal is refused.
    terminals_story(&mut s, &core, &platform, &args).await?;

    // 9. The shop's trades: synced onto the phone, today's page and
    // summary, a refund, yesterday reconciled, this month exported.
    trades_story(&mut s, &core, &platform, &args).await?;

    // 10. Alerts: live ones with their voice, a dropped stream resumed,
    // each trade anomaly's protection alert, a push shown once.
    alerts::alerts_story(&mut s, &core, &platform, &args).await?;
    drop(core);
    if let Some(sandbox) = platform.embedded {
        sandbox.shutdown().await;
    }
    Ok(())
}

/// The trades part of the story. A platform without the sandbox's seeding
/// control skips the seeding and shows what the merchant already has.
async fn trades_story(
    s: &mut Story,
    core: &MerchantCore,
    platform: &Platform,
    args: &Args,
) -> Result<(), Failed> {
    use merchant_core::money::{Amount, Channel};
    use merchant_core::trades::export::ExportFormat;
    use merchant_core::trades::query::TradeFilter;
    use merchant_core::trades::summary::SummaryRange;
    use merchant_core::trades::{ReconciliationStatus, TradeKind, TradeStatus};

    let Some(me) = core.session().await.map_err(|e| s.fail("session", &e))? else {
        println!("    ✗ 未登录 / not signed in");
        return Err(Failed);
    };
    let clock = control_get::<sbx::Clock>(platform, &args.app_id, "/sandbox/clock")
        .await
        .ok();
    let now = clock
        .as_ref()
        .map_or_else(|| chrono::Utc::now().timestamp(), |c| c.unix);
    let today = china_date(now, 0);
    let yesterday = china_date(now, 1);
    if clock.is_some() {
        s.step(
            "为本店生成近 30 天的交易（沙箱控制）",
            "Giving the shop 30 days of trades (a sandbox control)",
        );
        let seeded = control_call::<merchant_contract::domain::sandbox::SeededTrades>(
            platform,
            &args.app_id,
            Call::post_json(
                "/sandbox/trades/seed",
                &serde_json::json!({"merchant_id": me.merchant_id, "count": 1500, "days": 30}),
            ),
        )
        .await;
        match seeded {
            Ok(seeded) => {
                s.say("历史交易", "past sales", seeded.trades);
                s.say(
                    "撤销与退款记录",
                    "void and refund records",
                    seeded.reversals,
                );
            }
            // A shop this platform already gave a history (an earlier run).
            Err(e) if e.code() == "settlement.day_closed" => {
                s.say(
                    "历史交易",
                    "past sales",
                    "已有，不再生成 / already there, kept",
                );
            }
            Err(e) => return Err(s.fail("/sandbox/trades/seed", &e)),
        }
        for channel in [
            "wechat",
            "alipay",
            "credit_card",
            "debit_card",
            "unionpay_qr",
        ] {
            control_call::<serde_json::Value>(
                platform,
                &args.app_id,
                Call::post_json(
                    "/sandbox/trades",
                    &serde_json::json!({"merchant_id": me.merchant_id, "count": 2, "channel": channel, "status": "success"}),
                ),
            )
            .await
            .map_err(|e| s.fail("/sandbox/trades", &e))?;
        }
        s.say("今日新交易", "new trades today", 10);
    }

    s.step("同步交易到手机", "Syncing trades onto the phone");
    struct Progress;
    impl merchant_core::trades::TradeSyncListener for Progress {
        fn on_progress(&self, p: merchant_core::trades::TradeSyncProgress) {
            println!(
                "    第 {} 页 / page {}: {} 条 / records, 剩余 / left {}",
                p.pages, p.pages, p.applied, p.remaining
            );
        }
    }
    let synced = core
        .sync_trades(Some(Arc::new(Progress)))
        .await
        .map_err(|e| s.fail("sync_trades", &e))?;
    s.say("同步记录", "records synced", synced.applied);
    s.say("变更序号", "feed cursor", synced.cursor);

    s.step(
        "今日交易（第一页，离线可看）",
        "Today's trades, first page (offline too)",
    );
    let day = merchant_core::trades::query::china_day_range(&today)
        .map_err(|e| s.fail("china_day_range", &e.into()))?;
    let today_filter = TradeFilter {
        from_ms: Some(day.from_ms),
        to_ms: Some(day.to_ms),
        ..TradeFilter::default()
    };
    let page = core
        .trade_page(today_filter.clone(), None, 10)
        .await
        .map_err(|e| s.fail("trade_page", &e))?;
    for t in &page.trades {
        let card = match (&t.card_bin, &t.card_last4) {
            (Some(b), Some(l)) => format!(" {b}******{l}"),
            _ => String::new(),
        };
        println!(
            "    {} {:<6} ¥{:>9} {:<18} {}{card}",
            unix_time(t.created_at_ms / 1000).get(11..19).unwrap_or(""),
            t.channel.label(Lang::Zh),
            t.amount.to_string(),
            t.status.as_str(),
            t.terminal_sn,
        );
    }

    s.step("今日汇总", "Today's summary");
    let summary = core
        .trade_summary(SummaryRange::Day {
            date: today.clone(),
        })
        .await
        .map_err(|e| s.fail("trade_summary", &e))?;
    let t = &summary.totals;
    s.say("收款笔数", "sales", t.sales);
    s.say("收款金额", "gross", format!("¥{}", t.gross));
    s.say("手续费", "fees", format!("¥{}", t.fees));
    s.say("退款", "refunds", format!("¥{}", t.refunds));
    s.say("净额", "net", format!("¥{}", t.net));
    for c in summary.by_channel.iter().filter(|c| c.line.sales > 0) {
        println!(
            "    {} / {}: {} 笔 / sales, ¥{}",
            c.channel.label(Lang::Zh),
            c.channel.label(Lang::En),
            c.line.sales,
            c.line.gross
        );
    }

    s.step("退款一笔（防重复提交）", "Refunding one trade (sent once)");
    let sale = page.trades.iter().find(|t| {
        t.kind == TradeKind::Sale
            && t.status == TradeStatus::Success
            && matches!(t.channel, Channel::WeChat | Channel::Alipay)
    });
    match sale {
        Some(sale) => {
            let half = Amount::from_fen((sale.amount.to_fen() / 2).max(1))
                .map_err(|e| s.fail("amount", &e.into()))?;
            let out = core
                .refund_trade(sale.trade_id.clone(), half, Some("顾客退货".to_owned()))
                .await
                .map_err(|e| s.fail("refund_trade", &e))?;
            s.say("原交易", "sale", &out.trade.trade_id);
            s.say("退款金额", "refunded", format!("¥{}", out.refund.amount));
            s.say("退还手续费", "fee returned", format!("¥{}", out.refund.fee));
            s.say("原交易状态", "sale status", out.trade.status.as_str());
        }
        None => println!("    （今日没有可退款的扫码交易 / no scan-code sale today to refund）"),
    }

    s.step(
        "核对昨日结算（对账单）",
        "Reconciling yesterday against its statement file",
    );
    match core.reconcile_day(yesterday.clone()).await {
        Ok(r) => {
            s.say("日期", "date", &r.date);
            s.say(
                "手机上应结",
                "expected from the phone",
                format!("¥{}", r.expected),
            );
            s.say("实际结算", "settled", format!("¥{}", r.settled));
            s.say("对账单笔数", "statement lines", r.statement_lines);
            s.say(
                "结果",
                "result",
                match r.status {
                    ReconciliationStatus::Matched => "一致 / matched",
                    ReconciliationStatus::Discrepancy => "有差异 / discrepancy",
                },
            );
        }
        Err(e) if e.code() == "statement.not_ready" => {
            println!("    （昨日尚未结算 / yesterday is not settled yet）");
        }
        Err(e) => return Err(s.fail("reconcile_day", &e)),
    }

    if let Some(out) = &args.out {
        s.step(
            "导出本月交易（CSV 与 XLSX）",
            "Exporting this month's trades (CSV and XLSX)",
        );
        if let Err(e) = std::fs::create_dir_all(out) {
            println!("    ✗ 无法创建目录 / cannot create the folder: {e}");
            return Err(Failed);
        }
        let month = today.get(..7).unwrap_or(&today).to_owned();
        let range = merchant_core::trades::summary::range_bounds(&SummaryRange::Month {
            month: month.clone(),
        })
        .map_err(|e| s.fail("range_bounds", &e.into()))?;
        let filter = TradeFilter {
            from_ms: Some(range.0),
            to_ms: Some(range.1),
            ..TradeFilter::default()
        };
        for (format, ext) in [(ExportFormat::Csv, "csv"), (ExportFormat::Xlsx, "xlsx")] {
            let path = out.join(format!("trades-{month}.{ext}"));
            let report = core
                .export_trades(
                    filter.clone(),
                    format,
                    path.to_string_lossy().into_owned(),
                    None,
                )
                .await
                .map_err(|e| s.fail("export_trades", &e))?;
            s.say("已导出", "exported", &report.path);
            s.say("行数", "rows", report.rows);
            s.say("合计（大写）", "total in words", &report.gross_in_words);
        }
    }
    Ok(())
}

/// The China-time date `days_back` days before unix time `secs`.
fn china_date(secs: i64, days_back: i64) -> String {
    let beijing = chrono::FixedOffset::east_opt(8 * 3600);
    match (
        chrono::DateTime::from_timestamp(secs - days_back * 86_400, 0),
        beijing,
    ) {
        (Some(t), Some(tz)) => t.with_timezone(&tz).format("%Y-%m-%d").to_string(),
        _ => String::new(),
    }
}

/// Binds a terminal by its back QR, makes it the main terminal with an
/// alias, and shows the loud refusal of a terminal that belongs to another
/// merchant. The terminals come from the sandbox's inventory; a platform
/// without one skips the step.
async fn terminals_story(
    s: &mut Story,
    core: &MerchantCore,
    platform: &Platform,
    args: &Args,
) -> Result<(), Failed> {
    let Some(signed_in) = core.session().await.map_err(|e| s.fail("session", &e))? else {
        println!("    ✗ 未登录 / not signed in");
        return Err(Failed);
    };
    let active = core
        .merchant_profile()
        .await
        .map_err(|e| s.fail("merchant_profile", &e))?
        .is_some_and(|p| p.merchant_no.is_some())
        || signed_in.merchant_status == "active";
    let inventory = match control_get::<Inventory>(platform, &args.app_id, "/sandbox/terminals")
        .await
    {
        Ok(inv) => inv,
        Err(e) => {
            println!();
            println!(
                "（跳过终端绑定演示：平台没有沙箱终端库，{}）/ (terminal binding skipped: the platform has no sandbox inventory, {})",
                e.code(),
                e.code()
            );
            return Ok(());
        }
    };
    if !active {
        s.step(
            "开通商户（沙箱控制）",
            "Activating the merchant (a sandbox control)",
        );
        let body = merchant_contract::domain::sandbox::ActivateMerchant {
            merchant_id: signed_in.merchant_id.clone(),
            shop_name: Some("老王面馆".to_owned()),
        };
        control_post(
            s,
            platform,
            &args.app_id,
            "/sandbox/merchants/activate",
            &body,
        )
        .await?;
        s.say("商户状态", "merchant status", "active");
    }
    let Some(free) = inventory.terminals.iter().find(|t| {
        t.state == "free" && t.status == merchant_contract::domain::TerminalStatus::Active
    }) else {
        println!("    ✗ 沙箱没有空闲终端 / the sandbox has no free terminal");
        return Err(Failed);
    };

    s.step(
        "扫描终端背面二维码并绑定",
        "Binding a terminal by the QR on its back",
    );
    s.say("扫码内容", "scanned text", &free.qr_text);
    let qr = core
        .parse_terminal_qr(free.qr_text.clone())
        .map_err(|e| s.fail("parse_terminal_qr", &e))?;
    s.say("终端序列号", "serial number", &qr.sn);
    let bound = core
        .bind_terminal_by_qr(free.qr_text.clone())
        .await
        .map_err(|e| s.fail("bind_terminal_by_qr", &e))?;
    s.say(
        "结果",
        "outcome",
        match bound.outcome {
            BindOutcome::Bound => "已绑定 / bound",
            BindOutcome::AlreadyYours => "本来就是您的 / already yours",
        },
    );
    s.say(
        "型号与固件",
        "model and firmware",
        format!("{} {}", bound.terminal.model, bound.terminal.firmware),
    );

    s.step(
        "设为正机并命名",
        "Making it the main terminal, with an alias",
    );
    let named = core
        .update_terminal(
            bound.terminal.sn.clone(),
            TerminalUpdate {
                alias: Some("收银台1号".to_owned()),
                role: TerminalRole::Main,
                main_sn: None,
            },
        )
        .await
        .map_err(|e| s.fail("update_terminal", &e))?;
    s.say("别名", "alias", named.alias.as_deref().unwrap_or("-"));
    s.say(
        "角色",
        "role",
        match named.role {
            TerminalRole::Main => "正机 / main",
            TerminalRole::Secondary => "副机 / secondary",
        },
    );
    let list = core
        .terminals()
        .await
        .map_err(|e| s.fail("terminals", &e))?;
    s.say(
        "本机保存的终端数",
        "terminals kept on this phone",
        list.len(),
    );

    let Some(theirs) = inventory.terminals.iter().find(|t| {
        t.state == "bound" && t.merchant_id.as_deref() != Some(signed_in.merchant_id.as_str())
    }) else {
        return Ok(());
    };
    s.step(
        "尝试绑定别人的终端（应被拒绝）",
        "Trying to bind another merchant's terminal (refused)",
    );
    s.say("终端序列号", "serial number", &theirs.sn);
    match core.bind_terminal_by_qr(theirs.qr_text.clone()).await {
        Err(e) if e.code() == "terminal.owned_by_other" => {
            s.say("拒绝", "refused", format!("[{}] {}", e.code(), detail(&e)));
        }
        Err(e) => return Err(s.fail("bind_terminal_by_qr", &e)),
        Ok(_) => {
            println!("    ✗ 别人的终端竟然绑定成功 / another merchant's terminal was bound");
            return Err(Failed);
        }
    }
    let findings = core
        .findings(false)
        .await
        .map_err(|e| s.fail("findings", &e))?;
    for f in findings.iter().filter(|f| f.subject == theirs.sn) {
        s.say("安全提醒", "protection finding", &f.message);
    }
    if !findings.iter().any(|f| f.subject == theirs.sn) {
        println!("    ✗ 没有记录安全提醒 / no protection finding was recorded");
        return Err(Failed);
    }
    Ok(())
}

/// The new merchant of the onboarding story.
const NEW_MERCHANT: &str = "13800000002";

/// The shop name the sandbox's review refuses (it contains 测试拒绝), and
/// the one the merchant changes it to.
const SHOP_REFUSED: &str = "测试拒绝小卖部";
const SHOP_FIXED: &str = "老王面馆";

/// Tells the story of the upload progress (start and end of each photo).
struct Progress;

impl merchant_core::onboarding::model::UploadListener for Progress {
    fn on_progress(
        &self,
        kind: merchant_core::onboarding::model::PhotoKind,
        bytes_sent: u64,
        total: u64,
    ) {
        if bytes_sent == 0 || bytes_sent == total {
            println!(
                "    上传 / uploading {}: {bytes_sent}/{total} 字节 / bytes",
                kind.as_str()
            );
        }
    }
    fn on_done(&self, kind: merchant_core::onboarding::model::PhotoKind) {
        println!("    ✓ 已上传 / uploaded {}", kind.as_str());
    }
    fn on_failed(&self, kind: merchant_core::onboarding::model::PhotoKind, code: String) {
        println!(
            "    ✗ 上传失败，将重试 / upload failed, retrying {}: {code}",
            kind.as_str()
        );
    }
}

/// The onboarding story: the new merchant 13800000002 fills in the
/// application, uploads the photos, signs the agreement, is rejected once,
/// fixes it, and is activated by the texted code.
async fn onboard(
    s: &mut Story,
    core: &MerchantCore,
    platform: &Platform,
    args: &Args,
) -> Result<(), Failed> {
    use merchant_core::onboarding::model::{ApplicationField as F, ApplicationStatus, PhotoKind};
    use merchant_core::validate::{bank_card, id_card, mask_bank_card, mask_id_card, mask_name};

    s.step("新商户登录（进件）", "A new merchant signs in to onboard");
    core.request_sms_code(NEW_MERCHANT.to_owned())
        .await
        .map_err(|e| s.fail("request_sms_code", &e))?;
    let code = sms_of(s, platform, args, NEW_MERCHANT, "sign_in").await?;
    let signed = core
        .sign_in(NEW_MERCHANT.to_owned(), code)
        .await
        .map_err(|e| s.fail("sign_in", &e))?;
    s.say("手机号", "phone", &signed.phone_masked);
    s.say("商户状态", "merchant status", &signed.merchant_status);
    let status = core
        .refresh_application_status()
        .await
        .map_err(|e| s.fail("refresh_application_status", &e))?;
    if status != ApplicationStatus::Draft {
        // A platform this story ran against before: show where it stands.
        s.say(
            "已有申请，状态",
            "an application exists, status",
            status.as_str(),
        );
        if let Some(p) = core
            .merchant_profile()
            .await
            .map_err(|e| s.fail("merchant_profile", &e))?
        {
            s.say(
                "商户编号",
                "merchant number",
                p.merchant_no.unwrap_or_default(),
            );
        }
        return Ok(());
    }

    s.step(
        "缓存省市区、经营类目与开户支行（离线可填）",
        "Caching regions, categories and branches (for offline filling)",
    );
    let provinces = core
        .lookup_regions(None)
        .await
        .map_err(|e| s.fail("lookup_regions", &e))?;
    s.say("省级行政区", "provinces", provinces.entries.len());
    for parent in ["510000", "510100"] {
        core.lookup_regions(Some(parent.to_owned()))
            .await
            .map_err(|e| s.fail("lookup_regions", &e))?;
    }
    let categories = core
        .lookup_mcc(None)
        .await
        .map_err(|e| s.fail("lookup_mcc", &e))?;
    let mut mccs = 0;
    for c in &categories.entries {
        mccs += core
            .lookup_mcc(Some(c.code.clone()))
            .await
            .map_err(|e| s.fail("lookup_mcc", &e))?
            .entries
            .len();
    }
    s.say(
        "经营类目 / MCC",
        "categories / MCCs",
        format!("{} / {mccs}", categories.entries.len()),
    );
    let branches = core
        .lookup_bank_branches("102".into(), "510100".into())
        .await
        .map_err(|e| s.fail("lookup_bank_branches", &e))?;
    s.say(
        "成都工商银行支行",
        "ICBC branches in Chengdu",
        branches.entries.len(),
    );

    s.step(
        "逐项填写进件资料（每项即时加密保存）",
        "Filling in the application field by field (each saved sealed at once)",
    );
    let first17 = "51010719900101123";
    let id = match id_card::check_char(first17.as_bytes()) {
        Some(c) => format!("{first17}{}", char::from(c)),
        None => return Err(Failed),
    };
    let partial = "622202100000000002";
    let account = match bank_card::luhn_check_digit(partial.as_bytes()) {
        Some(c) => format!("{partial}{}", char::from(c)),
        None => return Err(Failed),
    };
    let fields: [(F, &str); 17] = [
        (F::Kind, "micro"),
        (F::LegalName, "王小明"),
        (F::IdNumber, &id),
        (F::IdValidFrom, "2015-03-07"),
        (F::IdValidUntil, "2035-03-07"),
        (F::ShopName, SHOP_REFUSED),
        (F::ProvinceCode, "510000"),
        (F::CityCode, "510100"),
        (F::DistrictCode, "510107"),
        (F::Street, "人民南路四段 1 号"),
        (F::Mcc, "5812"),
        (F::AccountType, "personal"),
        (F::AccountNumber, &account),
        (F::HolderName, "王小明"),
        (F::BranchCode, "102651000017"),
        (F::ReservedMobile, NEW_MERCHANT),
        (F::Longitude, "104.0657"),
    ];
    for (field, value) in fields {
        core.set_application_field(field, Some(value.to_owned()))
            .await
            .map_err(|e| s.fail(field.key(), &e))?;
    }
    core.set_application_field(F::Latitude, Some("30.6598".into()))
        .await
        .map_err(|e| s.fail("latitude", &e))?;
    s.say("经营者", "legal person", mask_name("王小明".into()));
    s.say("身份证号", "ID number", mask_id_card(id.clone()));
    s.say("结算卡", "settlement card", mask_bank_card(account.clone()));
    s.say(
        "店名（沙箱将驳回）",
        "shop name (the sandbox will refuse it)",
        SHOP_REFUSED,
    );

    s.step("在手机上校验全部资料", "Validating everything on the phone");
    let problems = core
        .validate_application()
        .await
        .map_err(|e| s.fail("validate_application", &e))?;
    for p in &problems {
        s.say(
            "待补",
            "still needed",
            format!("{} [{}] {}", p.field, p.code, p.message_en),
        );
    }

    s.step(
        "拍照、在手机上处理（去除 EXIF/GPS）并上传",
        "Preparing photos on the phone (EXIF/GPS stripped) and uploading them",
    );
    let kinds = [
        PhotoKind::IdFront,
        PhotoKind::IdBack,
        PhotoKind::BankCard,
        PhotoKind::ShopFront,
        PhotoKind::ShopInside,
        PhotoKind::Checkstand,
    ];
    for (i, kind) in kinds.into_iter().enumerate() {
        let raw = merchant_core::media::sample::camera_photo(1600, 1200, i as u64 + 1, 1);
        let photo = core
            .add_application_photo(kind, raw.clone())
            .await
            .map_err(|e| s.fail(kind.as_str(), &e))?;
        s.say(
            kind.as_str(),
            "prepared",
            format!(
                "{} → {} 字节 / bytes, sha256 {}…",
                raw.len(),
                photo.size,
                &photo.sha256[..16]
            ),
        );
    }
    let photos = core
        .upload_application_photos(Some(Arc::new(Progress)))
        .await
        .map_err(|e| s.fail("upload_application_photos", &e))?;
    s.say("已上传", "uploaded", photos.len());

    s.step(
        "阅读并手写签署商户协议",
        "Reading and signing the merchant agreement",
    );
    let agreement = core
        .fetch_agreement()
        .await
        .map_err(|e| s.fail("fetch_agreement", &e))?;
    s.say(
        "协议",
        "agreement",
        format!("{} ({})", agreement.title, agreement.version),
    );
    s.say("协议摘要", "text SHA-256", &agreement.text_sha256);
    let record = core
        .sign_agreement(merchant_core::media::sample::signature_png())
        .await
        .map_err(|e| s.fail("sign_agreement", &e))?;
    core.verify_agreement_record(None)
        .await
        .map_err(|e| s.fail("verify_agreement_record", &e))?;
    s.say(
        "签署记录已离线验签（设备与平台）",
        "signed record verified offline (device and platform)",
        unix_time(record.signed_at),
    );

    s.step("提交审核", "Submitting for review");
    let status = core
        .submit_application()
        .await
        .map_err(|e| s.fail("submit_application", &e))?;
    s.say("状态", "status", status.as_str());
    let status = await_review(s, core, platform, args).await?;
    s.say("审核结果", "review", status.as_str());
    let draft = core
        .application_draft()
        .await
        .map_err(|e| s.fail("application_draft", &e))?;
    for r in &draft.rejections {
        s.say(
            "驳回原因",
            "reason",
            format!("{} [{}] {} / {}", r.field, r.code, r.message, r.message_en),
        );
    }
    if status != ApplicationStatus::Rejected {
        println!("    ✗ 预期驳回 / a rejection was expected");
        return Err(Failed);
    }

    s.step(
        "按驳回原因修改并重新提交",
        "Fixing what was refused and submitting again",
    );
    core.set_application_field(F::ShopName, Some(SHOP_FIXED.to_owned()))
        .await
        .map_err(|e| s.fail("set_application_field", &e))?;
    s.say("店名", "shop name", SHOP_FIXED);
    core.submit_application()
        .await
        .map_err(|e| s.fail("submit_application", &e))?;
    let status = await_review(s, core, platform, args).await?;
    s.say("审核结果", "review", status.as_str());
    if status != ApplicationStatus::ActivationCodeSent {
        println!("    ✗ 预期通过 / an approval was expected");
        return Err(Failed);
    }

    s.step(
        "输入短信激活码，商户激活",
        "Entering the texted activation code: the merchant is active",
    );
    let code = sms_of(s, platform, args, NEW_MERCHANT, "activation").await?;
    let profile = core
        .activate_merchant(code)
        .await
        .map_err(|e| s.fail("activate_merchant", &e))?;
    s.say(
        "商户编号",
        "merchant number",
        profile.merchant_no.clone().unwrap_or_default(),
    );
    for r in &profile.rates {
        s.say(
            "约定费率（%）",
            "agreed rate (%)",
            format!("{} {}", r.channel, r.rate),
        );
    }
    Ok(())
}

/// Polls the review; on a sandbox whose clock the story may move, moves it
/// past the review's delay, otherwise waits for it.
async fn await_review(
    s: &Story,
    core: &MerchantCore,
    platform: &Platform,
    args: &Args,
) -> Result<merchant_core::onboarding::model::ApplicationStatus, Failed> {
    use merchant_core::onboarding::model::ApplicationStatus;
    let move_clock = platform.embedded.is_some() || args.move_clock;
    for _ in 0..60 {
        let status = core
            .refresh_application_status()
            .await
            .map_err(|e| s.fail("refresh_application_status", &e))?;
        if !matches!(
            status,
            ApplicationStatus::Submitted | ApplicationStatus::UnderReview
        ) {
            return Ok(status);
        }
        if move_clock {
            let body = sbx::AdvanceClock { advance_secs: 31 };
            control_post(s, platform, &args.app_id, "/sandbox/clock", &body).await?;
        } else {
            println!("    审核中… / under review…");
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        }
    }
    println!("    ✗ 审核未完成 / the review did not finish");
    Err(Failed)
}

/// The latest SMS code of `purpose` to `phone` from the sandbox.
async fn sms_of(
    s: &Story,
    platform: &Platform,
    args: &Args,
    phone: &str,
    purpose: &str,
) -> Result<String, Failed> {
    let path = format!("/sandbox/sms?phone={phone}&purpose={purpose}");
    let sms = control_get::<sbx::Sms>(platform, &args.app_id, &path)
        .await
        .map_err(|e| s.fail("/sandbox/sms", &e))?;
    s.say("短信（沙箱收件箱）", "SMS (sandbox inbox)", &sms.text);
    Ok(sms.code)
}

/// Reads the latest sign-in code from the platform's sandbox endpoint, or
/// from the terminal when the platform has none.
async fn sms_code(s: &Story, platform: &Platform, args: &Args) -> Result<String, Failed> {
    // The sandbox files codes under the normalised number ("+86 139-1234-5678"
    // is 13912345678); the core has already refused a number that is not one.
    let phone = merchant_core::validate::phone::normalize(&args.phone)
        .map_err(|e| s.fail("phone", &e.into()))?;
    let path = format!("/sandbox/sms?phone={phone}");
    match control_get::<sbx::Sms>(platform, &args.app_id, &path).await {
        Ok(sms) => {
            s.say(
                "短信内容（沙箱收件箱）",
                "SMS text (sandbox inbox)",
                &sms.text,
            );
            Ok(sms.code)
        }
        Err(e) if std::io::stdin().is_terminal() => {
            println!(
                "    平台没有沙箱短信接口（{}）/ no sandbox SMS endpoint ({})",
                e.code(),
                e.code()
            );
            print!("    请输入短信验证码 / enter the SMS code: ");
            let _ = std::io::stdout().flush();
            let mut line = String::new();
            match std::io::stdin().lock().read_line(&mut line) {
                Ok(_) => Ok(line.trim().to_owned()),
                Err(_) => Err(Failed),
            }
        }
        Err(e) => Err(s.fail("/sandbox/sms", &e)),
    }
}

/// A sandbox-only control call (`/sandbox/*`) through the core's pinned,
/// signature-verifying client. Control routes need no device; a throwaway
/// key signs the envelope all the same.
pub(crate) async fn control_call<T: serde::de::DeserializeOwned>(
    platform: &Platform,
    app_id: &str,
    call: Result<Call, merchant_core::error::Error>,
) -> Result<T, MerchantError> {
    let config = PlatformConfig::new(
        &platform.url,
        platform.pin.as_deref(),
        &platform.public_key,
        app_id,
    )?;
    let client = PlatformClient::new(config)?;
    let (device, _) = DeviceKey::generate().map_err(|e| {
        merchant_core::error::Error::new(&merchant_core::error::INTERNAL).detail(e.to_string())
    })?;
    Ok(client.call::<T>(&device, &call?).await?)
}

pub(crate) async fn control_get<T: serde::de::DeserializeOwned>(
    platform: &Platform,
    app_id: &str,
    path: &str,
) -> Result<T, MerchantError> {
    control_call(platform, app_id, Ok(Call::get(path))).await
}

async fn control_post<B: serde::Serialize>(
    s: &Story,
    platform: &Platform,
    app_id: &str,
    path: &str,
    body: &B,
) -> Result<(), Failed> {
    control_call::<serde_json::Value>(platform, app_id, Call::post_json(path, body))
        .await
        .map(|_| ())
        .map_err(|e| s.fail(path, &e))
}

fn unix_time(secs: i64) -> String {
    let beijing = chrono::FixedOffset::east_opt(8 * 3600);
    match (chrono::DateTime::from_timestamp(secs, 0), beijing) {
        (Some(t), Some(tz)) => t
            .with_timezone(&tz)
            .format("%Y-%m-%d %H:%M:%S %:z")
            .to_string(),
        _ => secs.to_string(),
    }
}
