//! Area `alerts`: what a trade costs the phone between the platform and
//! the merchant hearing of it, each figure beside its reference in the same
//! run, on one merchant of the embedded sandbox (loopback TLS):
//!
//! - live: a subscription (`subscribe_with`, an [`AlertListener`]) while
//!   trades are made one at a time by `POST /sandbox/trades`; each is timed
//!   from the moment that control call is sent to the listener's `on_alert`
//!   for its trade (the event's own time has whole seconds only), beside the
//!   control call's round trip alone. Every tenth trade is made just after
//!   `/sandbox/events/disconnect` dropped the stream: it comes on the resume
//!   (`Last-Event-ID`), timed apart. Then as many trades again with the
//!   store's write-ahead log checkpointed before each (as for push, below).
//!   Every trade must be told exactly once, its event heard once;
//! - push: the sandbox's own signed payloads from its push outbox (a
//!   registered FCM token) handed to `handle_push` on the warm core, each
//!   beside the payload's parse and signature check alone (the contract's
//!   `SignedPush::verify`) and a small exported call (`alert_settings`: the
//!   hand-offs to the core's runtime and back); then as many again with the
//!   store's write-ahead log checkpointed, untimed, before each push, which
//!   shows what SQLite's automatic checkpoint (every 1,000 WAL pages, about
//!   every 50 pushes) adds to the tail;
//! - cold push: a fresh process opening the core and handling one payload,
//!   timed from before `MerchantCore::new` to the notification;
//! - the detectors: the same signed feed pages ingested through
//!   `trades::sync::ingest_page_with` with the protection detectors
//!   (`merchant_core::protection_hook`) and without, each into a copy of the
//!   merchant's store as it stood before its first trade (its profile with
//!   the merchant number and agreed rates, its terminal), so that every
//!   detector runs.
//!
//! `--rows N`: sales seeded over a year for the detectors' figure (default
//! 100,000); the push figures take min(N, 1000) payloads (twice: plain and
//! checkpointed) and the live ones min(N, 500) trades (twice too).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use merchant_contract::domain::sandbox::InjectedTrades;
use merchant_contract::envelope::{DeviceKey, PlatformPublicKey, SignedPush};
use merchant_contract::wire::sandbox::{Disconnected, OutboxItem};
use merchant_contract::wire::{Event, event_types};
use merchant_core::alerts::stream::{AlertListener, StreamStatus};
use merchant_core::alerts::{Alert, AlertKind};
use merchant_core::platform::sse::StreamConfig;
use merchant_core::platform::{Backoff, Call, PlatformClient, PlatformConfig};
use merchant_core::session::{PushEvent, PushProvider};
use merchant_core::store::{DB_FILE, merchant_dir};
use merchant_core::{MerchantCore, MerchantError};
use merchant_sandbox::DEFAULT_APP_ID;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::trades::{self, ChildInput, err, percentile};
use super::{Area, Figure, Options, child_run};
use crate::demo::Platform;

pub const AREA: Area = Area {
    name: "alerts",
    about: "a trade to the merchant: live stream, push, cold push, the detectors' cost at sync",
    run,
    child,
};

const DEFAULT_ROWS: usize = 100_000;
/// The most push payloads handled on the warm core.
const MOST_PUSHES: usize = 1000;
/// The most trades made while subscribed.
const MOST_LIVE: usize = 500;
/// One trade in this many is made just after the stream was dropped.
const DROP_EVERY: usize = 10;
/// Trades one control call makes (the sandbox's most).
const MAKE_PART: usize = 200;
/// Outbox items a page (the sandbox's most).
const OUTBOX_PAGE: usize = 200;
/// The longest wait for anything the stream owes.
const WAIT: Duration = Duration::from_secs(60);
/// The anomalies injected among the seeded trades (`alert.` + each is the
/// finding's code).
const ANOMALIES: [&str; 3] = ["merchant_code", "fee_above_rate", "double_charge"];
/// The bench's merchant (not the trades bench's).
const PHONE: &str = "13900000009";
/// The push token the bench's phone registers.
const TOKEN: &str = "fcm:bench_alerts";

/// What the parent hands a cold-push child.
#[derive(Serialize, Deserialize)]
struct ColdInput {
    core: ChildInput,
    payload: String,
}

fn run(options: &Options) -> Result<Vec<Figure>, String> {
    let rows = options.rows.unwrap_or(DEFAULT_ROWS).clamp(1, 2_000_000);
    let pushes = rows.min(MOST_PUSHES);
    let live_trades = rows.min(MOST_LIVE);
    let runs = options.runs;
    let trades::Setup {
        rt,
        dir,
        sandbox,
        platform,
        input,
    } = trades::setup()?;
    let control = Control::new(&platform)?;

    // The shop, with a push token, subscribed; caught up with its own
    // activation (the profile the detectors compare with).
    let core = Arc::new(MerchantCore::new(input.config(), input.secrets()?).map_err(err)?);
    let merchant_id = rt.block_on(trades::shop(&core, &platform, PHONE))?;
    rt.block_on(core.register_push_token(PushProvider::Fcm, TOKEN.to_owned()))
        .map_err(err)?;
    let (heard_tx, heard_rx) = mpsc::unbounded_channel();
    let handle = core
        .clone()
        .subscribe_with(Arc::new(Listener(heard_tx)), quick())
        .map_err(err)?;
    let mut stream = Stream::new(heard_rx);
    rt.block_on(stream.until(|s| s.activated && s.connected))?;
    rt.block_on(core.merchant_profile())
        .map_err(err)?
        .ok_or("the merchant's profile was not kept")?;
    let db_path = merchant_dir(Path::new(&input.data_dir), &merchant_id)
        .map_err(err)?
        .join(DB_FILE);
    let base = dir.path().join("base.db");
    snapshot(&db_path, &base)?;

    // Live, then as many trades again with the store's write-ahead log
    // checkpointed (untimed) before each.
    let events_before = stream.trade_events;
    let plain_live = rt.block_on(live(&control, &merchant_id, live_trades, &mut stream, None))?;
    let wal = rusqlite::Connection::open(&db_path).map_err(err)?;
    let quiet_live = rt.block_on(live(
        &control,
        &merchant_id,
        live_trades,
        &mut stream,
        Some(&wal),
    ))?;
    drop(wal);
    handle.cancel();
    rt.block_on(handle.wait());
    drop(handle);
    stream.drain();
    let made: Vec<&String> = plain_live.made.iter().chain(&quiet_live.made).collect();
    let events = stream.trade_events - events_before;
    let delivered_once = events == made.len() as u64 && stream.told_once(&made);

    // The year the detectors' figure ingests, as signed pages, with one
    // trade of each anomaly a record alone shows (a pair for the double
    // charge) so that the run can tell its detectors ran.
    for anomaly in ANOMALIES {
        rt.block_on(control.post::<InjectedTrades>(
            "/sandbox/trades",
            serde_json::json!({"merchant_id": merchant_id, "count": 1, "anomaly": anomaly}),
        ))?;
    }
    rt.block_on(trades::seed_year(&platform, &merchant_id, rows))?;
    let pages = trades::signed_pages(&rt, &core)?;

    // Push on the warm core, then again with the store's write-ahead log
    // checkpointed (untimed) before each push; the last `runs` payloads are
    // for the cold children.
    let payloads = rt.block_on(fresh_payloads(&control, &merchant_id, 2 * pushes + runs))?;
    let (warm, rest) = payloads.split_at(pushes);
    let (checkpointed, cold) = rest.split_at(pushes);
    let key = PlatformPublicKey::from_base64(&platform.public_key).map_err(err)?;
    let plain = pushed(&rt, &core, warm, &key, None)?;
    let wal = rusqlite::Connection::open(&db_path).map_err(err)?;
    let quiet = pushed(&rt, &core, checkpointed, &key, Some(&wal))?;
    drop(wal);
    drop(core);

    // Cold push, each in a fresh process.
    let (mut cold_ms, mut process_ms) = (Vec::new(), Vec::new());
    for (i, payload) in cold.iter().enumerate() {
        let file = dir.path().join(format!("cold-{i}.json"));
        let cold_input = ColdInput {
            core: input.clone(),
            payload: payload.clone(),
        };
        std::fs::write(&file, serde_json::to_vec(&cold_input).map_err(err)?).map_err(err)?;
        let start = Instant::now();
        let done = child_run(AREA.name, "cold_push", &file)
            .ok_or("the cold push child failed (see above)")?;
        process_ms.push(ms_since(start));
        cold_ms.push(
            done.stdout
                .lines()
                .find_map(|l| l.strip_prefix("cold_push_ms "))
                .and_then(|v| v.trim().parse::<f64>().ok())
                .ok_or("the cold push child printed no time")?,
        );
    }

    // The detectors' cost: the same pages into copies of the same store,
    // with and without, taking turns (which goes first alternates).
    let hook = merchant_core::protection_hook();
    let (mut with, mut without) = (Vec::new(), Vec::new());
    for i in 0..runs {
        let with_path = dir.path().join(format!("with-{i}.db"));
        let without_path = dir.path().join(format!("without-{i}.db"));
        for detectors in [i % 2 == 1, i % 2 == 0] {
            if detectors {
                let path = copy_of(&base, &with_path)?;
                with.push(trades::ingest(&pages, &key, &path, Some(hook.as_ref()))?);
            } else {
                let path = copy_of(&base, &without_path)?;
                without.push(trades::ingest(&pages, &key, &path, None)?);
            }
        }
        let (found, not_found) = (found_codes(&with_path)?, found_codes(&without_path)?);
        if let Some(missing) = ANOMALIES
            .iter()
            .find(|a| !found.contains(&format!("alert.{a}")))
        {
            return Err(format!("the detectors did not find the {missing} trade"));
        }
        if !not_found.is_empty() {
            return Err("findings recorded without the detectors".into());
        }
        for path in [with_path, without_path] {
            for suffix in ["", "-wal", "-shm"] {
                let mut file = path.clone().into_os_string();
                file.push(suffix);
                let _ = std::fs::remove_file(file);
            }
        }
    }
    rt.block_on(sandbox.shutdown());

    let ingested = pages_records(&pages)?;
    let per_s = |s: Option<f64>| s.filter(|s| *s > 0.0).map(|s| ingested as f64 / s);
    let with_rate = per_s(percentile(&with, 50.0));
    let without_rate = per_s(percentile(&without, 50.0));
    let handle_p99 = percentile(&plain.handled, 99.0);
    let verify_p99 = percentile(&plain.verified, 99.0);
    Ok(vec![
        Figure::new(
            "pushes",
            Some(plain.handled.len() as f64),
            "",
            "push payloads handled on the warm core",
        ),
        Figure::new(
            "handle_push_p50_ms",
            percentile(&plain.handled, 50.0),
            "ms",
            "handle_push of a fresh payload from the sandbox's outbox, warm core",
        ),
        Figure::new(
            "handle_push_p99_ms",
            handle_p99,
            "ms",
            "the same, 99th percentile (goal <= 1)",
        ),
        Figure::new(
            "verify_only_p99_ms",
            verify_p99,
            "ms",
            "reference: the payload's parse and signature check alone, 99th percentile",
        ),
        Figure::new(
            "core_call_p99_ms",
            percentile(&plain.called, 99.0),
            "ms",
            "reference: alert_settings (an exported call's hand-offs, one small read), 99th percentile",
        ),
        Figure::new(
            "handle_push_checkpointed_p99_ms",
            percentile(&quiet.handled, 99.0),
            "ms",
            "reference: handle_push_p99_ms with the store's WAL checkpointed (untimed) before each push",
        ),
        Figure::ratio(
            "push_ratio",
            handle_p99,
            verify_p99,
            "handle_push_p99_ms / verify_only_p99_ms",
        ),
        Figure::new(
            "cold_push_ms",
            percentile(&cold_ms, 50.0),
            "ms",
            "a fresh process: MerchantCore::new and handle_push to the notification (goal <= 50)",
        ),
        Figure::new(
            "cold_process_ms",
            percentile(&process_ms, 50.0),
            "ms",
            "reference: that child process from spawn to exit, as the parent sees it",
        ),
        Figure::new(
            "live_p50_ms",
            percentile(&plain_live.latencies, 50.0),
            "ms",
            "POST /sandbox/trades sent to on_alert of its trade, stream connected",
        ),
        Figure::new(
            "live_p99_ms",
            percentile(&plain_live.latencies, 99.0),
            "ms",
            "the same, 99th percentile (goal <= 10)",
        ),
        Figure::new(
            "live_checkpointed_p99_ms",
            percentile(&quiet_live.latencies, 99.0),
            "ms",
            "reference: live_p99_ms with the store's WAL checkpointed (untimed) before each trade",
        ),
        Figure::new(
            "control_p50_ms",
            percentile(&plain_live.control, 50.0),
            "ms",
            "reference: that control call's own round trip (send to answer)",
        ),
        Figure::new(
            "control_p99_ms",
            percentile(&plain_live.control, 99.0),
            "ms",
            "reference: the same, 99th percentile",
        ),
        Figure::new(
            "resume_p50_ms",
            percentile(&plain_live.resumes, 50.0),
            "ms",
            "a trade made just after a drop, to on_alert after the reconnect",
        ),
        Figure::new(
            "events",
            Some(events as f64),
            "",
            "trade events the listener heard (on_event), all the live trades",
        ),
        Figure::new(
            "drops",
            Some((plain_live.drops + quiet_live.drops) as f64),
            "",
            "live streams dropped by /sandbox/events/disconnect",
        ),
        Figure::flag(
            "delivered_once",
            delivered_once,
            "every trade made told to the listener exactly once",
        ),
        Figure::new("rows", Some(rows as f64), "", "sales seeded over a year"),
        Figure::new(
            "records",
            Some(ingested as f64),
            "",
            "trade records in the feed the detectors' figure ingests",
        ),
        Figure::new(
            "ingest_with_detectors_rows_per_s",
            with_rate,
            "/s",
            "signed pages verified, decoded, checked, applied, detectors on each record",
        ),
        Figure::new(
            "ingest_without_detectors_rows_per_s",
            without_rate,
            "/s",
            "reference: the same pages into the same store, no detectors",
        ),
        Figure::ratio(
            "detectors_ratio",
            with_rate,
            without_rate,
            "with / without (goal >= 0.8)",
        ),
    ])
}

fn ms_since(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1000.0
}

/// The stream's config with quick reconnects (1 to 5 ms), so that a drop
/// costs the reconnect and not a backoff wait chosen for phones.
fn quick() -> StreamConfig {
    StreamConfig {
        backoff: Backoff {
            base: Duration::from_millis(1),
            cap: Duration::from_millis(5),
            max_retries: u32::MAX,
        },
        ..StreamConfig::default()
    }
}

/// What the push part measured, in milliseconds a payload.
struct Pushed {
    /// `handle_push`.
    handled: Vec<f64>,
    /// The payload's parse and signature check alone.
    verified: Vec<f64>,
    /// `alert_settings`, a small exported call.
    called: Vec<f64>,
}

/// Hands each payload to `core.handle_push`, each beside the references;
/// with `checkpoint`, the store's write-ahead log is checkpointed through
/// it (untimed) before each payload.
fn pushed(
    rt: &tokio::runtime::Runtime,
    core: &MerchantCore,
    payloads: &[String],
    key: &PlatformPublicKey,
    checkpoint: Option<&rusqlite::Connection>,
) -> Result<Pushed, String> {
    let mut out = Pushed {
        handled: Vec::new(),
        verified: Vec::new(),
        called: Vec::new(),
    };
    for payload in payloads {
        if let Some(c) = checkpoint {
            c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                .map_err(err)?;
        }
        let start = Instant::now();
        SignedPush::parse(payload)
            .and_then(|p| p.verify(key))
            .map_err(err)?;
        out.verified.push(ms_since(start));
        let start = Instant::now();
        rt.block_on(core.alert_settings()).map_err(err)?;
        out.called.push(ms_since(start));
        let start = Instant::now();
        let shown = rt
            .block_on(core.handle_push(payload.clone().into_bytes()))
            .map_err(err)?;
        out.handled.push(ms_since(start));
        shown.ok_or("a fresh push payload gave no notification")?;
    }
    Ok(out)
}

/// A consistent copy of the store at `from` (in use by the core) at `to`.
fn snapshot(from: &Path, to: &Path) -> Result<(), String> {
    let conn =
        rusqlite::Connection::open_with_flags(from, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(err)?;
    conn.execute("VACUUM INTO ?1", [to.to_string_lossy()])
        .map_err(err)?;
    Ok(())
}

/// The codes of the findings kept in the store at `path`.
fn found_codes(path: &Path) -> Result<HashSet<String>, String> {
    let conn = rusqlite::Connection::open(path).map_err(err)?;
    let mut stmt = conn
        .prepare("SELECT DISTINCT code FROM finding")
        .map_err(err)?;
    let codes = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .map_err(err)?
        .collect::<rusqlite::Result<_>>()
        .map_err(err)?;
    Ok(codes)
}

fn copy_of(base: &Path, to: &Path) -> Result<PathBuf, String> {
    std::fs::copy(base, to).map_err(err)?;
    Ok(to.to_path_buf())
}

/// Records in the signed pages.
fn pages_records(
    pages: &[(merchant_contract::envelope::ResponseSignature, Vec<u8>)],
) -> Result<u64, String> {
    let mut n = 0;
    for (_, body) in pages {
        n += merchant_core::trades::feed::decode_page(body)
            .map_err(err)?
            .changes
            .len() as u64;
    }
    Ok(n)
}

/// Sandbox control calls through one pinned, signature-verifying client
/// kept warm (one TLS connection, one throwaway device key), so that a
/// timed call is not a handshake.
struct Control {
    client: PlatformClient,
    device: DeviceKey,
}

impl Control {
    fn new(platform: &Platform) -> Result<Control, String> {
        let config = PlatformConfig::new(
            &platform.url,
            platform.pin.as_deref(),
            &platform.public_key,
            DEFAULT_APP_ID,
        )
        .map_err(err)?;
        let client = PlatformClient::new(config).map_err(err)?;
        let (device, _) = DeviceKey::generate().map_err(err)?;
        Ok(Control { client, device })
    }

    async fn post<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: serde_json::Value,
    ) -> Result<T, String> {
        let call = Call::post_json(path, &body).map_err(err)?;
        self.client.call(&self.device, &call).await.map_err(err)
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, String> {
        self.client
            .call(&self.device, &Call::get(path))
            .await
            .map_err(err)
    }

    /// `count` paid trades made now; their ids.
    async fn paid_trades(&self, merchant_id: &str, count: usize) -> Result<Vec<String>, String> {
        let made: InjectedTrades = self
            .post(
                "/sandbox/trades",
                serde_json::json!({"merchant_id": merchant_id, "count": count, "status": "success"}),
            )
            .await?;
        Ok(made.trades.into_iter().map(|t| t.trade_id).collect())
    }
}

/// What the listener heard, with when.
enum Heard {
    Event(PushEvent),
    Alert(Instant, Alert),
    Status(StreamStatus),
}

struct Listener(mpsc::UnboundedSender<Heard>);

impl AlertListener for Listener {
    fn on_event(&self, event: PushEvent) -> Result<(), MerchantError> {
        let _ = self.0.send(Heard::Event(event));
        Ok(())
    }
    fn on_alert(&self, alert: Alert) -> Result<(), MerchantError> {
        let _ = self.0.send(Heard::Alert(Instant::now(), alert));
        Ok(())
    }
    fn on_status(&self, status: StreamStatus) -> Result<(), MerchantError> {
        let _ = self.0.send(Heard::Status(status));
        Ok(())
    }
}

/// What the subscription told so far.
struct Stream {
    heard: mpsc::UnboundedReceiver<Heard>,
    /// `merchant.activated` came (the replay from the oldest event kept).
    activated: bool,
    connected: bool,
    /// `Waiting` statuses (a connection that ended).
    waits: u64,
    /// Trade alerts by trade id: when each telling came.
    told: HashMap<String, Vec<Instant>>,
    /// `trade.created` events heard.
    trade_events: u64,
}

impl Stream {
    fn new(heard: mpsc::UnboundedReceiver<Heard>) -> Stream {
        Stream {
            heard,
            activated: false,
            connected: false,
            waits: 0,
            told: HashMap::new(),
            trade_events: 0,
        }
    }

    fn take(&mut self, h: Heard) {
        match h {
            Heard::Event(e) => {
                self.activated |= e.event_type == event_types::MERCHANT_ACTIVATED;
                if e.event_type == event_types::TRADE_CREATED {
                    self.trade_events += 1;
                }
            }
            Heard::Alert(at, a) => {
                if let (AlertKind::TradeReceived, Some(id)) = (a.kind, a.trade_id) {
                    self.told.entry(id).or_default().push(at);
                }
            }
            Heard::Status(StreamStatus::Connected) => self.connected = true,
            Heard::Status(StreamStatus::Waiting { .. }) => {
                self.connected = false;
                self.waits += 1;
            }
            Heard::Status(StreamStatus::Stopped { .. }) => self.connected = false,
            Heard::Status(_) => {}
        }
    }

    /// Takes what the listener hears until `done` holds.
    async fn until(&mut self, done: impl Fn(&Stream) -> bool) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + WAIT;
        while !done(self) {
            match tokio::time::timeout_at(deadline, self.heard.recv()).await {
                Ok(Some(h)) => self.take(h),
                Ok(None) => return Err("the stream's listener was dropped".into()),
                Err(_) => return Err(format!("the stream owed something for {WAIT:?}")),
            }
        }
        Ok(())
    }

    /// Takes what was heard and not taken yet.
    fn drain(&mut self) {
        while let Ok(h) = self.heard.try_recv() {
            self.take(h);
        }
    }

    /// Whether each trade of `made` was told exactly once, and nothing else.
    fn told_once(&self, made: &[&String]) -> bool {
        let made_set: HashSet<&String> = made.iter().copied().collect();
        made_set.len() == made.len()
            && self.told.len() == made.len()
            && self
                .told
                .iter()
                .all(|(id, times)| times.len() == 1 && made_set.contains(id))
    }
}

/// What the live part measured.
struct Live {
    /// Milliseconds from the control call sent to the trade's alert.
    latencies: Vec<f64>,
    /// The same for trades made just after a drop.
    resumes: Vec<f64>,
    /// The control calls' own round trips.
    control: Vec<f64>,
    drops: u64,
    /// The trades made, in order.
    made: Vec<String>,
}

/// Makes `count` trades one at a time, each timed to its alert; one in
/// [`DROP_EVERY`] just after the stream was dropped. With `checkpoint`, the
/// store's write-ahead log is checkpointed through it (untimed) before each.
async fn live(
    control: &Control,
    merchant_id: &str,
    count: usize,
    stream: &mut Stream,
    checkpoint: Option<&rusqlite::Connection>,
) -> Result<Live, String> {
    let mut out = Live {
        latencies: Vec::new(),
        resumes: Vec::new(),
        control: Vec::new(),
        drops: 0,
        made: Vec::new(),
    };
    for n in 0..count {
        if let Some(c) = checkpoint {
            c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                .map_err(err)?;
        }
        let across_drop = n % DROP_EVERY == DROP_EVERY / 2;
        let mut dropped = 0;
        let waits = stream.waits;
        if across_drop {
            let d: Disconnected = control
                .post(
                    "/sandbox/events/disconnect",
                    serde_json::json!({"merchant_id": merchant_id}),
                )
                .await?;
            dropped = d.streams;
            out.drops += dropped;
        }
        let start = Instant::now();
        let ids = control.paid_trades(merchant_id, 1).await?;
        let answered = ms_since(start);
        let id = ids.into_iter().next().ok_or("no trade made")?;
        stream.until(|s| s.told.contains_key(&id)).await?;
        let at = stream
            .told
            .get(&id)
            .and_then(|t| t.first())
            .copied()
            .ok_or("told")?;
        let ms = at.saturating_duration_since(start).as_secs_f64() * 1000.0;
        if dropped > 0 {
            out.resumes.push(ms);
            // Connected again before the next trade is timed.
            stream.until(|s| s.waits > waits && s.connected).await?;
        } else {
            out.latencies.push(ms);
            out.control.push(answered);
        }
        out.made.push(id);
    }
    Ok(out)
}

/// `count` trades made now, and the push payloads the sandbox signed for
/// them (its outbox, the token the bench registered), in the order made.
async fn fresh_payloads(
    control: &Control,
    merchant_id: &str,
    count: usize,
) -> Result<Vec<String>, String> {
    let mut made = Vec::new();
    while made.len() < count {
        let part = (count - made.len()).min(MAKE_PART);
        made.extend(control.paid_trades(merchant_id, part).await?);
    }
    let wanted: HashSet<&String> = made.iter().collect();
    #[derive(Deserialize)]
    struct Outbox {
        items: Vec<OutboxItem>,
        next_cursor: Option<String>,
    }
    let mut by_trade: HashMap<String, String> = HashMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/sandbox/outbox?merchant_id={merchant_id}&limit={OUTBOX_PAGE}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page: Outbox = control.get(&path).await?;
        for item in page.items {
            if item.event_type != event_types::TRADE_CREATED || item.token != TOKEN {
                continue;
            }
            let push = SignedPush::parse(&item.payload).map_err(err)?;
            let event: Event = serde_json::from_str(&push.body).map_err(err)?;
            if let Some(id) = event.data.get("trade_id").and_then(|v| v.as_str())
                && wanted.contains(&id.to_owned())
            {
                by_trade.insert(id.to_owned(), item.payload);
            }
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    made.iter()
        .map(|id| {
            by_trade
                .remove(id)
                .ok_or_else(|| format!("no push payload for trade {id} in the outbox"))
        })
        .collect()
}

fn child(probe: &str, input: &Path) -> Result<(), String> {
    match probe {
        "cold_push" => {
            let input: ColdInput =
                serde_json::from_slice(&std::fs::read(input).map_err(err)?).map_err(err)?;
            // The shell's own executor, before the work starts.
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(err)?;
            let start = Instant::now();
            let core =
                MerchantCore::new(input.core.config(), input.core.secrets()?).map_err(err)?;
            let shown = rt
                .block_on(core.handle_push(input.payload.into_bytes()))
                .map_err(err)?;
            let ms = ms_since(start);
            shown.ok_or("the payload gave no notification")?;
            println!("cold_push_ms {ms}");
            Ok(())
        }
        other => Err(format!("no probe {other}")),
    }
}
