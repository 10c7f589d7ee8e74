//! `Db`: one SQLite file with a writer connection and a read-only reader
//! connection (the shape of application-services' components).
//!
//! Opening sets WAL, `synchronous = NORMAL`, `foreign_keys = ON`, a busy
//! timeout and `trusted_schema = OFF`, checks that the file is ours and not
//! newer than this code, then runs the missing migrations of
//! [`super::schema::MIGRATIONS`]. Every SQLite failure becomes an [`Error`]
//! with a store code (see the `From<rusqlite::Error>` impl below), so `?`
//! works on rusqlite calls in every module that uses the store.
//!
//! The calls block on disk. They are short (a few pages), so capabilities
//! may call them from the core's runtime; anything long belongs in
//! `tokio::task::spawn_blocking`.
//!
//! The WAL is folded back into the main file off the writer's path: SQLite's
//! automatic checkpoint runs inside whichever commit crosses 1000 WAL pages,
//! so one write in about fifty (a push, a live event) waited 8–22 ms for it
//! (`merchant bench alerts`). Instead the writer's WAL hook wakes a
//! checkpointer thread with its own connection, which runs a `PASSIVE`
//! checkpoint while writes go on. Without the thread (it could not start)
//! the automatic checkpoint stays.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode, OpenFlags, Transaction, TransactionBehavior};

use super::schema::{MIGRATIONS, Migration};
use super::{
    BUSY, CLOSED, CORRUPT, DISK_FULL, FOREIGN_DATABASE, IO, MIGRATION_FAILED, NOT_A_DATABASE,
    SCHEMA_TOO_NEW, SQLITE,
};
use crate::error::{Error, Result};

/// `PRAGMA application_id` of our databases ("MCOR"): tells our files from
/// any other SQLite file.
pub const APPLICATION_ID: i32 = 0x4D43_4F52;

/// How long a connection waits for another one's lock before `store.busy`.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        let code = match e.sqlite_error_code() {
            Some(ErrorCode::NotADatabase) => &NOT_A_DATABASE,
            Some(ErrorCode::DatabaseCorrupt) => &CORRUPT,
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => &BUSY,
            Some(ErrorCode::DiskFull) => &DISK_FULL,
            Some(
                ErrorCode::CannotOpen
                | ErrorCode::PermissionDenied
                | ErrorCode::SystemIoFailure
                | ErrorCode::NoLargeFileSupport,
            ) => &IO,
            _ => &SQLITE,
        };
        // SQLite's messages name tables, columns and constraints, never the
        // values bound to a statement.
        Error::new(code).detail(e.to_string())
    }
}

/// WAL pages after which the checkpointer is woken (SQLite's own default
/// for its automatic checkpoint).
pub const CHECKPOINT_PAGES: i32 = 1000;

/// One SQLite database: a writer and a read-only reader.
pub struct Db {
    path: PathBuf,
    writer: Mutex<Option<Connection>>,
    reader: Mutex<Option<Connection>>,
    checkpointer: Mutex<Option<Checkpointer>>,
}

/// What the writer's WAL hook and [`Db::close`] tell the checkpointer.
#[derive(Default)]
struct CheckpointState {
    due: bool,
    stop: bool,
    /// Checkpoints run so far.
    done: u64,
}

type Signal = Arc<(Mutex<CheckpointState>, Condvar)>;

/// The thread that folds the WAL into the main file (see the module docs).
struct Checkpointer {
    signal: Signal,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts the thread on its own connection to `path`.
    fn start(path: &Path) -> Result<Checkpointer> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let signal: Signal = Arc::default();
        let theirs = signal.clone();
        let thread = std::thread::Builder::new()
            .name("merchant-checkpoint".to_owned())
            .spawn(move || checkpoint_loop(&conn, &theirs))
            .map_err(|e| Error::new(&IO).detail(format!("checkpointer: {e}")))?;
        Ok(Checkpointer {
            signal,
            thread: Some(thread),
        })
    }

    /// A wake for the writer's WAL hook.
    fn waker(
        &self,
    ) -> impl FnMut(&mut rusqlite::hooks::Wal, std::os::raw::c_int) -> rusqlite::Result<()>
    + Send
    + 'static {
        let signal = self.signal.clone();
        move |_, pages| {
            if pages >= CHECKPOINT_PAGES {
                let (state, wake) = &*signal;
                state.lock().unwrap_or_else(PoisonError::into_inner).due = true;
                wake.notify_all();
            }
            Ok(())
        }
    }

    /// Waits up to `timeout` until at least `n` checkpoints ran; how many
    /// did.
    #[cfg(test)]
    fn wait_done(&self, n: u64, timeout: Duration) -> u64 {
        let (state, wake) = &*self.signal;
        let s = state.lock().unwrap_or_else(PoisonError::into_inner);
        let (s, _) = wake
            .wait_timeout_while(s, timeout, |s| s.done < n)
            .unwrap_or_else(PoisonError::into_inner);
        s.done
    }

    /// Stops the thread (a checkpoint under way completes) and closes its
    /// connection.
    fn stop(&mut self) {
        let (state, wake) = &*self.signal;
        state.lock().unwrap_or_else(PoisonError::into_inner).stop = true;
        wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn checkpoint_loop(conn: &Connection, signal: &Signal) {
    let (state, wake) = &**signal;
    loop {
        {
            let mut s = state.lock().unwrap_or_else(PoisonError::into_inner);
            while !s.due && !s.stop {
                s = wake.wait(s).unwrap_or_else(PoisonError::into_inner);
            }
            if s.stop {
                return;
            }
            s.due = false;
        }
        // PASSIVE: copies what no reader still needs, never waits for
        // (or blocks) the writer; what is left goes at the next wake.
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::debug!(error = %e, "WAL checkpoint not done; the next wake tries again");
        }
        state.lock().unwrap_or_else(PoisonError::into_inner).done += 1;
        wake.notify_all();
    }
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").finish_non_exhaustive()
    }
}

impl Db {
    /// Opens (creating if needed) the database at `path` and brings it to
    /// the newest schema.
    pub fn open(path: &Path) -> Result<Db> {
        Db::open_with(path, MIGRATIONS)
    }

    /// Opens with the given migration list: for tests, and for a component
    /// with a schema of its own.
    pub fn open_with(path: &Path, migrations: &[Migration]) -> Result<Db> {
        let mut writer = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        writer.busy_timeout(BUSY_TIMEOUT)?;
        // The first read of the header is where a file that is not SQLite
        // (or is damaged) shows itself.
        check_header(&writer, migrations.len())?;
        enable_wal(&writer)?;
        writer.pragma_update(None, "synchronous", "NORMAL")?;
        writer.pragma_update(None, "foreign_keys", true)?;
        writer.pragma_update(None, "trusted_schema", false)?;
        migrate(&mut writer, migrations)?;

        let reader = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        reader.busy_timeout(BUSY_TIMEOUT)?;
        reader.pragma_update(None, "trusted_schema", false)?;
        reader.pragma_update(None, "query_only", true)?;

        // The checkpointer takes over from SQLite's automatic checkpoint
        // (setting a WAL hook replaces it).
        let checkpointer = match Checkpointer::start(path) {
            Ok(c) => {
                writer.wal_hook(Some(c.waker()))?;
                Some(c)
            }
            Err(e) => {
                tracing::warn!(code = %e.code, "no checkpointer; SQLite checkpoints in the commits");
                None
            }
        };

        Ok(Db {
            path: path.to_path_buf(),
            writer: Mutex::new(Some(writer)),
            reader: Mutex::new(Some(reader)),
            checkpointer: Mutex::new(checkpointer),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` in an immediate write transaction: committed when `f`
    /// returns `Ok`, rolled back when it returns `Err` (or panics).
    pub fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut guard = lock(&self.writer);
        let conn = guard
            .as_mut()
            .ok_or_else(|| Error::new(&CLOSED).detail("writer"))?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// Runs `f` on the read-only connection inside one read transaction, so
    /// every query in `f` sees the same snapshot.
    pub fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let mut guard = lock(&self.reader);
        let conn = guard
            .as_mut()
            .ok_or_else(|| Error::new(&CLOSED).detail("reader"))?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
        let out = f(&tx)?;
        tx.finish()?;
        Ok(out)
    }

    /// The schema version of the file (`PRAGMA user_version`).
    pub fn schema_version(&self) -> Result<u32> {
        self.read(|c| {
            let v: i64 = c.pragma_query_value(None, "user_version", |r| r.get(0))?;
            u32::try_from(v)
                .map_err(|_| Error::new(&FOREIGN_DATABASE).detail("negative user_version"))
        })
    }

    /// Waits up to `timeout` until the checkpointer ran `n` checkpoints.
    #[cfg(test)]
    pub(crate) fn checkpoints_done(&self, n: u64, timeout: Duration) -> u64 {
        self.checkpointer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map_or(0, |c| c.wait_done(n, timeout))
    }

    /// Closes both connections; every later call fails with `store.closed`.
    /// The last close checkpoints the WAL into the main file.
    pub fn close(&self) {
        // Reader and checkpointer first: the writer's close then
        // checkpoints and removes the WAL.
        drop(lock(&self.reader).take());
        drop(
            self.checkpointer
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        drop(lock(&self.writer).take());
    }
}

/// Closes in the right order (see [`Db::close`]), so the WAL is folded back
/// into the main file when the last handle goes.
impl Drop for Db {
    fn drop(&mut self) {
        self.close();
    }
}

/// A poisoned lock only says another thread panicked while holding it; the
/// connection itself is still sound (its open transaction was rolled back
/// when the panic dropped it), so carry on with it.
fn lock(m: &Mutex<Option<Connection>>) -> MutexGuard<'_, Option<Connection>> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Switches the file to WAL (a setting the file keeps). The switch needs an
/// exclusive lock and SQLite answers BUSY at once, without its busy handler,
/// while another connection is opening the same new file; so retry within
/// the busy timeout.
fn enable_wal(conn: &Connection) -> Result<()> {
    let deadline = Instant::now() + BUSY_TIMEOUT;
    loop {
        let current: String = conn.pragma_query_value(None, "journal_mode", |r| r.get(0))?;
        if current.eq_ignore_ascii_case("wal") {
            return Ok(());
        }
        match conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0)) {
            Ok(mode) => {
                if !mode.eq_ignore_ascii_case("wal") {
                    tracing::warn!(mode = %mode, "SQLite refused WAL; continuing with this journal mode");
                }
                return Ok(());
            }
            Err(e)
                if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy)
                    && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn check_header(conn: &Connection, known: usize) -> Result<()> {
    let (app_id, version, objects) = identity(conn)?;
    check_identity(app_id, version, objects, known)
}

/// `application_id`, `user_version` and the number of schema objects, read
/// in one statement so that they come from one snapshot even while another
/// connection migrates.
fn identity(conn: &Connection) -> Result<(i32, i64, i64)> {
    Ok(conn.query_row(
        "SELECT (SELECT application_id FROM pragma_application_id),
                (SELECT user_version FROM pragma_user_version),
                (SELECT count(*) FROM sqlite_schema)",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?)
}

fn check_identity(app_id: i32, version: i64, objects: i64, known: usize) -> Result<()> {
    let ours = app_id == APPLICATION_ID;
    let empty = app_id == 0 && version == 0 && objects == 0;
    if !ours && !empty {
        return Err(Error::new(&FOREIGN_DATABASE).detail(format!(
            "application_id {app_id:#x}, user_version {version}, {objects} schema objects"
        )));
    }
    if version < 0 {
        return Err(Error::new(&FOREIGN_DATABASE).detail("negative user_version"));
    }
    if version as u64 > known as u64 {
        return Err(Error::new(&SCHEMA_TOO_NEW).detail(format!(
            "database is at schema version {version}, this code knows {known}"
        )));
    }
    Ok(())
}

/// Applies the missing migrations, each in its own immediate transaction
/// that also sets `user_version`. The version is read inside that
/// transaction, so two processes opening at once never apply a step twice.
fn migrate(conn: &mut Connection, migrations: &[Migration]) -> Result<()> {
    loop {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (app_id, version, objects) = identity(&tx)?;
        check_identity(app_id, version, objects, migrations.len())?;
        let Some(step) = usize::try_from(version)
            .ok()
            .and_then(|v| migrations.get(v))
        else {
            // Up to date (the version is within bounds, checked above).
            return Ok(());
        };
        let next = version + 1;
        let failed = |e: Error| {
            let cause = e.detail.clone().unwrap_or_else(|| e.code.to_string());
            Error::new(&MIGRATION_FAILED).detail(format!(
                "migration {next} ({}): {}: {cause}",
                step.name, e.code
            ))
        };
        if version == 0 {
            tx.pragma_update(None, "application_id", APPLICATION_ID)?;
        }
        step.up.apply(&tx).map_err(failed)?;
        let violations: i64 = tx
            .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
                r.get(0)
            })
            .map_err(|e| failed(e.into()))?;
        if violations > 0 {
            return Err(failed(
                Error::new(&SQLITE).detail(format!("{violations} foreign key violations")),
            ));
        }
        tx.pragma_update(None, "user_version", next)?;
        tx.commit()?;
        tracing::info!(version = next, name = step.name, "database migrated");
    }
}

#[cfg(test)]
mod tests;
