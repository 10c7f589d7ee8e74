use std::collections::BTreeMap;

use rusqlite::types::Value;

use super::*;
use crate::store::schema::{MIGRATIONS, Up, current_version};

fn raw(path: &Path) -> Connection {
    Connection::open(path).expect("raw connection")
}

fn pragma_i64(c: &Connection, name: &str) -> i64 {
    c.pragma_query_value(None, name, |r| r.get(0))
        .expect("pragma")
}

/// Every user table: name → (column names, rows).
type Dump = BTreeMap<String, (Vec<String>, Vec<Vec<Value>>)>;

fn dump(c: &Connection) -> Dump {
    let mut out = Dump::new();
    let mut tables = c
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        .expect("prepare");
    let names: Vec<String> = tables
        .query_map([], |r| r.get(0))
        .expect("tables")
        .collect::<rusqlite::Result<_>>()
        .expect("names");
    for t in names {
        let mut stmt = c
            .prepare(&format!("SELECT * FROM \"{t}\""))
            .expect("select");
        let cols: Vec<String> = stmt.column_names().map(|s| s.to_string()).collect();
        let n = cols.len();
        let rows = stmt
            .query_map([], |r| (0..n).map(|i| r.get::<_, Value>(i)).collect())
            .expect("rows")
            .collect::<rusqlite::Result<Vec<Vec<Value>>>>()
            .expect("read rows");
        out.insert(t, (cols, rows));
    }
    out
}

/// The schema as SQLite keeps it: (type, name, sql), sorted.
fn schema_of(c: &Connection) -> Vec<(String, String, Option<String>)> {
    let mut stmt = c
        .prepare("SELECT type, name, sql FROM sqlite_schema ORDER BY type, name")
        .expect("prepare");
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("schema")
        .collect::<rusqlite::Result<_>>()
        .expect("rows")
}

/// Builds a database at version `k` the way the field has them: migration
/// after migration, each era's sample rows inserted right after its step.
fn build_at(path: &Path, migrations: &[Migration], k: usize) {
    for i in 1..=k {
        let db = Db::open_with(path, &migrations[..i]).expect("open at older version");
        db.write(|tx| Ok(tx.execute_batch(migrations[i - 1].sample)?))
            .unwrap_or_else(|e| {
                panic!("sample of migration {i} ({}): {e}", migrations[i - 1].name)
            });
        db.close();
    }
}

#[test]
fn every_migration_has_a_name_and_sample_rows() {
    assert!(!MIGRATIONS.is_empty());
    for (i, m) in MIGRATIONS.iter().enumerate() {
        assert!(!m.name.trim().is_empty(), "migration {} has no name", i + 1);
        assert!(
            m.sample.to_ascii_uppercase().contains("INSERT"),
            "migration {} ({}) has no sample rows for the upgrade test",
            i + 1,
            m.name
        );
    }
}

#[test]
fn upgrades_from_every_older_version() {
    check_upgrades(MIGRATIONS);
}

/// For every version `k` older than the newest: build a database at `k`
/// with sample rows, open it with the whole list, and check that every
/// migration ran (the schema equals a fresh database's) and every sample row
/// survived in the columns that still exist (an old NULL may have been
/// filled by a backfill).
fn check_upgrades(migrations: &[Migration]) {
    let n = migrations.len();
    let dir = tempfile::tempdir().expect("tempdir");
    let fresh_path = dir.path().join("fresh.db");
    Db::open_with(&fresh_path, migrations)
        .expect("fresh")
        .close();
    let fresh_schema = schema_of(&raw(&fresh_path));

    for k in 0..n {
        let path = dir.path().join(format!("from-{k}.db"));
        build_at(&path, migrations, k);
        let before = dump(&raw(&path));
        if k > 0 {
            assert_eq!(pragma_i64(&raw(&path), "user_version"), k as i64);
            assert!(
                before.values().any(|(_, rows)| !rows.is_empty()),
                "version {k} has sample rows"
            );
        }

        let db =
            Db::open_with(&path, migrations).unwrap_or_else(|e| panic!("upgrade from {k}: {e}"));
        assert_eq!(
            db.schema_version().expect("version") as usize,
            n,
            "from {k}"
        );
        db.close();

        let c = raw(&path);
        assert_eq!(
            schema_of(&c),
            fresh_schema,
            "upgrading from {k} must give the schema of a fresh database"
        );
        let after = dump(&c);
        for (table, (old_cols, old_rows)) in &before {
            let (new_cols, new_rows) = after
                .get(table)
                .unwrap_or_else(|| panic!("table {table} vanished upgrading from {k}"));
            let common: Vec<(usize, usize)> = old_cols
                .iter()
                .enumerate()
                .filter_map(|(i, c)| new_cols.iter().position(|n| n == c).map(|j| (i, j)))
                .collect();
            assert!(!common.is_empty(), "table {table} kept no column from {k}");
            // Each old row must match its own new row: equal in every common
            // column, except that an old NULL may have been filled (the usual
            // "add a column, then backfill it" step).
            let matches = |old: &Vec<Value>, new: &Vec<Value>| {
                common
                    .iter()
                    .all(|&(i, j)| old[i] == Value::Null || old[i] == new[j])
            };
            let mut remaining: Vec<&Vec<Value>> = new_rows.iter().collect();
            // Most specific rows first, so a row with NULLs cannot take the
            // only match of a row without.
            let mut old_rows: Vec<&Vec<Value>> = old_rows.iter().collect();
            old_rows.sort_by_key(|r| r.iter().filter(|v| **v == Value::Null).count());
            for row in old_rows {
                let at = remaining
                    .iter()
                    .position(|new| matches(row, new))
                    .unwrap_or_else(|| {
                        panic!("a row of {table} did not survive the upgrade from {k}: {row:?}")
                    });
                remaining.swap_remove(at);
            }
        }
    }
}

#[test]
fn opening_sets_the_pragmas() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("p.db");
    let db = Db::open(&path).expect("open");
    db.write(|tx| {
        let mode: String = tx.pragma_query_value(None, "journal_mode", |r| r.get(0))?;
        assert_eq!(mode, "wal");
        assert_eq!(pragma_i64(tx, "foreign_keys"), 1);
        assert_eq!(pragma_i64(tx, "synchronous"), 1, "NORMAL");
        assert_eq!(pragma_i64(tx, "trusted_schema"), 0);
        assert_eq!(
            pragma_i64(tx, "busy_timeout"),
            BUSY_TIMEOUT.as_millis() as i64
        );
        assert_eq!(pragma_i64(tx, "application_id"), i64::from(APPLICATION_ID));
        Ok(())
    })
    .expect("write");
    assert_eq!(db.schema_version().expect("version"), current_version());
    // Foreign keys are enforced.
    let err = db
        .write(|tx| {
            tx.execute_batch(
                "CREATE TABLE parent (id INTEGER PRIMARY KEY);
                 CREATE TABLE child (p INTEGER NOT NULL REFERENCES parent(id));
                 INSERT INTO child (p) VALUES (42);",
            )?;
            Ok(())
        })
        .expect_err("foreign key");
    assert!(err.is(&SQLITE), "{err}");
}

#[test]
fn the_reader_cannot_write_and_sees_commits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(&dir.path().join("r.db")).expect("open");
    let err = db
        .read(|c| Ok(c.execute("INSERT INTO meta (key, value) VALUES ('a', 'b')", [])?))
        .expect_err("read-only");
    assert!(err.is(&SQLITE), "{err}");
    db.write(|tx| Ok(tx.execute("INSERT INTO meta (key, value) VALUES ('a', 'b')", [])?))
        .expect("write");
    let v: String = db
        .read(|c| Ok(c.query_row("SELECT value FROM meta WHERE key = 'a'", [], |r| r.get(0))?))
        .expect("read");
    assert_eq!(v, "b");
}

#[test]
fn a_failed_write_rolls_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(&dir.path().join("w.db")).expect("open");
    let err = db
        .write(|tx| {
            tx.execute("INSERT INTO meta (key, value) VALUES ('a', 'b')", [])?;
            Err::<(), _>(Error::new(&BUSY).detail("made up"))
        })
        .expect_err("fails");
    assert!(err.is(&BUSY));
    let n: i64 = db
        .read(|c| Ok(c.query_row("SELECT count(*) FROM meta", [], |r| r.get(0))?))
        .expect("count");
    assert_eq!(n, 0);
}

#[test]
fn a_closed_db_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("c.db");
    let db = Db::open(&path).expect("open");
    db.write(|tx| Ok(tx.execute("INSERT INTO meta (key, value) VALUES ('a', 'b')", [])?))
        .expect("write");
    db.close();
    assert!(db.read(|_| Ok(())).expect_err("closed").is(&CLOSED));
    assert!(db.write(|_| Ok(())).expect_err("closed").is(&CLOSED));
    // The last close checkpointed the WAL away.
    assert!(!dir.path().join("c.db-wal").exists());
}

#[test]
fn a_newer_schema_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("new.db");
    Db::open(&path).expect("open").close();
    let newer = i64::from(current_version()) + 1;
    raw(&path)
        .pragma_update(None, "user_version", newer)
        .expect("bump");
    let err = Db::open(&path).expect_err("too new");
    assert!(err.is(&SCHEMA_TOO_NEW), "{err}");
    assert_eq!(pragma_i64(&raw(&path), "user_version"), newer);
    let public: crate::MerchantError = err.into();
    assert!(
        matches!(public, crate::MerchantError::Storage { .. }),
        "{public:?}"
    );
}

#[test]
fn a_file_that_is_not_sqlite_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("junk.db");
    let junk: Vec<u8> = (0..8192u32).map(|i| (i * 7 + 3) as u8).collect();
    std::fs::write(&path, &junk).expect("write");
    let err = Db::open(&path).expect_err("junk");
    assert!(err.is(&NOT_A_DATABASE), "{err}");
    assert_eq!(std::fs::read(&path).expect("read"), junk, "left untouched");

    std::fs::write(&path, b"short text, not a database").expect("write");
    let err = Db::open(&path).expect_err("text");
    assert!(err.is(&NOT_A_DATABASE), "{err}");
}

#[test]
fn a_damaged_database_is_corrupt() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("damaged.db");
    Db::open(&path).expect("open").close();
    // Page 1 holds the header and the schema table: overwrite the schema's
    // b-tree right after the 100-byte header.
    let mut bytes = std::fs::read(&path).expect("read");
    assert!(bytes.len() > 400);
    for b in &mut bytes[100..400] {
        *b = 0xA5;
    }
    std::fs::write(&path, &bytes).expect("write");
    let err = Db::open(&path).expect_err("damaged");
    assert!(err.is(&CORRUPT), "{err}");
}

#[test]
fn a_sqlite_file_of_another_app_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("other.db");
    raw(&path)
        .execute_batch("CREATE TABLE contacts (name TEXT); INSERT INTO contacts VALUES ('x');")
        .expect("other app");
    let err = Db::open(&path).expect_err("foreign");
    assert!(err.is(&FOREIGN_DATABASE), "{err}");
    let c = raw(&path);
    assert_eq!(pragma_i64(&c, "user_version"), 0);
    let mode: String = c
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .expect("mode");
    assert_eq!(mode, "delete", "not switched to WAL");

    let path = dir.path().join("versioned.db");
    raw(&path)
        .execute_batch("PRAGMA user_version = 1; PRAGMA application_id = 7;")
        .expect("other app");
    assert!(Db::open(&path).expect_err("foreign").is(&FOREIGN_DATABASE));
}

static FAILING: &[Migration] = &[
    Migration {
        name: "first",
        up: Up::Sql("CREATE TABLE one (x INTEGER) STRICT;"),
        sample: "INSERT INTO one VALUES (1);",
    },
    Migration {
        name: "second, broken halfway",
        up: Up::Sql("CREATE TABLE two (x INTEGER); INSERT INTO nowhere VALUES (1);"),
        sample: "INSERT INTO two VALUES (1);",
    },
];

#[test]
fn a_failing_migration_leaves_the_last_good_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("m.db");
    let err = Db::open_with(&path, FAILING).expect_err("second fails");
    assert!(err.is(&MIGRATION_FAILED), "{err}");
    let detail = err.detail.unwrap_or_default();
    assert!(
        detail.contains("migration 2") && detail.contains("broken halfway"),
        "{detail}"
    );
    let c = raw(&path);
    assert_eq!(pragma_i64(&c, "user_version"), 1);
    let tables: Vec<String> = schema_of(&c).into_iter().map(|t| t.1).collect();
    assert_eq!(
        tables,
        vec!["one".to_owned()],
        "the half of step 2 was rolled back"
    );
    drop(c);
    // The code that knows only step 1 opens it fine.
    let db = Db::open_with(&path, &FAILING[..1]).expect("first only");
    assert_eq!(db.schema_version().expect("version"), 1);
}

fn backfill(tx: &Transaction<'_>) -> Result<()> {
    let mut stmt = tx.prepare("SELECT rowid, yuan FROM price")?;
    let rows: Vec<(i64, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (id, yuan) in rows {
        let fen = yuan
            .replace('.', "")
            .parse::<i64>()
            .map_err(|_| Error::new(&SQLITE).detail("not an amount"))?;
        tx.execute("UPDATE price SET fen = ?1 WHERE rowid = ?2", (fen, id))?;
    }
    Ok(())
}

static WITH_CODE: &[Migration] = &[
    Migration {
        name: "prices in text",
        up: Up::Sql("CREATE TABLE price (yuan TEXT NOT NULL);"),
        sample: "INSERT INTO price (yuan) VALUES ('8.50');",
    },
    Migration {
        name: "prices in fen",
        up: Up::Sql("ALTER TABLE price ADD COLUMN fen INTEGER;"),
        sample: "INSERT INTO price (yuan, fen) VALUES ('1.00', 100);",
    },
    Migration {
        name: "backfill fen",
        up: Up::Code(backfill),
        sample: "INSERT INTO price (yuan, fen) VALUES ('2.00', 200);",
    },
];

#[test]
fn code_migrations_run_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("code.db");
    let db = Db::open_with(&path, &WITH_CODE[..1]).expect("v1");
    db.write(|tx| Ok(tx.execute_batch(WITH_CODE[0].sample)?))
        .expect("sample");
    db.close();
    let db = Db::open_with(&path, WITH_CODE).expect("v3");
    let fen: i64 = db
        .read(|c| Ok(c.query_row("SELECT fen FROM price", [], |r| r.get(0))?))
        .expect("fen");
    assert_eq!(fen, 850);
    assert_eq!(db.schema_version().expect("version"), 3);
}

#[test]
fn two_opens_at_once_migrate_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("race.db");
    let results: Vec<Result<u32>> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4)
            .map(|_| s.spawn(|| Db::open(&path).and_then(|db| db.schema_version())))
            .collect();
        hs.into_iter().map(|h| h.join().expect("thread")).collect()
    });
    for r in results {
        assert_eq!(r.expect("open"), current_version());
    }
}

#[test]
fn the_upgrade_check_follows_data_through_several_steps() {
    check_upgrades(WITH_CODE);
}

static LOSSY: &[Migration] = &[
    Migration {
        name: "first",
        up: Up::Sql("CREATE TABLE one (x INTEGER) STRICT;"),
        sample: "INSERT INTO one VALUES (1);",
    },
    Migration {
        name: "loses the rows of the first",
        up: Up::Sql("DELETE FROM one; CREATE TABLE two (y TEXT);"),
        sample: "INSERT INTO two VALUES ('a');",
    },
];

static SKIPPED_STEP: &[Migration] = &[
    Migration {
        name: "first",
        up: Up::Sql("CREATE TABLE one (x INTEGER) STRICT;"),
        sample: "INSERT INTO one VALUES (1);",
    },
    Migration {
        name: "only on fresh databases (a bug)",
        up: Up::Code(|tx| {
            let rows: i64 = tx.query_row("SELECT count(*) FROM one", [], |r| r.get(0))?;
            if rows == 0 {
                tx.execute_batch("CREATE INDEX one_x ON one (x);")?;
            }
            Ok(())
        }),
        sample: "INSERT INTO one VALUES (2);",
    },
];

#[test]
fn the_upgrade_check_catches_lost_rows_and_diverging_schemas() {
    for (what, list) in [("lost rows", LOSSY), ("diverging schema", SKIPPED_STEP)] {
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            check_upgrades(list);
        }));
        assert!(caught.is_err(), "the upgrade check missed {what}");
    }
}

/// A write that grows the WAL past [`CHECKPOINT_PAGES`] wakes the
/// checkpointer, which folds it into the main file while both connections
/// stay open (the commit itself does not checkpoint); closing still leaves
/// no WAL behind.
#[test]
fn the_checkpointer_folds_a_grown_wal_into_the_file_off_the_commit() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("m.db");
    let db = Db::open(&path).unwrap();
    let before = std::fs::metadata(&path).unwrap().len();
    db.write(|tx| {
        tx.execute_batch("CREATE TABLE blob_test (b BLOB NOT NULL)")?;
        let mut insert = tx.prepare("INSERT INTO blob_test (b) VALUES (zeroblob(4000))")?;
        for _ in 0..1500 {
            insert.execute([])?;
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(db.checkpoints_done(1, Duration::from_secs(30)), 1);
    let after = std::fs::metadata(&path).unwrap().len();
    assert!(
        after >= before + 1500 * 4000,
        "the rows are in the main file while open: {before} → {after}"
    );
    let n: i64 = db
        .read(|c| Ok(c.query_row("SELECT count(*) FROM blob_test", [], |r| r.get(0))?))
        .unwrap();
    assert_eq!(n, 1500);
    // Small writes do not wake it.
    db.write(|tx| Ok(tx.execute("INSERT INTO blob_test (b) VALUES (x'00')", [])?))
        .unwrap();
    assert_eq!(db.checkpoints_done(2, Duration::from_millis(200)), 1);
    db.close();
    let wal = path.with_extension("db-wal");
    assert!(!wal.exists(), "the last close removes the WAL");
}
