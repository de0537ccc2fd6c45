//! The SQL of objects, their references and the change feed, for one backend.

/// Defines:
///
/// - reads: `load_rows`, `changes_after`, `get_one`, `get_many`, `list_kind`, `referrers_of`,
///   `undecodable` (rows this version cannot read);
/// - the write: `write_steps(tx, writes, head, at)` makes the steps after the backend took
///   the feed's lock at `head`, and returns the new head or every step's violation.
macro_rules! objects_sql {
    ($Db:ty, $Conn:ty, $Row:ty) => {
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

        /// One page of `kind` in `order`, after `after` (keyset paging: a page deep in a
        /// large table costs what the first does).
        async fn page_of(
            pool: &sqlx::Pool<$Db>,
            kind: Kind,
            order: crate::Order,
            after: Option<&crate::Place>,
            limit: u32,
        ) -> Result<Vec<Stored>, StoreError> {
            let mut q = QueryBuilder::<$Db>::new(
                "SELECT kind, key, body, version FROM objects WHERE kind = ",
            );
            q.push_bind(kind.as_str());
            let (by_version, descending) = match order {
                crate::Order::Name => (false, false),
                crate::Order::NameDescending => (false, true),
                crate::Order::Version => (true, false),
                crate::Order::VersionDescending => (true, true),
            };
            let cmp = if descending { " < " } else { " > " };
            if let Some(place) = after {
                if by_version {
                    q.push(" AND (version").push(cmp).push_bind(place.version);
                    q.push(" OR (version = ").push_bind(place.version);
                    q.push(" AND fold")
                        .push(cmp)
                        .push_bind(fold(&place.name))
                        .push("))");
                } else {
                    q.push(" AND fold").push(cmp).push_bind(fold(&place.name));
                }
            }
            let dir = if descending { " DESC" } else { "" };
            if by_version {
                q.push(" ORDER BY version")
                    .push(dir)
                    .push(", fold")
                    .push(dir);
            } else {
                q.push(" ORDER BY fold").push(dir);
            }
            q.push(" LIMIT ").push_bind(i64::from(limit));
            decode_rows(q.build().fetch_all(pool).await?)
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
            by: Option<&Actor>,
        ) -> Result<Result<Version, Vec<(usize, Violation)>>, StoreError> {
            let mut facts = facts(tx, &Wanted::of(writes)).await?;
            // What each written object was, for the audit log (kept current step by step: an
            // object written twice in a batch was, the second time, what the first made it).
            let mut targets: Vec<(Kind, String)> = writes
                .iter()
                .map(|w| {
                    let (kind, key) = w.target();
                    (kind, fold(key))
                })
                .collect();
            targets.sort();
            targets.dedup();
            let mut bodies = match by {
                Some(_) => object_bodies(tx, &targets).await?,
                None => HashMap::new(),
            };
            let mut audit: Vec<AuditRow> = Vec::new();
            let mut pending: Vec<(Version, &Object)> = Vec::new();
            let mut refused = Vec::new();
            for (index, write) in writes.iter().enumerate() {
                let version = head + 1;
                if let Err(violation) = facts.admit(write, version) {
                    refused.push((index, violation));
                    continue;
                }
                let (kind, key) = write.target();
                let before = bodies.remove(&(kind, fold(key)));
                let entry = |action, key: &str, after: Option<String>| AuditRow {
                    at,
                    by: by.cloned().unwrap_or_default(),
                    action,
                    kind: kind.as_str().to_owned(),
                    key: key.to_owned(),
                    version: Some(version),
                    before: before.clone(),
                    after,
                };
                match write {
                    Write::Insert(object) | Write::Put(object) | Write::Update { object, .. } => {
                        if by.is_some() {
                            let after = object.to_json();
                            audit.push(entry("put", object.key(), Some(after.clone())));
                            bodies.insert((kind, fold(key)), after);
                        }
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
                        audit.push(entry("delete", &stored, None));
                        facts.forget(*kind, key);
                    }
                }
                head = version;
            }
            // Written even when something was refused or it is a dry run: a rule only the
            // database itself enforces must fail here exactly as it would for real.
            flush(tx, &mut pending, at).await?;
            if !refused.is_empty() {
                return Ok(Err(refused));
            }
            if by.is_some() {
                insert_audit(tx, &audit).await?;
            }
            Ok(Ok(head))
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

pub(crate) use objects_sql;
