//! Local layers for development and tests, behind `flashlayer init` and `flashlayer devnet`: a
//! layer from nothing, its nodes as separate processes, and `devnet.json` describing it for
//! scripts and tests. [`attach_l1`] (deploying a layer's contract) serves `create` too.

use alloy::{
    primitives::{Address, B256, U256},
    signers::local::{MnemonicBuilder, PrivateKeySigner, coins_bip39::English},
};
use eyre::{Context, bail, ensure};
use flashlayer_node::{
    keys::NodeKeys,
    layer::{DEV_BLOCK_INTERVAL_MS, DEV_GAS_LIMIT, LayerDescription, Sequencer},
};
use serde::{Deserialize, Serialize};
use std::{
    net::{SocketAddr, TcpListener},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

/// The mnemonic anvil and hardhat derive their dev accounts from: wallets and scripts already
/// know these keys, and they are worthless anywhere real.
pub use flashlayer_loadgen::DEV_MNEMONIC;

/// A prefunded development account.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DevAccount {
    /// Address.
    pub address: Address,
    /// Hex private key.
    pub private_key: String,
}

/// One node as `devnet.json` lists it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DevnetNode {
    /// HTTP JSON-RPC URL.
    pub rpc: String,
    /// WebSocket JSON-RPC URL.
    pub ws: String,
    /// Prometheus metrics URL.
    pub metrics: String,
    /// Data directory.
    pub datadir: PathBuf,
    /// Keys directory.
    pub keys: PathBuf,
    /// Process id.
    pub pid: u32,
}

/// `devnet.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DevnetInfo {
    /// L2 chain id.
    pub chain_id: u64,
    /// Layer description file.
    pub layer: PathBuf,
    /// The nodes.
    pub nodes: Vec<DevnetNode>,
    /// Prefunded accounts (the same keys hold 10,000 ETH on the devnet's anvil L1).
    pub accounts: Vec<DevAccount>,
    /// The L1 the layer settles on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub l1: Option<DevnetL1>,
}

/// The L1 part of `devnet.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DevnetL1 {
    /// anvil's JSON-RPC URL.
    pub rpc: String,
    /// L1 chain id.
    pub chain_id: u64,
    /// The layer's FlashLayer contract.
    pub layer_contract: Address,
    /// anvil's process id.
    pub pid: u32,
}

/// How a layer is set up on its L1 (`flashlayer init --l1-rpc`, `flashlayer create`).
#[derive(Debug, Clone)]
pub struct L1Setup {
    /// L1 JSON-RPC URL.
    pub rpc: String,
    /// Key that deploys the contract (and becomes the layer's owner) and funds the settlement
    /// keys.
    pub deployer: PrivateKeySigner,
    /// Batch rules and confirmations written into the layer.
    pub batch_blocks: u64,
    /// Longest batch span (seconds of L2 time).
    pub batch_interval_secs: u64,
    /// Confirmations before a deposit counts.
    pub confirmations: u64,
    /// Submitter takeover timeout.
    pub submit_timeout_secs: u64,
    /// Seconds after acceptance before messages may be relayed, and between a membership
    /// change's announcement and its application (`None`: [`DEFAULT_CHALLENGE_WINDOW_SECS`],
    /// or 0 on a development L1).
    pub challenge_window: Option<u64>,
    /// Signatures a batch needs (default: just over two thirds of the set).
    pub threshold: Option<usize>,
    /// Wei sent to each settlement key for its submission gas (0: operators fund their own).
    pub fund_settlement: U256,
    /// Where batch data goes.
    pub data_availability: flashlayer_settlement::data::DataAvailability,
    /// Seconds without a final batch before accounts may escape (`None`:
    /// [`DEFAULT_GRACE_PERIOD_SECS`]).
    pub grace_period: Option<u64>,
    /// Who may dispute a batch within its challenge window.
    pub watchers: Vec<Address>,
}

/// The grace period of a layer created without `--grace-period`: a day without a final batch
/// after the layer's end (or without any batch landing) before accounts may escape with their
/// balance in the last good batch. Long enough for operators to ride out an L1 gas spike or
/// an outage; short enough for a layer that lives hours.
pub const DEFAULT_GRACE_PERIOD_SECS: u64 = 86_400;

/// ETH each devnet settlement key gets from the deployer, for submission gas.
pub const DEV_SETTLEMENT_FUNDING_ETH: u64 = 10;

/// The challenge window of a layer created on a public L1 without `--challenge-window`: time
/// for operators to react to a bad batch, and for users to leave before a membership change.
pub const DEFAULT_CHALLENGE_WINDOW_SECS: u64 = 3_600;

/// Chain ids of local development L1s (anvil, hardhat, geth --dev), where a layer may run
/// without a challenge window.
pub const DEV_L1_CHAIN_IDS: [u64; 2] = [31_337, 1_337];

/// How long `create` waits for its L1 transactions to be mined.
const L1_RECEIPT_TIMEOUT: Duration = Duration::from_secs(120);

/// Deploys the layer's FlashLayer contract on L1 and writes the `l1` section into `layer`:
/// signer set = the sequencers' settlement addresses, the L2 genesis hash as the batch chain's
/// anchor, the layer's deadline, and the ETH its genesis allocates locked in as backing (so
/// that every L2 balance can be claimed back at the end). Everything that can be checked is
/// checked before the first L1 transaction; a failure after it names what was sent.
pub async fn attach_l1(layer: &mut LayerDescription, setup: &L1Setup) -> eyre::Result<()> {
    use alloy::{
        network::EthereumWallet,
        providers::{Provider, ProviderBuilder},
        rpc::types::TransactionRequest,
    };
    use flashlayer_settlement::{bindings::FlashLayer, threshold_for};

    let url = setup.rpc.parse().wrap_err_with(|| format!("L1 RPC URL {:?}", setup.rpc))?;
    let provider =
        ProviderBuilder::new().wallet(EthereumWallet::from(setup.deployer.clone())).connect_http(url);
    let chain_id = tokio::time::timeout(Duration::from_secs(10), provider.get_chain_id())
        .await
        .map_err(|_| eyre::eyre!("the L1 at {} did not answer within 10 s", setup.rpc))?
        .wrap_err_with(|| format!("cannot reach the L1 at {}", setup.rpc))?;
    ensure!(
        layer.chain.chain_id != chain_id,
        "the layer's chain id {} is the L1's: L2 transactions would be valid on the L1 too; pick another --chain-id",
        chain_id
    );
    let dev_l1 = DEV_L1_CHAIN_IDS.contains(&chain_id);
    let challenge_window = match setup.challenge_window {
        Some(window) => window,
        None if dev_l1 => 0,
        None => DEFAULT_CHALLENGE_WINDOW_SECS,
    };
    ensure!(
        challenge_window > 0 || dev_l1,
        "a challenge window of 0 is for development L1s only (chain ids {DEV_L1_CHAIN_IDS:?}); this L1 is chain {chain_id}: without a window nobody can react to a bad batch or leave before a membership change (default {DEFAULT_CHALLENGE_WINDOW_SECS} s)"
    );
    let mut sequencers: Vec<_> = layer.sequencers.iter().collect();
    sequencers.sort_by_key(|s| s.settlement_address);
    let signers: Vec<Address> = sequencers.iter().map(|s| s.settlement_address).collect();
    let consensus_keys = sequencers
        .iter()
        .map(|s| s.verifying_key().map(|k| B256::from(k.to_bytes())))
        .collect::<eyre::Result<Vec<B256>>>()?;
    let n = signers.len();
    let threshold = setup.threshold.unwrap_or_else(|| threshold_for(n));
    ensure!(
        threshold <= n && 3 * threshold > 2 * n,
        "a threshold of {threshold} is impossible for {n} sequencer(s): it must be more than two thirds of them and at most all ({} to {n})",
        threshold_for(n)
    );
    // The contract anchors the batch chain at the L2 genesis block, and an escape before the
    // first good batch at its state.
    let scratch = tempfile::tempdir()?;
    let genesis = flashlayer_execution::BlockExecutor::open(
        flashlayer_storage::Db::open(scratch.path())?,
        layer.chain.clone(),
    )?;
    let genesis_hash = genesis.head_hash();
    let genesis_state_root = genesis.head().state_root;
    let grace_period = setup.grace_period.unwrap_or(DEFAULT_GRACE_PERIOD_SECS);
    // A healthy cluster lands a batch every batch interval (plus a submitter takeover or two):
    // a shorter grace would open the escape on a live layer.
    let min_grace = 4 * (setup.batch_interval_secs + setup.submit_timeout_secs);
    ensure!(
        grace_period >= min_grace.max(1),
        "a grace period of {grace_period} s is shorter than four batch intervals and submitter timeouts ({min_grace} s): the escape would open on a live layer whose batch is a little late"
    );
    let mut seen = std::collections::BTreeSet::new();
    for watcher in &setup.watchers {
        ensure!(!watcher.is_zero(), "--watcher 0x0 is nobody's address");
        ensure!(seen.insert(*watcher), "--watcher {watcher} is named twice");
    }
    let genesis_supply: U256 = layer.chain.genesis_supply()?;
    let deadline = layer.end_time.unwrap_or(0);
    let latest = provider
        .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
        .await?
        .ok_or_else(|| eyre::eyre!("the L1 has no latest block"))?;
    ensure!(
        deadline == 0 || deadline > latest.header.timestamp,
        "the deadline {deadline} is not in the future (the L1's latest block is at {})",
        latest.header.timestamp
    );
    let funding = setup.fund_settlement * U256::from(n);
    let needed = genesis_supply + funding;
    let balance = provider.get_balance(setup.deployer.address()).await?;
    ensure!(
        balance > needed,
        "the owner {} holds {} wei on L1; creating this layer locks {} wei backing its genesis balances and sends {} wei to the settlement keys, plus gas",
        setup.deployer.address(),
        balance,
        genesis_supply,
        funding
    );
    let nonce = provider.get_transaction_count(setup.deployer.address()).await?;
    let expected = setup.deployer.address().create(nonce);
    let deploy = FlashLayer::deploy_builder(
        provider.clone(),
        signers.clone(),
        U256::from(threshold),
        genesis_hash,
        challenge_window,
        deadline,
        genesis_supply,
        consensus_keys,
        setup.data_availability.contract_mode(),
        FlashLayer::Recourse {
            genesisStateRoot: genesis_state_root,
            gracePeriod: grace_period,
            watchers: setup.watchers.clone(),
        },
    )
    .value(genesis_supply)
    .nonce(nonce);
    let pending = deploy.send().await.wrap_err("sending the FlashLayer deployment")?;
    let tx = *pending.tx_hash();
    let receipt = pending.with_timeout(Some(L1_RECEIPT_TIMEOUT)).get_receipt().await.wrap_err_with(|| {
        format!(
            "the FlashLayer deployment {tx} was sent but not mined within {} s; if it is mined later, the contract is at {expected} and holds {genesis_supply} wei",
            L1_RECEIPT_TIMEOUT.as_secs()
        )
    })?;
    ensure!(receipt.status(), "the FlashLayer deployment {tx} reverted");
    let contract =
        receipt.contract_address.ok_or_else(|| eyre::eyre!("FlashLayer deployment {tx} made no contract"))?;
    let deployed_at = receipt.block_number.unwrap_or_default();
    if !setup.fund_settlement.is_zero() {
        for signer in &signers {
            let fund = TransactionRequest::default().to(*signer).value(setup.fund_settlement);
            provider
                .send_transaction(fund)
                .await?
                .with_timeout(Some(L1_RECEIPT_TIMEOUT))
                .get_receipt()
                .await
                .wrap_err_with(|| {
                    format!("funding settlement key {signer} (the layer contract {contract} is deployed)")
                })?;
        }
    }
    layer.l1 = Some(flashlayer_node::layer::L1Settlement {
        chain_id,
        contract,
        deployed_at,
        confirmations: setup.confirmations,
        batch_blocks: setup.batch_blocks,
        batch_interval_secs: setup.batch_interval_secs,
        submit_timeout_secs: setup.submit_timeout_secs,
        threshold,
        owner: Some(setup.deployer.address()),
        challenge_window_secs: challenge_window,
        data_availability: setup.data_availability,
        grace_period_secs: grace_period,
        watchers: setup.watchers.clone(),
    });
    Ok(())
}

/// The dev accounts: the first `count` of [`DEV_MNEMONIC`].
pub fn dev_accounts(count: u32) -> eyre::Result<Vec<(PrivateKeySigner, DevAccount)>> {
    (0..count)
        .map(|i| {
            let signer = MnemonicBuilder::<English>::default().phrase(DEV_MNEMONIC).index(i)?.build()?;
            let account = DevAccount {
                address: signer.address(),
                private_key: format!("0x{}", hex::encode(signer.to_bytes())),
            };
            Ok((signer, account))
        })
        .collect()
}

/// Files of node `i` under a devnet directory.
fn node_dir(dir: &Path, i: usize) -> PathBuf {
    dir.join(format!("node-{i}"))
}

/// Writes a development layer into `dir`: `layer.json`, keys for `nodes` validators under
/// `node-N/keys`, and `accounts.json`. The parameters are checked before anything is written.
pub fn init(
    dir: &Path,
    nodes: usize,
    chain_id: u64,
    accounts: u32,
    gas_limit: u64,
    block_interval_ms: u64,
) -> eyre::Result<LayerDescription> {
    ensure!(nodes >= 1, "--nodes must be at least 1");
    ensure!(
        !dir.join("layer.json").exists(),
        "{} already holds a layer (use --fresh to start over)",
        dir.display()
    );
    let keys: Vec<NodeKeys> = (0..nodes).map(|_| NodeKeys::generate()).collect();
    let mut sequencers = Vec::new();
    for keys in &keys {
        // p2p ports are part of the layer (every node must know every other's), so they are
        // chosen once here and kept when the devnet resumes.
        let p2p =
            (nodes > 1).then(|| free_port().map(|port| format!("/ip4/127.0.0.1/tcp/{port}"))).transpose()?;
        sequencers.push(Sequencer {
            consensus_key: keys.consensus_public_hex(),
            settlement_address: keys.settlement_address(),
            p2p,
        });
    }
    let accounts = dev_accounts(accounts)?;
    let addresses: Vec<Address> = accounts.iter().map(|(_, a)| a.address).collect();
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let mut layer = LayerDescription::dev(chain_id, sequencers, &addresses, now);
    layer.chain.genesis.gas_limit = gas_limit;
    layer.block_interval_ms = block_interval_ms;
    layer.check()?;
    std::fs::create_dir_all(dir).wrap_err_with(|| format!("creating {}", dir.display()))?;
    for (i, keys) in keys.iter().enumerate() {
        keys.save(&node_dir(dir, i).join("keys"))?;
    }
    layer.save(&dir.join("layer.json"))?;
    let listed: Vec<DevAccount> = accounts.into_iter().map(|(_, a)| a).collect();
    std::fs::write(dir.join("accounts.json"), serde_json::to_string_pretty(&listed)? + "\n")?;
    Ok(layer)
}

/// A free loopback port, never one this process handed out before: after connection churn the
/// kernel may give the same first free port to probes in a row (two nodes, one p2p port).
fn free_port() -> eyre::Result<u16> {
    static HANDED_OUT: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        if HANDED_OUT.lock().map_err(|_| eyre::eyre!("port registry poisoned"))?.insert(port) {
            return Ok(port);
        }
    }
}

/// Options of `flashlayer devnet`.
#[derive(Debug, Clone)]
pub struct DevnetOptions {
    /// Work directory.
    pub dir: PathBuf,
    /// Number of validator nodes.
    pub nodes: usize,
    /// L2 chain id of a new devnet.
    pub chain_id: u64,
    /// Start over even if `dir` holds a devnet.
    pub fresh: bool,
    /// First port to use (RPC of node i = base + 2i, metrics = base + 2i + 1); free ports if
    /// not given.
    pub base_port: Option<u16>,
    /// Log format passed to the nodes.
    pub log_format: String,
    /// Run an anvil L1 and settle on it (`None`: no L1).
    pub l1: Option<DevnetL1Options>,
    /// Live the whole life: the layer ends this many seconds after creation; the devnet then
    /// waits for the final batch, claims a dev account's balance on L1, disposes of the nodes
    /// (archiving node 0's chain) and exits.
    pub lifetime: Option<u64>,
    /// Start the nodes with the `admin` RPC namespace (peer blocking: partitions).
    pub admin_rpc: bool,
    /// Put a delaying proxy in front of every node's p2p port (see [`crate::proxy`]).
    pub link: Option<crate::proxy::LinkFaults>,
}

/// The devnet's L1.
#[derive(Debug, Clone)]
pub struct DevnetL1Options {
    /// The anvil binary.
    pub anvil: PathBuf,
    /// Deployment and batch parameters (its `rpc` is filled in once anvil runs).
    pub setup: L1Setup,
    /// The L1 explorer the nodes' live pages link to (`flashlayer node --l1-explorer`).
    pub explorer: Option<String>,
}

/// Starts anvil for a devnet on a free port, its chain kept in `dir/l1/state.json` (loaded at
/// start, dumped every few seconds and at exit) so that a resumed devnet finds its contract.
/// Blocks come every second, so confirmations advance on an idle L1.
async fn start_anvil(anvil: &Path, dir: &Path, port: Option<u16>) -> eyre::Result<(Child, String)> {
    let l1_dir = dir.join("l1");
    std::fs::create_dir_all(&l1_dir)?;
    let port = match port {
        Some(port) => port,
        None => free_port()?,
    };
    let log = std::fs::OpenOptions::new().create(true).append(true).open(l1_dir.join("anvil.log"))?;
    let mut child = Command::new(anvil)
        .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--block-time", "1"])
        // One-slot epochs: L1 `finalized` trails the head by two blocks, so `finalized` on the
        // layer moves within seconds (the default is 64 blocks behind).
        .args(["--slots-in-an-epoch", "1"])
        // The layer's genesis ETH (10 dev accounts x 1,000,000) is locked in its contract as
        // backing, so the deployer needs more than anvil's default 10,000.
        .args(["--balance", "100000000"])
        .arg("--state")
        .arg(l1_dir.join("state.json"))
        .args(["--state-interval", "5"])
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .wrap_err_with(|| {
            format!("starting anvil ({}); run scripts/setup, or pass --no-l1", anvil.display())
        })?;
    let rpc = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let client = jsonrpsee::http_client::HttpClientBuilder::default()
        .request_timeout(Duration::from_secs(2))
        .build(&rpc)?;
    loop {
        use jsonrpsee::core::client::ClientT;
        if client.request::<serde_json::Value, _>("eth_chainId", jsonrpsee::rpc_params![]).await.is_ok() {
            return Ok((child, rpc));
        }
        if let Some(status) = child.try_wait()? {
            bail!("anvil exited with {status}; see {}", l1_dir.join("anvil.log").display());
        }
        ensure!(Instant::now() < deadline, "anvil did not answer at {rpc} within 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

struct Running {
    children: Vec<Child>,
    anvil: Option<Child>,
}

impl Running {
    fn stop(&mut self) {
        self.stop_nodes();
        // The L1 last (SIGTERM: anvil dumps its state for the next start).
        if let Some(mut anvil) = self.anvil.take() {
            unsafe { libc::kill(anvil.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(10);
            while matches!(anvil.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = anvil.kill();
            let _ = anvil.wait();
        }
    }

    fn stop_nodes(&mut self) {
        for child in &self.children {
            // SIGTERM: nodes shut down cleanly.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        for child in &mut self.children {
            loop {
                match child.try_wait() {
                    Ok(Some(_)) | Err(_) => break,
                    Ok(None) if Instant::now() > deadline => {
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                    Ok(None) => std::thread::sleep(Duration::from_millis(50)),
                }
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn wait_ready(rpc: &str, child: &mut Child, log: &Path) -> eyre::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    let client = jsonrpsee::http_client::HttpClientBuilder::default()
        .request_timeout(Duration::from_secs(2))
        .build(rpc)?;
    loop {
        use jsonrpsee::core::client::ClientT;
        if client.request::<serde_json::Value, _>("eth_chainId", jsonrpsee::rpc_params![]).await.is_ok() {
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            let tail = std::fs::read_to_string(log).unwrap_or_default();
            let tail: Vec<&str> = tail.lines().rev().take(20).collect();
            bail!(
                "node exited with {status} before serving RPC; last lines of {}:\n{}",
                log.display(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        if Instant::now() > deadline {
            bail!("node did not serve RPC at {rpc} within 120 s (see {})", log.display());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// How node `i` of a devnet is started (again, after a kill).
#[derive(Debug, Clone)]
struct NodeSpec {
    args: Vec<std::ffi::OsString>,
    log: PathBuf,
    rpc: String,
}

/// A running devnet: its processes, and how to start each of them again. `flashlayer devnet`
/// runs one in the foreground; `flashlayer nemesis` drives faults through one.
pub struct Devnet {
    /// Its directory.
    pub dir: PathBuf,
    /// What `devnet.json` says.
    pub info: DevnetInfo,
    /// The layer.
    pub layer: LayerDescription,
    running: Running,
    /// The `flashlayer` binary nodes run, resolved once: a rebuild replaces the file, after
    /// which `current_exe()` names a deleted one.
    exe: PathBuf,
    specs: Vec<NodeSpec>,
    anvil: Option<(PathBuf, u16)>,
    /// Nodes this handle stopped on purpose (their exit is not a crash).
    killed: Vec<bool>,
    /// Exits already reported.
    reported: Vec<bool>,
    _proxies: Vec<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for Devnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Devnet").field("dir", &self.dir).finish_non_exhaustive()
    }
}

fn signal(pid: u32, signal: libc::c_int) {
    // SAFETY: a signal to a child process this devnet started.
    unsafe { libc::kill(pid as i32, signal) };
}

impl Devnet {
    /// Creates (or resumes) the devnet in `options.dir`, starts anvil and the nodes, waits
    /// until every node serves JSON-RPC, and writes `devnet.json`.
    pub async fn start(options: DevnetOptions) -> eyre::Result<Self> {
        let dir = std::path::absolute(&options.dir)?;
        let info_path = dir.join("devnet.json");
        // A layer's life is not resumable: a lifetime always starts a new layer.
        let fresh = options.fresh || options.lifetime.is_some();
        if fresh && dir.exists() {
            ensure!(
                dir.join("layer.json").exists() || std::fs::read_dir(&dir)?.next().is_none(),
                "{} is not a devnet directory; refusing to delete it",
                dir.display()
            );
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::create_dir_all(&dir)?;
        let mut running = Running { children: Vec::new(), anvil: None };
        let mut l1_rpc = None;
        let mut anvil = None;
        if let Some(l1) = &options.l1 {
            let (child, rpc) = start_anvil(&l1.anvil, &dir, None).await?;
            let port = rpc.rsplit(':').next().and_then(|p| p.parse().ok()).expect("anvil URL with a port");
            anvil = Some((l1.anvil.clone(), port));
            running.anvil = Some(child);
            l1_rpc = Some(rpc);
        }
        let layer = if dir.join("layer.json").exists() {
            let layer = LayerDescription::load(&dir.join("layer.json"))?;
            ensure!(
                layer.l1.is_some() == options.l1.is_some(),
                "{} holds a devnet {} an L1; start it the same way or use --fresh",
                dir.display(),
                if layer.l1.is_some() { "with" } else { "without" }
            );
            ensure!(
                layer.sequencers.len() == options.nodes,
                "{} holds a devnet of {} nodes, not {} (use --fresh to start over)",
                dir.display(),
                layer.sequencers.len(),
                options.nodes
            );
            if let Some(end) = layer.end_time {
                ensure!(
                    end > SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs(),
                    "the layer in {} has reached its end (it lived with --lifetime); start a new one with --fresh",
                    dir.display()
                );
            }
            println!("resuming the devnet in {}", dir.display());
            layer
        } else {
            println!("creating a devnet of {} node(s) in {}", options.nodes, dir.display());
            let mut layer =
                init(&dir, options.nodes, options.chain_id, 10, DEV_GAS_LIMIT, DEV_BLOCK_INTERVAL_MS)?;
            if let Some(lifetime) = options.lifetime {
                layer.end_time = Some(SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() + lifetime);
                layer.save(&dir.join("layer.json"))?;
            }
            if let (Some(l1), Some(rpc)) = (&options.l1, &l1_rpc) {
                let setup = L1Setup { rpc: rpc.clone(), ..l1.setup.clone() };
                attach_l1(&mut layer, &setup).await?;
                layer.save(&dir.join("layer.json"))?;
            }
            layer
        };
        let _ = std::fs::remove_file(&info_path);
        let accounts: Vec<DevAccount> =
            serde_json::from_str(&std::fs::read_to_string(dir.join("accounts.json"))?)?;

        let exe = std::env::current_exe()?;
        let mut nodes = Vec::new();
        let mut specs = Vec::new();
        let mut proxies = Vec::new();
        for i in 0..options.nodes {
            let ndir = node_dir(&dir, i);
            let (rpc_port, metrics_port) = match options.base_port {
                Some(base) => (base + 2 * i as u16, base + 2 * i as u16 + 1),
                None => (free_port()?, free_port()?),
            };
            let rpc_addr: SocketAddr = format!("127.0.0.1:{rpc_port}").parse()?;
            let metrics_addr: SocketAddr = format!("127.0.0.1:{metrics_port}").parse()?;
            let mut args: Vec<std::ffi::OsString> = vec!["node".into()];
            if let Some(rpc) = &l1_rpc {
                args.extend(["--l1-rpc".into(), rpc.into()]);
            }
            if let Some(explorer) = options.l1.as_ref().and_then(|l1| l1.explorer.as_ref()) {
                args.extend(["--l1-explorer".into(), explorer.into()]);
            }
            args.extend([
                "--layer".into(),
                dir.join("layer.json").into(),
                "--keys".into(),
                ndir.join("keys").into(),
                "--datadir".into(),
                ndir.join("data").into(),
                "--rpc-addr".into(),
                rpc_addr.to_string().into(),
                "--metrics-addr".into(),
                metrics_addr.to_string().into(),
                "--log-format".into(),
                options.log_format.clone().into(),
            ]);
            if options.admin_rpc {
                args.push("--enable-admin-rpc".into());
            }
            // With link faults, the layer's p2p address of each node is a proxy that delays
            // what passes through it; the node itself listens on another port behind it.
            if let (Some(link), Some(p2p)) = (&options.link, &layer.sequencers[i].p2p) {
                let public: u16 = p2p
                    .rsplit('/')
                    .next()
                    .and_then(|p| p.parse().ok())
                    .ok_or_else(|| eyre::eyre!("p2p address {p2p:?} has no port"))?;
                let private = free_port()?;
                proxies.push(crate::proxy::spawn(public, private, *link, i as u64).await?);
                args.extend(["--p2p-addr".into(), format!("/ip4/127.0.0.1/tcp/{private}").into()]);
            }
            let spec = NodeSpec { args, log: ndir.join("node.log"), rpc: format!("http://{rpc_addr}") };
            let child = spawn_node(&exe, &spec)?;
            nodes.push(DevnetNode {
                rpc: spec.rpc.clone(),
                ws: format!("ws://{rpc_addr}"),
                metrics: format!("http://{metrics_addr}/metrics"),
                datadir: ndir.join("data"),
                keys: ndir.join("keys"),
                pid: child.id(),
            });
            running.children.push(child);
            specs.push(spec);
        }
        for (i, node) in nodes.iter().enumerate() {
            wait_ready(&node.rpc, &mut running.children[i], &node_dir(&dir, i).join("node.log")).await?;
        }
        let l1 = match (&layer.l1, &l1_rpc, &running.anvil) {
            (Some(l1), Some(rpc), Some(anvil)) => Some(DevnetL1 {
                rpc: rpc.clone(),
                chain_id: l1.chain_id,
                layer_contract: l1.contract,
                pid: anvil.id(),
            }),
            _ => None,
        };
        let info =
            DevnetInfo { chain_id: layer.chain.chain_id, layer: dir.join("layer.json"), nodes, accounts, l1 };
        let n = options.nodes;
        let devnet = Self {
            dir,
            info,
            layer,
            running,
            exe,
            specs,
            anvil,
            killed: vec![false; n],
            reported: vec![false; n],
            _proxies: proxies,
        };
        devnet.write_info()?;
        Ok(devnet)
    }

    fn write_info(&self) -> eyre::Result<()> {
        let info_path = self.dir.join("devnet.json");
        let tmp = self.dir.join("devnet.json.tmp");
        std::fs::write(&tmp, serde_json::to_string_pretty(&self.info)? + "\n")?;
        std::fs::rename(&tmp, &info_path)?;
        Ok(())
    }

    /// Kills node `i` at once (SIGKILL), as a crash would, and waits for it to be gone.
    pub fn kill(&mut self, i: usize) {
        self.killed[i] = true;
        let child = &mut self.running.children[i];
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Starts node `i` again (after [`kill`](Self::kill)) and waits until it serves JSON-RPC.
    pub async fn restart(&mut self, i: usize) -> eyre::Result<()> {
        let child = spawn_node(&self.exe, &self.specs[i])?;
        self.info.nodes[i].pid = child.id();
        self.running.children[i] = child;
        self.killed[i] = false;
        self.reported[i] = false;
        self.write_info()?;
        let log = self.specs[i].log.clone();
        wait_ready(&self.specs[i].rpc.clone(), &mut self.running.children[i], &log).await
    }

    /// Freezes node `i` (SIGSTOP), as a VM paused by its host.
    pub fn pause(&self, i: usize) {
        signal(self.running.children[i].id(), libc::SIGSTOP);
    }

    /// Lets node `i` run again (SIGCONT).
    pub fn resume(&self, i: usize) {
        signal(self.running.children[i].id(), libc::SIGCONT);
    }

    /// Stops the L1 (anvil dumps its state on SIGTERM; nodes see their L1 endpoint refuse).
    pub fn stop_l1(&mut self) {
        if let Some(mut anvil) = self.running.anvil.take() {
            signal(anvil.id(), libc::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(10);
            while matches!(anvil.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = anvil.kill();
            let _ = anvil.wait();
        }
    }

    /// Starts the L1 again on the same port, from the state it dumped.
    pub async fn start_l1(&mut self) -> eyre::Result<()> {
        let Some((binary, port)) = self.anvil.clone() else { return Ok(()) };
        let (child, _) = start_anvil(&binary, &self.dir, Some(port)).await?;
        if let Some(l1) = &mut self.info.l1 {
            l1.pid = child.id();
        }
        self.running.anvil = Some(child);
        self.write_info()
    }

    /// Nodes that exited without being killed through this handle (crashes), with their exit
    /// status; each is reported once.
    pub fn crashed(&mut self) -> Vec<(usize, std::process::ExitStatus)> {
        let mut crashed = Vec::new();
        for (i, child) in self.running.children.iter_mut().enumerate() {
            if !self.killed[i]
                && !self.reported[i]
                && let Ok(Some(status)) = child.try_wait()
            {
                self.reported[i] = true;
                crashed.push((i, status));
            }
        }
        crashed
    }

    /// Stops every process (nodes first, SIGTERM, then the L1) and removes `devnet.json`.
    pub async fn stop(mut self) -> eyre::Result<()> {
        let _ = std::fs::remove_file(self.dir.join("devnet.json"));
        let mut running = std::mem::replace(&mut self.running, Running { children: Vec::new(), anvil: None });
        tokio::task::spawn_blocking(move || running.stop()).await?;
        Ok(())
    }
}

fn spawn_node(exe: &Path, spec: &NodeSpec) -> eyre::Result<Child> {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(&spec.log)?;
    Command::new(exe)
        .args(&spec.args)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .wrap_err("starting a node process")
}

/// Runs a devnet until SIGINT or SIGTERM.
pub async fn run(options: DevnetOptions) -> eyre::Result<()> {
    let mut devnet = Devnet::start(options).await?;
    let (info, dir, layer) = (devnet.info.clone(), devnet.dir.clone(), devnet.layer.clone());
    let info_path = dir.join("devnet.json");
    println!("devnet running (chain id {}), described in {}", info.chain_id, info_path.display());
    for (i, node) in info.nodes.iter().enumerate() {
        println!("  node-{i}: rpc {}  ws {}  metrics {}  pid {}", node.rpc, node.ws, node.metrics, node.pid);
    }
    println!("  prefunded accounts (1,000,000 ETH each):");
    for a in &info.accounts {
        println!("    {}  {}", a.address, a.private_key);
    }
    if let Some(l1) = &info.l1 {
        println!(
            "  L1 (anvil): rpc {}  chain id {}  layer contract {}",
            l1.rpc, l1.chain_id, l1.layer_contract
        );
        println!(
            "  deposit: flashlayer bridge deposit --l1-rpc {} --contract {} --private-key <key> --amount 1",
            l1.rpc, l1.layer_contract
        );
    }
    println!("  try: cast block-number --rpc-url {}", info.nodes[0].rpc);
    if let Some(end) = layer.end_time {
        println!("  the layer ends at {end} (Unix time); then it settles on L1 and is disposed of");
    }
    println!("press Ctrl-C to stop");
    let mut life = layer.end_time.map(|_| EndOfLife::default());

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut watch = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
            _ = watch.tick() => {
                for (i, status) in devnet.crashed() {
                    eprintln!("node-{i} exited ({status}); see {}", node_dir(&dir, i).join("node.log").display());
                }
                if let Some(life) = &mut life
                    && life.step(&info, &dir).await?
                {
                    break;
                }
            }
        }
    }
    println!("stopping the devnet");
    devnet.stop().await
}

/// The devnet's end of life, step by step: report the phase as it changes; once the final
/// batch is final on L1, claim dev account 1's balance on L1 and dispose of every node
/// (node 0 archived first).
#[derive(Debug, Default)]
struct EndOfLife {
    phase: String,
    last_report: Option<Instant>,
}

impl EndOfLife {
    /// One step; `true` once the layer is disposed of.
    async fn step(&mut self, info: &DevnetInfo, dir: &Path) -> eyre::Result<bool> {
        use jsonrpsee::core::client::ClientT;
        let client = jsonrpsee::http_client::HttpClientBuilder::default()
            .request_timeout(Duration::from_secs(2))
            .build(&info.nodes[0].rpc)?;
        let Ok(status) =
            client.request::<serde_json::Value, _>("flash_status", jsonrpsee::rpc_params![]).await
        else {
            return Ok(false);
        };
        let text = |p: &str| {
            status.pointer(p).map(|v| v.to_string().trim_matches('"').to_string()).unwrap_or_default()
        };
        let phase = text("/lifecycle/phase");
        if phase != self.phase || self.last_report.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
            let detail = match phase.as_str() {
                "live" => {
                    format!("{} s left, block {}", text("/lifecycle/timeLeftSecs"), text("/executedHeight"))
                }
                "closing" => match status.pointer("/settlement/finalBatch").and_then(|b| b.as_u64()) {
                    Some(last) => format!(
                        "{}; final batch {last} signed, batches accepted on L1: {}",
                        text("/lifecycle/closedReason"),
                        text("/settlement/lastAcceptedBatch")
                    ),
                    None => format!("{}; committing the end block", text("/lifecycle/closedReason")),
                },
                "settled" => format!(
                    "final batch {} accepted on L1 (finalized: {})",
                    text("/settlement/finalBatch"),
                    text("/settlement/settledFinalized")
                ),
                _ => "waiting for the first block".into(),
            };
            println!("layer {phase}: {detail}");
            self.phase = phase.clone();
            self.last_report = Some(Instant::now());
        }
        if phase != "settled"
            || status.pointer("/settlement/settledFinalized") != Some(&serde_json::Value::Bool(true))
        {
            return Ok(false);
        }
        let Some(l1) = &info.l1 else { return Ok(false) };
        let claimer = &info.accounts[1];
        let key: PrivateKeySigner = claimer.private_key.parse()?;
        match crate::commands::claim::claim(
            crate::commands::claim::ProofSource::Rpc(&info.nodes[0].rpc),
            &l1.rpc,
            l1.layer_contract,
            &key,
            claimer.address,
            Duration::from_secs(60),
        )
        .await
        {
            Ok(_) => {}
            Err(e) => println!("claim for {} failed: {e:#}", claimer.address),
        }
        for (i, node) in info.nodes.iter().enumerate() {
            let archive = (i == 0).then(|| dir.join("archive.jsonl"));
            crate::commands::dispose::dispose(
                &info.layer,
                &node.datadir,
                Some(&l1.rpc),
                archive.as_deref(),
                false,
            )
            .await?;
        }
        println!(
            "the layer is disposed of; its chain is archived in {}",
            dir.join("archive.jsonl").display()
        );
        Ok(true)
    }
}
