//! Shared helpers of the end-to-end tests: real `flashlayer` node processes with RocksDB on
//! disk, real anvil, real cast and forge (installed by `scripts/setup`), alloy as the client.
//!
//! Every multi-process helper lives here so that scenarios read like their story: start a
//! node, send transactions, kill it, restart it, compare.
//!
//! # Layout
//! - Tools: [`flashlayer_bin`], [`tool`] (anvil, cast, forge from `scripts/setup`), [`cast`],
//!   [`free_port`], [`run`] / [`output`].
//! - Accounts and transactions: [`Account`], [`signed_transfer`], [`wait_receipts`].
//! - One node: [`TestNode`], [`spawn_node`] / [`spawn_node_with`], [`wait_rpc`], [`wait_for`].
//! - A cluster of node processes with faults (kill, restart, block a peer): [`Cluster`],
//!   [`ClusterNode`].
//! - The L1: [`Anvil`], [`forge_create`].
//! - Hostile peers: [`adversary`] (a stranger or a Byzantine validator speaking the real
//!   protocol, or raw bytes).
//! - The scenarios themselves are `tests/it/*.rs` (one binary, a module per story); the
//!   side-by-side benchmark is `benches/side_by_side.rs`.

pub mod adversary;

use alloy::{
    consensus::{SignableTransaction, TxEip1559, TxEnvelope},
    eips::eip2718::Encodable2718,
    network::{EthereumWallet, TxSignerSync},
    primitives::{Address, B256, Bytes, TxKind, U256},
    providers::{DynProvider, Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
};
use serde::Deserialize;
use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ is in the repo").to_path_buf()
}

/// The `flashlayer` binary: `$FLASHLAYER_BIN`, else next to this test binary's `deps/`.
pub fn flashlayer_bin() -> PathBuf {
    if let Ok(path) = std::env::var("FLASHLAYER_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("test binary path");
    let candidate = exe.parent().and_then(Path::parent).map(|d| d.join("flashlayer"));
    match candidate {
        Some(path) if path.exists() => path,
        _ => panic!(
            "flashlayer binary not found: run the tests through scripts/test (or build it with \
             `cargo build --release --bin flashlayer` and set FLASHLAYER_BIN)"
        ),
    }
}

/// A tool installed by `scripts/setup` (anvil, cast, forge). Fails loudly, never skips.
pub fn tool(name: &str) -> PathBuf {
    let path = repo_root().join(".tools/bin").join(name);
    assert!(path.exists(), "{name} not found at {}: run scripts/setup first", path.display());
    path
}

/// Ports this test process has handed out or knows to be taken (the layer's p2p ports).
static TAKEN_PORTS: std::sync::Mutex<std::collections::BTreeSet<u16>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// A free TCP port on loopback, never one this process handed out before or marked taken
/// ([`mark_port_taken`]). The kernel alone does not promise that: a port released after a
/// probe is free again, and after a test that churned connections (thousands of ephemeral ports
/// in TIME_WAIT) it hands the first free port after the busy stretch to many probes in a row:
/// a node then found its metrics port taken by its own p2p listener.
pub fn free_port() -> u16 {
    loop {
        let port = TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
        if TAKEN_PORTS.lock().expect("ports").insert(port) {
            return port;
        }
    }
}

/// Keeps [`free_port`] from handing out `port` (one another process chose, e.g. `flashlayer
/// init` for a node's p2p).
pub fn mark_port_taken(port: u16) {
    TAKEN_PORTS.lock().expect("ports").insert(port);
}

/// Runs a command and returns its stdout; panics with its stderr on failure.
pub fn run(cmd: &mut Command) -> String {
    let out = output(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output").trim().to_string()
}

/// Runs a command and returns its output whatever its status.
pub fn output(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("running {cmd:?}: {e}"))
}

/// `cast` with arguments.
pub fn cast(args: &[&str]) -> String {
    run(Command::new(tool("cast")).args(args))
}

/// A prefunded account of a dev layer.
#[derive(Debug, Clone, Deserialize)]
pub struct Account {
    /// Address.
    pub address: Address,
    /// Hex private key.
    pub private_key: String,
}

impl Account {
    /// Its signer.
    pub fn signer(&self) -> PrivateKeySigner {
        self.private_key.parse().expect("valid key")
    }
}

/// A signed EIP-1559 transfer of `value` wei on the dev chain (id 13370) with a fee cap well
/// above any base fee a test reaches: its hash and raw EIP-2718 bytes.
pub fn signed_transfer(signer: &PrivateKeySigner, nonce: u64, to: Address, value: u64) -> (B256, Bytes) {
    let mut tx = TxEip1559 {
        chain_id: 13370,
        nonce,
        gas_limit: 21_000,
        max_fee_per_gas: 100_000_000_000,
        max_priority_fee_per_gas: 1,
        to: TxKind::Call(to),
        value: U256::from(value),
        ..Default::default()
    };
    let sig = signer.sign_transaction_sync(&mut tx).expect("sign");
    let envelope = TxEnvelope::from(tx.into_signed(sig));
    (*envelope.tx_hash(), envelope.encoded_2718().into())
}

/// Waits until every hash has a receipt at `provider`, failing after `within`.
pub async fn wait_receipts(provider: &impl Provider, hashes: &[B256], within: Duration) {
    let deadline = Instant::now() + within;
    let mut missing: Vec<B256> = hashes.to_vec();
    while !missing.is_empty() {
        let mut still = Vec::new();
        for hash in missing {
            if provider.get_transaction_receipt(hash).await.expect("receipt query").is_none() {
                still.push(hash);
            }
        }
        missing = still;
        assert!(Instant::now() < deadline, "{} transactions never included", missing.len());
        if !missing.is_empty() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// One `flashlayer node` process over a one-validator dev layer: a [`Cluster`] of one, with the
/// node's accessors at hand.
pub struct TestNode {
    cluster: Cluster,
}

impl std::ops::Deref for TestNode {
    type Target = ClusterNode;
    fn deref(&self) -> &ClusterNode {
        &self.cluster.nodes[0]
    }
}

impl TestNode {
    /// Writes a one-validator dev layer and starts its node.
    pub async fn start() -> Self {
        Self { cluster: Cluster::start(1).await }
    }

    /// [`TestNode::start`], then a restart with more `flashlayer node` flags.
    pub async fn start_with_args(args: &[&str]) -> Self {
        let mut node = Self::start().await;
        node.cluster.stop(0);
        node.cluster.nodes[0].extra_args = args.iter().map(|a| a.to_string()).collect();
        node.cluster.restart(0).await;
        node
    }

    /// Starts the node process again on the same data and ports, and waits for its RPC.
    pub async fn restart(&mut self) {
        self.cluster.restart(0).await;
    }

    /// SIGKILL: a crash, no shutdown path runs.
    pub fn kill(&mut self) {
        self.cluster.kill(0);
    }

    /// SIGTERM and wait: a clean shutdown, which must succeed.
    pub fn stop(&mut self) {
        self.cluster.stop(0);
    }

    /// The node's log so far.
    pub fn log(&self) -> String {
        self.cluster.log(0)
    }

    /// The prefunded dev accounts.
    pub fn accounts(&self) -> Vec<Account> {
        self.cluster.accounts()
    }

    /// The node's RocksDB directory (open it only while the node is stopped).
    pub fn db_path(&self) -> PathBuf {
        self.cluster.dir.path().join("node-0/data/db")
    }
}

/// Starts `flashlayer node` for node `index` of the layer in `dir` (as `flashlayer init`
/// lays it out), logging to `log` at `RUST_LOG=$FLASHLAYER_TEST_LOG` (default `info`).
pub fn spawn_node(dir: &Path, index: usize, rpc_port: u16, metrics_port: u16, log: &Path) -> Child {
    spawn_node_with(dir, index, rpc_port, metrics_port, log, &[])
}

/// [`spawn_node`] with extra `flashlayer node` arguments.
pub fn spawn_node_with(
    dir: &Path,
    index: usize,
    rpc_port: u16,
    metrics_port: u16,
    log: &Path,
    extra: &[&str],
) -> Child {
    spawn_node_env(dir, index, rpc_port, metrics_port, log, extra, &[])
}

/// [`spawn_node_with`] with environment variables for the node's process.
pub fn spawn_node_env(
    dir: &Path,
    index: usize,
    rpc_port: u16,
    metrics_port: u16,
    log: &Path,
    extra: &[&str],
    env: &[(String, String)],
) -> Child {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("log");
    let node = dir.join(format!("node-{index}"));
    Command::new(flashlayer_bin())
        .arg("node")
        .args(extra)
        .arg("--layer")
        .arg(dir.join("layer.json"))
        .arg("--keys")
        .arg(node.join("keys"))
        .arg("--datadir")
        .arg(node.join("data"))
        .arg("--rpc-addr")
        .arg(format!("127.0.0.1:{rpc_port}"))
        .arg("--metrics-addr")
        .arg(format!("127.0.0.1:{metrics_port}"))
        .arg("--enable-admin-rpc")
        .env("RUST_LOG", std::env::var("FLASHLAYER_TEST_LOG").unwrap_or_else(|_| "info".into()))
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("spawn flashlayer node")
}

/// The last `lines` lines of `text`: what a failing test prints of a long log or output.
pub fn tail(text: &str, lines: usize) -> String {
    let mut last: Vec<&str> = text.lines().rev().take(lines).collect();
    last.reverse();
    last.join("\n")
}

/// Polls `check` every 250 ms until it returns a value; fails the test after `within`,
/// naming `what`.
pub async fn wait_for<T>(what: &str, within: Duration, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Waits until the node at `url` answers, failing with its log if it exits first.
pub async fn wait_rpc(url: &str, child: &mut Child, log: impl Fn() -> String) {
    wait_rpc_within(url, child, log, Duration::from_secs(60)).await
}

/// [`wait_rpc`] with its own deadline (a node writing a large genesis first).
pub async fn wait_rpc_within(url: &str, child: &mut Child, log: impl Fn() -> String, within: Duration) {
    let deadline = Instant::now() + within;
    let provider = ProviderBuilder::new().connect_http(url.parse().expect("url"));
    loop {
        if provider.get_chain_id().await.is_ok() {
            return;
        }
        if let Some(status) = child.try_wait().ok().flatten() {
            panic!("node exited ({status}) before serving RPC:\n{}", log());
        }
        assert!(Instant::now() < deadline, "node RPC not up within {within:?}:\n{}", log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An ERC-20 placed in a genesis by [`extend_genesis`]: `LoadToken`'s runtime code at
/// `address`, `owner` holding most of the supply (the load generator's faucet, which airdrops
/// it to its senders), and `holders` more accounts (the extra accounts' addresses) holding one
/// token each, so its storage trie has that many leaves.
#[derive(Debug, Clone, Copy)]
pub struct GenesisToken {
    /// Where the token lives.
    pub address: Address,
    /// Holds 10^12 tokens.
    pub owner: Address,
    /// Accounts `keccak256(i)[12..]`, `i < holders`, holding one token each.
    pub holders: u64,
}

/// The address of extra genesis account `i` ([`extend_genesis`]).
pub fn extra_account(i: u64) -> Address {
    Address::from_slice(&alloy::primitives::keccak256(i.to_be_bytes())[12..])
}

/// Adds `count` accounts to the genesis alloc of the layer description at `path`
/// ([`extra_account`] addresses, 1 ETH each), and a [`GenesisToken`] if asked. The file is
/// written as a stream (the existing description is small; the new entries are written one by
/// one), so tens of millions of accounts take no more memory than a few.
pub fn extend_genesis(path: &Path, count: u64, token: Option<GenesisToken>) {
    use alloy::primitives::{B256, U256, keccak256};
    use std::io::Write;
    let mut layer: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path).expect("layer.json")).expect("layer.json parses");
    let alloc = layer["chain"]["genesis"]["alloc"].take();
    const HOLE: &str = "\u{0}alloc\u{0}";
    layer["chain"]["genesis"]["alloc"] = serde_json::Value::String(HOLE.into());
    let text = serde_json::to_string(&layer).expect("serializes");
    let hole = serde_json::to_string(HOLE).expect("serializes");
    let (before, after) = text.split_once(&hole).expect("the placeholder is in the text");
    let mut out =
        std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path).expect("layer.json"));
    let mut sep = "";
    out.write_all(before.as_bytes()).unwrap();
    out.write_all(b"{").unwrap();
    for (address, account) in alloc.as_object().into_iter().flatten() {
        write!(out, "{sep}{}:{}", serde_json::to_string(address).unwrap(), account).unwrap();
        sep = ",";
    }
    for i in 0..count {
        write!(out, "{sep}\"{:#x}\":{{\"balance\":\"0xde0b6b3a7640000\"}}", extra_account(i)).unwrap();
        sep = ",";
    }
    if let Some(token) = token {
        // OpenZeppelin ERC20's layout: balances at slot 0, total supply at 2, name and symbol at
        // 3 and 4 (short strings: the bytes, then twice the length in the last byte).
        let balance_slot =
            |holder: Address| keccak256([B256::left_padding_from(holder.as_slice()).0, [0u8; 32]].concat());
        let short_string = |s: &str| {
            let mut word = [0u8; 32];
            word[..s.len()].copy_from_slice(s.as_bytes());
            word[31] = (s.len() * 2) as u8;
            B256::from(word)
        };
        let one = U256::from(10u64).pow(U256::from(18));
        let owner_balance = one * U256::from(10u64).pow(U256::from(12));
        let supply = owner_balance + one * U256::from(token.holders);
        let code = flashlayer_loadgen_runtime_code();
        write!(out, "{sep}\"{:#x}\":{{\"balance\":\"0x0\",\"code\":\"{code}\",\"storage\":{{", token.address)
            .unwrap();
        let slot = |out: &mut std::io::BufWriter<std::fs::File>, first: bool, key: B256, value: B256| {
            write!(out, "{}\"{key}\":\"{value}\"", if first { "" } else { "," }).unwrap();
        };
        slot(&mut out, true, B256::with_last_byte(2), B256::from(supply));
        slot(&mut out, false, B256::with_last_byte(3), short_string("Flashlayer Load Token"));
        slot(&mut out, false, B256::with_last_byte(4), short_string("LOAD"));
        slot(&mut out, false, balance_slot(token.owner), B256::from(owner_balance));
        for i in 0..token.holders {
            slot(&mut out, false, balance_slot(extra_account(i)), B256::from(one));
        }
        out.write_all(b"}}").unwrap();
    }
    out.write_all(b"}").unwrap();
    out.write_all(after.as_bytes()).unwrap();
    out.flush().unwrap();
}

/// `LoadToken`'s runtime bytecode (hex), from the contracts' checked-in artifact.
fn flashlayer_loadgen_runtime_code() -> String {
    let artifact: serde_json::Value = serde_json::from_slice(
        &std::fs::read(repo_root().join("contracts/artifacts/LoadToken.json")).expect("LoadToken artifact"),
    )
    .expect("artifact parses");
    artifact["deployedBytecode"].as_str().expect("deployedBytecode").to_owned()
}

/// One node of a [`Cluster`].
pub struct ClusterNode {
    /// Index in the layer's sequencer set (as `flashlayer init` numbered them).
    pub index: usize,
    /// JSON-RPC port.
    pub rpc_port: u16,
    /// Metrics port.
    pub metrics_port: u16,
    /// A full node (follows without voting) rather than a validator.
    pub full: bool,
    /// This node's own L1 endpoint (a proxy, say) instead of the cluster's, from its next
    /// (re)start.
    pub l1_rpc: Option<String>,
    /// More `flashlayer node` flags, from its next (re)start.
    pub extra_args: Vec<String>,
    /// Environment variables for its process (test-only faults), from its next (re)start.
    pub env: Vec<(String, String)>,
    child: Option<Child>,
}

impl ClusterNode {
    /// HTTP JSON-RPC URL.
    pub fn rpc_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.rpc_port)
    }

    /// A read-only provider.
    pub fn provider(&self) -> DynProvider {
        ProviderBuilder::new().connect_http(self.rpc_url().parse().expect("url")).erased()
    }

    /// A provider that signs with `account`.
    pub fn wallet(&self, account: &Account) -> DynProvider {
        ProviderBuilder::new()
            .wallet(EthereumWallet::from(account.signer()))
            .connect_http(self.rpc_url().parse().expect("url"))
            .erased()
    }

    /// WebSocket JSON-RPC URL.
    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.rpc_port)
    }
}

/// Several `flashlayer node` processes of one layer talking libp2p over loopback.
pub struct Cluster {
    /// Work directory: layer.json, accounts.json, node-N/{keys,data,node.log}.
    pub dir: tempfile::TempDir,
    /// The nodes.
    pub nodes: Vec<ClusterNode>,
    /// The L1 the layer settles on, if any.
    pub l1_rpc: Option<String>,
    /// How long a starting node may take to serve RPC.
    rpc_wait: Duration,
}

impl Cluster {
    /// Writes a layer of `n` validators settling on `l1` (its contract deployed by
    /// `flashlayer init --l1-rpc`, with `settlement` flags such as `--batch-blocks 10`) and
    /// starts every node against it.
    pub async fn start_with_l1(n: usize, l1: &Anvil, settlement: &[&str]) -> Self {
        Self::start_inner(n, Some((l1.rpc_url(), settlement)), &[], 0, None, &|_| Vec::new()).await
    }

    /// [`start_with_l1`](Self::start_with_l1) with environment variables per node (`env(i)`
    /// for node `i`): test-only faults such as `FLASHLAYER_FAULT_CORRUPT_STATE_ROOT`.
    pub async fn start_with_l1_env(
        n: usize,
        l1: &Anvil,
        settlement: &[&str],
        env: &dyn Fn(usize) -> Vec<(String, String)>,
    ) -> Self {
        Self::start_inner(n, Some((l1.rpc_url(), settlement)), &[], 0, None, env).await
    }

    /// Writes a layer of `n` validators and starts every node.
    pub async fn start(n: usize) -> Self {
        Self::start_inner(n, None, &[], 0, None, &|_| Vec::new()).await
    }

    /// [`start`](Self::start) with extra `flashlayer init` flags (`--gas-limit`, ...).
    pub async fn start_with_init(n: usize, init_args: &[&str]) -> Self {
        Self::start_inner(n, None, init_args, 0, None, &|_| Vec::new()).await
    }

    /// The operating-system process id of node `i`, while it runs.
    pub fn pid(&self, i: usize) -> Option<u32> {
        self.nodes[i].child.as_ref().map(Child::id)
    }

    /// [`start_with_init`](Self::start_with_init) with `extra_accounts` more genesis accounts
    /// and optionally a token at an address with that many holders, owned by the first dev
    /// account (see [`extend_genesis`]): a layer that starts with a large state.
    pub async fn start_with_genesis_accounts(
        n: usize,
        init_args: &[&str],
        extra_accounts: u64,
        token: Option<(Address, u64)>,
    ) -> Self {
        Self::start_inner(n, None, init_args, extra_accounts, token, &|_| Vec::new()).await
    }

    async fn start_inner(
        n: usize,
        l1: Option<(String, &[&str])>,
        init_args: &[&str],
        extra_accounts: u64,
        token: Option<(Address, u64)>,
        env: &dyn Fn(usize) -> Vec<(String, String)>,
    ) -> Self {
        let mut dir = tempfile::Builder::new().prefix("flashlayer-cluster-").tempdir().expect("tempdir");
        // Keep the layer and the node logs for a look afterwards.
        if std::env::var_os("FLASHLAYER_TEST_KEEP").is_some() {
            dir.disable_cleanup(true);
            eprintln!("cluster dir (kept): {}", dir.path().display());
        }
        let mut init = Command::new(flashlayer_bin());
        init.args(["init", "--nodes", &n.to_string(), "--dir"]).arg(dir.path()).args(init_args);
        if let Some((rpc, settlement)) = &l1 {
            init.args(["--l1-rpc", rpc]).args(*settlement);
        }
        run(&mut init);
        let layer: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("layer.json")).expect("layer.json"),
        )
        .expect("layer.json parses");
        for sequencer in layer["sequencers"].as_array().into_iter().flatten() {
            let port = sequencer["p2p"].as_str().and_then(|a| a.rsplit('/').next()?.parse().ok());
            if let Some(port) = port {
                mark_port_taken(port);
            }
        }
        let nodes = (0..n)
            .map(|index| ClusterNode {
                index,
                rpc_port: free_port(),
                metrics_port: free_port(),
                full: false,
                l1_rpc: None,
                extra_args: Vec::new(),
                env: env(index),
                child: None,
            })
            .collect();
        // A genesis of millions of accounts is written before the RPC comes up (about 20 s
        // per million on the development machine).
        let rpc_wait = Duration::from_secs(60 + (extra_accounts + token.map_or(0, |t| t.1)) / 10_000);
        let mut cluster = Self { dir, nodes, l1_rpc: l1.map(|(rpc, _)| rpc), rpc_wait };
        if extra_accounts > 0 || token.is_some() {
            let token = token.map(|(address, holders)| GenesisToken {
                address,
                owner: cluster.accounts()[0].address,
                holders,
            });
            extend_genesis(&cluster.dir.path().join("layer.json"), extra_accounts, token);
        }
        for i in 0..n {
            cluster.spawn(i);
        }
        for i in 0..n {
            cluster.wait(i).await;
        }
        cluster
    }

    fn spawn(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        assert!(node.child.is_none(), "node {i} already running");
        let log = self.dir.path().join(format!("node-{i}/node.log"));
        let mut extra: Vec<&str> = Vec::new();
        if node.full {
            extra.extend(["--full-node", "--p2p-addr", "/ip4/127.0.0.1/tcp/0"]);
        }
        if let Some(rpc) = node.l1_rpc.as_ref().or(self.l1_rpc.as_ref()) {
            extra.extend(["--l1-rpc", rpc.as_str()]);
        }
        extra.extend(node.extra_args.iter().map(String::as_str));
        node.child = Some(spawn_node_env(
            self.dir.path(),
            i,
            node.rpc_port,
            node.metrics_port,
            &log,
            &extra,
            &node.env,
        ));
    }

    /// Adds a full node (fresh keys outside the sequencer set) and starts it; returns its index.
    pub async fn add_full_node(&mut self) -> usize {
        let index = self.nodes.len();
        let keys = self.dir.path().join(format!("node-{index}/keys"));
        run(Command::new(flashlayer_bin()).args(["keys", "generate", "--plain", "--dir"]).arg(&keys));
        self.nodes.push(ClusterNode {
            index,
            rpc_port: free_port(),
            metrics_port: free_port(),
            full: true,
            l1_rpc: None,
            extra_args: Vec::new(),
            env: Vec::new(),
            child: None,
        });
        self.spawn(index);
        self.wait(index).await;
        index
    }

    async fn wait(&mut self, i: usize) {
        let log = self.log(i);
        let node = &mut self.nodes[i];
        let url = node.rpc_url();
        let within = self.rpc_wait;
        wait_rpc_within(&url, node.child.as_mut().expect("spawned"), || log.clone(), within).await;
    }

    /// Restarts node `i` on its data.
    pub async fn restart(&mut self, i: usize) {
        self.spawn(i);
        self.wait(i).await;
    }

    /// SIGKILL node `i`.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM node `i` and wait: a clean shutdown, which must succeed.
    pub fn stop(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].child.take() {
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let status = child.wait().expect("wait");
            assert!(status.success(), "node {i} did not exit cleanly on SIGTERM: {status}\n{}", self.log(i));
        }
    }

    /// Node `i`'s log.
    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("node-{i}/node.log"))).unwrap_or_default()
    }

    /// The prefunded dev accounts.
    pub fn accounts(&self) -> Vec<Account> {
        let text = std::fs::read_to_string(self.dir.path().join("accounts.json")).expect("accounts.json");
        serde_json::from_str(&text).expect("accounts.json parses")
    }

    /// The layer description as JSON.
    pub fn layer(&self) -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(self.dir.path().join("layer.json")).expect("layer"))
            .expect("layer.json parses")
    }

    /// libp2p peer id of node `i`: its consensus key from the layer is its identity.
    pub fn peer_id(&self, i: usize) -> String {
        let layer: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(self.dir.path().join("layer.json")).expect("layer"),
        )
        .expect("json");
        let key = layer["sequencers"][i]["consensus_key"].as_str().expect("key").to_string();
        let bytes: [u8; 32] =
            hex::decode(key.trim_start_matches("0x")).expect("hex").try_into().expect("32 bytes");
        let key = ed25519_dalek::VerifyingKey::from_bytes(&bytes).expect("ed25519");
        flashlayer_p2p::peer_id(&key).to_string()
    }

    /// Index of the node whose consensus key is `key` (hex, as `flash_status` shows it).
    pub fn index_of_key(&self, key: &str) -> usize {
        let layer: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(self.dir.path().join("layer.json")).expect("layer"),
        )
        .expect("json");
        layer["sequencers"]
            .as_array()
            .expect("sequencers")
            .iter()
            .position(|s| s["consensus_key"].as_str() == Some(key))
            .expect("a member of the set")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
        if std::thread::panicking() {
            for i in 0..self.nodes.len() {
                eprintln!("--- node {i} log (last 40 lines) ---");
                eprintln!("{}", tail(&self.log(i), 40));
            }
        }
    }
}

/// An anvil L1 (or reference chain) on a free port.
pub struct Anvil {
    /// Its port.
    pub port: u16,
    child: Child,
}

/// Dev account balance (ETH) of the anvil L1s the tests start: enough to back a dev layer's
/// genesis (see `flashlayer init`).
pub const DEV_L1_BALANCE_ETH: &str = "100000000";

impl Anvil {
    /// Starts anvil with its default dev accounts and waits for it.
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// An L1 for settlement: a block every second (confirmations advance when idle),
    /// `finalized` two blocks behind the head (one-slot epochs), so finality shows within
    /// seconds, and dev accounts rich enough to back a dev layer's genesis (10 x 1,000,000 ETH,
    /// locked in the layer contract at creation).
    pub async fn start_l1() -> Self {
        Self::start_with(&["--block-time", "1", "--slots-in-an-epoch", "1", "--balance", DEV_L1_BALANCE_ETH])
            .await
    }

    /// Starts anvil with extra arguments and waits for it.
    pub async fn start_with(args: &[&str]) -> Self {
        let port = free_port();
        let child = Command::new(tool("anvil"))
            .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--silent"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn anvil");
        let anvil = Self { port, child };
        let provider = ProviderBuilder::new().connect_http(anvil.rpc_url().parse().expect("url"));
        let deadline = Instant::now() + Duration::from_secs(30);
        while provider.get_chain_id().await.is_err() {
            assert!(Instant::now() < deadline, "anvil did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anvil
    }

    /// Its HTTP URL.
    pub fn rpc_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Its operating-system process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGSTOP: the L1 stops answering (an outage), keeping its state.
    pub fn pause(&self) {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGSTOP) };
    }

    /// SIGCONT after [`pause`](Self::pause).
    pub fn resume(&self) {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGCONT) };
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Deploys a contract from `contracts/` with `forge create`; returns its address.
pub fn forge_create(rpc: &str, private_key: &str, contract: &str, args: &[&str]) -> Address {
    let mut cmd = Command::new(tool("forge"));
    cmd.current_dir(repo_root().join("contracts")).args([
        "create",
        "--rpc-url",
        rpc,
        "--private-key",
        private_key,
        "--broadcast",
        "--json",
        contract,
    ]);
    if !args.is_empty() {
        cmd.arg("--constructor-args").args(args);
    }
    let out = run(&mut cmd);
    let json: serde_json::Value = out
        .find('{')
        .and_then(|start| serde_json::from_str(&out[start..]).ok())
        .unwrap_or_else(|| panic!("forge create printed no JSON: {out}"));
    json["deployedTo"].as_str().expect("deployedTo").parse().expect("address")
}

/// A TCP proxy on 127.0.0.1 that can be frozen: while frozen it forwards nothing either way
/// (requests hang, as over a stalled link or to an L1 endpoint that stopped following its
/// chain); thawed, it forwards again. For one node's view of a service going stale while the
/// others' stays fresh.
pub struct FreezableProxy {
    port: u16,
    frozen: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl FreezableProxy {
    /// A proxy to `127.0.0.1:upstream_port`, thawed.
    pub async fn start(upstream_port: u16) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let (frozen, watch) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let watch = watch.clone();
                tokio::spawn(async move {
                    let Ok(outbound) = tokio::net::TcpStream::connect(("127.0.0.1", upstream_port)).await
                    else {
                        return;
                    };
                    let (ri, wi) = inbound.into_split();
                    let (ro, wo) = outbound.into_split();
                    tokio::join!(Self::pipe(ri, wo, watch.clone()), Self::pipe(ro, wi, watch));
                });
            }
        });
        Self { port, frozen, task }
    }

    async fn pipe(
        mut from: tokio::net::tcp::OwnedReadHalf,
        mut to: tokio::net::tcp::OwnedWriteHalf,
        mut frozen: tokio::sync::watch::Receiver<bool>,
    ) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            if frozen.wait_for(|f| !*f).await.is_err() {
                return;
            }
            let n = match from.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            // Bytes read just before a freeze wait for the thaw too.
            if frozen.wait_for(|f| !*f).await.is_err() || to.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    }

    /// The proxy's HTTP URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stops forwarding (connections stay open, bytes wait).
    pub fn freeze(&self) {
        let _ = self.frozen.send(true);
    }

    /// Forwards again.
    pub fn thaw(&self) {
        let _ = self.frozen.send(false);
    }
}

impl Drop for FreezableProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
