//! `phoneboot security`: the cluster's signing keys and certificates — make them, take an
//! existing cluster's, show them, rotate them, and the certificates of trust-list records and
//! of phones in an encrypted profile. Keys are never printed.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use phoneboot_model::Mac;
use phoneboot_secure::{Certificate, Role};
use phoneboot_server::security::keystore::{DEFAULT_KEY_BITS, Keys, Keystore, Signing};

use crate::database::DbArgs;

#[derive(Debug, Args)]
pub(crate) struct SecurityArgs {
    #[command(subcommand)]
    verb: Verb,
    #[command(flatten)]
    db: DbArgs,
}

#[derive(Debug, Subcommand)]
enum Verb {
    /// Make the cluster's signing identities: a SAST (signs the trust lists) and a TFTP
    /// certificate (signs every .sgn and .enc.sgn), RSA with self-signed certificates valid
    /// for ten years. Only the missing ones, unless --force (which makes every phone that
    /// holds the old trust list refuse the new one: see `rotate`).
    Init {
        /// The name in the certificates' CN (`NAME SAST`, `NAME TFTP`).
        #[arg(long, default_value = "phoneboot")]
        cluster: String,
        #[arg(long, default_value_t = DEFAULT_KEY_BITS, value_parser = parse_bits)]
        bits: usize,
        #[arg(long)]
        force: bool,
    },
    /// Take an existing cluster's certificate and private key (PEM, or a PKCS#12 file with
    /// --p12), so that phones moved from it
    /// accept this cluster's files without a trust-list reset. CUCM's CallManager
    /// certificate both signs its ITL (SAST) and its files (TFTP): --as both.
    Import {
        /// The private key (PKCS#8 or PKCS#1 PEM; may be the same file as --cert).
        #[arg(
            long,
            value_name = "FILE",
            required_unless_present = "p12",
            requires = "cert"
        )]
        key: Option<PathBuf>,
        #[arg(long, value_name = "FILE", requires = "key")]
        cert: Option<PathBuf>,
        /// A PKCS#12 file holding both (its password in PHONEBOOT_P12_PASSWORD, never on the
        /// command line).
        #[arg(long, value_name = "FILE", conflicts_with_all = ["key", "cert"])]
        p12: Option<PathBuf>,
        /// Which identity it becomes.
        #[arg(long = "as", default_value = "both", value_parser = ["tftp", "sast", "both"])]
        roles: String,
    },
    /// Print the identities, the trust-list records and the phones' certificates.
    Show,
    /// Rotate the signing identities in two steps. First a new pair is made and listed in
    /// the trust lists beside the current one, which still signs; once the phones hold that
    /// list (after a reset), --finish lets the new pair sign.
    Rotate {
        #[arg(long)]
        finish: bool,
        #[arg(long, default_value = "phoneboot")]
        cluster: String,
        #[arg(long, default_value_t = DEFAULT_KEY_BITS, value_parser = parse_bits)]
        bits: usize,
    },
    /// Add a certificate to the trust lists (ccm, ccm-tftp, capf, tvs, app-server); a ccm
    /// record turns the CTL on (mixed mode).
    TrustAdd {
        #[arg(value_parser = parse_role)]
        role: Role,
        cert: PathBuf,
    },
    /// Remove a trust-list record by the ID `show` prints.
    TrustRemove { id: String },
    /// Store a phone's own certificate (its LSC or MIC, PEM): what its encrypted
    /// configuration is encrypted to. --remove forgets it.
    PhoneCert {
        /// SEP<MAC> or the MAC.
        device: String,
        #[arg(required_unless_present = "remove")]
        cert: Option<PathBuf>,
        #[arg(long)]
        remove: bool,
    },
}

fn parse_bits(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(bits @ (2048 | 4096)) => Ok(bits),
        _ => Err("2048 or 4096".into()),
    }
}

fn parse_role(text: &str) -> Result<Role, String> {
    Role::parse(text).ok_or_else(|| {
        let all: Vec<_> = Role::ALL.iter().map(|r| r.as_str()).collect();
        format!("one of {}", all.join(", "))
    })
}

pub(crate) fn run(args: SecurityArgs) -> anyhow::Result<()> {
    let config = args.db.config()?;
    let store = Keystore::at(config.security_dir());
    let now = SystemTime::now();
    match args.verb {
        Verb::Init {
            cluster,
            bits,
            force,
        } => {
            let made = store.init(&cluster, bits, force, now)?;
            if made.is_empty() {
                outln!(
                    "the cluster has its signing keys already ({}); --force makes new ones",
                    store.dir().display()
                );
            }
            for which in made {
                outln!("made the {} identity ({bits}-bit RSA)", which.label());
            }
            show(&store, now)?;
            reload_hint();
        }
        Verb::Import {
            key,
            cert,
            p12,
            roles,
        } => {
            let roles = match roles.as_str() {
                "tftp" => vec![Signing::Tftp],
                "sast" => vec![Signing::Sast],
                _ => vec![Signing::Sast, Signing::Tftp],
            };
            let identity = match (p12, key, cert) {
                (Some(p12), _, _) => {
                    let data = std::fs::read(&p12)
                        .with_context(|| format!("reading {}", p12.display()))?;
                    let password = std::env::var("PHONEBOOT_P12_PASSWORD").unwrap_or_default();
                    store.import_pkcs12(&roles, &data, &password, now)?
                }
                (None, Some(key), Some(cert)) => {
                    store.import(&roles, &read(&key)?, &read(&cert)?, now)?
                }
                _ => bail!("give --key and --cert, or --p12"),
            };
            let labels: Vec<_> = roles.iter().map(|r| r.label()).collect();
            outln!(
                "imported {} as {}",
                identity.cert().subject(),
                labels.join(" and ")
            );
            if !store.is_initialised() {
                outln!("the other identity is still missing: phoneboot security init makes it");
            }
            reload_hint();
        }
        Verb::Show => show(&store, now)?,
        Verb::Rotate {
            finish,
            cluster,
            bits,
        } => {
            if finish {
                store.finish_rotation()?;
                outln!("the new identities sign from now on; the old ones are in retired/");
            } else {
                let pair = store.begin_rotation(&cluster, bits, now)?;
                outln!(
                    "made {} and {}: the trust lists list them beside the current pair, which \
                     still signs. Reset the phones so that they take the new list, then run \
                     phoneboot security rotate --finish",
                    pair.sast.cert().subject(),
                    pair.tftp.cert().subject()
                );
            }
            reload_hint();
        }
        Verb::TrustAdd { role, cert } => {
            let path = store.add_trust(role, &read(&cert)?)?;
            outln!("added {}", path.display());
            reload_hint();
        }
        Verb::TrustRemove { id } => {
            let path = store.remove_trust(&id)?;
            outln!("removed {}", path.display());
            reload_hint();
        }
        Verb::PhoneCert {
            device,
            cert,
            remove,
        } => {
            let mac = parse_device(&device)?;
            if remove {
                store.remove_phone(mac)?;
                outln!("forgot the certificate of SEP{mac}");
            } else if let Some(cert) = cert {
                let cert = store.set_phone(mac, &read(&cert)?, now)?;
                outln!("SEP{mac}: {} (certHash {})", cert.subject(), cert.md5_hex());
            }
            reload_hint();
        }
    }
    Ok(())
}

fn parse_device(text: &str) -> anyhow::Result<Mac> {
    let mac = text
        .get(..3)
        .filter(|p| p.eq_ignore_ascii_case("SEP"))
        .map_or(text, |_| &text[3..]);
    mac.parse::<Mac>()
        .map_err(|e| anyhow::anyhow!("{text:?} names no phone: {e}"))
}

fn read(path: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    // A binary file (PKCS#12, DER) is passed on as lossy text: the reader says how to
    // convert it.
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn reload_hint() {
    outln!("a running phoneboot serve takes this in at its next reload (SIGHUP)");
}

fn show(store: &Keystore, now: SystemTime) -> anyhow::Result<()> {
    let Some(keys) = store.load(now)? else {
        bail!(
            "the cluster has no signing keys ({} is empty): phoneboot security init makes them, \
             phoneboot security import takes an existing cluster's",
            store.dir().display()
        );
    };
    outln!("key store: {}", store.dir().display());
    print_identities("signing", &keys.current);
    if let Some(next) = &keys.next {
        print_identities("next (listed, not yet signing)", next);
    }
    for record in &keys.trust {
        outln!(
            "trust record {:<10} {}  id {}",
            record.role.as_str(),
            describe(&record.cert),
            &record.cert.fingerprint()[..16]
        );
    }
    print_phones(&keys);
    Ok(())
}

fn print_identities(what: &str, pair: &phoneboot_server::security::keystore::Pair) {
    outln!("{what}:");
    outln!("  SAST  {}", describe(pair.sast.cert()));
    outln!("  TFTP  {}", describe(pair.tftp.cert()));
}

fn print_phones(keys: &Keys) {
    if keys.phones.is_empty() {
        outln!("phone certificates: none");
    }
    for (mac, cert) in &keys.phones {
        outln!(
            "phone SEP{mac}  {}  certHash {}",
            describe(cert),
            cert.md5_hex()
        );
    }
}

fn describe(cert: &Certificate) -> String {
    let until = cert
        .not_after()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!(
        "{}  serial {}  {}-bit  until {}  sha1 {}",
        cert.subject(),
        cert.serial_hex(),
        cert.key_bits(),
        httpdate::fmt_http_date(UNIX_EPOCH + std::time::Duration::from_secs(until)),
        cert.fingerprint()
    )
}
