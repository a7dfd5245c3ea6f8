//! A node's keys: the ed25519 consensus key (also its libp2p identity) and the secp256k1
//! settlement key that signs batches for the L1.
//!
//! A keys directory holds them in one of two forms:
//! - **encrypted** (operators): `consensus.json` and `settlement.json`, each an Ethereum
//!   keystore v3 file (scrypt + AES-128-CTR, the format geth and `cast wallet` use; the
//!   settlement one imports into any Ethereum wallet), under one password;
//! - **plain** (devnets): `consensus.key` and `settlement.key`, hex, mode 0600.
//!
//! Either way `public.json` holds the public side (consensus key, peer id, settlement
//! address), so `flashlayer keys show` and `create` need no password.

use alloy::{primitives::Address, signers::local::PrivateKeySigner};
use ed25519_dalek::{SigningKey, VerifyingKey};
use eyre::{Context, bail, ensure};
use serde::{Deserialize, Serialize};
use std::{
    io::Write,
    os::unix::fs::OpenOptionsExt,
    path::{Path, PathBuf},
};

const CONSENSUS_FILE: &str = "consensus.key";
const SETTLEMENT_FILE: &str = "settlement.key";
const CONSENSUS_KEYSTORE: &str = "consensus.json";
const SETTLEMENT_KEYSTORE: &str = "settlement.json";
const PUBLIC_FILE: &str = "public.json";

/// Environment variable holding the keys' password (instead of `--password-file`).
pub const PASSWORD_ENV: &str = "FLASHLAYER_KEYS_PASSWORD";

/// The public side of a node's keys, as `public.json` and `flashlayer keys show` give it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicKeys {
    /// ed25519 consensus key (hex): the layer description's `consensus_key`.
    pub consensus_key: String,
    /// libp2p peer id derived from it.
    pub peer_id: String,
    /// Settlement address: the layer description's `settlement_address`.
    pub settlement_address: Address,
}

/// A node's key pair set.
#[derive(Debug, Clone)]
pub struct NodeKeys {
    /// ed25519 consensus key.
    pub consensus: SigningKey,
    /// secp256k1 settlement key.
    pub settlement: PrivateKeySigner,
}

impl NodeKeys {
    /// Fresh random keys.
    pub fn generate() -> Self {
        Self {
            consensus: SigningKey::generate(&mut rand::rngs::OsRng),
            settlement: PrivateKeySigner::random(),
        }
    }

    /// Keys from their secrets (32 bytes each).
    pub fn from_secrets(consensus: &[u8], settlement: &[u8]) -> eyre::Result<Self> {
        let consensus: [u8; 32] = consensus
            .try_into()
            .map_err(|_| eyre::eyre!("the consensus key is {} bytes, want 32", consensus.len()))?;
        Ok(Self {
            consensus: SigningKey::from_bytes(&consensus),
            settlement: PrivateKeySigner::from_slice(settlement)
                .wrap_err("the settlement key is not a valid secp256k1 key")?,
        })
    }

    /// Consensus public key.
    pub fn consensus_public(&self) -> VerifyingKey {
        self.consensus.verifying_key()
    }

    /// Consensus public key as the layer description writes it.
    pub fn consensus_public_hex(&self) -> String {
        format!("0x{}", hex::encode(self.consensus_public().to_bytes()))
    }

    /// Settlement address.
    pub fn settlement_address(&self) -> Address {
        self.settlement.address()
    }

    /// The public side.
    pub fn public(&self) -> PublicKeys {
        PublicKeys {
            consensus_key: self.consensus_public_hex(),
            peer_id: flashlayer_p2p::peer_id(&self.consensus_public()).to_string(),
            settlement_address: self.settlement_address(),
        }
    }

    /// Writes both keys into `dir` (created if needed) as plain hex files, refusing to
    /// overwrite: the devnet form.
    pub fn save(&self, dir: &Path) -> eyre::Result<()> {
        prepare(dir)?;
        write_secret(&dir.join(CONSENSUS_FILE), &hex::encode(self.consensus.to_bytes()))?;
        write_secret(&dir.join(SETTLEMENT_FILE), &hex::encode(self.settlement.to_bytes()))?;
        self.save_public(dir)
    }

    /// Writes both keys into `dir` (created if needed) as keystore v3 files encrypted with
    /// `password`, refusing to overwrite.
    pub fn save_encrypted(&self, dir: &Path, password: &str) -> eyre::Result<()> {
        ensure!(!password.is_empty(), "the password is empty");
        prepare(dir)?;
        let mut rng = rand::rngs::OsRng;
        for (name, secret) in [
            (CONSENSUS_KEYSTORE, self.consensus.to_bytes().to_vec()),
            (SETTLEMENT_KEYSTORE, self.settlement.to_bytes().to_vec()),
        ] {
            eth_keystore::encrypt_key(dir, &mut rng, secret, password, Some(name))
                .map_err(|e| eyre::eyre!("encrypting {}: {e}", dir.join(name).display()))?;
            set_private(&dir.join(name))?;
        }
        self.save_public(dir)
    }

    fn save_public(&self, dir: &Path) -> eyre::Result<()> {
        let path = dir.join(PUBLIC_FILE);
        std::fs::write(&path, serde_json::to_string_pretty(&self.public())? + "\n")
            .wrap_err_with(|| format!("writing {}", path.display()))
    }

    /// Whether `dir` holds encrypted keys.
    pub fn is_encrypted(dir: &Path) -> bool {
        dir.join(SETTLEMENT_KEYSTORE).exists()
    }

    /// Reads the keys in `dir`; encrypted keys need `password`.
    pub fn load(dir: &Path, password: Option<&str>) -> eyre::Result<Self> {
        if Self::is_encrypted(dir) {
            let Some(password) = password else {
                bail!(
                    "the keys in {} are encrypted: give their password with --password-file FILE or {PASSWORD_ENV}",
                    dir.display()
                )
            };
            let decrypt = |name: &str| {
                eth_keystore::decrypt_key(dir.join(name), password).map_err(|e| match e {
                    eth_keystore::KeystoreError::MacMismatch => {
                        eyre::eyre!("wrong password for {}", dir.join(name).display())
                    }
                    other => eyre::eyre!("decrypting {}: {other}", dir.join(name).display()),
                })
            };
            return Self::from_secrets(&decrypt(CONSENSUS_KEYSTORE)?, &decrypt(SETTLEMENT_KEYSTORE)?);
        }
        let consensus = read_hex32(&dir.join(CONSENSUS_FILE))?;
        let settlement = read_hex32(&dir.join(SETTLEMENT_FILE))?;
        Self::from_secrets(&consensus, &settlement)
    }

    /// The public side of the keys in `dir`, without decrypting anything when `public.json`
    /// is there.
    pub fn load_public(dir: &Path) -> eyre::Result<PublicKeys> {
        let path = dir.join(PUBLIC_FILE);
        if path.exists() {
            let text =
                std::fs::read_to_string(&path).wrap_err_with(|| format!("reading {}", path.display()))?;
            return serde_json::from_str(&text).wrap_err_with(|| format!("parsing {}", path.display()));
        }
        Ok(Self::load(dir, None)?.public())
    }

    /// Writes the keys into `out` as keystore v3 files under `password` (a backup, or the
    /// settlement key for a wallet: `settlement.json`).
    pub fn export(&self, out: &Path, password: &str) -> eyre::Result<()> {
        self.save_encrypted(out, password)
    }
}

/// The password from `file` (its first line) or the environment.
pub fn password(file: Option<&Path>) -> eyre::Result<Option<String>> {
    if let Some(file) = file {
        let text = std::fs::read_to_string(file).wrap_err_with(|| format!("reading {}", file.display()))?;
        let line = text.lines().next().unwrap_or_default().to_string();
        ensure!(!line.is_empty(), "{} holds an empty password", file.display());
        return Ok(Some(line));
    }
    Ok(std::env::var(PASSWORD_ENV).ok().filter(|p| !p.is_empty()))
}

/// Reads a keystore v3 file (from geth, cast, a wallet) with `password`: the raw secret.
pub fn read_keystore(path: &PathBuf, password: &str) -> eyre::Result<Vec<u8>> {
    eth_keystore::decrypt_key(path, password).map_err(|e| eyre::eyre!("decrypting {}: {e}", path.display()))
}

fn prepare(dir: &Path) -> eyre::Result<()> {
    for name in [CONSENSUS_FILE, SETTLEMENT_FILE, CONSENSUS_KEYSTORE, SETTLEMENT_KEYSTORE] {
        ensure!(
            !dir.join(name).exists(),
            "{} already holds keys ({name}); keys are never overwritten",
            dir.display()
        );
    }
    std::fs::create_dir_all(dir).wrap_err_with(|| format!("creating {}", dir.display()))
}

fn set_private(path: &Path) -> eyre::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .wrap_err_with(|| format!("restricting {}", path.display()))
}

fn write_secret(path: &Path, contents: &str) -> eyre::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .wrap_err_with(|| format!("creating {} (keys are never overwritten)", path.display()))?;
    file.write_all(contents.as_bytes())?;
    file.write_all(b"\n")?;
    Ok(())
}

fn read_hex32(path: &Path) -> eyre::Result<[u8; 32]> {
    let text = std::fs::read_to_string(path).wrap_err_with(|| format!("reading key {}", path.display()))?;
    let bytes = hex::decode(text.trim().trim_start_matches("0x"))
        .wrap_err_with(|| format!("key {} is not hex", path.display()))?;
    ensure!(bytes.len() == 32, "key {} is {} bytes, want 32", path.display(), bytes.len());
    Ok(bytes.try_into().expect("length checked"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn save_load_roundtrip_and_no_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let keys = NodeKeys::generate();
        keys.save(dir.path()).unwrap();
        let loaded = NodeKeys::load(dir.path(), None).unwrap();
        assert_eq!(loaded.consensus_public(), keys.consensus_public());
        assert_eq!(loaded.settlement_address(), keys.settlement_address());
        assert!(keys.save(dir.path()).is_err());
        assert!(keys.save_encrypted(dir.path(), "pw").is_err());
        let mode = std::fs::metadata(dir.path().join(CONSENSUS_FILE)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(NodeKeys::load_public(dir.path()).unwrap(), keys.public());
    }

    #[test]
    fn encrypted_roundtrip_wrong_password_and_export() {
        let dir = tempfile::tempdir().unwrap();
        let keys = NodeKeys::generate();
        keys.save_encrypted(dir.path(), "correct horse").unwrap();
        assert!(NodeKeys::is_encrypted(dir.path()));
        let mode = std::fs::metadata(dir.path().join(SETTLEMENT_KEYSTORE)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let err = NodeKeys::load(dir.path(), None).unwrap_err().to_string();
        assert!(err.contains("encrypted"), "{err}");
        let err = NodeKeys::load(dir.path(), Some("wrong")).unwrap_err().to_string();
        assert!(err.contains("wrong password"), "{err}");
        let loaded = NodeKeys::load(dir.path(), Some("correct horse")).unwrap();
        assert_eq!(loaded.public(), keys.public());
        assert_eq!(NodeKeys::load_public(dir.path()).unwrap(), keys.public());
        // The settlement keystore is a plain Ethereum keystore: it decrypts to the key.
        let secret = read_keystore(&dir.path().join(SETTLEMENT_KEYSTORE), "correct horse").unwrap();
        assert_eq!(PrivateKeySigner::from_slice(&secret).unwrap().address(), keys.settlement_address());
        let out = tempfile::tempdir().unwrap();
        loaded.export(&out.path().join("backup"), "other").unwrap();
        let back = NodeKeys::load(&out.path().join("backup"), Some("other")).unwrap();
        assert_eq!(back.public(), keys.public());
    }
}
