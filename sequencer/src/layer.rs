//! The layer description: the one file that tells a node everything it needs to join a layer
//! (see `docs/layer.md`).

use crate::mempool::OrderingPolicy;
use alloy::{
    genesis::{Genesis, GenesisAccount},
    primitives::{Address, U256},
};
use ed25519_dalek::VerifyingKey;
use eyre::{Context, bail, ensure};
use flashlayer_execution::{ChainConfig, FeeMode};
use serde::{Deserialize, Serialize};
use std::{collections::BTreeMap, path::Path, time::Duration};

/// Block gas limit of a development layer.
pub const DEV_GAS_LIMIT: u64 = 100_000_000;
/// Block interval of a development layer, in milliseconds.
pub const DEV_BLOCK_INTERVAL_MS: u64 = 200;
/// Default longest wait for transactions before an empty block.
pub const DEV_EMPTY_BLOCK_INTERVAL_MS: u64 = 1_500;
/// Default HotStuff view timeout: what one down validator costs the layer once (its first
/// missed view), before the leader schedule leaves it out. It must exceed the empty-block
/// interval, which the leader may spend waiting for transactions.
pub const DEV_MAX_VIEW_TIME_MS: u64 = 2_000;

/// One member of the sequencer set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sequencer {
    /// ed25519 consensus public key (hex, 32 bytes); also the node's libp2p identity.
    pub consensus_key: String,
    /// Ethereum address of the operator's secp256k1 settlement key.
    pub settlement_address: Address,
    /// Where its peer-to-peer endpoint listens (multiaddr), used once the cluster runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p2p: Option<String>,
}

impl Sequencer {
    /// The parsed consensus key.
    pub fn verifying_key(&self) -> eyre::Result<VerifyingKey> {
        let bytes = hex::decode(self.consensus_key.trim_start_matches("0x"))
            .wrap_err_with(|| format!("consensus key {:?} is not hex", self.consensus_key))?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| eyre::eyre!("consensus key {:?} is not 32 bytes", self.consensus_key))?;
        VerifyingKey::from_bytes(&bytes).wrap_err("consensus key is not a valid ed25519 point")
    }
}

/// Everything a node needs to run a layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerDescription {
    /// Human name of the layer.
    pub name: String,
    /// Execution parameters: chain id, fees, genesis.
    pub chain: ChainConfig,
    /// Target time between blocks while transactions arrive (milliseconds).
    pub block_interval_ms: u64,
    /// Longest time between blocks when nothing arrives (milliseconds).
    pub empty_block_interval_ms: u64,
    /// HotStuff view timeout (milliseconds); must exceed the empty-block interval.
    pub max_view_time_ms: u64,
    /// Transaction ordering policy.
    pub ordering: OrderingPolicy,
    /// The sequencer set.
    pub sequencers: Vec<Sequencer>,
    /// Extra peers every node keeps connected (multiaddrs ending in `/p2p/<peer id>`), such as
    /// full nodes that relay transactions; a full node dials these and the sequencers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bootnodes: Vec<String>,
    /// The L1 the layer settles on; absent for a layer without settlement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub l1: Option<L1Settlement>,
    /// The layer's deadline (Unix seconds): the first block at or past it ends the layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<u64>,
    /// The L2 block that ends the layer (if it has not ended before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_block: Option<u64>,
    /// Display name and symbol of the layer's gas token (wallet metadata; 18 decimals, as
    /// the EVM's native unit has).
    #[serde(default)]
    pub token: GasToken,
}

/// The gas token's display metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GasToken {
    /// Name, e.g. "Ether".
    pub name: String,
    /// Symbol, e.g. "ETH".
    pub symbol: String,
}

impl Default for GasToken {
    fn default() -> Self {
        Self { name: "Ether".into(), symbol: "ETH".into() }
    }
}

/// How a layer settles on its L1 (see `docs/layer.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct L1Settlement {
    /// L1 chain id (part of the batches' EIP-712 domain).
    pub chain_id: u64,
    /// The layer's FlashLayer contract.
    pub contract: Address,
    /// L1 block the contract was deployed in (deposits are read from there on).
    pub deployed_at: u64,
    /// L1 blocks a deposit must be buried under before the layer credits it.
    #[serde(default = "default_confirmations")]
    pub confirmations: u64,
    /// Most L2 blocks per batch.
    #[serde(default = "default_batch_blocks")]
    pub batch_blocks: u64,
    /// Longest span of L2 block timestamps per batch (seconds).
    #[serde(default = "default_batch_interval_secs")]
    pub batch_interval_secs: u64,
    /// Seconds a signed batch waits for its designated submitter before the next member
    /// submits it.
    #[serde(default = "default_submit_timeout_secs")]
    pub submit_timeout_secs: u64,
    /// Signatures a batch needs (the contract's threshold).
    pub threshold: usize,
    /// Who created the layer (may close it early on L1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Address>,
    /// Seconds after a batch's acceptance before its messages (and, for the final batch,
    /// balances) may be taken out on L1.
    #[serde(default)]
    pub challenge_window_secs: u64,
    /// Where batch data goes (the contract's `dataAvailability`): `committee` (the default),
    /// `l1-calldata` or `l1-blobs`.
    #[serde(default)]
    pub data_availability: flashlayer_settlement::data::DataAvailability,
    /// Seconds without a final batch, after the layer's end or after the last accepted batch,
    /// before accounts may escape with their balance in the last good batch (the contract's
    /// `gracePeriod`; 0 in a description written before it existed).
    #[serde(default)]
    pub grace_period_secs: u64,
    /// Who may dispute a batch within its challenge window (the contract's `watchers`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub watchers: Vec<Address>,
}

fn default_confirmations() -> u64 {
    1
}
fn default_batch_blocks() -> u64 {
    100
}
fn default_batch_interval_secs() -> u64 {
    10
}
fn default_submit_timeout_secs() -> u64 {
    10
}

impl LayerDescription {
    /// Reads and checks a layer description.
    pub fn load(path: &Path) -> eyre::Result<Self> {
        // Read as a stream: an airdrop layer's alloc may be gigabytes (and is then left out of
        // the parse and streamed again at genesis; see `flashlayer_execution::genesis`).
        let file = std::fs::File::open(path)
            .wrap_err_with(|| format!("reading layer description {}", path.display()))?;
        let mut layer: Self = serde_json::from_reader(std::io::BufReader::with_capacity(1 << 20, file))
            .wrap_err_with(|| format!("parsing layer description {}", path.display()))?;
        if layer.chain.alloc_dropped.is_some() {
            layer.chain.alloc_file = Some(path.to_path_buf());
        }
        layer.check().wrap_err_with(|| format!("invalid layer description {}", path.display()))?;
        Ok(layer)
    }

    /// Writes it as pretty JSON.
    pub fn save(&self, path: &Path) -> eyre::Result<()> {
        if let Some(count) = self.chain.alloc_dropped {
            eyre::bail!(
                "this layer description's genesis alloc ({count} accounts) was too large to load whole; \
                 edit its file instead of rewriting it"
            );
        }
        std::fs::write(path, serde_json::to_string_pretty(self)? + "\n")
            .wrap_err_with(|| format!("writing {}", path.display()))
    }

    /// Checks the parameters are usable.
    pub fn check(&self) -> eyre::Result<()> {
        ensure!(self.chain.chain_id != 0, "chain_id must not be 0");
        ensure!(self.chain.genesis.gas_limit >= 1_000_000, "genesis gas_limit must be at least 1,000,000");
        ensure!(self.block_interval_ms >= 10, "block_interval_ms must be at least 10");
        ensure!(
            self.empty_block_interval_ms >= self.block_interval_ms,
            "empty_block_interval_ms must be at least block_interval_ms"
        );
        ensure!(
            self.max_view_time_ms > self.empty_block_interval_ms,
            "max_view_time_ms must exceed empty_block_interval_ms (the leader waits that long for transactions)"
        );
        // hotstuff_rs 0.4.0 computes view deadlines from whole seconds of this value.
        ensure!(
            self.max_view_time_ms >= 500,
            "max_view_time_ms must be at least 500 (a view must have time for a proposal and its votes)"
        );
        if self.sequencers.is_empty() {
            bail!("the sequencer set is empty");
        }
        let mut seen = std::collections::HashSet::new();
        for s in &self.sequencers {
            let key = s.verifying_key()?;
            ensure!(seen.insert(key.to_bytes()), "consensus key {} appears twice", s.consensus_key);
        }
        self.bootnodes()?;
        let mut addresses = std::collections::HashSet::new();
        for s in &self.sequencers {
            ensure!(
                addresses.insert(s.settlement_address),
                "settlement address {} appears twice",
                s.settlement_address
            );
        }
        ensure!(self.end_block != Some(0), "end_block must be at least 1");
        ensure!(!self.token.symbol.is_empty(), "token.symbol must not be empty");
        if let Some(l1) = &self.l1 {
            let n = self.sequencers.len();
            ensure!(
                l1.threshold <= n && 3 * l1.threshold > 2 * n,
                "l1.threshold {} must be more than two thirds of the {n} sequencers and at most {n}",
                l1.threshold
            );
            ensure!(l1.batch_blocks >= 1, "l1.batch_blocks must be at least 1");
            ensure!(l1.batch_interval_secs >= 1, "l1.batch_interval_secs must be at least 1");
            ensure!(l1.submit_timeout_secs >= 1, "l1.submit_timeout_secs must be at least 1");
        }
        Ok(())
    }

    /// The consensus keys of the set.
    pub fn validators(&self) -> eyre::Result<Vec<VerifyingKey>> {
        self.sequencers.iter().map(Sequencer::verifying_key).collect()
    }

    /// The bootnodes as (peer, dial address).
    pub fn bootnodes(&self) -> eyre::Result<Vec<(libp2p::PeerId, libp2p::Multiaddr)>> {
        self.bootnodes.iter().map(|b| parse_bootnode(b)).collect()
    }

    /// Block interval.
    pub fn block_interval(&self) -> Duration {
        Duration::from_millis(self.block_interval_ms)
    }

    /// Empty-block interval.
    pub fn empty_block_interval(&self) -> Duration {
        Duration::from_millis(self.empty_block_interval_ms)
    }

    /// A development layer: prefunded `accounts`, EIP-1559 fees starting at 1 gwei, 200 ms
    /// blocks, FCFS ordering.
    pub fn dev(chain_id: u64, sequencers: Vec<Sequencer>, accounts: &[Address], timestamp: u64) -> Self {
        let alloc: BTreeMap<Address, GenesisAccount> = accounts
            .iter()
            .map(|a| {
                // 1,000,000 ETH each, as anvil gives its dev accounts 10,000.
                let balance = U256::from(1_000_000u64) * U256::from(10u64).pow(U256::from(18));
                (*a, GenesisAccount::default().with_balance(balance))
            })
            .collect();
        let mut genesis = Genesis {
            timestamp,
            gas_limit: DEV_GAS_LIMIT,
            base_fee_per_gas: Some(1_000_000_000),
            alloc,
            ..Default::default()
        };
        genesis.config.chain_id = chain_id;
        Self {
            name: "devnet".into(),
            chain: ChainConfig {
                chain_id,
                fee_mode: FeeMode::Eip1559,
                fee_recipient: Address::ZERO,
                genesis,
                alloc_file: None,
                alloc_dropped: None,
            },
            block_interval_ms: DEV_BLOCK_INTERVAL_MS,
            empty_block_interval_ms: DEV_EMPTY_BLOCK_INTERVAL_MS,
            max_view_time_ms: DEV_MAX_VIEW_TIME_MS,
            ordering: OrderingPolicy::Fcfs,
            sequencers,
            bootnodes: Vec::new(),
            l1: None,
            end_time: None,
            end_block: None,
            token: GasToken::default(),
        }
    }
}

/// Parses a bootnode multiaddr (`/ip4/…/tcp/…/p2p/<peer id>`).
pub fn parse_bootnode(addr: &str) -> eyre::Result<(libp2p::PeerId, libp2p::Multiaddr)> {
    let parsed: libp2p::Multiaddr =
        addr.parse().wrap_err_with(|| format!("bootnode {addr:?} is not a multiaddr"))?;
    Ok(flashlayer_p2p::parse_bootnode(&parsed)?)
}
