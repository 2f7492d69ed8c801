//! The snapshot: the tenant as last pulled, in one SQLite file.
//!
//! What it holds: Entra devices (the Graph JSON as served, `physicalIds`
//! included, with the keys rules read pulled out into columns), Autopilot
//! identities, groups (rule and processing state) and their direct members,
//! deployment profiles and their assignments, and sync metadata (the delta
//! link of each delta resource, when each was synced, how).
//!
//! Design decisions, and why:
//!
//! * **SQLite (rusqlite, bundled).** Transactions make "the old snapshot or
//!   the new one, never half of each" a property of the file rather than of
//!   our code; WAL mode lets `sync status` and `export` read while a pull
//!   writes. `bundled` builds SQLite from source, so no system library is
//!   needed. `synchronous=NORMAL` in WAL mode can lose the last commits on a
//!   power cut but never corrupts the file nor loses one on a killed
//!   process, which is the failure that matters for a CLI.
//! * **Pulls are staged, then applied in one transaction.** Every page a
//!   pull receives is appended, raw, to `stage_items` in the same
//!   transaction that advances that resource's cursor (`stage_cursor`: the
//!   nextLink to follow, or done with its deltaLink). Live tables are not
//!   touched until [`Snapshot::apply_staged`] replays the staged pages into
//!   them in a single transaction. A process killed mid-pull therefore
//!   leaves the previous snapshot intact and readable, plus a staged pull
//!   that the next run resumes from its saved links (or redoes, when a
//!   link has expired).
//! * **Replay rules** mirror Graph's delta semantics: a full round replaces
//!   the resource; a delta round merges each object's properties into the
//!   stored one (delta may send only the changed properties), deletes
//!   objects carrying `@removed` (and their memberships), and applies
//!   `members@delta` entries one by one, so a group split over several
//!   items or repeated is merged by id.
//! * **One writer at a time, refused at once** ([`Snapshot::lock`]). A
//!   pull or an apply takes an exclusive advisory lock on `<file>.lock`
//!   (holding the holder's pid) before it stages anything. A second one
//!   fails straight away naming that pid, rather than after SQLite's busy
//!   timeout with "database is locked", or worse, interleaving its staged
//!   pages with the first one's. Readers (`status`, `export`, `plan`)
//!   take no lock: WAL serves them the last committed snapshot. The lock
//!   is the OS's (`flock`), so a killed process never leaves it held.
//! * **Synchronous, by design.** Every method blocks on SQLite and its
//!   fsyncs; async code calls it through [`tokio::task::spawn_blocking`]
//!   on a connection it owns, never on a tokio worker thread (the pull in
//!   [`crate::msgraph::sync`] says how the write lock stays with the
//!   caller's `Snapshot`).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde::Serialize;
use serde_json::{Map, Value};

/// Why the snapshot could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// SQLite failed.
    #[error("{path}: {message}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// SQLite's message.
        message: String,
    },
    /// A stored record is not JSON (the file was edited by hand).
    #[error("{path}: stored record is not JSON: {message}")]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// The file was written by a newer fleetlab.
    #[error("{path}: snapshot schema {found} is newer than this fleetlab understands ({SCHEMA_VERSION})")]
    Schema {
        /// The database file.
        path: PathBuf,
        /// The schema version found.
        found: i64,
    },
    /// Writing an export failed.
    #[error("export: {0}")]
    Io(#[from] std::io::Error),
    /// Another process holds the snapshot's write lock.
    #[error("{path}: snapshot is in use by another fleetlab ({holder}); wait for it to finish, or use another --snapshot")]
    Busy {
        /// The database file.
        path: PathBuf,
        /// `pid N`, as the holder wrote it.
        holder: String,
    },
    /// The lock file could not be opened.
    #[error("{path}: {message}")]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
}

/// The schema version this code writes.
pub const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS devices (
    id TEXT PRIMARY KEY, device_id TEXT, display_name TEXT, operating_system TEXT,
    physical_ids TEXT NOT NULL DEFAULT '[]', json TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS devices_device_id ON devices(device_id);
CREATE TABLE IF NOT EXISTS autopilot_devices (
    id TEXT PRIMARY KEY, serial_number TEXT, group_tag TEXT, azure_ad_device_id TEXT, json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS groups (
    id TEXT PRIMARY KEY, display_name TEXT, membership_rule TEXT, processing_state TEXT,
    dynamic INTEGER NOT NULL DEFAULT 0, json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS group_members (
    group_id TEXT NOT NULL, member_id TEXT NOT NULL, PRIMARY KEY (group_id, member_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS group_members_member ON group_members(member_id);
CREATE TABLE IF NOT EXISTS profiles (
    id TEXT PRIMARY KEY, display_name TEXT, odata_type TEXT, created TEXT, json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS profile_assignments (
    id TEXT PRIMARY KEY, profile_id TEXT NOT NULL, target_type TEXT, group_id TEXT, source TEXT,
    json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sync_state (
    resource TEXT PRIMARY KEY, delta_link TEXT, mode TEXT NOT NULL, synced_at TEXT NOT NULL,
    items INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS stage_cursor (
    resource TEXT PRIMARY KEY, mode TEXT NOT NULL, next_link TEXT, delta_link TEXT,
    done INTEGER NOT NULL DEFAULT 0, pages INTEGER NOT NULL DEFAULT 0, items INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS stage_items (
    resource TEXT NOT NULL, seq INTEGER NOT NULL, json TEXT NOT NULL, PRIMARY KEY (resource, seq)) WITHOUT ROWID;
";

/// A full round (replace) or a delta round (merge).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Replace the resource.
    Full,
    /// Merge changes into it.
    Delta,
}

impl Mode {
    fn as_str(self) -> &'static str {
        match self {
            Mode::Full => "full",
            Mode::Delta => "delta",
        }
    }

    fn parse(s: &str) -> Mode {
        if s == "delta" {
            Mode::Delta
        } else {
            Mode::Full
        }
    }
}

/// A staged resource: where its pull stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Cursor {
    /// `devices`, `groups`, `autopilot`, `profiles` or `assignments:<profile id>`.
    pub resource: String,
    /// How the staged pages will be applied.
    pub mode: Mode,
    /// The link to follow next (`None` when done).
    #[serde(skip)]
    pub next_link: Option<String>,
    /// All pages received.
    pub done: bool,
    /// Pages staged.
    pub pages: u64,
    /// Items staged.
    pub items: u64,
}

/// What applying a pull changed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Changes {
    /// Devices added or changed.
    pub devices_upserted: u64,
    /// Devices removed.
    pub devices_removed: u64,
    /// Groups added or changed.
    pub groups_upserted: u64,
    /// Groups removed.
    pub groups_removed: u64,
    /// Memberships added.
    pub members_added: u64,
    /// Memberships removed.
    pub members_removed: u64,
    /// Autopilot identities stored.
    pub autopilot: u64,
    /// Profiles stored.
    pub profiles: u64,
    /// Assignments stored.
    pub assignments: u64,
}

/// Sizes and sync times, for `fleetlab sync status`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Status {
    /// Entra devices.
    pub devices: u64,
    /// Autopilot identities.
    pub autopilot_devices: u64,
    /// Groups.
    pub groups: u64,
    /// Dynamic groups among them.
    pub dynamic_groups: u64,
    /// Direct memberships.
    pub memberships: u64,
    /// Deployment profiles.
    pub profiles: u64,
    /// Profile assignments.
    pub assignments: u64,
    /// Per resource: mode and time of the last applied pull, and whether a
    /// delta link is stored.
    pub resources: Vec<ResourceState>,
    /// When the last pull was applied.
    pub last_pull: Option<String>,
    /// A pull that was interrupted and will be resumed.
    pub staged: Vec<Cursor>,
}

/// The sync state of one resource.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ResourceState {
    /// Resource name.
    pub resource: String,
    /// `full` or `delta`.
    pub mode: Mode,
    /// When it was applied.
    pub synced_at: String,
    /// Items received in that pull.
    pub items: u64,
    /// Whether the next pull can be a delta round.
    pub has_delta_link: bool,
}

/// A group as stored, with its direct members.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredGroup {
    /// The group object (annotations removed).
    pub group: Value,
    /// Member object ids, sorted.
    pub members: Vec<String>,
}

/// The snapshot file.
pub struct Snapshot {
    conn: Connection,
    path: PathBuf,
    lock: Option<std::fs::File>,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Snapshot({})", self.path.display())
    }
}

impl Snapshot {
    /// Opens (creating when needed) the snapshot at `path`.
    ///
    /// ```
    /// use fleetlab::msgraph::Snapshot;
    /// let dir = tempfile::tempdir()?;
    /// let snap = Snapshot::open(&dir.path().join("tenant.db"))?;
    /// assert_eq!(snap.status()?.devices, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(path: &Path) -> Result<Snapshot, SnapshotError> {
        let err =
            |e: rusqlite::Error| SnapshotError::Sqlite { path: path.to_path_buf(), message: e.to_string() };
        let conn = Connection::open(path).map_err(err)?;
        conn.busy_timeout(std::time::Duration::from_secs(30)).map_err(err)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(err)?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(err)?;
        conn.execute_batch(SCHEMA).map_err(err)?;
        let snap = Snapshot { conn, path: path.to_path_buf(), lock: None };
        match snap.meta("schema")? {
            Some(v) => {
                let found = v.parse::<i64>().unwrap_or(i64::MAX);
                if found > SCHEMA_VERSION {
                    return Err(SnapshotError::Schema { path: path.to_path_buf(), found });
                }
            }
            None => snap.set_meta("schema", &SCHEMA_VERSION.to_string())?,
        }
        Ok(snap)
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Takes the write lock (a no-op when this `Snapshot` holds it already);
    /// [`SnapshotError::Busy`] at once when another process or another
    /// `Snapshot` of the same file holds it. Released on drop.
    ///
    /// ```
    /// use fleetlab::msgraph::Snapshot;
    /// let dir = tempfile::tempdir()?;
    /// let db = dir.path().join("tenant.db");
    /// let mut first = Snapshot::open(&db)?;
    /// first.lock()?;
    /// let mut second = Snapshot::open(&db)?;
    /// assert!(second.lock().is_err_and(|e| e.to_string().contains("in use by another fleetlab")));
    /// drop(first);
    /// second.lock()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn lock(&mut self) -> Result<(), SnapshotError> {
        use std::io::{Read, Seek};
        if self.lock.is_some() {
            return Ok(());
        }
        let mut name = self.path.clone().into_os_string();
        name.push(".lock");
        let lock_path = PathBuf::from(name);
        let lock_err =
            |e: std::io::Error| SnapshotError::Lock { path: lock_path.clone(), message: e.to_string() };
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&lock_path)
            .map_err(lock_err)?;
        match file.try_lock() {
            Ok(()) => {
                file.set_len(0).map_err(lock_err)?;
                file.seek(std::io::SeekFrom::Start(0)).map_err(lock_err)?;
                file.write_all(format!("pid {}\n", std::process::id()).as_bytes()).map_err(lock_err)?;
                self.lock = Some(file);
                Ok(())
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                let holder: String = text.trim().chars().take(40).collect();
                let holder = if holder.starts_with("pid ") { holder } else { "pid unknown".to_string() };
                Err(SnapshotError::Busy { path: self.path.clone(), holder })
            }
            Err(std::fs::TryLockError::Error(e)) => Err(lock_err(e)),
        }
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> SnapshotError + '_ {
        move |e| SnapshotError::Sqlite { path: self.path.clone(), message: e.to_string() }
    }

    fn corrupt(&self, e: serde_json::Error) -> SnapshotError {
        SnapshotError::Corrupt { path: self.path.clone(), message: e.to_string() }
    }

    /// A metadata value.
    pub fn meta(&self, key: &str) -> Result<Option<String>, SnapshotError> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(self.err())
    }

    /// Sets a metadata value.
    pub fn set_meta(&self, key: &str, value: &str) -> Result<(), SnapshotError> {
        self.conn
            .execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)", params![key, value])
            .map(|_| ())
            .map_err(self.err())
    }

    /// The stored delta link of `resource`, if its last pull ended with one.
    pub fn delta_link(&self, resource: &str) -> Result<Option<String>, SnapshotError> {
        Ok(self
            .conn
            .query_row("SELECT delta_link FROM sync_state WHERE resource = ?1", [resource], |r| {
                r.get::<_, Option<String>>(0)
            })
            .optional()
            .map_err(self.err())?
            .flatten())
    }

    /// The staged (interrupted or in-progress) pull, one cursor per resource.
    pub fn staged(&self) -> Result<Vec<Cursor>, SnapshotError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT resource, mode, next_link, done, pages, items FROM stage_cursor ORDER BY resource",
            )
            .map_err(self.err())?;
        let rows = stmt
            .query_map([], |r| {
                Ok(Cursor {
                    resource: r.get(0)?,
                    mode: Mode::parse(&r.get::<_, String>(1)?),
                    next_link: r.get(2)?,
                    done: r.get::<_, i64>(3)? != 0,
                    pages: r.get::<_, i64>(4)? as u64,
                    items: r.get::<_, i64>(5)? as u64,
                })
            })
            .map_err(self.err())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.err())
    }

    /// Starts staging `resource` from `url` (dropping anything staged for it).
    pub fn stage_start(&mut self, resource: &str, mode: Mode, url: &str) -> Result<(), SnapshotError> {
        let path = self.path.clone();
        let err =
            move |e: rusqlite::Error| SnapshotError::Sqlite { path: path.clone(), message: e.to_string() };
        let tx = self.conn.transaction().map_err(&err)?;
        tx.execute("DELETE FROM stage_items WHERE resource = ?1", [resource]).map_err(&err)?;
        tx.execute(
            "INSERT OR REPLACE INTO stage_cursor (resource, mode, next_link, delta_link, done, pages, items)
             VALUES (?1, ?2, ?3, NULL, 0, 0, 0)",
            params![resource, mode.as_str(), url],
        )
        .map_err(&err)?;
        tx.commit().map_err(&err)
    }

    /// Appends one page to `resource` and advances its cursor, atomically.
    /// `next` is the link to follow; with none the resource is done, with
    /// `delta` as its delta link.
    pub fn stage_page(
        &mut self,
        resource: &str,
        items: &[Value],
        next: Option<&str>,
        delta: Option<&str>,
    ) -> Result<(), SnapshotError> {
        let path = self.path.clone();
        let err =
            move |e: rusqlite::Error| SnapshotError::Sqlite { path: path.clone(), message: e.to_string() };
        let tx = self.conn.transaction().map_err(&err)?;
        let start: i64 = tx
            .query_row(
                "SELECT COALESCE(MAX(seq), -1) + 1 FROM stage_items WHERE resource = ?1",
                [resource],
                |r| r.get(0),
            )
            .map_err(&err)?;
        {
            let mut insert = tx
                .prepare_cached("INSERT INTO stage_items (resource, seq, json) VALUES (?1, ?2, ?3)")
                .map_err(&err)?;
            for (i, item) in items.iter().enumerate() {
                insert.execute(params![resource, start + i as i64, item.to_string()]).map_err(&err)?;
            }
        }
        tx.execute(
            "UPDATE stage_cursor SET next_link = ?2, delta_link = COALESCE(?3, delta_link), done = ?4,
             pages = pages + 1, items = items + ?5 WHERE resource = ?1",
            params![resource, next, delta, i64::from(next.is_none()), items.len() as i64],
        )
        .map_err(&err)?;
        tx.commit().map_err(&err)
    }

    /// The items staged for `resource`, in order.
    pub(crate) fn staged_values(&self, resource: &str) -> Result<Vec<Value>, SnapshotError> {
        let mut stmt = self
            .conn
            .prepare("SELECT json FROM stage_items WHERE resource = ?1 ORDER BY seq")
            .map_err(self.err())?;
        let rows = stmt.query_map([resource], |r| r.get::<_, String>(0)).map_err(self.err())?;
        let mut out = Vec::new();
        for row in rows {
            out.push(serde_json::from_str(&row.map_err(self.err())?).map_err(|e| self.corrupt(e))?);
        }
        Ok(out)
    }

    /// Forgets what is staged for `resource`, so applying the pull leaves
    /// its stored copy as it was (a resource the pull skipped).
    pub fn stage_drop(&mut self, resource: &str) -> Result<(), SnapshotError> {
        let path = self.path.clone();
        let err =
            move |e: rusqlite::Error| SnapshotError::Sqlite { path: path.clone(), message: e.to_string() };
        let tx = self.conn.transaction().map_err(&err)?;
        tx.execute("DELETE FROM stage_items WHERE resource = ?1", [resource]).map_err(&err)?;
        tx.execute("DELETE FROM stage_cursor WHERE resource = ?1", [resource]).map_err(&err)?;
        tx.commit().map_err(&err)
    }

    /// Forgets the staged pull.
    pub fn stage_clear(&mut self) -> Result<(), SnapshotError> {
        self.conn.execute_batch("DELETE FROM stage_items; DELETE FROM stage_cursor;").map_err(self.err())
    }

    /// Applies every staged resource to the live tables, records delta
    /// links and times, and empties the stage — all in one transaction.
    pub fn apply_staged(&mut self) -> Result<Changes, SnapshotError> {
        let cursors = self.staged()?;
        let path = self.path.clone();
        let err =
            move |e: rusqlite::Error| SnapshotError::Sqlite { path: path.clone(), message: e.to_string() };
        let corrupt_path = self.path.clone();
        let corrupt = move |e: serde_json::Error| SnapshotError::Corrupt {
            path: corrupt_path.clone(),
            message: e.to_string(),
        };
        let now = crate::rule::Timestamp::now().to_string();
        let tx = self.conn.transaction().map_err(&err)?;
        let mut changes = Changes::default();
        let profiles_staged = cursors.iter().any(|c| c.resource == "profiles");
        if profiles_staged {
            tx.execute("DELETE FROM profile_assignments", []).map_err(&err)?;
        }
        for cursor in &cursors {
            let items = staged_items(&tx, &cursor.resource).map_err(&err)?;
            let items: Vec<Value> =
                items.iter().map(|s| serde_json::from_str(s)).collect::<Result<_, _>>().map_err(&corrupt)?;
            let full = cursor.mode == Mode::Full;
            match cursor.resource.as_str() {
                "devices" => apply_devices(&tx, &items, full, &mut changes).map_err(&err)?,
                "groups" => apply_groups(&tx, &items, full, &mut changes).map_err(&err)?,
                "autopilot" => {
                    tx.execute("DELETE FROM autopilot_devices", []).map_err(&err)?;
                    let mut insert = tx
                        .prepare_cached("INSERT OR REPLACE INTO autopilot_devices (id, serial_number, group_tag, azure_ad_device_id, json) VALUES (?1, ?2, ?3, ?4, ?5)")
                        .map_err(&err)?;
                    for item in &items {
                        let clean = strip(item);
                        insert
                            .execute(params![
                                text(&clean, "id"),
                                text(&clean, "serialNumber"),
                                text(&clean, "groupTag"),
                                text(&clean, "azureActiveDirectoryDeviceId"),
                                Value::Object(clean.clone()).to_string()
                            ])
                            .map_err(&err)?;
                        changes.autopilot += 1;
                    }
                }
                "profiles" => {
                    tx.execute("DELETE FROM profiles", []).map_err(&err)?;
                    let mut insert = tx
                        .prepare_cached("INSERT OR REPLACE INTO profiles (id, display_name, odata_type, created, json) VALUES (?1, ?2, ?3, ?4, ?5)")
                        .map_err(&err)?;
                    for item in &items {
                        let mut clean = strip(item);
                        if let Some(t) = item.get("@odata.type") {
                            clean.insert("@odata.type".into(), t.clone());
                        }
                        let clean = Value::Object(clean);
                        insert
                            .execute(params![
                                text_v(&clean, "id"),
                                text_v(&clean, "displayName"),
                                text_v(&clean, "@odata.type"),
                                text_v(&clean, "createdDateTime"),
                                clean.to_string()
                            ])
                            .map_err(&err)?;
                        changes.profiles += 1;
                    }
                }
                other => {
                    if let Some(profile) = other.strip_prefix("assignments:") {
                        let mut insert = tx
                            .prepare_cached("INSERT OR REPLACE INTO profile_assignments (id, profile_id, target_type, group_id, source, json) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
                            .map_err(&err)?;
                        for item in &items {
                            let target = item.get("target");
                            insert
                                .execute(params![
                                    text_v(item, "id"),
                                    profile,
                                    target.and_then(|t| t.get("@odata.type")).and_then(Value::as_str),
                                    target.and_then(|t| t.get("groupId")).and_then(Value::as_str),
                                    text_v(item, "source"),
                                    item.to_string()
                                ])
                                .map_err(&err)?;
                            changes.assignments += 1;
                        }
                    }
                }
            }
            if !cursor.resource.starts_with("assignments:") {
                let delta: Option<String> = tx
                    .query_row(
                        "SELECT delta_link FROM stage_cursor WHERE resource = ?1",
                        [&cursor.resource],
                        |r| r.get(0),
                    )
                    .map_err(&err)?;
                tx.execute(
                    "INSERT OR REPLACE INTO sync_state (resource, delta_link, mode, synced_at, items) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![cursor.resource, delta, cursor.mode.as_str(), now, cursor.items as i64],
                )
                .map_err(&err)?;
            }
        }
        // A full round may carry an object twice: report what is stored.
        let count = |sql: &str| tx.query_row(sql, [], |r| r.get::<_, i64>(0)).map(|n| n as u64);
        for cursor in &cursors {
            match (cursor.resource.as_str(), cursor.mode) {
                ("devices", Mode::Full) => {
                    changes.devices_upserted = count("SELECT COUNT(*) FROM devices").map_err(&err)?
                }
                ("groups", Mode::Full) => {
                    changes.groups_upserted = count("SELECT COUNT(*) FROM groups").map_err(&err)?;
                    changes.members_added = count("SELECT COUNT(*) FROM group_members").map_err(&err)?;
                }
                _ => {}
            }
        }
        tx.execute_batch("DELETE FROM stage_items; DELETE FROM stage_cursor;").map_err(&err)?;
        tx.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('last_pull', ?1)", [&now])
            .map_err(&err)?;
        tx.commit().map_err(&err)?;
        Ok(changes)
    }

    /// Sizes, sync times and any staged pull.
    pub fn status(&self) -> Result<Status, SnapshotError> {
        let count = |sql: &str| -> Result<u64, SnapshotError> {
            self.conn.query_row(sql, [], |r| r.get::<_, i64>(0)).map(|n| n as u64).map_err(self.err())
        };
        let mut stmt = self
            .conn
            .prepare("SELECT resource, mode, synced_at, items, delta_link IS NOT NULL FROM sync_state ORDER BY resource")
            .map_err(self.err())?;
        let resources = stmt
            .query_map([], |r| {
                Ok(ResourceState {
                    resource: r.get(0)?,
                    mode: Mode::parse(&r.get::<_, String>(1)?),
                    synced_at: r.get(2)?,
                    items: r.get::<_, i64>(3)? as u64,
                    has_delta_link: r.get(4)?,
                })
            })
            .map_err(self.err())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.err())?;
        Ok(Status {
            devices: count("SELECT COUNT(*) FROM devices")?,
            autopilot_devices: count("SELECT COUNT(*) FROM autopilot_devices")?,
            groups: count("SELECT COUNT(*) FROM groups")?,
            dynamic_groups: count("SELECT COUNT(*) FROM groups WHERE dynamic = 1")?,
            memberships: count("SELECT COUNT(*) FROM group_members")?,
            profiles: count("SELECT COUNT(*) FROM profiles")?,
            assignments: count("SELECT COUNT(*) FROM profile_assignments")?,
            resources,
            last_pull: self.meta("last_pull")?,
            staged: self.staged()?,
        })
    }

    fn json_rows(&self, sql: &str) -> Result<Vec<Value>, SnapshotError> {
        let mut stmt = self.conn.prepare(sql).map_err(self.err())?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0)).map_err(self.err())?;
        let mut out = Vec::new();
        for row in rows {
            let text = row.map_err(self.err())?;
            out.push(serde_json::from_str(&text).map_err(|e| self.corrupt(e))?);
        }
        Ok(out)
    }

    /// Every device, by id.
    pub fn devices(&self) -> Result<Vec<Value>, SnapshotError> {
        self.json_rows("SELECT json FROM devices ORDER BY id")
    }

    /// Every Autopilot identity, by id.
    pub fn autopilot_devices(&self) -> Result<Vec<Value>, SnapshotError> {
        self.json_rows("SELECT json FROM autopilot_devices ORDER BY id")
    }

    /// Every profile (with `@odata.type`), with an `assignments` array
    /// inside, by id.
    pub fn profiles(&self) -> Result<Vec<Value>, SnapshotError> {
        let mut profiles = self.json_rows("SELECT json FROM profiles ORDER BY id")?;
        let mut stmt = self
            .conn
            .prepare("SELECT profile_id, json FROM profile_assignments ORDER BY profile_id, id")
            .map_err(self.err())?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(self.err())?;
        let mut by_profile: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for row in rows {
            let (pid, json) = row.map_err(self.err())?;
            by_profile
                .entry(pid)
                .or_default()
                .push(serde_json::from_str(&json).map_err(|e| self.corrupt(e))?);
        }
        for p in &mut profiles {
            let id = p.get("id").and_then(Value::as_str).unwrap_or("").to_string();
            if let Some(obj) = p.as_object_mut() {
                obj.insert("assignments".into(), Value::Array(by_profile.remove(&id).unwrap_or_default()));
            }
        }
        Ok(profiles)
    }

    /// Every group with its members, by id.
    pub fn groups(&self) -> Result<Vec<StoredGroup>, SnapshotError> {
        let groups = self.json_rows("SELECT json FROM groups ORDER BY id")?;
        let members = self.memberships()?;
        let mut by_group: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (g, m) in members {
            by_group.entry(g).or_default().push(m);
        }
        Ok(groups
            .into_iter()
            .map(|group| {
                let id = group.get("id").and_then(Value::as_str).unwrap_or("").to_string();
                StoredGroup { group, members: by_group.remove(&id).unwrap_or_default() }
            })
            .collect())
    }

    fn memberships(&self) -> Result<Vec<(String, String)>, SnapshotError> {
        let mut stmt = self
            .conn
            .prepare("SELECT group_id, member_id FROM group_members ORDER BY group_id, member_id")
            .map_err(self.err())?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).map_err(self.err())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.err())
    }

    /// Writes the deployment profiles as a Graph page (`{"value": [...]}`,
    /// beta JSON with `@odata.type` and an `assignments` array in each), the
    /// Graph export format that `crate::autopilot`'s reader takes for a
    /// tenant file's `graph = "…"` profiles. Returns the number written.
    pub fn export_profiles(&self, out: &mut dyn Write) -> Result<u64, SnapshotError> {
        let profiles = self.profiles()?;
        let n = profiles.len() as u64;
        let page = serde_json::json!({ "value": profiles });
        serde_json::to_writer_pretty(&mut *out, &page).map_err(|e| SnapshotError::Io(e.into()))?;
        writeln!(out)?;
        Ok(n)
    }

    /// Writes the devices as JSON Lines, the inventory format `fleetlab
    /// eval --devices` reads; with `member_of`, each device carries the ids
    /// of the groups it is a direct member of (for `memberOf` rules).
    /// Returns the number of devices written.
    pub fn export_devices(&self, out: &mut dyn Write, member_of: bool) -> Result<u64, SnapshotError> {
        let mut groups_of: BTreeMap<String, Vec<String>> = BTreeMap::new();
        if member_of {
            for (g, m) in self.memberships()? {
                groups_of.entry(m).or_default().push(g);
            }
        }
        let mut stmt = self.conn.prepare("SELECT id, json FROM devices ORDER BY id").map_err(self.err())?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(self.err())?;
        let mut n = 0;
        for row in rows {
            let (id, json) = row.map_err(self.err())?;
            if member_of {
                let mut value: Value = serde_json::from_str(&json).map_err(|e| self.corrupt(e))?;
                if let Some(obj) = value.as_object_mut() {
                    obj.insert(
                        "memberOf".into(),
                        serde_json::json!(groups_of.remove(&id).unwrap_or_default()),
                    );
                }
                writeln!(out, "{value}")?;
            } else {
                writeln!(out, "{json}")?;
            }
            n += 1;
        }
        Ok(n)
    }
}

fn staged_items(tx: &Transaction<'_>, resource: &str) -> rusqlite::Result<Vec<String>> {
    let mut stmt = tx.prepare_cached("SELECT json FROM stage_items WHERE resource = ?1 ORDER BY seq")?;
    let rows = stmt.query_map([resource], |r| r.get(0))?;
    rows.collect()
}

/// The object without instance annotations (`@odata.*`, `@removed`) and
/// without `members@delta`.
fn strip(item: &Value) -> Map<String, Value> {
    match item {
        Value::Object(m) => m
            .iter()
            .filter(|(k, _)| !k.starts_with('@') && !k.contains("@delta"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        _ => Map::new(),
    }
}

fn text<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    m.get(key).and_then(Value::as_str)
}

fn text_v<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn merge_into(
    tx: &Transaction<'_>,
    table: &str,
    id: &str,
    fresh: Map<String, Value>,
    full: bool,
) -> rusqlite::Result<Map<String, Value>> {
    if full {
        // A full round can still send an object twice; the later wins whole.
        return Ok(fresh);
    }
    let old: Option<String> =
        tx.query_row(&format!("SELECT json FROM {table} WHERE id = ?1"), [id], |r| r.get(0)).optional()?;
    let mut merged = match old.and_then(|s| serde_json::from_str::<Value>(&s).ok()) {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    for (k, v) in fresh {
        merged.insert(k, v);
    }
    Ok(merged)
}

fn apply_devices(
    tx: &Transaction<'_>,
    items: &[Value],
    full: bool,
    changes: &mut Changes,
) -> rusqlite::Result<()> {
    if full {
        tx.execute("DELETE FROM devices", [])?;
    }
    for item in items {
        let Some(id) = item.get("id").and_then(Value::as_str) else { continue };
        if item.get("@removed").is_some() {
            tx.execute("DELETE FROM devices WHERE id = ?1", [id])?;
            changes.members_removed +=
                tx.execute("DELETE FROM group_members WHERE member_id = ?1", [id])? as u64;
            changes.devices_removed += 1;
            continue;
        }
        let merged = merge_into(tx, "devices", id, strip(item), full)?;
        let physical = merged.get("physicalIds").cloned().unwrap_or(Value::Array(Vec::new()));
        tx.prepare_cached(
            "INSERT OR REPLACE INTO devices (id, device_id, display_name, operating_system, physical_ids, json)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            id,
            text(&merged, "deviceId"),
            text(&merged, "displayName"),
            text(&merged, "operatingSystem"),
            physical.to_string(),
            Value::Object(merged.clone()).to_string()
        ])?;
        changes.devices_upserted += 1;
    }
    Ok(())
}

fn apply_groups(
    tx: &Transaction<'_>,
    items: &[Value],
    full: bool,
    changes: &mut Changes,
) -> rusqlite::Result<()> {
    if full {
        tx.execute_batch("DELETE FROM groups; DELETE FROM group_members;")?;
    }
    let mut seen = std::collections::HashSet::new();
    for item in items {
        let Some(id) = item.get("id").and_then(Value::as_str) else { continue };
        if item.get("@removed").is_some() {
            tx.execute("DELETE FROM groups WHERE id = ?1", [id])?;
            changes.members_removed +=
                tx.execute("DELETE FROM group_members WHERE group_id = ?1", [id])? as u64;
            changes.groups_removed += 1;
            continue;
        }
        // In a full round a group split over several items must not lose
        // the properties of the first item to a later, sparser one: merge.
        let merged = merge_into(tx, "groups", id, strip(item), false)?;
        let dynamic = merged
            .get("groupTypes")
            .and_then(Value::as_array)
            .is_some_and(|t| t.iter().any(|x| x.as_str() == Some("DynamicMembership")));
        tx.prepare_cached(
            "INSERT OR REPLACE INTO groups (id, display_name, membership_rule, processing_state, dynamic, json)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            id,
            text(&merged, "displayName"),
            text(&merged, "membershipRule"),
            text(&merged, "membershipRuleProcessingState"),
            i64::from(dynamic),
            Value::Object(merged.clone()).to_string()
        ])?;
        if seen.insert(id.to_string()) {
            changes.groups_upserted += 1;
        }
        if let Some(Value::Array(members)) = item.get("members@delta") {
            for m in members {
                let Some(mid) = m.get("id").and_then(Value::as_str) else { continue };
                if m.get("@removed").is_some() {
                    changes.members_removed += tx
                        .prepare_cached("DELETE FROM group_members WHERE group_id = ?1 AND member_id = ?2")?
                        .execute(params![id, mid])? as u64;
                } else {
                    changes.members_added += tx
                        .prepare_cached(
                            "INSERT OR IGNORE INTO group_members (group_id, member_id) VALUES (?1, ?2)",
                        )?
                        .execute(params![id, mid])? as u64;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn staged_pages_apply_in_one_go_and_delta_merges() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let mut snap = Snapshot::open(&dir.path().join("s.db"))?;
        snap.stage_start("devices", Mode::Full, "http://x/v1.0/devices/delta")?;
        snap.stage_page(
            "devices",
            &[json!({"id": "a", "displayName": "A", "physicalIds": ["[ZTDId]:1"]})],
            Some("http://x/next"),
            None,
        )?;
        assert_eq!(snap.status()?.devices, 0, "nothing is live before apply");
        snap.stage_page("devices", &[json!({"id": "b", "displayName": "B"})], None, Some("http://x/delta1"))?;
        snap.stage_start("groups", Mode::Full, "http://x/v1.0/groups/delta")?;
        snap.stage_page(
            "groups",
            &[
                json!({"id": "g", "groupTypes": ["DynamicMembership"], "members@delta": [{"id": "a"}]}),
                json!({"id": "g", "members@delta": [{"id": "b"}]}),
            ],
            None,
            Some("http://x/gdelta1"),
        )?;
        let changes = snap.apply_staged()?;
        assert_eq!((changes.devices_upserted, changes.members_added), (2, 2));
        assert_eq!(snap.delta_link("devices")?.as_deref(), Some("http://x/delta1"));
        let groups = snap.groups()?;
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].members, vec!["a", "b"]);
        assert_eq!(groups[0].group.get("groupTypes"), Some(&json!(["DynamicMembership"])));

        snap.stage_start("devices", Mode::Delta, "http://x/delta1")?;
        snap.stage_page(
            "devices",
            &[json!({"id": "a", "displayName": "A2"}), json!({"id": "b", "@removed": {"reason": "deleted"}})],
            None,
            Some("http://x/delta2"),
        )?;
        let changes = snap.apply_staged()?;
        assert_eq!((changes.devices_upserted, changes.devices_removed, changes.members_removed), (1, 1, 1));
        let devices = snap.devices()?;
        assert_eq!(devices, vec![json!({"id": "a", "displayName": "A2", "physicalIds": ["[ZTDId]:1"]})]);
        let mut out = Vec::new();
        snap.export_devices(&mut out, true)?;
        assert_eq!(
            String::from_utf8(out)?.trim(),
            r#"{"displayName":"A2","id":"a","memberOf":["g"],"physicalIds":["[ZTDId]:1"]}"#
        );
        Ok(())
    }
}
