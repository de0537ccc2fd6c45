//! The SQL of accounts, credentials and the audit log, for one backend.

/// Defines `insert_audit` (in the caller's transaction: a write to the objects logs its steps
/// in its own transaction), `object_bodies` (what the written objects were before), and the
/// account, credential and audit functions the `Store` impl calls, each of which takes its
/// own transaction (`tx`, begun by the backend's `begin_write`).
macro_rules! admin_sql {
    ($Db:ty, $Conn:ty, $Row:ty) => {
        /// Appends `rows` to the audit log.
        async fn insert_audit(tx: &mut $Conn, rows: &[AuditRow]) -> Result<(), StoreError> {
            // Eleven values a row.
            for chunk in rows.chunks(CHUNK / 2) {
                let mut q = QueryBuilder::<$Db>::new(
                    "INSERT INTO audit (at, who, origin, action, kind, key, fold, who_fold, version, \
                     before, after) ",
                );
                q.push_values(chunk, |mut row, entry| {
                    row.push_bind(entry.at)
                        .push_bind(entry.by.who.clone())
                        .push_bind(entry.by.origin.clone())
                        .push_bind(entry.action)
                        .push_bind(entry.kind.clone())
                        .push_bind(entry.key.clone())
                        .push_bind(fold(&entry.key))
                        .push_bind(fold(&entry.by.who))
                        .push_bind(entry.version)
                        .push_bind(entry.before.clone())
                        .push_bind(entry.after.clone());
                });
                q.build().execute(&mut *tx).await?;
            }
            Ok(())
        }

        /// The bodies of the objects `keys` (kind, folded key) that exist.
        async fn object_bodies(
            tx: &mut $Conn,
            keys: &[(Kind, String)],
        ) -> Result<HashMap<(Kind, String), String>, StoreError> {
            let mut bodies = HashMap::new();
            for chunk in keys.chunks(CHUNK) {
                let mut q = QueryBuilder::<$Db>::new(
                    "SELECT kind, fold, body FROM objects WHERE (kind, fold) IN (VALUES ",
                );
                push_keys(&mut q, chunk);
                for row in q.build().fetch_all(&mut *tx).await? {
                    let (kind, folded, body): (String, String, String) =
                        (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
                    bodies.insert((parse_kind(&kind, &folded)?, folded), body);
                }
            }
            Ok(bodies)
        }

        fn account_row(row: &$Row) -> Result<Account, StoreError> {
            Ok(Account {
                name: row.try_get(0)?,
                role: row.try_get(1)?,
                password: row.try_get(2)?,
                created: row.try_get(3)?,
                changed: row.try_get(4)?,
            })
        }

        async fn list_accounts(pool: &sqlx::Pool<$Db>) -> Result<Vec<Account>, StoreError> {
            let rows = sqlx::query(
                "SELECT name, role, password, created, changed FROM accounts ORDER BY fold")
            .fetch_all(pool)
            .await?;
            rows.iter().map(account_row).collect()
        }

        async fn get_account(tx: &mut $Conn, name: &str) -> Result<Option<Account>, StoreError> {
            let row = sqlx::query(
                "SELECT name, role, password, created, changed FROM accounts WHERE fold = $1")
            .bind(fold(name))
            .fetch_optional(&mut *tx)
            .await?;
            row.as_ref().map(account_row).transpose()
        }

        /// Accounts holding `role`, in the caller's transaction (which holds the accounts'
        /// lock: see `begin_write`).
        async fn holding(tx: &mut $Conn, role: &str) -> Result<i64, StoreError> {
            Ok(sqlx::query_scalar("SELECT COUNT(*) FROM accounts WHERE role = $1")
                .bind(role)
                .fetch_one(&mut *tx)
                .await?)
        }

        /// Adds or (unless `only_new`) replaces the account; false when `only_new` found one.
        async fn save_account_in(
            tx: &mut $Conn,
            account: &Account,
            by: &Actor,
            only_new: bool,
        ) -> Result<bool, StoreError> {
            let before = get_account(tx, &account.name).await?;
            // Only new: the insert itself decides (a concurrent insert on another node makes
            // this one do nothing), not the read before it.
            let sql = if only_new {
                "INSERT INTO accounts (fold, name, role, password, created, changed) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (fold) DO NOTHING"
            } else {
                "INSERT INTO accounts (fold, name, role, password, created, changed) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (fold) DO UPDATE SET \
                 name = excluded.name, role = excluded.role, password = excluded.password, \
                 changed = excluded.changed"
            };
            let done = sqlx::query(sql)
                .bind(fold(&account.name))
                .bind(&account.name)
                .bind(&account.role)
                .bind(&account.password)
                .bind(account.created)
                .bind(account.changed)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() == 0 {
                return Ok(false);
            }
            let row = AuditRow {
                at: account.changed,
                by: by.clone(),
                action: "account",
                kind: "account".into(),
                key: account.name.clone(),
                version: None,
                before: before.as_ref().map(account_json),
                after: Some(account_json(account)),
            };
            insert_audit(tx, &[row]).await?;
            Ok(true)
        }

        /// Refused (`LastOfRole`, for the caller to roll back) when the change left no account
        /// holding `keep` while one did before.
        async fn kept(
            tx: &mut $Conn,
            keep: Option<&str>,
            before: i64,
        ) -> Result<Option<crate::AccountChange>, StoreError> {
            match keep {
                Some(role) if before > 0 && holding(tx, role).await? == 0 => {
                    Ok(Some(crate::AccountChange::LastOfRole))
                }
                _ => Ok(None),
            }
        }

        async fn remove_account_in(
            tx: &mut $Conn,
            name: &str,
            by: &Actor,
        ) -> Result<bool, StoreError> {
            let Some(before) = get_account(tx, name).await? else {
                return Ok(false);
            };
            sqlx::query("DELETE FROM accounts WHERE fold = $1")
                .bind(fold(name))
                .execute(&mut *tx)
                .await?;
            let row = AuditRow {
                at: crate::sql::now(),
                by: by.clone(),
                action: "account-delete",
                kind: "account".into(),
                key: before.name.clone(),
                version: None,
                before: Some(account_json(&before)),
                after: None,
            };
            insert_audit(tx, &[row]).await?;
            Ok(true)
        }

        fn credential_row(row: &$Row) -> Result<Credential, StoreError> {
            let kind: String = row.try_get(2)?;
            let digest: String = row.try_get(0)?;
            Ok(Credential {
                kind: CredentialKind::parse(&kind).ok_or_else(|| StoreError::Corrupt {
                    kind: "credential".into(),
                    key: digest.clone(),
                    reason: format!("unknown kind {kind:?}"),
                })?,
                digest,
                account: row.try_get(1)?,
                label: row.try_get(3)?,
                csrf: row.try_get(4)?,
                created: row.try_get(5)?,
                expires: row.try_get(6)?,
            })
        }

        /// What adding or removing a credential says in the log: a token by its name, a
        /// session as a login or logout from its address.
        fn credential_audit(c: &Credential, by: &Actor, added: bool) -> AuditRow {
            let action = match (c.kind, added) {
                (CredentialKind::Token, true) => "token",
                (CredentialKind::Token, false) => "token-delete",
                (CredentialKind::Session, true) => "login",
                (CredentialKind::Session, false) => "logout",
            };
            let shown = (c.kind == CredentialKind::Token)
                .then(|| serde_json::json!({ "token": c.label }).to_string());
            AuditRow {
                at: crate::sql::now(),
                by: by.clone(),
                action,
                kind: "account".into(),
                key: c.account.clone(),
                version: None,
                before: if added { None } else { shown.clone() },
                after: if added { shown } else { None },
            }
        }

        async fn add_credential_in(
            tx: &mut $Conn,
            c: &Credential,
            by: &Actor,
        ) -> Result<(), StoreError> {
            // Sessions that ended go whenever another begins.
            sqlx::query("DELETE FROM credentials WHERE expires IS NOT NULL AND expires < $1")
                .bind(crate::sql::now())
                .execute(&mut *tx)
                .await?;
            if sqlx::query_scalar::<_, String>("SELECT digest FROM credentials WHERE digest = $1")
                .bind(&c.digest)
                .fetch_optional(&mut *tx)
                .await?
                .is_some()
            {
                // The same secret again (a copy run twice): it is there.
                return Ok(());
            }
            let done = sqlx::query(
                "INSERT INTO credentials (digest, account, kind, label, csrf, created, expires) \
                 SELECT $1, fold, $2, $3, $4, $5, $6 FROM accounts WHERE fold = $7",
            )
            .bind(&c.digest)
            .bind(c.kind.as_str())
            .bind(&c.label)
            .bind(&c.csrf)
            .bind(c.created)
            .bind(c.expires)
            .bind(fold(&c.account))
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::Absent(format!("account {:?}", c.account)));
            }
            insert_audit(tx, &[credential_audit(c, by, true)]).await
        }

        async fn get_credential(
            pool: &sqlx::Pool<$Db>,
            digest: &str,
        ) -> Result<Option<(Credential, Account)>, StoreError> {
            let row = sqlx::query(
                "SELECT c.digest, a.name, c.kind, c.label, c.csrf, c.created, c.expires, a.role, a.password, a.created, a.changed \
                 FROM credentials c JOIN accounts a ON a.fold = c.account \
                 WHERE c.digest = $1 AND (c.expires IS NULL OR c.expires >= $2)")
            .bind(digest)
            .bind(crate::sql::now())
            .fetch_optional(pool)
            .await?;
            let Some(row) = row else { return Ok(None) };
            let credential = credential_row(&row)?;
            let account = Account {
                name: credential.account.clone(),
                role: row.try_get(7)?,
                password: row.try_get(8)?,
                created: row.try_get(9)?,
                changed: row.try_get(10)?,
            };
            Ok(Some((credential, account)))
        }

        async fn list_credentials(
            pool: &sqlx::Pool<$Db>,
            account: &str,
        ) -> Result<Vec<Credential>, StoreError> {
            let rows = sqlx::query(
                "SELECT c.digest, a.name, c.kind, c.label, c.csrf, c.created, c.expires FROM credentials c \
                 JOIN accounts a ON a.fold = c.account \
                 WHERE c.account = $1 AND (c.expires IS NULL OR c.expires >= $2) \
                 ORDER BY c.created, c.digest")
            .bind(fold(account))
            .bind(crate::sql::now())
            .fetch_all(pool)
            .await?;
            rows.iter().map(credential_row).collect()
        }

        async fn remove_credential_in(
            tx: &mut $Conn,
            digest: &str,
            by: &Actor,
        ) -> Result<bool, StoreError> {
            let row = sqlx::query(
                "SELECT c.digest, a.name, c.kind, c.label, c.csrf, c.created, c.expires FROM credentials c \
                 JOIN accounts a ON a.fold = c.account WHERE c.digest = $1")
            .bind(digest)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(row) = row else { return Ok(false) };
            let credential = credential_row(&row)?;
            sqlx::query("DELETE FROM credentials WHERE digest = $1")
                .bind(digest)
                .execute(&mut *tx)
                .await?;
            insert_audit(tx, &[credential_audit(&credential, by, false)]).await?;
            Ok(true)
        }

        async fn read_audit(
            pool: &sqlx::Pool<$Db>,
            query: &AuditQuery,
        ) -> Result<Vec<AuditEntry>, StoreError> {
            let mut q = QueryBuilder::<$Db>::new(
                "SELECT id, at, who, origin, action, kind, key, version, before, after \
                 FROM audit WHERE 1 = 1",
            );
            if let Some(below) = query.below {
                q.push(" AND id < ").push_bind(below);
            }
            if let Some(kind) = &query.kind {
                q.push(" AND kind = ").push_bind(kind.clone());
            }
            if let Some(key) = &query.key {
                q.push(" AND fold = ").push_bind(fold(key));
            }
            if let Some(who) = &query.who {
                q.push(" AND who_fold = ").push_bind(fold(who));
            }
            let limit = query.limit.clamp(1, crate::AUDIT_PAGE_MAX);
            q.push(" ORDER BY id DESC LIMIT ").push_bind(i64::from(limit));
            let rows = q.build().fetch_all(pool).await?;
            rows.iter()
                .map(|row| {
                    Ok(AuditEntry {
                        id: row.try_get(0)?,
                        at: row.try_get(1)?,
                        who: row.try_get(2)?,
                        origin: row.try_get(3)?,
                        action: row.try_get(4)?,
                        kind: row.try_get(5)?,
                        key: row.try_get(6)?,
                        version: row.try_get(7)?,
                        before: row.try_get(8)?,
                        after: row.try_get(9)?,
                    })
                })
                .collect()
        }
    };
}

pub(crate) use admin_sql;
