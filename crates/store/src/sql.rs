//! The SQL both backends run, written once. The tables are the same on SQLite and
//! PostgreSQL (see `migrations/`), and so is every statement but how a writer takes the
//! feed's lock and where the head is kept.
//!
//! A macro rather than generic functions: sqlx's types are per database, and code generic
//! over `sqlx::Database` needs a bound for every type bound, read and executor — more to
//! read than the SQL itself. Each backend module calls [`sql_store!`] with its types and
//! gets the same functions, type-checked against its driver.

use std::str::FromStr;

use phoneboot_model::{Kind, Object};

use crate::{StoreError, Stored, Version};

/// Rows per multi-row statement (at most 6 values each: well under SQLite's variable limit
/// and PostgreSQL's 65,535 parameters).
pub(crate) const CHUNK: usize = 400;

/// At most this many of an object's users are named when it cannot be deleted.
pub(crate) const USERS_SHOWN: i64 = 3;

/// Unix time, seconds: when a change was made.
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

pub(crate) fn parse_kind(kind: &str, key: &str) -> Result<Kind, StoreError> {
    Kind::from_str(kind).map_err(|e| StoreError::Corrupt {
        kind: kind.to_owned(),
        key: key.to_owned(),
        reason: e.to_string(),
    })
}

pub(crate) fn decode(
    kind: &str,
    key: &str,
    body: &str,
    version: Version,
) -> Result<Stored, StoreError> {
    let k = parse_kind(kind, key)?;
    let object = Object::from_json(k, body).map_err(|e| StoreError::Corrupt {
        kind: kind.to_owned(),
        key: key.to_owned(),
        reason: e.to_string(),
    })?;
    Ok(Stored { object, version })
}

/// The schema's migrations, in order, with each backend's SQL for them (the same tables;
/// types and the PostgreSQL feed row differ).
pub(crate) fn migrator(sql: [&'static str; 3]) -> sqlx::migrate::Migrator {
    use sqlx::migrate::{Migration, MigrationType};
    let names = [
        "objects, refs and the change feed",
        "stored files",
        "node reports",
    ];
    let migrations = names
        .into_iter()
        .zip(sql)
        .zip(1..)
        .map(|((name, sql), version)| {
            Migration::new(
                version,
                std::borrow::Cow::Borrowed(name),
                MigrationType::Simple,
                sqlx::SqlSafeStr::into_sql_str(sql),
                false,
            )
        })
        .collect();
    sqlx::migrate::Migrator::with_migrations(migrations)
}

/// Bytes per stored chunk of a file.
pub(crate) const CHUNK_BYTES: usize = 1 << 20;

/// SHA-256 of `content` in hex.
pub(crate) fn digest(content: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(content)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Defines, for one backend, the functions every store runs in SQL:
///
/// - reads: `load_rows`, `changes_after`, `get_one`, `get_many`, `list_kind`, `referrers_of`,
///   `undecodable` (rows this version cannot read);
/// - the write: `write_steps(tx, writes, head, at)` makes the steps after the backend took
///   the feed's lock at `head`, and returns the new head or every step's violation.
macro_rules! sql_store {
    (db: $Db:ty, conn: $Conn:ty, row: $Row:ty) => {
        use std::collections::HashMap;

        use phoneboot_model::{Kind, Object};
        use sqlx::{QueryBuilder, Row};

        use crate::constraints::{Facts, Wanted, fold};
        use crate::sql::{CHUNK, CHUNK_BYTES, USERS_SHOWN, decode, digest, parse_kind};
        use crate::{
            Change, MAX_FILE_BYTES, NodeReport, Op, StoreError, Stored, StoredFile, Version,
            Violation, Write,
        };

        async fn put_node(pool: &sqlx::Pool<$Db>, report: &NodeReport) -> Result<(), StoreError> {
            sqlx::query(
                "INSERT INTO nodes (name, started, seen, counters) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (name) DO UPDATE SET started = excluded.started, \
                 seen = excluded.seen, counters = excluded.counters",
            )
            .bind(&report.name)
            .bind(report.started)
            .bind(report.seen)
            .bind(&report.counters)
            .execute(pool)
            .await?;
            Ok(())
        }

        async fn list_nodes(pool: &sqlx::Pool<$Db>) -> Result<Vec<NodeReport>, StoreError> {
            let rows = sqlx::query("SELECT name, started, seen, counters FROM nodes ORDER BY name")
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(|row| {
                    Ok(NodeReport {
                        name: row.try_get(0)?,
                        started: row.try_get(1)?,
                        seen: row.try_get(2)?,
                        counters: row.try_get(3)?,
                    })
                })
                .collect()
        }

        fn file_row(row: &$Row) -> Result<StoredFile, StoreError> {
            let size: i64 = row.try_get(2)?;
            Ok(StoredFile {
                name: row.try_get(0)?,
                digest: row.try_get(1)?,
                size: u64::try_from(size).unwrap_or(0),
                at: row.try_get(3)?,
            })
        }

        /// Every file and the serial, in the caller's transaction.
        async fn list_files(tx: &mut $Conn) -> Result<(Vec<StoredFile>, i64), StoreError> {
            let serial: i64 = sqlx::query_scalar("SELECT serial FROM file_serial WHERE id = 1")
                .fetch_one(&mut *tx)
                .await?;
            let rows = sqlx::query("SELECT name, digest, size, at FROM files ORDER BY fold")
                .fetch_all(&mut *tx)
                .await?;
            let files = rows.iter().map(file_row).collect::<Result<_, _>>()?;
            Ok((files, serial))
        }

        async fn file_serial(pool: &sqlx::Pool<$Db>) -> Result<i64, StoreError> {
            Ok(
                sqlx::query_scalar("SELECT serial FROM file_serial WHERE id = 1")
                    .fetch_one(pool)
                    .await?,
            )
        }

        /// The content of `wanted`, read in the caller's transaction, which must be one
        /// snapshot (a file removed between the two reads would look corrupt).
        async fn read_content(tx: &mut $Conn, wanted: &str) -> Result<Option<Vec<u8>>, StoreError> {
            let size: Option<i64> =
                sqlx::query_scalar("SELECT size FROM files WHERE digest = $1 LIMIT 1")
                    .bind(wanted)
                    .fetch_optional(&mut *tx)
                    .await?;
            let Some(size) = size else { return Ok(None) };
            let chunks: Vec<Vec<u8>> =
                sqlx::query_scalar("SELECT data FROM chunks WHERE digest = $1 ORDER BY seq")
                    .bind(wanted)
                    .fetch_all(&mut *tx)
                    .await?;
            let content = chunks.concat();
            let corrupt = |reason: String| StoreError::Corrupt {
                kind: "file".into(),
                key: wanted.to_owned(),
                reason,
            };
            if i64::try_from(content.len()).ok() != Some(size) {
                return Err(corrupt(format!(
                    "{} bytes stored, {size} expected",
                    content.len()
                )));
            }
            if digest(&content) != wanted {
                return Err(corrupt("the content does not match its digest".into()));
            }
            Ok(Some(content))
        }

        /// Stores a file in the caller's transaction, which holds the files' lock at `serial`.
        async fn put_file_in(
            tx: &mut $Conn,
            name: &str,
            content: &[u8],
            at: i64,
            serial: i64,
        ) -> Result<StoredFile, StoreError> {
            if content.len() > MAX_FILE_BYTES {
                return Err(StoreError::TooLarge {
                    name: name.to_owned(),
                    size: content.len(),
                });
            }
            let digest = digest(content);
            let old: Option<String> =
                sqlx::query_scalar("SELECT digest FROM files WHERE fold = $1")
                    .bind(fold(name))
                    .fetch_optional(&mut *tx)
                    .await?;
            let kept: Option<i64> =
                sqlx::query_scalar("SELECT seq FROM chunks WHERE digest = $1 LIMIT 1")
                    .bind(&digest)
                    .fetch_optional(&mut *tx)
                    .await?;
            if kept.is_none() {
                for (seq, part) in content.chunks(CHUNK_BYTES).enumerate() {
                    sqlx::query("INSERT INTO chunks (digest, seq, data) VALUES ($1, $2, $3)")
                        .bind(&digest)
                        .bind(i64::try_from(seq).unwrap_or(i64::MAX))
                        .bind(part)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            let size = i64::try_from(content.len()).unwrap_or(i64::MAX);
            sqlx::query(
                "INSERT INTO files (fold, name, digest, size, at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (fold) DO UPDATE SET name = excluded.name, \
                 digest = excluded.digest, size = excluded.size, at = excluded.at",
            )
            .bind(fold(name))
            .bind(name)
            .bind(&digest)
            .bind(size)
            .bind(at)
            .execute(&mut *tx)
            .await?;
            if let Some(old) = old.filter(|o| *o != digest) {
                drop_orphan(tx, &old).await?;
            }
            bump_files(tx, serial).await?;
            Ok(StoredFile {
                name: name.to_owned(),
                digest,
                size: content.len() as u64,
                at,
            })
        }

        async fn remove_file_in(
            tx: &mut $Conn,
            name: &str,
            serial: i64,
        ) -> Result<Option<StoredFile>, StoreError> {
            let row =
                sqlx::query("DELETE FROM files WHERE fold = $1 RETURNING name, digest, size, at")
                    .bind(fold(name))
                    .fetch_optional(&mut *tx)
                    .await?;
            let Some(row) = row else { return Ok(None) };
            let file = file_row(&row)?;
            drop_orphan(tx, &file.digest).await?;
            bump_files(tx, serial).await?;
            Ok(Some(file))
        }

        /// Deletes the chunks of `digest` when no file has that content any more.
        async fn drop_orphan(tx: &mut $Conn, digest: &str) -> Result<(), StoreError> {
            sqlx::query(
                "DELETE FROM chunks WHERE digest = $1 \
                 AND NOT EXISTS (SELECT 1 FROM files WHERE digest = $1)",
            )
            .bind(digest)
            .execute(&mut *tx)
            .await?;
            Ok(())
        }

        async fn bump_files(tx: &mut $Conn, serial: i64) -> Result<(), StoreError> {
            sqlx::query("UPDATE file_serial SET serial = $1 WHERE id = 1")
                .bind(serial + 1)
                .execute(&mut *tx)
                .await?;
            Ok(())
        }

        /// Reads `(kind, key, body, version)` rows.
        fn decode_rows(rows: Vec<$Row>) -> Result<Vec<Stored>, StoreError> {
            rows.into_iter()
                .map(|row| {
                    let (kind, key, body, version): (String, String, String, Version) = (
                        row.try_get(0)?,
                        row.try_get(1)?,
                        row.try_get(2)?,
                        row.try_get(3)?,
                    );
                    decode(&kind, &key, &body, version)
                })
                .collect()
        }

        /// `(kind, fold), (kind, fold), ...)` for an `IN (VALUES ` list.
        fn push_keys(q: &mut QueryBuilder<$Db>, keys: &[(Kind, String)]) {
            let mut list = q.separated(", ");
            for (kind, key) in keys {
                list.push("(")
                    .push_bind_unseparated(kind.as_str())
                    .push_unseparated(", ")
                    .push_bind_unseparated(key.clone())
                    .push_unseparated(")");
            }
            q.push(")");
        }

        /// Every object, in the caller's transaction (so that it matches the head read in it).
        async fn load_rows(tx: &mut $Conn) -> Result<Vec<Stored>, StoreError> {
            let rows = sqlx::query("SELECT kind, key, body, version FROM objects")
                .fetch_all(&mut *tx)
                .await?;
            decode_rows(rows)
        }

        async fn changes_after(
            pool: &sqlx::Pool<$Db>,
            version: Version,
            limit: u32,
        ) -> Result<Vec<Change>, StoreError> {
            let rows = sqlx::query(
                "SELECT version, kind, key, op, at FROM changes WHERE version > $1 \
                 ORDER BY version LIMIT $2",
            )
            .bind(version)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?;
            rows.into_iter()
                .map(|row| {
                    let (version, kind, key, op): (Version, String, String, String) = (
                        row.try_get(0)?,
                        row.try_get(1)?,
                        row.try_get(2)?,
                        row.try_get(3)?,
                    );
                    Ok(Change {
                        version,
                        kind: parse_kind(&kind, &key)?,
                        key,
                        op: if op == "delete" { Op::Delete } else { Op::Put },
                        at: row.try_get(4)?,
                    })
                })
                .collect()
        }

        async fn get_one(
            pool: &sqlx::Pool<$Db>,
            kind: Kind,
            key: &str,
        ) -> Result<Option<Stored>, StoreError> {
            let rows = sqlx::query(
                "SELECT kind, key, body, version FROM objects WHERE kind = $1 AND fold = $2",
            )
            .bind(kind.as_str())
            .bind(fold(key))
            .fetch_all(pool)
            .await?;
            Ok(decode_rows(rows)?.pop())
        }

        async fn get_many(
            pool: &sqlx::Pool<$Db>,
            keys: &[(Kind, String)],
        ) -> Result<Vec<Stored>, StoreError> {
            let mut objects = Vec::with_capacity(keys.len());
            for chunk in keys.chunks(CHUNK) {
                let folded: Vec<(Kind, String)> =
                    chunk.iter().map(|(k, key)| (*k, fold(key))).collect();
                let mut q = QueryBuilder::<$Db>::new(
                    "SELECT kind, key, body, version FROM objects WHERE (kind, fold) IN (VALUES ",
                );
                push_keys(&mut q, &folded);
                objects.extend(decode_rows(q.build().fetch_all(pool).await?)?);
            }
            Ok(objects)
        }

        async fn list_kind(pool: &sqlx::Pool<$Db>, kind: Kind) -> Result<Vec<Stored>, StoreError> {
            let rows = sqlx::query(
                "SELECT kind, key, body, version FROM objects WHERE kind = $1 ORDER BY fold",
            )
            .bind(kind.as_str())
            .fetch_all(pool)
            .await?;
            decode_rows(rows)
        }

        async fn referrers_of(
            pool: &sqlx::Pool<$Db>,
            kind: Kind,
            key: &str,
        ) -> Result<Vec<Stored>, StoreError> {
            let rows = sqlx::query(
                "SELECT o.kind, o.key, o.body, o.version FROM refs r \
                 JOIN objects o ON o.kind = r.kind AND o.fold = r.fold \
                 WHERE r.to_kind = $1 AND r.to_fold = $2 ORDER BY o.kind, o.fold",
            )
            .bind(kind.as_str())
            .bind(fold(key))
            .fetch_all(pool)
            .await?;
            decode_rows(rows)
        }

        /// Every row this version of phoneboot cannot read, said as a problem.
        async fn undecodable(pool: &sqlx::Pool<$Db>) -> Result<Vec<String>, StoreError> {
            let mut problems = Vec::new();
            for row in sqlx::query("SELECT kind, key, body, version FROM objects")
                .fetch_all(pool)
                .await?
            {
                let (kind, key, body, version): (String, String, String, Version) = (
                    row.try_get(0)?,
                    row.try_get(1)?,
                    row.try_get(2)?,
                    row.try_get(3)?,
                );
                if let Err(e) = decode(&kind, &key, &body, version) {
                    problems.push(e.to_string());
                }
            }
            Ok(problems)
        }

        /// Every stored file whose chunks do not add up to its size.
        async fn file_problems(pool: &sqlx::Pool<$Db>) -> Result<Vec<String>, StoreError> {
            let rows = sqlx::query(
                "SELECT f.name, f.size, COALESCE(SUM(LENGTH(c.data)), 0) FROM files f \
                 LEFT JOIN chunks c ON c.digest = f.digest GROUP BY f.fold, f.name, f.size",
            )
            .fetch_all(pool)
            .await?;
            let mut problems = Vec::new();
            for row in rows {
                let (name, size, kept): (String, i64, i64) =
                    (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
                if size != kept {
                    problems.push(format!(
                        "stored file {name}: {kept} bytes of content kept, {size} expected"
                    ));
                }
            }
            Ok(problems)
        }

        /// Deletes one object after the steps before it were written; `Err` holds some of its
        /// users when others still name it.
        async fn delete(
            tx: &mut $Conn,
            kind: Kind,
            key: &str,
        ) -> Result<Result<String, Vec<(Kind, String)>>, StoreError> {
            let folded = fold(key);
            let users = sqlx::query(
                "SELECT o.kind, o.key FROM refs r \
                 JOIN objects o ON o.kind = r.kind AND o.fold = r.fold \
                 WHERE r.to_kind = $1 AND r.to_fold = $2 ORDER BY o.kind, o.fold LIMIT $3",
            )
            .bind(kind.as_str())
            .bind(&folded)
            .bind(USERS_SHOWN + 1)
            .fetch_all(&mut *tx)
            .await?;
            if !users.is_empty() {
                let mut by = Vec::with_capacity(users.len());
                for row in users {
                    let (k, name): (String, String) = (row.try_get(0)?, row.try_get(1)?);
                    by.push((parse_kind(&k, &name)?, name));
                }
                return Ok(Err(by));
            }
            let row =
                sqlx::query("DELETE FROM objects WHERE kind = $1 AND fold = $2 RETURNING key")
                    .bind(kind.as_str())
                    .bind(&folded)
                    .fetch_one(&mut *tx)
                    .await?;
            Ok(Ok(row.try_get(0)?))
        }

        /// The facts of `wanted`, read in the write's transaction.
        async fn facts(tx: &mut $Conn, wanted: &Wanted) -> Result<Facts, StoreError> {
            let mut facts = Facts::default();
            for chunk in wanted.keys.chunks(CHUNK) {
                let mut q = QueryBuilder::<$Db>::new(
                    "SELECT kind, fold, key, version FROM objects WHERE (kind, fold) IN (VALUES ",
                );
                push_keys(&mut q, chunk);
                for row in q.build().fetch_all(&mut *tx).await? {
                    let (kind, folded, key, version): (String, String, String, Version) = (
                        row.try_get(0)?,
                        row.try_get(1)?,
                        row.try_get(2)?,
                        row.try_get(3)?,
                    );
                    facts.exists(parse_kind(&kind, &key)?, folded, version, key);
                }
            }
            // Second keys: who holds the ones this write uses, and which ones the written
            // objects hold now (a device changing its MAC frees the old one).
            for chunk in wanted.alts.chunks(CHUNK) {
                let mut q = QueryBuilder::<$Db>::new(
                    "SELECT kind, fold, alt, key FROM objects WHERE alt IS NOT NULL AND (alt IN (",
                );
                let mut list = q.separated(", ");
                for (_, alt) in chunk {
                    list.push_bind(alt.as_str());
                }
                q.push(") OR fold IN (");
                let mut list = q.separated(", ");
                for (key, _) in chunk {
                    list.push_bind(key.as_str());
                }
                q.push("))");
                for row in q.build().fetch_all(&mut *tx).await? {
                    let (kind, folded, alt, key): (String, String, String, String) = (
                        row.try_get(0)?,
                        row.try_get(1)?,
                        row.try_get(2)?,
                        row.try_get(3)?,
                    );
                    facts.holds(parse_kind(&kind, &key)?, (folded, key), alt);
                }
            }
            Ok(facts)
        }

        /// Makes `writes` in the caller's transaction, which holds the feed's lock with the
        /// feed at `head`: the versions this write gets are head + 1, head + 2, ... Returns the
        /// new head, or every step's violation (the caller then rolls back).
        async fn write_steps(
            tx: &mut $Conn,
            writes: &[Write],
            mut head: Version,
            at: i64,
        ) -> Result<Result<Version, Vec<(usize, Violation)>>, StoreError> {
            let mut facts = facts(tx, &Wanted::of(writes)).await?;
            let mut pending: Vec<(Version, &Object)> = Vec::new();
            let mut refused = Vec::new();
            for (index, write) in writes.iter().enumerate() {
                let version = head + 1;
                if let Err(violation) = facts.admit(write, version) {
                    refused.push((index, violation));
                    continue;
                }
                match write {
                    Write::Insert(object) | Write::Put(object) | Write::Update { object, .. } => {
                        pending.push((version, object));
                    }
                    Write::Delete { kind, key, .. } => {
                        // Earlier puts reach the database first: the delete may concern them.
                        flush(tx, &mut pending, at).await?;
                        let stored = match delete(tx, *kind, key).await? {
                            Ok(stored) => stored,
                            Err(by) => {
                                refused.push((
                                    index,
                                    Violation::InUse {
                                        kind: *kind,
                                        key: key.clone(),
                                        by,
                                    },
                                ));
                                continue;
                            }
                        };
                        sqlx::query(
                            "INSERT INTO changes (version, kind, key, op, at) \
                             VALUES ($1, $2, $3, 'delete', $4)",
                        )
                        .bind(version)
                        .bind(kind.as_str())
                        .bind(&stored)
                        .bind(at)
                        .execute(&mut *tx)
                        .await?;
                        facts.forget(*kind, key);
                    }
                }
                head = version;
            }
            // Written even when something was refused or it is a dry run: a rule only the
            // database itself enforces must fail here exactly as it would for real.
            flush(tx, &mut pending, at).await?;
            Ok(if refused.is_empty() {
                Ok(head)
            } else {
                Err(refused)
            })
        }

        /// Writes the pending puts: their change rows, the objects and their references, a
        /// chunk of rows per statement.
        async fn flush(
            tx: &mut $Conn,
            pending: &mut Vec<(Version, &Object)>,
            at: i64,
        ) -> Result<(), StoreError> {
            for chunk in pending.chunks(CHUNK) {
                let mut q =
                    QueryBuilder::<$Db>::new("INSERT INTO changes (version, kind, key, op, at) ");
                q.push_values(chunk, |mut row, (version, object)| {
                    row.push_bind(*version)
                        .push_bind(object.kind().as_str())
                        .push_bind(object.key())
                        .push_bind("put")
                        .push_bind(at);
                });
                q.build().execute(&mut *tx).await?;
                // The same object twice in a chunk: its last state is the one kept.
                let mut last: HashMap<(Kind, String), usize> = HashMap::new();
                for (i, (_, o)) in chunk.iter().enumerate() {
                    last.insert((o.kind(), fold(o.key())), i);
                }
                let rows: Vec<&(Version, &Object)> = chunk
                    .iter()
                    .enumerate()
                    .filter(|(i, (_, o))| last.get(&(o.kind(), fold(o.key()))) == Some(i))
                    .map(|(_, row)| row)
                    .collect();
                let mut q = QueryBuilder::<$Db>::new(
                    "INSERT INTO objects (kind, fold, key, alt, body, version) ",
                );
                q.push_values(&rows, |mut row, (version, object)| {
                    row.push_bind(object.kind().as_str())
                        .push_bind(fold(object.key()))
                        .push_bind(object.key())
                        .push_bind(object.alt_key())
                        .push_bind(object.to_json())
                        .push_bind(*version);
                });
                q.push(
                    " ON CONFLICT (kind, fold) DO UPDATE SET key = excluded.key, \
                     alt = excluded.alt, body = excluded.body, version = excluded.version",
                );
                q.build().execute(&mut *tx).await?;
                let keys: Vec<(Kind, String)> = rows
                    .iter()
                    .map(|(_, o)| (o.kind(), fold(o.key())))
                    .collect();
                let mut q =
                    QueryBuilder::<$Db>::new("DELETE FROM refs WHERE (kind, fold) IN (VALUES ");
                push_keys(&mut q, &keys);
                q.build().execute(&mut *tx).await?;
                let refs: Vec<(Kind, String, Kind, String)> = rows
                    .iter()
                    .flat_map(|(_, o)| {
                        let (kind, key) = (o.kind(), fold(o.key()));
                        o.refs()
                            .into_iter()
                            .map(move |(tk, tkey)| (kind, key.clone(), tk, fold(&tkey)))
                    })
                    .collect();
                for part in refs.chunks(CHUNK) {
                    let mut q = QueryBuilder::<$Db>::new(
                        "INSERT INTO refs (kind, fold, to_kind, to_fold) ",
                    );
                    q.push_values(part, |mut row, (kind, key, to_kind, to_key)| {
                        row.push_bind(kind.as_str())
                            .push_bind(key.as_str())
                            .push_bind(to_kind.as_str())
                            .push_bind(to_key.as_str());
                    });
                    q.build().execute(&mut *tx).await?;
                }
            }
            pending.clear();
            Ok(())
        }
    };
}

pub(crate) use sql_store;

/// The task that turns a backend's own signal (SQLite's `data_version`, PostgreSQL's
/// NOTIFY) into the wake hint: started when the hint is first asked for — a CLI that never
/// follows runs none — and stopped when the store is closed.
#[derive(Debug, Default, Clone)]
pub(crate) struct Watcher(std::sync::Arc<std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>>);

impl Watcher {
    /// Starts the task that `start` makes, unless one runs. Outside a runtime, nothing.
    pub(crate) fn ensure<F>(&self, start: impl FnOnce() -> F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let Ok(mut task) = self.0.lock() else { return };
        if task.as_ref().is_some_and(|t| !t.is_finished()) {
            return;
        }
        *task = Some(runtime.spawn(start()));
    }

    pub(crate) fn stop(&self) {
        if let Some(task) = self.0.lock().ok().and_then(|mut t| t.take()) {
            task.abort();
        }
    }
}

/// Moves the hint to `head` if that is news.
pub(crate) fn hint(wake: &tokio::sync::watch::Sender<Version>, head: Version) {
    wake.send_if_modified(|at| {
        let moved = head > *at;
        *at = head.max(*at);
        moved
    });
}

/// The [`Store`](crate::Store) impl both backends share, over the functions of
/// [`sql_store!`] and what each backend says for itself in inherent methods:
/// `begin_snapshot` (a read transaction that is one snapshot), `begin_files` (a write
/// transaction holding the files' lock, and the serial), `files_changed` (told at commit),
/// `watch` (starts the wake hint's watcher), `write_in`, `backup_to`, `own_checks`, `shut`.
macro_rules! store_impl {
    ($store:ty) => {
        impl crate::Store for $store {
            fn location(&self) -> &crate::Location {
                &self.location
            }

            fn load(&self) -> crate::BoxFuture<'_, Result<(Vec<Stored>, Version), StoreError>> {
                Box::pin(async move {
                    let mut tx = self.begin_snapshot().await?;
                    let version = head(&mut *tx).await?;
                    let objects = load_rows(&mut tx).await?;
                    tx.commit().await?;
                    Ok((objects, version))
                })
            }

            fn head(&self) -> crate::BoxFuture<'_, Result<Version, StoreError>> {
                Box::pin(head(&self.pool))
            }

            fn changes_since(
                &self,
                version: Version,
                limit: u32,
            ) -> crate::BoxFuture<'_, Result<Vec<Change>, StoreError>> {
                Box::pin(changes_after(&self.pool, version, limit))
            }

            fn get<'a>(
                &'a self,
                kind: Kind,
                key: &'a str,
            ) -> crate::BoxFuture<'a, Result<Option<Stored>, StoreError>> {
                Box::pin(get_one(&self.pool, kind, key))
            }

            fn get_many<'a>(
                &'a self,
                keys: &'a [(Kind, String)],
            ) -> crate::BoxFuture<'a, Result<Vec<Stored>, StoreError>> {
                Box::pin(get_many(&self.pool, keys))
            }

            fn list(&self, kind: Kind) -> crate::BoxFuture<'_, Result<Vec<Stored>, StoreError>> {
                Box::pin(list_kind(&self.pool, kind))
            }

            fn referrers<'a>(
                &'a self,
                kind: Kind,
                key: &'a str,
            ) -> crate::BoxFuture<'a, Result<Vec<Stored>, StoreError>> {
                Box::pin(referrers_of(&self.pool, kind, key))
            }

            fn write<'a>(
                &'a self,
                writes: &'a [Write],
                mode: crate::Mode,
            ) -> crate::BoxFuture<'a, Result<Version, StoreError>> {
                Box::pin(self.write_in(writes, mode))
            }

            fn wake(&self) -> tokio::sync::watch::Receiver<Version> {
                let receiver = self.wake.subscribe();
                self.watch();
                receiver
            }

            fn report_node<'a>(
                &'a self,
                report: &'a NodeReport,
            ) -> crate::BoxFuture<'a, Result<(), StoreError>> {
                Box::pin(put_node(&self.pool, report))
            }

            fn nodes(&self) -> crate::BoxFuture<'_, Result<Vec<NodeReport>, StoreError>> {
                Box::pin(list_nodes(&self.pool))
            }

            fn forget_node<'a>(
                &'a self,
                name: &'a str,
            ) -> crate::BoxFuture<'a, Result<bool, StoreError>> {
                Box::pin(async move {
                    let done = sqlx::query("DELETE FROM nodes WHERE name = $1")
                        .bind(name)
                        .execute(&self.pool)
                        .await?;
                    Ok(done.rows_affected() > 0)
                })
            }

            fn files(&self) -> crate::BoxFuture<'_, Result<(Vec<StoredFile>, i64), StoreError>> {
                Box::pin(async move {
                    let mut tx = self.begin_snapshot().await?;
                    let files = list_files(&mut tx).await?;
                    tx.commit().await?;
                    Ok(files)
                })
            }

            fn files_serial(&self) -> crate::BoxFuture<'_, Result<i64, StoreError>> {
                Box::pin(file_serial(&self.pool))
            }

            fn read_file<'a>(
                &'a self,
                digest: &'a str,
            ) -> crate::BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>> {
                Box::pin(async move {
                    // One snapshot for the file's size and its chunks.
                    let mut tx = self.begin_snapshot().await?;
                    let content = read_content(&mut tx, digest).await;
                    tx.commit().await?;
                    content
                })
            }

            fn put_file<'a>(
                &'a self,
                name: &'a str,
                content: &'a [u8],
                at: Option<i64>,
            ) -> crate::BoxFuture<'a, Result<StoredFile, StoreError>> {
                Box::pin(async move {
                    let (mut tx, serial) = self.begin_files().await?;
                    let at = at.unwrap_or_else(crate::sql::now);
                    let file = put_file_in(&mut tx, name, content, at, serial).await?;
                    Self::files_changed(&mut tx).await?;
                    tx.commit().await?;
                    self.wake.send_modify(|_| {});
                    Ok(file)
                })
            }

            fn remove_file<'a>(
                &'a self,
                name: &'a str,
            ) -> crate::BoxFuture<'a, Result<Option<StoredFile>, StoreError>> {
                Box::pin(async move {
                    let (mut tx, serial) = self.begin_files().await?;
                    let file = remove_file_in(&mut tx, name, serial).await?;
                    if file.is_some() {
                        Self::files_changed(&mut tx).await?;
                        tx.commit().await?;
                        self.wake.send_modify(|_| {});
                    }
                    Ok(file)
                })
            }

            fn backup<'a>(
                &'a self,
                to: &'a std::path::Path,
            ) -> crate::BoxFuture<'a, Result<(), StoreError>> {
                Box::pin(async move {
                    if to.exists() {
                        return Err(crate::exists_already(to));
                    }
                    self.backup_to(to).await
                })
            }

            fn check(&self) -> crate::BoxFuture<'_, Result<Vec<String>, StoreError>> {
                Box::pin(async move {
                    let mut problems = self.own_checks().await?;
                    // Every row must read as an object of this version of phoneboot, and
                    // every stored file must be whole.
                    problems.extend(undecodable(&self.pool).await?);
                    problems.extend(file_problems(&self.pool).await?);
                    Ok(problems)
                })
            }

            fn close(&self) -> crate::BoxFuture<'_, Result<(), StoreError>> {
                Box::pin(self.shut())
            }
        }
    };
}

pub(crate) use store_impl;
