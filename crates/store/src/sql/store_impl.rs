//! The `Store` impl both backends share.

/// The [`Store`](crate::Store) impl both backends share, over the functions of
/// `sql_store!` and what each backend says for itself in inherent methods:
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

            fn page<'a>(
                &'a self,
                kind: Kind,
                order: crate::Order,
                after: Option<&'a crate::Place>,
                limit: u32,
            ) -> crate::BoxFuture<'a, Result<Vec<Stored>, StoreError>> {
                Box::pin(page_of(&self.pool, kind, order, after, limit))
            }

            fn referrers<'a>(
                &'a self,
                kind: Kind,
                key: &'a str,
            ) -> crate::BoxFuture<'a, Result<Vec<Stored>, StoreError>> {
                Box::pin(referrers_of(&self.pool, kind, key))
            }

            fn write_as<'a>(
                &'a self,
                writes: &'a [Write],
                mode: crate::Mode,
                by: Option<&'a Actor>,
            ) -> crate::BoxFuture<'a, Result<Version, StoreError>> {
                Box::pin(self.write_in(writes, mode, by))
            }

            fn accounts(&self) -> crate::BoxFuture<'_, Result<Vec<Account>, StoreError>> {
                Box::pin(list_accounts(&self.pool))
            }

            fn account<'a>(
                &'a self,
                name: &'a str,
            ) -> crate::BoxFuture<'a, Result<Option<Account>, StoreError>> {
                Box::pin(async move {
                    let mut tx = self.begin_snapshot().await?;
                    let account = get_account(&mut tx, name).await?;
                    tx.commit().await?;
                    Ok(account)
                })
            }

            fn save_account<'a>(
                &'a self,
                account: &'a Account,
                by: &'a Actor,
            ) -> crate::BoxFuture<'a, Result<(), StoreError>> {
                Box::pin(async move {
                    let mut tx = self.begin_write().await?;
                    save_account_in(&mut tx, account, by, false).await?;
                    Ok(tx.commit().await?)
                })
            }

            fn save_account_keeping<'a>(
                &'a self,
                account: &'a Account,
                by: &'a Actor,
                role: &'a str,
            ) -> crate::BoxFuture<'a, Result<crate::AccountChange, StoreError>> {
                Box::pin(async move {
                    let mut tx = self.begin_accounts().await?;
                    // A change of an account that is gone (removed meanwhile) brings it back
                    // to no one.
                    if get_account(&mut tx, &account.name).await?.is_none() {
                        return Ok(crate::AccountChange::Absent);
                    }
                    let before = holding(&mut tx, role).await?;
                    save_account_in(&mut tx, account, by, false).await?;
                    if let Some(refused) = kept(&mut tx, Some(role), before).await? {
                        tx.rollback().await?;
                        return Ok(refused);
                    }
                    tx.commit().await?;
                    Ok(crate::AccountChange::Done)
                })
            }

            fn remove_account_keeping<'a>(
                &'a self,
                name: &'a str,
                by: &'a Actor,
                role: &'a str,
            ) -> crate::BoxFuture<'a, Result<crate::AccountChange, StoreError>> {
                Box::pin(async move {
                    let mut tx = self.begin_accounts().await?;
                    let before = holding(&mut tx, role).await?;
                    if !remove_account_in(&mut tx, name, by).await? {
                        return Ok(crate::AccountChange::Absent);
                    }
                    if let Some(refused) = kept(&mut tx, Some(role), before).await? {
                        tx.rollback().await?;
                        return Ok(refused);
                    }
                    tx.commit().await?;
                    Ok(crate::AccountChange::Done)
                })
            }

            fn add_account<'a>(
                &'a self,
                account: &'a Account,
                by: &'a Actor,
            ) -> crate::BoxFuture<'a, Result<bool, StoreError>> {
                Box::pin(async move {
                    let mut tx = self.begin_write().await?;
                    let added = save_account_in(&mut tx, account, by, true).await?;
                    tx.commit().await?;
                    Ok(added)
                })
            }

            fn remove_account<'a>(
                &'a self,
                name: &'a str,
                by: &'a Actor,
            ) -> crate::BoxFuture<'a, Result<bool, StoreError>> {
                Box::pin(async move {
                    let mut tx = self.begin_write().await?;
                    let removed = remove_account_in(&mut tx, name, by).await?;
                    tx.commit().await?;
                    Ok(removed)
                })
            }

            fn add_credential<'a>(
                &'a self,
                credential: &'a Credential,
                by: &'a Actor,
            ) -> crate::BoxFuture<'a, Result<(), StoreError>> {
                Box::pin(async move {
                    let mut tx = self.begin_write().await?;
                    add_credential_in(&mut tx, credential, by).await?;
                    Ok(tx.commit().await?)
                })
            }

            fn credential<'a>(
                &'a self,
                digest: &'a str,
            ) -> crate::BoxFuture<'a, Result<Option<(Credential, Account)>, StoreError>> {
                Box::pin(get_credential(&self.pool, digest))
            }

            fn credentials<'a>(
                &'a self,
                account: &'a str,
            ) -> crate::BoxFuture<'a, Result<Vec<Credential>, StoreError>> {
                Box::pin(list_credentials(&self.pool, account))
            }

            fn remove_credential<'a>(
                &'a self,
                digest: &'a str,
                by: &'a Actor,
            ) -> crate::BoxFuture<'a, Result<bool, StoreError>> {
                Box::pin(async move {
                    let mut tx = self.begin_write().await?;
                    let removed = remove_credential_in(&mut tx, digest, by).await?;
                    tx.commit().await?;
                    Ok(removed)
                })
            }

            fn record<'a>(
                &'a self,
                event: &'a crate::Event,
            ) -> crate::BoxFuture<'a, Result<(), StoreError>> {
                Box::pin(async move {
                    let mut tx = self.begin_write().await?;
                    let row = AuditRow {
                        at: crate::sql::now(),
                        by: event.by.clone(),
                        action: event.action,
                        kind: event.kind.clone(),
                        key: event.key.clone(),
                        version: None,
                        before: None,
                        after: None,
                    };
                    insert_audit(&mut tx, &[row]).await?;
                    Ok(tx.commit().await?)
                })
            }

            fn audit<'a>(
                &'a self,
                query: &'a AuditQuery,
            ) -> crate::BoxFuture<'a, Result<Vec<AuditEntry>, StoreError>> {
                Box::pin(read_audit(&self.pool, query))
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
