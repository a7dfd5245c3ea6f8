//! `flashlayer create`: a new layer on an L1, from a parameter file and flags.
//!
//! The owner (the dApp team) names the sequencer set (each operator's consensus key,
//! settlement address and p2p address, from `flashlayer keys show`), the layer's life (a
//! duration, an end time or an end block), its block rules, fees, ordering, gas token and
//! genesis, and the settlement rules. `create` checks all of it, reaches the L1, checks the
//! owner can pay, deploys the layer's `FlashLayer` contract with the genesis ETH locked in as
//! backing, and writes the layer description the operators start their nodes from. Nothing is
//! written or sent before every check has passed; an L1 failure after the first transaction
//! names what was sent (see [`crate::devnet::attach_l1`]).

use crate::devnet::{L1Setup, attach_l1};
use alloy::{
    genesis::{Genesis, GenesisAccount},
    primitives::{Address, U256},
    signers::local::PrivateKeySigner,
};
use clap::Args;
use eyre::{Context, bail, ensure};
use flashlayer_execution::{ChainConfig, FeeMode};
use flashlayer_node::{
    layer::{
        DEV_BLOCK_INTERVAL_MS, DEV_EMPTY_BLOCK_INTERVAL_MS, DEV_MAX_VIEW_TIME_MS, GasToken, LayerDescription,
        Sequencer,
    },
    mempool::OrderingPolicy,
};
use serde::Deserialize;
use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::{SystemTime, UNIX_EPOCH},
};

/// `flashlayer create`'s flags (each overrides the parameter file).
#[derive(Debug, Args)]
pub struct CreateCommand {
    /// L1 JSON-RPC URL.
    #[arg(long)]
    l1_rpc: String,
    /// The owner's private key (hex): deploys, pays, may close the layer early.
    #[arg(long, env = "FLASHLAYER_OWNER_KEY", hide_env_values = true)]
    owner_key: String,
    /// Parameter file (JSON; see docs/lifecycle.md).
    #[arg(long)]
    params: Option<PathBuf>,
    /// Where to write the layer description.
    #[arg(long, default_value = "layer.json")]
    out: PathBuf,
    /// Layer name.
    #[arg(long)]
    name: Option<String>,
    /// L2 chain id.
    #[arg(long)]
    chain_id: Option<u64>,
    /// A sequencer: CONSENSUS_KEY,SETTLEMENT_ADDRESS,P2P_MULTIADDR (repeatable; added to the file's).
    #[arg(long = "sequencer", value_parser = parse_sequencer)]
    sequencers: Vec<Sequencer>,
    /// Signatures a batch needs (default: just over two thirds).
    #[arg(long)]
    threshold: Option<usize>,
    /// Lifetime from now, in seconds.
    #[arg(long)]
    duration: Option<u64>,
    /// Deadline, Unix seconds.
    #[arg(long)]
    end_time: Option<u64>,
    /// L2 block that ends the layer.
    #[arg(long)]
    end_block: Option<u64>,
    /// Milliseconds between blocks.
    #[arg(long)]
    block_interval_ms: Option<u64>,
    /// Block gas limit.
    #[arg(long)]
    gas_limit: Option<u64>,
    /// Transaction ordering: fcfs or priority.
    #[arg(long)]
    ordering: Option<OrderingPolicy>,
    /// No fees (base fee zero; transactions may pay nothing).
    #[arg(long)]
    gasless: bool,
    /// Gas token name.
    #[arg(long)]
    token_name: Option<String>,
    /// Gas token symbol.
    #[arg(long)]
    token_symbol: Option<String>,
    /// Seconds after a batch lands before its messages / the final balances can be taken out,
    /// and between a membership change's announcement and its application [default: 3600;
    /// 0 on a development L1 (chain id 31337 or 1337), and only there].
    #[arg(long)]
    challenge_window: Option<u64>,
    /// ETH (decimal) the owner sends each settlement key for submission gas.
    #[arg(long)]
    fund_settlement: Option<String>,
    /// Where batch data goes, for the layer's life: `committee` (the default: operators keep
    /// and serve it, no L1 cost), `l1-calldata` (every batch posts its data in its submission)
    /// or `l1-blobs` (in EIP-4844 blobs, cheaper per byte; at most 6 blobs a batch): with
    /// either L1 mode anyone can verify the layer from the L1 alone.
    #[arg(long)]
    data_availability: Option<flashlayer_settlement::data::DataAvailability>,
    /// Seconds without a final batch, after the layer's end or after the last batch landed,
    /// before every account may escape with its balance in the last good batch [default:
    /// 86400].
    #[arg(long)]
    grace_period: Option<u64>,
    /// An L1 address that may dispute a batch within its challenge window (repeatable; added
    /// to the file's). Run `flashlayer verify --dispute` with its key. A watcher cannot take
    /// funds, but its dispute is final: name only parties you trust to stay honest.
    #[arg(long = "watcher")]
    watchers: Vec<Address>,
}

impl CreateCommand {
    /// Checks the parameters, deploys the layer and writes its description.
    pub fn execute(self) -> eyre::Result<()> {
        let owner = self.owner_key.parse().map_err(|e| eyre::eyre!("--owner-key: {e}"))?;
        let file = match &self.params {
            Some(path) => CreateParams::load(path)?,
            None => CreateParams::default(),
        };
        let token = match (self.token_name, self.token_symbol) {
            (None, None) => None,
            (name, symbol) => {
                let base = file.token.clone().unwrap_or_default();
                Some(GasToken { name: name.unwrap_or(base.name), symbol: symbol.unwrap_or(base.symbol) })
            }
        };
        let flags = CreateParams {
            name: self.name,
            chain_id: self.chain_id,
            sequencers: self.sequencers,
            threshold: self.threshold,
            duration_secs: self.duration,
            end_time: self.end_time,
            end_block: self.end_block,
            block_interval_ms: self.block_interval_ms,
            gas_limit: self.gas_limit,
            ordering: self.ordering,
            gasless: self.gasless.then_some(true),
            token,
            challenge_window_secs: self.challenge_window,
            fund_settlement_eth: self.fund_settlement,
            data_availability: self.data_availability,
            grace_period_secs: self.grace_period,
            watchers: self.watchers,
            ..Default::default()
        };
        let params = file.overridden_by(flags);
        let created = super::runtime()?.block_on(create(params, &self.l1_rpc, owner, &self.out))?;
        let l1 = created.layer.l1.as_ref().expect("created on L1");
        println!(
            "created layer {:?}: contract {} on L1 chain {} (block {}), {} sequencers, threshold {}",
            created.layer.name,
            l1.contract,
            l1.chain_id,
            l1.deployed_at,
            created.layer.sequencers.len(),
            l1.threshold
        );
        if let Some(end) = created.layer.end_time {
            println!("ends at {end} (Unix time), or earlier if the owner closes it on L1");
        }
        println!(
            "wrote {}; operators start with: flashlayer node --layer {} --keys <dir> --datadir <dir> --l1-rpc {}",
            created.path.display(),
            created.path.display(),
            self.l1_rpc
        );
        Ok(())
    }
}

/// The parameter file (JSON). Every field may also come from a flag, which wins.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateParams {
    /// Human name of the layer.
    pub name: Option<String>,
    /// L2 chain id.
    pub chain_id: Option<u64>,
    /// The sequencer set.
    #[serde(default)]
    pub sequencers: Vec<Sequencer>,
    /// Signatures a batch needs (default: just over two thirds).
    pub threshold: Option<usize>,
    /// Lifetime in seconds from now.
    pub duration_secs: Option<u64>,
    /// Deadline (Unix seconds).
    pub end_time: Option<u64>,
    /// L2 block that ends the layer.
    pub end_block: Option<u64>,
    /// Milliseconds between blocks while transactions arrive.
    pub block_interval_ms: Option<u64>,
    /// Block gas limit.
    pub gas_limit: Option<u64>,
    /// `fcfs` or `priority`.
    pub ordering: Option<OrderingPolicy>,
    /// No fees: the base fee is zero and transactions may pay nothing.
    pub gasless: Option<bool>,
    /// Gas token display metadata.
    pub token: Option<GasToken>,
    /// Genesis accounts and predeployed contracts (geth's `alloc`: balance, nonce, code,
    /// storage). Their ETH is locked on L1 at creation.
    #[serde(default)]
    pub alloc: BTreeMap<Address, GenesisAccount>,
    /// Seconds between a batch's acceptance and the relay of its messages / claims.
    pub challenge_window_secs: Option<u64>,
    /// L1 confirmations before a deposit counts.
    pub confirmations: Option<u64>,
    /// Most L2 blocks per batch.
    pub batch_blocks: Option<u64>,
    /// Longest batch span (seconds of L2 time).
    pub batch_interval_secs: Option<u64>,
    /// Submitter takeover timeout (seconds).
    pub submit_timeout_secs: Option<u64>,
    /// ETH (decimal) sent to each settlement key for its gas.
    pub fund_settlement_eth: Option<String>,
    /// Where batch data goes (`committee`, `l1-calldata`, `l1-blobs`).
    pub data_availability: Option<flashlayer_settlement::data::DataAvailability>,
    /// Seconds without a final batch before accounts may escape.
    pub grace_period_secs: Option<u64>,
    /// Who may dispute a batch within its challenge window.
    #[serde(default)]
    pub watchers: Vec<Address>,
}

impl CreateParams {
    /// Reads a parameter file.
    pub fn load(path: &Path) -> eyre::Result<Self> {
        let text = std::fs::read_to_string(path)
            .wrap_err_with(|| format!("reading parameters {}", path.display()))?;
        serde_json::from_str(&text).wrap_err_with(|| format!("parsing parameters {}", path.display()))
    }

    /// `other`'s fields where set, ours otherwise (flags over the file).
    pub fn overridden_by(mut self, other: CreateParams) -> Self {
        macro_rules! take {
            ($($field:ident),*) => { $( if other.$field.is_some() { self.$field = other.$field; } )* };
        }
        take!(
            name,
            chain_id,
            threshold,
            duration_secs,
            end_time,
            end_block,
            block_interval_ms,
            gas_limit,
            ordering,
            gasless,
            token,
            challenge_window_secs,
            confirmations,
            batch_blocks,
            batch_interval_secs,
            submit_timeout_secs,
            fund_settlement_eth,
            data_availability,
            grace_period_secs
        );
        self.sequencers.extend(other.sequencers);
        self.watchers.extend(other.watchers);
        self.alloc.extend(other.alloc);
        self
    }
}

/// What `create` produces besides the contract.
#[derive(Debug)]
pub struct Created {
    /// The layer description, as written.
    pub layer: LayerDescription,
    /// Where.
    pub path: PathBuf,
}

/// Builds and checks the layer description from `params` (nothing touches the L1 yet).
pub fn describe(params: &CreateParams, now: u64) -> eyre::Result<LayerDescription> {
    let n = params.sequencers.len();
    ensure!(
        n >= 1,
        "the sequencer set is empty: give each operator as --sequencer KEY,ADDRESS,P2P or in the parameter file"
    );
    let mut keys = std::collections::HashSet::new();
    let mut addresses = std::collections::HashSet::new();
    for s in &params.sequencers {
        s.verifying_key().wrap_err_with(|| format!("sequencer {}", s.consensus_key))?;
        ensure!(
            keys.insert(s.consensus_key.trim_start_matches("0x").to_lowercase()),
            "duplicate operator: consensus key {} is listed twice",
            s.consensus_key
        );
        ensure!(
            addresses.insert(s.settlement_address),
            "duplicate operator: settlement address {} is listed twice",
            s.settlement_address
        );
        ensure!(s.settlement_address != Address::ZERO, "a settlement address is the zero address");
        if n > 1 {
            ensure!(
                s.p2p.is_some(),
                "sequencer {} has no p2p address (a multiaddr such as /ip4/203.0.113.7/tcp/30333)",
                s.consensus_key
            );
        }
    }
    if let Some(t) = params.threshold {
        let least = flashlayer_settlement::threshold_for(n);
        ensure!(
            t <= n && 3 * t > 2 * n,
            "a threshold of {t} is impossible for {n} sequencer(s): it must be more than two thirds of them and at most all ({least} to {n})"
        );
    }
    let ends = [params.duration_secs.is_some(), params.end_time.is_some()].iter().filter(|x| **x).count();
    ensure!(ends <= 1, "give either a duration or an end time, not both");
    let end_time = match (params.duration_secs, params.end_time) {
        (Some(0), _) => bail!("the duration must be at least 1 second"),
        (Some(d), _) => Some(now + d),
        (None, Some(t)) => {
            ensure!(t > now, "the end time {t} is in the past (now is {now})");
            Some(t)
        }
        (None, None) => None,
    };
    ensure!(
        end_time.is_some() || params.end_block.is_some(),
        "a flash layer needs an end: give a duration, an end time or an end block (it can still be closed early on L1)"
    );
    let gasless = params.gasless.unwrap_or(false);
    let mut genesis = Genesis {
        timestamp: now,
        gas_limit: params.gas_limit.unwrap_or(30_000_000),
        base_fee_per_gas: Some(if gasless { 0 } else { 1_000_000_000 }),
        alloc: params.alloc.clone(),
        ..Default::default()
    };
    let chain_id = params.chain_id.ok_or_else(|| eyre::eyre!("the L2 chain id is missing (--chain-id)"))?;
    genesis.config.chain_id = chain_id;
    let block_interval_ms = params.block_interval_ms.unwrap_or(DEV_BLOCK_INTERVAL_MS);
    let layer = LayerDescription {
        name: params.name.clone().unwrap_or_else(|| format!("layer-{chain_id}")),
        chain: ChainConfig {
            chain_id,
            fee_mode: if gasless { FeeMode::Gasless } else { FeeMode::Eip1559 },
            fee_recipient: Address::ZERO,
            genesis,
            alloc_file: None,
            alloc_dropped: None,
        },
        block_interval_ms,
        empty_block_interval_ms: DEV_EMPTY_BLOCK_INTERVAL_MS.max(block_interval_ms),
        max_view_time_ms: DEV_MAX_VIEW_TIME_MS.max(block_interval_ms + 1_000),
        ordering: params.ordering.unwrap_or_default(),
        sequencers: params.sequencers.clone(),
        bootnodes: Vec::new(),
        l1: None,
        end_time,
        end_block: params.end_block,
        token: params.token.clone().unwrap_or_default(),
    };
    layer.check()?;
    Ok(layer)
}

/// Creates the layer on the L1 at `l1_rpc` as `owner` and writes its description to `out`.
pub async fn create(
    params: CreateParams,
    l1_rpc: &str,
    owner: PrivateKeySigner,
    out: &Path,
) -> eyre::Result<Created> {
    ensure!(!out.exists(), "{} exists; refusing to overwrite a layer description", out.display());
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        ensure!(parent.is_dir(), "the directory of {} does not exist", out.display());
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let mut layer = describe(&params, now)?;
    let fund_settlement = match &params.fund_settlement_eth {
        Some(eth) => alloy::primitives::utils::parse_ether(eth)
            .map_err(|e| eyre::eyre!("fund_settlement_eth {eth:?}: {e}"))?,
        None => U256::ZERO,
    };
    let setup = L1Setup {
        rpc: l1_rpc.to_string(),
        deployer: owner,
        batch_blocks: params.batch_blocks.unwrap_or(50),
        batch_interval_secs: params.batch_interval_secs.unwrap_or(5),
        confirmations: params.confirmations.unwrap_or(1),
        submit_timeout_secs: params.submit_timeout_secs.unwrap_or(5),
        challenge_window: params.challenge_window_secs,
        threshold: params.threshold,
        fund_settlement,
        data_availability: params.data_availability.unwrap_or_default(),
        grace_period: params.grace_period_secs,
        watchers: params.watchers.clone(),
    };
    attach_l1(&mut layer, &setup).await?;
    layer.check()?;
    let contract = layer.l1.as_ref().map(|l| l.contract).unwrap_or_default();
    layer.save(out).wrap_err_with(|| {
        format!("the layer contract {contract} is deployed, but its description could not be written")
    })?;
    Ok(Created { layer, path: out.to_path_buf() })
}

/// Parses `--sequencer CONSENSUS_KEY,SETTLEMENT_ADDRESS[,P2P_MULTIADDR]`.
pub fn parse_sequencer(spec: &str) -> Result<Sequencer, String> {
    let mut parts = spec.split(',').map(str::trim);
    let (Some(key), Some(address)) = (parts.next(), parts.next()) else {
        return Err(format!("{spec:?}: expected CONSENSUS_KEY,SETTLEMENT_ADDRESS[,P2P_MULTIADDR]"));
    };
    let settlement_address =
        address.parse().map_err(|e| format!("{spec:?}: settlement address {address:?}: {e}"))?;
    let p2p = parts.next().map(str::to_string);
    if parts.next().is_some() {
        return Err(format!("{spec:?}: too many fields"));
    }
    Ok(Sequencer { consensus_key: key.to_string(), settlement_address, p2p })
}

#[cfg(test)]
mod tests {
    use super::*;
    use flashlayer_node::keys::NodeKeys;

    fn params(n: usize) -> CreateParams {
        let sequencers = (0..n)
            .map(|i| {
                let k = NodeKeys::generate();
                Sequencer {
                    consensus_key: k.consensus_public_hex(),
                    settlement_address: k.settlement_address(),
                    p2p: Some(format!("/ip4/127.0.0.1/tcp/{}", 30000 + i)),
                }
            })
            .collect();
        CreateParams { chain_id: Some(7), sequencers, duration_secs: Some(60), ..Default::default() }
    }

    fn error(p: &CreateParams) -> String {
        format!("{:#}", describe(p, 1_000).unwrap_err())
    }

    #[test]
    fn bad_parameters_are_named() {
        assert!(describe(&params(4), 1_000).is_ok());
        let mut p = params(4);
        p.sequencers[3].consensus_key = p.sequencers[0].consensus_key.clone();
        assert!(error(&p).contains("duplicate operator: consensus key"), "{}", error(&p));
        let mut p = params(4);
        p.sequencers[3].settlement_address = p.sequencers[0].settlement_address;
        assert!(error(&p).contains("duplicate operator: settlement address"));
        let mut p = params(4);
        p.sequencers[2].consensus_key = "0x1234".into();
        assert!(error(&p).contains("not 32 bytes"), "{}", error(&p));
        let mut p = params(4);
        p.threshold = Some(2);
        assert!(error(&p).contains("threshold of 2 is impossible for 4"), "{}", error(&p));
        let mut p = params(4);
        p.threshold = Some(5);
        assert!(error(&p).contains("impossible"));
        let mut p = params(4);
        p.duration_secs = None;
        p.end_time = Some(999);
        assert!(error(&p).contains("in the past"), "{}", error(&p));
        let mut p = params(4);
        p.duration_secs = None;
        assert!(error(&p).contains("needs an end"));
        assert!(error(&params(0)).contains("sequencer set is empty"));
    }

    #[test]
    fn sequencer_flag() {
        let s =
            parse_sequencer("0xab,0x0000000000000000000000000000000000000001,/ip4/1.2.3.4/tcp/5").unwrap();
        assert_eq!(s.p2p.as_deref(), Some("/ip4/1.2.3.4/tcp/5"));
        assert!(parse_sequencer("0xab").is_err());
        assert!(parse_sequencer("0xab,nothex").is_err());
    }
}
