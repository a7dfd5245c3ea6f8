//! `flashlayer init` and `flashlayer devnet`: a local layer from nothing, its nodes as separate
//! processes, and `devnet.json` describing it for scripts and tests.

use crate::{
    keys::NodeKeys,
    layer::{LayerDescription, Sequencer},
};
use alloy::{
    primitives::Address,
    signers::local::{MnemonicBuilder, PrivateKeySigner, coins_bip39::English},
};
use eyre::{Context, bail, ensure};
use serde::{Deserialize, Serialize};
use std::{
    net::{SocketAddr, TcpListener},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

/// The mnemonic anvil and hardhat derive their dev accounts from: wallets and scripts already
/// know these keys, and they are worthless anywhere real.
pub const DEV_MNEMONIC: &str = "test test test test test test test test test test test junk";

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
    /// Prefunded accounts.
    pub accounts: Vec<DevAccount>,
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
/// `node-N/keys`, and `accounts.json`.
pub fn init(dir: &Path, nodes: usize, chain_id: u64, accounts: u32) -> eyre::Result<LayerDescription> {
    ensure!(nodes >= 1, "--nodes must be at least 1");
    ensure!(
        !dir.join("layer.json").exists(),
        "{} already holds a layer (use --fresh to start over)",
        dir.display()
    );
    std::fs::create_dir_all(dir).wrap_err_with(|| format!("creating {}", dir.display()))?;
    let mut sequencers = Vec::new();
    for i in 0..nodes {
        let keys = NodeKeys::generate();
        keys.save(&node_dir(dir, i).join("keys"))?;
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
    let layer = LayerDescription::dev(chain_id, sequencers, &addresses, now);
    layer.save(&dir.join("layer.json"))?;
    let listed: Vec<DevAccount> = accounts.into_iter().map(|(_, a)| a).collect();
    std::fs::write(dir.join("accounts.json"), serde_json::to_string_pretty(&listed)? + "\n")?;
    Ok(layer)
}

fn free_port() -> eyre::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
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
}

struct Running {
    children: Vec<Child>,
}

impl Running {
    fn stop(&mut self) {
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

/// Runs a devnet until SIGINT or SIGTERM.
pub async fn run(options: DevnetOptions) -> eyre::Result<()> {
    let dir = std::path::absolute(&options.dir)?;
    let info_path = dir.join("devnet.json");
    if options.fresh && dir.exists() {
        ensure!(
            dir.join("layer.json").exists() || std::fs::read_dir(&dir)?.next().is_none(),
            "{} is not a devnet directory; refusing to delete it",
            dir.display()
        );
        std::fs::remove_dir_all(&dir)?;
    }
    let layer = if dir.join("layer.json").exists() {
        let layer = LayerDescription::load(&dir.join("layer.json"))?;
        ensure!(
            layer.sequencers.len() == options.nodes,
            "{} holds a devnet of {} nodes, not {} (use --fresh to start over)",
            dir.display(),
            layer.sequencers.len(),
            options.nodes
        );
        println!("resuming the devnet in {}", dir.display());
        layer
    } else {
        println!("creating a devnet of {} node(s) in {}", options.nodes, dir.display());
        init(&dir, options.nodes, options.chain_id, 10)?
    };
    let _ = std::fs::remove_file(&info_path);
    let accounts: Vec<DevAccount> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("accounts.json"))?)?;

    let exe = std::env::current_exe()?;
    let mut running = Running { children: Vec::new() };
    let mut nodes = Vec::new();
    for i in 0..options.nodes {
        let ndir = node_dir(&dir, i);
        let (rpc_port, metrics_port) = match options.base_port {
            Some(base) => (base + 2 * i as u16, base + 2 * i as u16 + 1),
            None => (free_port()?, free_port()?),
        };
        let log_path = ndir.join("node.log");
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&log_path)?;
        let rpc_addr: SocketAddr = format!("127.0.0.1:{rpc_port}").parse()?;
        let metrics_addr: SocketAddr = format!("127.0.0.1:{metrics_port}").parse()?;
        let child = Command::new(&exe)
            .arg("node")
            .arg("--layer")
            .arg(dir.join("layer.json"))
            .arg("--keys")
            .arg(ndir.join("keys"))
            .arg("--datadir")
            .arg(ndir.join("data"))
            .arg("--rpc-addr")
            .arg(rpc_addr.to_string())
            .arg("--metrics-addr")
            .arg(metrics_addr.to_string())
            .arg("--log-format")
            .arg(&options.log_format)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .wrap_err("starting a node process")?;
        nodes.push(DevnetNode {
            rpc: format!("http://{rpc_addr}"),
            ws: format!("ws://{rpc_addr}"),
            metrics: format!("http://{metrics_addr}/metrics"),
            datadir: ndir.join("data"),
            keys: ndir.join("keys"),
            pid: child.id(),
        });
        running.children.push(child);
    }
    for (i, node) in nodes.iter().enumerate() {
        wait_ready(&node.rpc, &mut running.children[i], &node_dir(&dir, i).join("node.log")).await?;
    }
    let info = DevnetInfo { chain_id: layer.chain.chain_id, layer: dir.join("layer.json"), nodes, accounts };
    let tmp = dir.join("devnet.json.tmp");
    std::fs::write(&tmp, serde_json::to_string_pretty(&info)? + "\n")?;
    std::fs::rename(&tmp, &info_path)?;

    println!("devnet running (chain id {}), described in {}", info.chain_id, info_path.display());
    for (i, node) in info.nodes.iter().enumerate() {
        println!("  node-{i}: rpc {}  ws {}  metrics {}  pid {}", node.rpc, node.ws, node.metrics, node.pid);
    }
    println!("  prefunded accounts (1,000,000 ETH each):");
    for a in &info.accounts {
        println!("    {}  {}", a.address, a.private_key);
    }
    println!("  try: cast block-number --rpc-url {}", info.nodes[0].rpc);
    println!("press Ctrl-C to stop");

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut watch = tokio::time::interval(Duration::from_secs(1));
    let mut reported = vec![false; running.children.len()];
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
            _ = watch.tick() => {
                for (i, child) in running.children.iter_mut().enumerate() {
                    if !reported[i] && let Ok(Some(status)) = child.try_wait() {
                        eprintln!("node-{i} exited ({status}); see {}", node_dir(&dir, i).join("node.log").display());
                        reported[i] = true;
                    }
                }
            }
        }
    }
    println!("stopping the devnet");
    let _ = std::fs::remove_file(&info_path);
    tokio::task::spawn_blocking(move || running.stop()).await?;
    Ok(())
}
