//! Backups of the SQLite database while the server runs, and restoring one
//! (docs/operations.md, *Backup and restore*).
//!
//! A backup is SQLite's online backup API run in one step over every page: one consistent
//! snapshot, taken in a read transaction, so the server keeps writing meanwhile (WAL mode)
//! and every vote acknowledged before the backup began is in it. The copy is a single file in
//! rollback-journal mode, owner-only, checked with `PRAGMA integrity_check`, written under a
//! temporary name and renamed only when complete.
//!
//! Restoring needs the server stopped: the restore takes SQLite's exclusive lock on the
//! database, which a running server's connection prevents (then `ServerRunning`, nothing
//! changed). The database as it was is kept beside it first (`plenum.db.before-restore-…`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::backup::Backup;
use rusqlite::{Connection, OpenFlags};

use super::{SqliteStore, StorageError, migration_steps, secure_db_files};

/// Why a backup or restore did not happen.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The backup file exists already (a backup never overwrites one).
    #[error("{0} exists already: choose a new file name")]
    Exists(PathBuf),
    /// The server holds the database open.
    #[error("the database is in use: stop the server before restoring")]
    ServerRunning,
    /// The file is not a sound Plenum database.
    #[error("{0} is not a usable database: {1}")]
    NotADatabase(PathBuf, String),
    /// The backup comes from a newer version of Plenum.
    #[error(
        "the backup has schema version {found}; this version of Plenum knows up to {supported}"
    )]
    Newer {
        /// The backup's `user_version`.
        found: i64,
        /// This version's latest migration.
        supported: i64,
    },
    /// Reading or writing failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

impl From<rusqlite::Error> for BackupError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Storage(StorageError::Db(e))
    }
}

/// What a backup or restore copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Copied {
    /// Size of the copy in bytes.
    pub bytes: u64,
    /// Its schema version (`PRAGMA user_version`).
    pub schema_version: i64,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Copy every page of `from` into `to` in one step (one consistent snapshot of `from`).
fn copy(from: &Connection, to: &mut Connection) -> Result<(), BackupError> {
    use rusqlite::backup::StepResult;
    let backup = Backup::new(from, to)?;
    // -1: all pages in one step. Busy or locked (a writer in the middle of a commit): try
    // again shortly, for up to a second.
    for _ in 0..50 {
        match backup.step(-1)? {
            StepResult::Done => return Ok(()),
            StepResult::More => {}
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    Err(BackupError::Storage(StorageError::Corrupt(
        "the database stayed busy for the backup".into(),
    )))
}

/// `PRAGMA integrity_check` says "ok", or the reason.
fn check(conn: &Connection, path: &Path) -> Result<i64, BackupError> {
    let verdict: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(|e| BackupError::NotADatabase(path.to_owned(), e.to_string()))?;
    if verdict != "ok" {
        return Err(BackupError::NotADatabase(path.to_owned(), verdict));
    }
    Ok(conn.pragma_query_value(None, "user_version", |r| r.get(0))?)
}

fn sync_dir(path: &Path) -> Result<(), BackupError> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))
}

impl SqliteStore {
    /// Write a backup of the database to `dest` (see the module docs). Refusals: `Exists`.
    pub fn backup_to(&self, dest: &Path) -> Result<Copied, BackupError> {
        if dest.exists() {
            return Err(BackupError::Exists(dest.to_owned()));
        }
        let mut partial = dest.as_os_str().to_owned();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        let _ = std::fs::remove_file(&partial);
        secure_db_files(&partial)?;
        let copied = (|| {
            let mut to = Connection::open(&partial)?;
            {
                let from = self.conn.lock().unwrap_or_else(|e| e.into_inner());
                copy(&from, &mut to)?;
            }
            // One self-contained file: no WAL beside it.
            to.pragma_update(None, "journal_mode", "DELETE")?;
            let schema_version = check(&to, dest)?;
            drop(to);
            std::fs::File::open(&partial)
                .and_then(|f| f.sync_all())
                .map_err(io(&partial))?;
            let bytes = std::fs::metadata(&partial).map_err(io(&partial))?.len();
            Ok::<_, BackupError>(Copied {
                bytes,
                schema_version,
            })
        })();
        match copied {
            Ok(c) => {
                std::fs::rename(&partial, dest).map_err(io(dest))?;
                sync_dir(dest)?;
                Ok(c)
            }
            Err(e) => {
                let _ = std::fs::remove_file(&partial);
                Err(e)
            }
        }
    }
}

/// Replace the database at `db` by the backup `backup` (see the module docs), then migrate
/// it to this version's schema. Refusals: `NotADatabase`, `Newer`, `ServerRunning` — each
/// leaves the database as it was. The database as it was is kept as
/// `…before-restore-<unix seconds>` if it had any content; that path is returned.
pub fn restore(
    db: &Path,
    backup: &Path,
    now: u64,
) -> Result<(Copied, Option<PathBuf>), BackupError> {
    let from = Connection::open_with_flags(backup, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| BackupError::NotADatabase(backup.to_owned(), e.to_string()))?;
    let found = check(&from, backup)?;
    let supported = i64::try_from(migration_steps().len()).unwrap_or(i64::MAX);
    if found > supported {
        return Err(BackupError::Newer { found, supported });
    }
    if found == 0 {
        return Err(BackupError::NotADatabase(
            backup.to_owned(),
            "not a Plenum database (schema version 0)".into(),
        ));
    }
    secure_db_files(db)?;
    let mut to = Connection::open(db)?;
    to.busy_timeout(Duration::ZERO)?;
    // Held from the first read on until the connection closes; a running server's
    // connection keeps SQLite from granting it.
    to.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
    let locked = to
        .execute_batch("BEGIN EXCLUSIVE; SELECT count(*) FROM sqlite_master; COMMIT;")
        .map_err(|e| match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                BackupError::ServerRunning
            }
            _ => e.into(),
        });
    locked?;
    let had: i64 = to.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let kept = if had > 0 {
        let side = PathBuf::from(format!("{}.before-restore-{now}", db.display()));
        secure_db_files(&side)?;
        let mut side_conn = Connection::open(&side)?;
        copy(&to, &mut side_conn)?;
        side_conn.pragma_update(None, "journal_mode", "DELETE")?;
        drop(side_conn);
        Some(side)
    } else {
        None
    };
    copy(&from, &mut to)?;
    check(&to, db)?;
    drop(to);
    drop(from);
    // Migrate to this version and merge the WAL (as every start does).
    drop(SqliteStore::open(db)?);
    let bytes = std::fs::metadata(db).map_err(io(db))?.len();
    Ok((
        Copied {
            bytes,
            schema_version: found,
        },
        kept,
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::storage::{PluginStore, RoomRecord, Store};

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("plenum-backup-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_backup_is_a_checked_owner_only_snapshot_and_restores_only_without_a_server() {
        use std::os::unix::fs::PermissionsExt;
        let d = dir("unit");
        let db = d.join("plenum.db");
        let store = SqliteStore::open(&db).unwrap();
        store
            .create_room(&RoomRecord {
                id: "bpt".into(),
                name: "Bundesparteitag".into(),
                created_at: 1,
            })
            .unwrap();
        store.put_org_data("reports", "k", Some("before")).unwrap();
        let file = d.join("backup.db");
        // The CLI's way in: no migration, only this version's schema.
        assert!(SqliteStore::open_current(&d.join("missing.db")).is_err());
        let copied = SqliteStore::open_current(&db)
            .unwrap()
            .backup_to(&file)
            .unwrap();
        assert_eq!(copied.schema_version, migration_steps().len() as i64);
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(!d.join("backup.db.partial").exists());
        assert!(matches!(
            store.backup_to(&file),
            Err(BackupError::Exists(_))
        ));
        // Written after the backup: not in it, and gone again after the restore.
        store.put_org_data("reports", "k", Some("after")).unwrap();

        // The server (this store) still has the database open: refused, nothing changed.
        assert!(matches!(
            restore(&db, &file, 7),
            Err(BackupError::ServerRunning)
        ));
        assert_eq!(
            store.org_datum("reports", "k").unwrap().as_deref(),
            Some("after")
        );
        drop(store);

        // An older schema is refused by `open_current` (and would be migrated by `open`).
        let old_db = d.join("old.db");
        rusqlite::Connection::open(&old_db)
            .unwrap()
            .pragma_update(None, "user_version", 3)
            .unwrap();
        assert!(matches!(
            SqliteStore::open_current(&old_db),
            Err(StorageError::Corrupt(_))
        ));
        let not_db = d.join("notes.txt");
        std::fs::write(&not_db, "kein Backup").unwrap();
        assert!(matches!(
            restore(&db, &not_db, 7),
            Err(BackupError::NotADatabase(..))
        ));
        let (restored, kept) = restore(&db, &file, 7).unwrap();
        assert_eq!(restored.schema_version, copied.schema_version);
        let kept = kept.unwrap();
        assert_eq!(kept, d.join("plenum.db.before-restore-7"));
        let store = SqliteStore::open(&db).unwrap();
        assert_eq!(
            store.org_datum("reports", "k").unwrap().as_deref(),
            Some("before")
        );
        assert_eq!(store.rooms().unwrap().len(), 1);
        let old = SqliteStore::open(&kept).unwrap();
        assert_eq!(
            old.org_datum("reports", "k").unwrap().as_deref(),
            Some("after"),
            "the database as it was is kept"
        );
        let _ = std::fs::remove_dir_all(&d);
    }
}
