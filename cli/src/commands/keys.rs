//! `flashlayer keys`: an operator's node keys (generate, show, import, export). The key files
//! themselves are [`flashlayer_node::keys`].

use crate::args::{KeyProtection, PasswordFile};
use clap::Subcommand;
use flashlayer_node::keys::{self, NodeKeys, PublicKeys};
use std::path::PathBuf;

/// `flashlayer keys` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Generate a consensus (ed25519) and a settlement (secp256k1) key into a directory,
    /// encrypted under a password (Ethereum keystore v3) or, with --plain, as 0600 hex files.
    Generate {
        /// Directory to write the keys into (files are never overwritten).
        #[arg(long)]
        dir: PathBuf,
        /// How the keys are kept.
        #[command(flatten)]
        protection: KeyProtection,
    },
    /// Show the public side of the keys in a directory (consensus key, peer id, settlement
    /// address: what the layer's owner needs), and the --sequencer spec for `create`.
    Show {
        /// Keys directory.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Import existing keys into a new keys directory (a key not given is generated).
    Import {
        /// Directory to write the keys into.
        #[arg(long)]
        dir: PathBuf,
        /// Settlement key from an Ethereum keystore v3 file (geth, cast, a wallet).
        #[arg(long, conflicts_with = "settlement_key")]
        settlement_keystore: Option<PathBuf>,
        /// The password of --settlement-keystore (first line of this file).
        #[arg(long, requires = "settlement_keystore")]
        keystore_password_file: Option<PathBuf>,
        /// Settlement key as hex.
        #[arg(long)]
        settlement_key: Option<String>,
        /// Consensus (ed25519) secret key as hex (32 bytes).
        #[arg(long)]
        consensus_key: Option<String>,
        /// How the keys are kept.
        #[command(flatten)]
        protection: KeyProtection,
    },
    /// Export the keys of a directory as keystore v3 files (a backup; `settlement.json`
    /// imports into any Ethereum wallet), encrypted under the keys' password.
    Export {
        /// Keys directory.
        #[arg(long)]
        dir: PathBuf,
        /// Directory to write `consensus.json` and `settlement.json` into.
        #[arg(long)]
        out: PathBuf,
        /// The keys' password.
        #[command(flatten)]
        password: PasswordFile,
    },
}

impl KeysCommand {
    /// Runs the subcommand.
    pub fn execute(self) -> eyre::Result<()> {
        match self {
            Self::Generate { dir, protection } => {
                let keys = NodeKeys::generate();
                protection.save(&keys, &dir)?;
                print_public(&keys.public());
                println!(
                    "written to {} ({})",
                    dir.display(),
                    if protection.plain { "plain, mode 0600" } else { "encrypted, keystore v3" }
                );
            }
            Self::Show { dir } => {
                let public = NodeKeys::load_public(&dir)?;
                print_public(&public);
                println!(
                    "sequencer spec:          {},{},/ip4/<public ip>/tcp/<p2p port>",
                    public.consensus_key, public.settlement_address
                );
            }
            Self::Import {
                dir,
                settlement_keystore,
                keystore_password_file,
                settlement_key,
                consensus_key,
                protection,
            } => {
                let fresh = NodeKeys::generate();
                let settlement = match (settlement_keystore, settlement_key) {
                    (Some(path), _) => {
                        let password =
                            keys::password(keystore_password_file.as_deref())?.ok_or_else(|| {
                                eyre::eyre!("--keystore-password-file is needed to read {}", path.display())
                            })?;
                        keys::read_keystore(&path, &password)?
                    }
                    (None, Some(hex)) => hex::decode(hex.trim().trim_start_matches("0x"))
                        .map_err(|e| eyre::eyre!("--settlement-key: {e}"))?,
                    (None, None) => fresh.settlement.to_bytes().to_vec(),
                };
                let consensus = match consensus_key {
                    Some(hex) => hex::decode(hex.trim().trim_start_matches("0x"))
                        .map_err(|e| eyre::eyre!("--consensus-key: {e}"))?,
                    None => fresh.consensus.to_bytes().to_vec(),
                };
                let keys = NodeKeys::from_secrets(&consensus, &settlement)?;
                protection.save(&keys, &dir)?;
                print_public(&keys.public());
                println!("imported into {}", dir.display());
            }
            Self::Export { dir, out, password } => {
                let password = password.password()?.ok_or_else(|| {
                    eyre::eyre!(
                        "exported keys are always encrypted: give a password (--password-file or {})",
                        keys::PASSWORD_ENV
                    )
                })?;
                let keys = NodeKeys::load(&dir, Some(&password))?;
                keys.export(&out, &password)?;
                println!(
                    "exported to {}/consensus.json and {}/settlement.json (keystore v3)",
                    out.display(),
                    out.display()
                );
            }
        }
        Ok(())
    }
}

fn print_public(keys: &PublicKeys) {
    println!("consensus key (ed25519): {}", keys.consensus_key);
    println!("peer id:                 {}", keys.peer_id);
    println!("settlement address:      {}", keys.settlement_address);
}
