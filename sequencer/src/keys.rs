//! A node's keys: the ed25519 consensus key (also its libp2p identity) and the secp256k1
//! settlement key that signs batches for the L1.
//!
//! Stored as hex files with mode 0600 in a keys directory (the devnet form; encrypted
//! keystores come with the lifecycle work).

use alloy::{primitives::Address, signers::local::PrivateKeySigner};
use ed25519_dalek::{SigningKey, VerifyingKey};
use eyre::{Context, ensure};
use std::{io::Write, os::unix::fs::OpenOptionsExt, path::Path};

const CONSENSUS_FILE: &str = "consensus.key";
const SETTLEMENT_FILE: &str = "settlement.key";

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

    /// Writes both keys into `dir` (created if needed), refusing to overwrite.
    pub fn save(&self, dir: &Path) -> eyre::Result<()> {
        std::fs::create_dir_all(dir).wrap_err_with(|| format!("creating {}", dir.display()))?;
        write_secret(&dir.join(CONSENSUS_FILE), &hex::encode(self.consensus.to_bytes()))?;
        write_secret(&dir.join(SETTLEMENT_FILE), &hex::encode(self.settlement.to_bytes()))?;
        Ok(())
    }

    /// Reads the keys in `dir`.
    pub fn load(dir: &Path) -> eyre::Result<Self> {
        let consensus = read_hex32(&dir.join(CONSENSUS_FILE))?;
        let settlement = read_hex32(&dir.join(SETTLEMENT_FILE))?;
        Ok(Self {
            consensus: SigningKey::from_bytes(&consensus),
            settlement: PrivateKeySigner::from_bytes(&settlement.into())
                .wrap_err("settlement key is not a valid secp256k1 key")?,
        })
    }
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

    #[test]
    fn save_load_roundtrip_and_no_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let keys = NodeKeys::generate();
        keys.save(dir.path()).unwrap();
        let loaded = NodeKeys::load(dir.path()).unwrap();
        assert_eq!(loaded.consensus_public(), keys.consensus_public());
        assert_eq!(loaded.settlement_address(), keys.settlement_address());
        assert!(keys.save(dir.path()).is_err());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(CONSENSUS_FILE)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
