//! Flag groups that several commands share, each one flattened clap struct, so that a flag
//! reads and parses the same wherever it appears.

use alloy::{primitives::Address, signers::local::PrivateKeySigner};
use clap::{Args, ValueEnum};
use flashlayer_node::keys::{self, NodeKeys};
use std::path::{Path, PathBuf};

/// A layer's contract on its L1: `--l1-rpc URL --contract ADDRESS`.
#[derive(Debug, Clone, Args)]
pub struct LayerContract {
    /// L1 JSON-RPC URL.
    #[arg(long)]
    pub l1_rpc: String,
    /// The layer's contract on L1.
    #[arg(long)]
    pub contract: Address,
}

/// `--private-key HEX`: the key that signs and pays for the command's transaction.
#[derive(Debug, Clone, Args)]
pub struct PrivateKey {
    /// Private key (hex) that signs and pays for the transaction.
    #[arg(long = "private-key", value_name = "HEX")]
    pub private_key: String,
}

impl PrivateKey {
    /// The signer, or an error naming the flag.
    pub fn signer(&self) -> eyre::Result<PrivateKeySigner> {
        self.private_key.parse().map_err(|e| eyre::eyre!("--private-key: {e}"))
    }
}

/// `--password-file FILE`: the password of encrypted node keys.
#[derive(Debug, Clone, Args)]
pub struct PasswordFile {
    /// Password of encrypted keys (first line of this file); also FLASHLAYER_KEYS_PASSWORD.
    #[arg(long)]
    pub password_file: Option<PathBuf>,
}

impl PasswordFile {
    /// The password from the file or the environment, if any.
    pub fn password(&self) -> eyre::Result<Option<String>> {
        keys::password(self.password_file.as_deref())
    }

    /// Loads (and decrypts) the keys in `dir`.
    pub fn load_keys(&self, dir: &Path) -> eyre::Result<NodeKeys> {
        NodeKeys::load(dir, self.password()?.as_deref())
    }
}

/// How new keys are kept at rest: `--password-file FILE` (keystore v3) or `--plain`.
#[derive(Debug, Clone, Args)]
pub struct KeyProtection {
    /// Encrypt under the password in this file (first line); also FLASHLAYER_KEYS_PASSWORD.
    #[arg(long)]
    pub password_file: Option<PathBuf>,
    /// Store plain hex files with mode 0600 (devnets only).
    #[arg(long, conflicts_with = "password_file")]
    pub plain: bool,
}

impl KeyProtection {
    /// Writes `keys` into `dir` as asked.
    pub fn save(&self, keys: &NodeKeys, dir: &Path) -> eyre::Result<()> {
        if self.plain {
            return keys.save(dir);
        }
        match keys::password(self.password_file.as_deref())? {
            Some(password) => keys.save_encrypted(dir, &password),
            None => eyre::bail!(
                "give a password to encrypt the keys (--password-file FILE or {}), or --plain for a devnet",
                keys::PASSWORD_ENV
            ),
        }
    }
}

/// `--log-format`: how a node writes its log.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    /// Lines for people.
    Human,
    /// One JSON object per line.
    Json,
}

impl LogFormat {
    /// The flag's value, as passed on to node processes.
    pub fn name(self) -> &'static str {
        match self {
            Self::Human => "human",
            Self::Json => "json",
        }
    }

    /// Installs the tracing subscriber (filter from `RUST_LOG`, `info` by default).
    pub fn init_tracing(self) {
        use tracing_subscriber::{EnvFilter, fmt};
        let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
        match self {
            Self::Human => fmt().with_env_filter(filter).init(),
            Self::Json => fmt().json().with_env_filter(filter).init(),
        }
    }
}

/// Settlement parameters of a new development layer (`init`, `devnet`).
#[derive(Debug, Clone, Args)]
pub struct SettlementArgs {
    /// Most L2 blocks per settlement batch.
    #[arg(long, default_value_t = 50)]
    pub batch_blocks: u64,
    /// Longest span of a batch, in seconds of L2 block time.
    #[arg(long, default_value_t = 5)]
    pub batch_interval: u64,
    /// L1 blocks a deposit must be buried under before it is credited.
    #[arg(long, default_value_t = 1)]
    pub confirmations: u64,
    /// Seconds a signed batch waits for its designated submitter before the next one submits.
    #[arg(long, default_value_t = 5)]
    pub submit_timeout: u64,
    /// Seconds after a batch is accepted before its messages may be relayed.
    #[arg(long, default_value_t = 0)]
    pub challenge_window: u64,
    /// Where batch data goes: `committee` (operators keep and serve it), `l1-calldata` (every
    /// batch posts it in its submission) or `l1-blobs` (in its submission's EIP-4844 blobs).
    #[arg(long, default_value = "committee")]
    pub data_availability: flashlayer_settlement::data::DataAvailability,
    /// Seconds without a final batch (after the layer's end, or after the last batch landed)
    /// before accounts may escape with their balance in the last good batch.
    #[arg(long, default_value_t = crate::devnet::DEFAULT_GRACE_PERIOD_SECS)]
    pub grace_period: u64,
    /// An L1 address that may dispute a batch within its challenge window (repeatable;
    /// `flashlayer verify --dispute` with its key).
    #[arg(long = "watcher")]
    pub watchers: Vec<alloy::primitives::Address>,
}

impl SettlementArgs {
    /// The L1 set-up of a development layer deployed by `deployer` on `rpc`.
    pub fn setup(&self, rpc: String, deployer: PrivateKeySigner) -> crate::devnet::L1Setup {
        crate::devnet::L1Setup {
            rpc,
            deployer,
            batch_blocks: self.batch_blocks,
            batch_interval_secs: self.batch_interval,
            confirmations: self.confirmations,
            submit_timeout_secs: self.submit_timeout,
            challenge_window: Some(self.challenge_window),
            threshold: None,
            fund_settlement: alloy::primitives::utils::parse_ether(
                &crate::devnet::DEV_SETTLEMENT_FUNDING_ETH.to_string(),
            )
            .expect("a whole number of ETH"),
            data_availability: self.data_availability,
            grace_period: Some(self.grace_period),
            watchers: self.watchers.clone(),
        }
    }
}

/// Parses an ETH amount given in decimal (`0.5`) into wei, naming `--amount` on error.
pub fn ether(amount: &str) -> eyre::Result<alloy::primitives::U256> {
    alloy::primitives::utils::parse_ether(amount).map_err(|e| eyre::eyre!("--amount {amount:?}: {e}"))
}
