//! `phoneboot admin`: the accounts of the admin API and web UI, their API tokens, and the
//! audit log — on the database directly, as the break-glass path of whoever runs the server
//! (the API's own rules hold, but for one: the CLI may remove the last admin).

use std::io::{BufRead as _, IsTerminal as _};

use anyhow::{Context as _, anyhow, bail};
use clap::{Args, Subcommand};
use phoneboot_server::accounts::{self, Role};
use phoneboot_store::{AuditQuery, CredentialKind};

use crate::database::{DbArgs, command_actor};

#[derive(Debug, Args)]
pub(crate) struct AdminArgs {
    #[command(flatten)]
    db: DbArgs,
    #[command(subcommand)]
    what: What,
}

#[derive(Debug, Subcommand)]
enum What {
    /// Accounts that sign in to the admin API and web UI.
    User {
        #[command(subcommand)]
        verb: UserVerb,
    },
    /// API tokens for scripts (shown once when made; kept only as a digest).
    Token {
        #[command(subcommand)]
        verb: TokenVerb,
    },
    /// The audit log, newest first: every write, login and account change.
    Audit {
        /// Only this kind (device, account, file, ...).
        #[arg(long)]
        kind: Option<String>,
        /// Only this object.
        #[arg(long)]
        name: Option<String>,
        /// Only what this account or command did.
        #[arg(long)]
        who: Option<String>,
        /// At most this many entries.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
}

#[derive(Debug, Args)]
struct PasswordArgs {
    /// Read the password from the first line of standard input (for scripts); without it, a
    /// terminal is asked twice.
    #[arg(long)]
    password_stdin: bool,
}

#[derive(Debug, Subcommand)]
enum UserVerb {
    /// Add an account.
    Add {
        name: String,
        /// admin (everything), operator (devices, Extension Mobility, custom files) or viewer
        /// (read only).
        #[arg(long)]
        role: String,
        #[command(flatten)]
        password: PasswordArgs,
    },
    /// Set an account's password.
    Passwd {
        name: String,
        #[command(flatten)]
        password: PasswordArgs,
    },
    /// Give an account another role.
    Role { name: String, role: String },
    /// Remove an account, its tokens and its sessions.
    Remove { name: String },
    /// List the accounts.
    List,
}

#[derive(Debug, Subcommand)]
enum TokenVerb {
    /// Make a token for an account; it is printed once, on standard output.
    Add {
        #[arg(long)]
        user: String,
        /// What the token is for, as "nightly export".
        #[arg(long)]
        label: String,
    },
    /// List an account's tokens (never their secrets).
    List {
        #[arg(long)]
        user: String,
    },
    /// Revoke a token by its id (as listed).
    Remove {
        #[arg(long)]
        user: String,
        id: String,
    },
}

/// The new password: from standard input, or asked twice on a terminal.
fn password(args: &PasswordArgs) -> anyhow::Result<String> {
    if args.password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_owned());
    }
    if !std::io::stdin().is_terminal() {
        bail!("give the password on standard input with --password-stdin (no terminal to ask)");
    }
    let first = rpassword::prompt_password("password: ").context("reading the password")?;
    let again = rpassword::prompt_password("again: ").context("reading the password")?;
    if first != again {
        bail!("the two passwords differ; nothing was changed");
    }
    Ok(first)
}

#[allow(clippy::needless_pass_by_value)] // used as `map_err(field)`
fn field(e: phoneboot_model::FieldError) -> anyhow::Error {
    anyhow!("{}: {}", e.field, e.reason)
}

pub(crate) async fn run(args: AdminArgs) -> anyhow::Result<()> {
    let AdminArgs { db, what } = args;
    db.with(|db| async move {
        let store = db.store();
        let by = command_actor();
        match what {
            What::User { verb } => match verb {
                UserVerb::Add {
                    name,
                    role,
                    password: p,
                } => {
                    let role: Role = role.parse().map_err(field)?;
                    accounts::check_name(&name).map_err(field)?;
                    if store.account(&name).await?.is_some() {
                        bail!(
                            "account {name:?} exists already (phoneboot admin user passwd or \
                             role changes it)"
                        );
                    }
                    let account =
                        accounts::new_account(&name, role, &password(&p)?).map_err(field)?;
                    if !store.add_account(&account, &by).await? {
                        bail!("account {name:?} was added meanwhile by someone else");
                    }
                    eprintln!("added {role} {name:?}");
                }
                UserVerb::Passwd { name, password: p } => {
                    let mut account = existing(store.as_ref(), &name).await?;
                    account.password = accounts::hash_password(&password(&p)?).map_err(field)?;
                    account.changed = phoneboot_store::unix_seconds();
                    store.save_account(&account, &by).await?;
                    let ended = accounts::end_sessions(store.as_ref(), &account.name, &by).await?;
                    eprintln!(
                        "password of {:?} changed; {ended} session(s) and token(s) ended",
                        account.name
                    );
                }
                UserVerb::Role { name, role } => {
                    let role: Role = role.parse().map_err(field)?;
                    let mut account = existing(store.as_ref(), &name).await?;
                    role.as_str().clone_into(&mut account.role);
                    account.changed = phoneboot_store::unix_seconds();
                    store.save_account(&account, &by).await?;
                    eprintln!("{:?} is now {role}", account.name);
                }
                UserVerb::Remove { name } => {
                    if !store.remove_account(&name, &by).await? {
                        bail!("no account {name:?} (phoneboot admin user list)");
                    }
                    eprintln!("removed {name:?} with its tokens and sessions");
                }
                UserVerb::List => {
                    for a in store.accounts().await? {
                        outln!("{:<24} {}", a.name, accounts::role_of(&a));
                    }
                }
            },
            What::Token { verb } => match verb {
                TokenVerb::Add { user, label } => {
                    let account = existing(store.as_ref(), &user).await?;
                    let (secret, credential) =
                        accounts::issue_token(store.as_ref(), &account.name, &label, &by).await?;
                    eprintln!(
                        "token {} for {:?}: shown this once; send it as `Authorization: \
                         Bearer <token>`",
                        &credential.digest[..16],
                        account.name
                    );
                    outln!("{secret}");
                }
                TokenVerb::List { user } => {
                    for c in store.credentials(&user).await? {
                        if c.kind == CredentialKind::Token {
                            outln!("{}  {}", &c.digest[..16], c.label);
                        }
                    }
                }
                TokenVerb::Remove { user, id } => {
                    let all = store.credentials(&user).await?;
                    let token = all
                        .iter()
                        .find(|c| {
                            c.kind == CredentialKind::Token
                                && c.digest
                                    .get(..16)
                                    .is_some_and(|d| d.eq_ignore_ascii_case(&id))
                        })
                        .ok_or_else(|| {
                            anyhow!("{user:?} has no token {id:?} (phoneboot admin token list)")
                        })?;
                    store.remove_credential(&token.digest, &by).await?;
                    eprintln!("token {id} revoked");
                }
            },
            What::Audit {
                kind,
                name,
                who,
                limit,
            } => {
                let query = AuditQuery {
                    below: None,
                    kind,
                    key: name,
                    who,
                    limit,
                };
                for e in store.audit(&query).await? {
                    let at = httpdate::fmt_http_date(
                        std::time::UNIX_EPOCH
                            + std::time::Duration::from_secs(u64::try_from(e.at).unwrap_or(0)),
                    );
                    let version = e.version.map(|v| format!(" v{v}")).unwrap_or_default();
                    outln!(
                        "{at}  {:<14} {} {}{version}  by {} ({})",
                        e.action,
                        e.kind,
                        e.key,
                        if e.who.is_empty() { "?" } else { &e.who },
                        e.origin
                    );
                }
            }
        }
        Ok(())
    })
    .await
}

async fn existing(
    store: &dyn phoneboot_store::Store,
    name: &str,
) -> anyhow::Result<phoneboot_store::Account> {
    store
        .account(name)
        .await?
        .ok_or_else(|| anyhow!("no account {name:?} (phoneboot admin user list)"))
}
