//! The SQL of stored files and node reports, for one backend.

/// Defines `put_node`, `list_nodes` (node reports); `list_files`, `file_serial`,
/// `read_content`, `put_file_in`, `remove_file_in` (in the caller's transaction, which holds
/// the files' lock where it writes) and `file_problems` (for `check`).
macro_rules! files_sql {
    ($Db:ty, $Conn:ty, $Row:ty) => {
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
    };
}

pub(crate) use files_sql;
