//! Sync: the platform's change feed pulled onto the phone.
//!
//! From the committed cursor, pages of [`PAGE_LIMIT`] records are fetched,
//! checked whole ([`feed::validate`]) and applied each in its own
//! transaction together with the new cursor ([`store::apply_page`]), until
//! the feed says nothing more is waiting. So:
//!
//! - a crash, a lost network or a refused page at any point leaves every
//!   committed page and its cursor; the next sync resumes after the last
//!   committed page, and no trade is lost or kept twice;
//! - at most one page is held at a time, whatever the size of the history
//!   (the first sync of a million trades streams page by page);
//! - one sync runs at a time per merchant (per store file): a second caller
//!   joins the running one and gets its report (`joined: true`); a joiner's
//!   listener is added to the running sync's listeners and hears its
//!   following pages.
//!
//! [`Budget::CATCH_UP`] is the push wake-up's bounded run: at most
//! [`CATCH_UP_PAGES`] pages or about [`CATCH_UP_TIME`]; it reports
//! `has_more` when it stopped early. A catch-up that finds a sync running
//! waits for it at most that long, then reports that sync's progress so far.
//! A full sync that finds a catch-up running lets it finish, then runs.
//!
//! The platform answers 429 `auth.rate_limited` when a device has sent its
//! quota of signed requests (600 in 5 minutes): a first sync of a long
//! history can reach it. A full sync waits it out (1 s, doubling to 30 s,
//! for up to [`QUOTA_PATIENCE`], more than the quota's window) and goes
//! on from its committed cursor; a bounded catch-up stops there and reports
//! `has_more`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures_util::FutureExt as _;
use futures_util::future::{BoxFuture, Shared};
use merchant_contract::domain;

use super::hook::{TradeHook, with_hook};
use super::{feed, store};
use crate::error::{Error, RUNTIME, Result};
use crate::session::SessionState;
use crate::store::MerchantStore;

crate::codes! {
    SYNC_CURSOR_MOVED = Conflict, "trades.sync_cursor_moved", "交易同步进度已被另一次同步更新，请重试", "Another sync moved the trade sync cursor meanwhile; try again";
}

/// Records asked for per page: the contract's largest `limit`.
pub const PAGE_LIMIT: u32 = feed::MAX_PAGE;
/// The most pages a catch-up applies.
pub const CATCH_UP_PAGES: u32 = 5;
/// After this long a catch-up stops at the end of the page it is on.
pub const CATCH_UP_TIME: Duration = Duration::from_secs(2);

/// Progress of a sync, reported after each committed page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct TradeSyncProgress {
    /// Records received in the pages committed so far in this sync.
    pub applied: u64,
    /// Pages committed so far in this sync.
    pub pages: u32,
    /// The feed's estimate of the changes still waiting.
    pub remaining: u64,
    /// The committed cursor (the last `change_seq` on the phone).
    pub cursor: u64,
}

/// What a sync did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct TradeSyncReport {
    /// Records received in the committed pages.
    pub applied: u64,
    /// Pages committed.
    pub pages: u32,
    /// The committed cursor at the end.
    pub cursor: u64,
    /// This caller joined a sync already running (its report).
    pub joined: bool,
    /// More changes were waiting when it stopped (a catch-up stops early).
    pub has_more: bool,
}

/// Where the phone's copy of the feed stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct TradeSyncState {
    /// The last `change_seq` committed (0 before the first sync).
    pub cursor: u64,
    /// When the last page was committed (unix ms); `None` before the first.
    pub last_synced_at_ms: Option<i64>,
    /// Trade records on the phone (sales, voids and refunds).
    pub trades: u64,
    /// The feed's estimate of what was left after the last page.
    pub remaining: Option<u64>,
}

/// Hears a sync's progress, once per committed page.
#[uniffi::export(with_foreign)]
pub trait TradeSyncListener: Send + Sync {
    fn on_progress(&self, progress: TradeSyncProgress);
}

/// Where pages come from: the platform ([`PlatformFeed`]), or a test's feed.
pub trait PageSource: Send + Sync + 'static {
    /// The page of records changed after `after`, at most `limit` of them.
    fn fetch(&self, after: u64, limit: u32) -> BoxFuture<'_, Result<domain::TradeChanges>>;
}

/// The platform's change feed through the signed-in session.
struct PlatformFeed(Arc<SessionState>);

impl PageSource for PlatformFeed {
    fn fetch(&self, after: u64, limit: u32) -> BoxFuture<'_, Result<domain::TradeChanges>> {
        Box::pin(super::api::changes(&self.0, after, limit))
    }
}

/// Syncs the signed-in merchant's store from the platform's change feed
/// within `budget`, `hook` on every record (see [`sync_with`]).
pub async fn from_platform(
    state: Arc<SessionState>,
    listener: Option<Arc<dyn TradeSyncListener>>,
    budget: Budget,
    hook: Option<Arc<dyn TradeHook>>,
) -> Result<TradeSyncReport> {
    let store = state.merchant_store().await?;
    sync_with(store, Arc::new(PlatformFeed(state)), listener, budget, hook).await
}

/// How long a full sync waits out the platform's request quota (429
/// `auth.rate_limited`) before it ends with that error: the quota's window
/// is 300 s.
pub const QUOTA_PATIENCE: Duration = Duration::from_secs(330);

/// Whether `e` is the platform's request quota.
fn is_quota(e: &Error) -> bool {
    e.code == merchant_contract::codes::AUTH_RATE_LIMITED.code
}

/// The page after `cursor`, waiting out the request quota as `budget`
/// allows: `None` when a bounded run stops at the quota.
async fn fetch_within_quota(
    source: &dyn PageSource,
    cursor: u64,
    budget: Budget,
) -> Result<Option<domain::TradeChanges>> {
    let mut waited = Duration::ZERO;
    let mut wait = Duration::from_secs(1);
    loop {
        match source.fetch(cursor, PAGE_LIMIT).await {
            Ok(page) => return Ok(Some(page)),
            Err(e) if is_quota(&e) && budget != Budget::Full => return Ok(None),
            Err(e) if is_quota(&e) && waited < QUOTA_PATIENCE => {
                tracing::info!(
                    wait_s = wait.as_secs(),
                    "trade sync waiting out the request quota"
                );
                tokio::time::sleep(wait).await;
                waited += wait;
                wait = (wait * 2).min(Duration::from_secs(30));
            }
            Err(e) => return Err(e),
        }
    }
}

/// How far a sync goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// Until the feed has nothing more.
    Full,
    /// Until the feed has nothing more, `pages` pages were applied, or
    /// `time` has passed (checked after each page).
    Bounded { pages: u32, time: Duration },
}

impl Budget {
    /// The push wake-up's catch-up.
    pub const CATCH_UP: Budget = Budget::Bounded {
        pages: CATCH_UP_PAGES,
        time: CATCH_UP_TIME,
    };
}

/// Syncs `store` from `source` within `budget` (see the module docs).
pub async fn sync(
    store: Arc<MerchantStore>,
    source: Arc<dyn PageSource>,
    listener: Option<Arc<dyn TradeSyncListener>>,
    budget: Budget,
) -> Result<TradeSyncReport> {
    sync_with(store, source, listener, budget, None).await
}

/// [`sync`] running `hook` on every record of every page, inside the page's
/// transaction (the composition root's protection detectors; see
/// [`super::hook`]). A caller joining a running sync gets that sync's hook.
pub async fn sync_with(
    store: Arc<MerchantStore>,
    source: Arc<dyn PageSource>,
    listener: Option<Arc<dyn TradeSyncListener>>,
    budget: Budget,
    hook: Option<Arc<dyn TradeHook>>,
) -> Result<TradeSyncReport> {
    loop {
        match begin(&store, &source, listener.clone(), budget, hook.clone())? {
            Begun::Started(f) => return f.done.clone().await,
            Begun::WaitFor(f) => {
                // A full sync does not settle for a catch-up's few pages.
                let _ = f.done.clone().await;
            }
            Begun::Joined(f) => {
                let report = match budget {
                    Budget::Full => f.done.clone().await?,
                    Budget::Bounded { time, .. } => {
                        match tokio::time::timeout(time, f.done.clone()).await {
                            Ok(r) => r?,
                            Err(_) => f.watchers.so_far(),
                        }
                    }
                };
                return Ok(TradeSyncReport {
                    joined: true,
                    ..report
                });
            }
        }
    }
}

/// Applies one page that was already fetched (and decoded) to `tx`: checks
/// it whole against `after` (the cursor it was asked with; it must be the
/// committed one) and applies it with its cursor. The benchmark's ingest
/// path and the sync's are this one.
pub fn ingest_page(
    tx: &rusqlite::Transaction<'_>,
    page: domain::TradeChanges,
    after: u64,
) -> Result<store::PageApplied> {
    ingest_page_with(tx, page, after, None)
}

/// [`ingest_page`] running `hook` on each record in the same transaction.
pub fn ingest_page_with(
    tx: &rusqlite::Transaction<'_>,
    page: domain::TradeChanges,
    after: u64,
    hook: Option<&dyn TradeHook>,
) -> Result<store::PageApplied> {
    let valid = feed::validate(page, after, PAGE_LIMIT)?;
    with_hook(tx, hook, |each| store::apply_page_with(tx, &valid, each))
}

/// The phone's feed state.
pub async fn state(store: Arc<MerchantStore>) -> Result<TradeSyncState> {
    let s = blocking(move || store.db().read(store::feed_state)).await?;
    Ok(TradeSyncState {
        cursor: s.cursor,
        last_synced_at_ms: s.synced_at_ms,
        trades: s.trades,
        remaining: s.remaining,
    })
}

// ---------------------------------------------------------------------------
// One sync at a time per store

type Done = Shared<BoxFuture<'static, Result<TradeSyncReport>>>;

/// A running sync.
struct Flight {
    id: u64,
    bounded: bool,
    watchers: Arc<Watchers>,
    done: Done,
}

/// Who hears a running sync, and how far it got.
struct Watchers {
    listeners: Mutex<Vec<Arc<dyn TradeSyncListener>>>,
    progress: Mutex<TradeSyncProgress>,
}

impl Watchers {
    fn add(&self, listener: Arc<dyn TradeSyncListener>) {
        lock(&self.listeners).push(listener);
    }

    fn report(&self, p: TradeSyncProgress) {
        *lock(&self.progress) = p;
        let listeners = lock(&self.listeners).clone();
        for l in listeners {
            // A listener that fails must not stop the sync.
            let heard = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| l.on_progress(p)));
            if heard.is_err() {
                tracing::warn!("a trade sync listener failed");
            }
        }
    }

    fn so_far(&self) -> TradeSyncReport {
        let p = *lock(&self.progress);
        TradeSyncReport {
            applied: p.applied,
            pages: p.pages,
            cursor: p.cursor,
            joined: false,
            has_more: true,
        }
    }
}

static FLIGHTS: LazyLock<Mutex<HashMap<PathBuf, Arc<Flight>>>> = LazyLock::new(Default::default);
static NEXT_FLIGHT: AtomicU64 = AtomicU64::new(1);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

enum Begun {
    Started(Arc<Flight>),
    Joined(Arc<Flight>),
    WaitFor(Arc<Flight>),
}

/// Joins the store's running sync, or starts one on the current runtime.
fn begin(
    store: &Arc<MerchantStore>,
    source: &Arc<dyn PageSource>,
    listener: Option<Arc<dyn TradeSyncListener>>,
    budget: Budget,
    hook: Option<Arc<dyn TradeHook>>,
) -> Result<Begun> {
    let key = store.db().path().to_path_buf();
    let mut flights = lock(&FLIGHTS);
    if let Some(f) = flights.get(&key) {
        if f.bounded && budget == Budget::Full {
            return Ok(Begun::WaitFor(f.clone()));
        }
        if let Some(l) = listener {
            f.watchers.add(l);
        }
        return Ok(Begun::Joined(f.clone()));
    }
    let runtime = tokio::runtime::Handle::try_current()
        .map_err(|_| Error::new(&RUNTIME).detail("trade sync outside the runtime"))?;
    let id = NEXT_FLIGHT.fetch_add(1, Ordering::Relaxed);
    let watchers = Arc::new(Watchers {
        listeners: Mutex::new(listener.into_iter().collect()),
        progress: Mutex::new(TradeSyncProgress {
            applied: 0,
            pages: 0,
            remaining: 0,
            cursor: 0,
        }),
    });
    let landing = Landing {
        key: key.clone(),
        id,
    };
    // Spawned: the sync runs to its end even when every caller stops
    // waiting (each page is committed on its own anyway).
    let task = runtime.spawn(run(
        store.clone(),
        source.clone(),
        watchers.clone(),
        budget,
        landing,
        hook,
    ));
    let done: Done = async move {
        task.await
            .map_err(|e| Error::new(&RUNTIME).detail(e.to_string()))?
    }
    .boxed()
    .shared();
    let flight = Arc::new(Flight {
        id,
        bounded: budget != Budget::Full,
        watchers,
        done,
    });
    // The task cannot land (take its entry away) before this: it needs the
    // lock held here.
    flights.insert(key, flight.clone());
    Ok(Begun::Started(flight))
}

/// Takes a finished (or dropped) sync out of the registry.
struct Landing {
    key: PathBuf,
    id: u64,
}

impl Drop for Landing {
    fn drop(&mut self) {
        let mut flights = lock(&FLIGHTS);
        if flights.get(&self.key).is_some_and(|f| f.id == self.id) {
            flights.remove(&self.key);
        }
    }
}

async fn run(
    store: Arc<MerchantStore>,
    source: Arc<dyn PageSource>,
    watchers: Arc<Watchers>,
    budget: Budget,
    landing: Landing,
    hook: Option<Arc<dyn TradeHook>>,
) -> Result<TradeSyncReport> {
    let started = Instant::now();
    let s = store.clone();
    let mut cursor = blocking(move || s.db().read(store::feed_cursor)).await?;
    let (mut applied, mut pages) = (0u64, 0u32);
    let has_more = loop {
        let Some(page) = fetch_within_quota(&*source, cursor, budget).await? else {
            break true;
        };
        let (has_more, remaining) = (page.has_more, page.remaining);
        let s = store.clone();
        let after = cursor;
        let h = hook.clone();
        let done = blocking(move || {
            s.db()
                .write(|tx| ingest_page_with(tx, page, after, h.as_deref()))
        })
        .await?;
        applied += done.outcomes.len() as u64;
        pages += 1;
        cursor = done.cursor;
        watchers.report(TradeSyncProgress {
            applied,
            pages,
            remaining,
            cursor,
        });
        if !has_more {
            break false;
        }
        if let Budget::Bounded { pages: most, time } = budget
            && (pages >= most || started.elapsed() >= time)
        {
            break true;
        }
    };
    drop(landing);
    tracing::info!(applied, pages, cursor, has_more, "trade sync done");
    Ok(TradeSyncReport {
        applied,
        pages,
        cursor,
        joined: false,
        has_more,
    })
}

/// Runs disk work off the runtime's workers.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::new(&RUNTIME).detail(e.to_string()))?
}
