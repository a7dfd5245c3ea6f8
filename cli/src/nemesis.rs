//! `flashlayer nemesis`: a 4-node devnet with its anvil L1 under load and under faults, then a
//! check of the history it left.
//!
//! The run starts a fresh devnet (admin RPC on, for partitions), runs the load generator over
//! every node's RPC with failover (what a wallet backend in front of a cluster does), and, from
//! a schedule derived from a seed (or read from a file), applies one fault at a time:
//! - `kill`: SIGKILL a node, restart it after a while;
//! - `pause`: SIGSTOP a node for 5-30 s, then SIGCONT (a VM its host paused);
//! - `partition-halves`: a 2|2 partition through the nodes' p2p block lists (no quorum anywhere),
//!   then healed;
//! - `partition-one`: one node cut off from the other three, then healed;
//! - `kill-leader`: SIGKILL the current leader, restart it after a while;
//! - `l1-outage`: stop anvil (it dumps its chain), start it again on the same port.
//!
//! Every run prints its seed and its fault timeline, so a failure can be replayed
//! (`--seed`, or `--schedule` with the `schedule.json` it wrote). At the end the faults are
//! healed, the load drains, and the **history check** runs:
//! 1. every transaction a node acknowledged (`eth_sendRawTransaction` answered with its hash) is
//!    in the chain; a transaction is included at most once by construction (nonces);
//! 2. per sender, the chain's nonce is the nonce before the run plus the sender's included
//!    transactions: no gap, nothing missing;
//! 3. every node has the same block hash and state root at every height;
//! 4. every batch the L1 accepted commits to the nodes' block hash and state root at its last
//!    block;
//! 5. no node exited on its own (only the nemesis kills).
//!
//! It reports, per fault, how long the layer went without a new commit and how long a restarted
//! or resumed node took to be back at the head, with the median and worst per kind, and writes
//! `nemesis.json` and `nemesis.html` (per-second inclusions with the faults drawn over them)
//! beside the load generator's own report.

use crate::devnet::{Devnet, DevnetL1Options, DevnetOptions, L1Setup};
use alloy::{
    primitives::B256,
    providers::{Provider, ProviderBuilder},
};
use eyre::{Context, bail, ensure};
use flashlayer_loadgen::{LoadgenConfig, Rate, Report, Workload};
use jsonrpsee::{core::client::ClientT, http_client::HttpClientBuilder, rpc_params};
use serde::{Deserialize, Serialize};
use std::{
    collections::BTreeMap,
    fmt::Write as _,
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};
use tokio::sync::Mutex;

/// The kinds of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// SIGKILL a node; restart it when the fault heals.
    Kill,
    /// SIGSTOP a node; SIGCONT it when the fault heals.
    Pause,
    /// Nodes {0, 1} and {2, 3} block each other's p2p connections.
    PartitionHalves,
    /// One node and the others block each other.
    PartitionOne,
    /// SIGKILL the node leading the current view; restart it when the fault heals.
    KillLeader,
    /// Stop the L1 (anvil); start it again on the same port from the chain it dumped.
    L1Outage,
}

impl FaultKind {
    /// Every kind, with its name.
    pub const ALL: [(Self, &'static str); 6] = [
        (Self::Kill, "kill"),
        (Self::Pause, "pause"),
        (Self::PartitionHalves, "partition-halves"),
        (Self::PartitionOne, "partition-one"),
        (Self::KillLeader, "kill-leader"),
        (Self::L1Outage, "l1-outage"),
    ];

    /// The kind's name.
    pub fn name(self) -> &'static str {
        Self::ALL.iter().find(|(k, _)| *k == self).map(|(_, n)| *n).expect("every kind is listed")
    }

    /// How long (seconds) the fault holds, drawn from `[min, max)`.
    fn hold_range(self) -> (f64, f64) {
        match self {
            Self::Kill | Self::KillLeader => (5.0, 20.0),
            Self::Pause => (5.0, 30.0),
            Self::PartitionHalves | Self::PartitionOne | Self::L1Outage => (10.0, 20.0),
        }
    }

    /// Whether the fault names a node up front.
    fn targets_a_node(self) -> bool {
        matches!(self, Self::Kill | Self::Pause | Self::PartitionOne)
    }
}

impl std::str::FromStr for FaultKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.iter().find(|(_, name)| *name == s).map(|(k, _)| *k).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|(_, n)| *n).collect();
            format!("unknown fault {s:?}: one of {}", names.join(", "))
        })
    }
}

/// One fault of a schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fault {
    /// Seconds after the start of the run.
    pub at: f64,
    /// What.
    pub kind: FaultKind,
    /// The node (for `kill`, `pause`, `partition-one`; `kill-leader` finds its own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<usize>,
    /// Seconds until it heals.
    pub hold: f64,
}

/// SplitMix64: the schedule's random numbers, from the seed alone.
#[derive(Debug, Clone, Copy)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn range(&mut self, (min, max): (f64, f64)) -> f64 {
        min + (max - min) * ((self.next() >> 11) as f64 / (1u64 << 53) as f64)
    }
}

/// Seconds of load before the first fault (the load generator funds its senders first).
pub const WARMUP_SECS: f64 = 25.0;
/// Seconds the layer gets to recover between one fault's heal and the next fault.
pub const RECOVERY_GAP_SECS: (f64, f64) = (8.0, 15.0);

/// The schedule of a run of `duration` seconds over `nodes` nodes from `seed`: one fault at a
/// time, each of the `kinds` in turn at random, the last healed at least a recovery gap before
/// the end.
pub fn schedule(seed: u64, duration: f64, kinds: &[FaultKind], nodes: usize) -> Vec<Fault> {
    let mut rng = Rng(seed);
    let mut faults = Vec::new();
    let mut t = WARMUP_SECS;
    if kinds.is_empty() {
        return faults;
    }
    loop {
        let kind = kinds[(rng.next() % kinds.len() as u64) as usize];
        let hold = (rng.range(kind.hold_range()) * 10.0).round() / 10.0;
        let gap = rng.range(RECOVERY_GAP_SECS);
        if t + hold + RECOVERY_GAP_SECS.1 > duration {
            break;
        }
        let node = kind.targets_a_node().then(|| (rng.next() % nodes as u64) as usize);
        faults.push(Fault { at: (t * 10.0).round() / 10.0, kind, node, hold });
        t += hold + gap;
    }
    faults
}

/// `nemesis` options.
#[derive(Debug, Clone)]
pub struct NemesisOptions {
    /// Work directory (a fresh devnet is created in `DIR/devnet`, reports go to `DIR`).
    pub dir: PathBuf,
    /// Seconds of load (faults happen within them).
    pub duration: u64,
    /// Seed of the schedule.
    pub seed: u64,
    /// A schedule to replay instead of the seed's.
    pub schedule: Option<Vec<Fault>>,
    /// Fault kinds the seed draws from.
    pub kinds: Vec<FaultKind>,
    /// Transactions per second offered.
    pub rate: f64,
    /// Load generator sender accounts.
    pub senders: usize,
    /// The anvil binary.
    pub anvil: PathBuf,
    /// Link faults on every p2p link (a delaying proxy per node).
    pub link: Option<crate::proxy::LinkFaults>,
}

/// What happened to one fault.
#[derive(Debug, Clone, Serialize)]
pub struct FaultRecord {
    /// The fault as scheduled.
    pub fault: Fault,
    /// The node it hit (for `kill-leader`, the leader found).
    pub node: Option<usize>,
    /// Seconds after the start when it was applied and when it healed.
    pub started: f64,
    /// See `started`.
    pub healed: f64,
    /// Seconds from the fault until the next commit anywhere (`None`: none before it healed;
    /// expected of a 2|2 partition).
    pub first_commit_during: Option<f64>,
    /// Seconds from the heal until the next commit.
    pub first_commit_after_heal: Option<f64>,
    /// Seconds from the heal until the node it hit had executed up to the head the others had
    /// reached at the heal (kill, pause, partition-one, kill-leader).
    pub back_at_head: Option<f64>,
}

/// The result of the history check.
#[derive(Debug, Clone, Serialize)]
pub struct Checks {
    /// Transactions acknowledged and not in the chain.
    pub acknowledged_not_included: u64,
    /// Senders whose chain nonce is not their first nonce plus their included transactions.
    pub nonce_mismatches: Vec<String>,
    /// Heights compared on every node, and the first one where they differ (if any).
    pub heights_compared: u64,
    /// See `heights_compared`.
    pub divergence: Option<String>,
    /// Batches accepted on L1, and the first one that does not match the nodes (if any).
    pub batches_checked: u64,
    /// See `batches_checked`.
    pub batch_mismatch: Option<String>,
    /// Nodes that exited without being killed.
    pub crashes: Vec<String>,
    /// When transactions are missing: senders some node still pools a run of transactions for
    /// (at most 20), each with its chain nonce and every node's pending nonce and eligible
    /// leaders; where the missing transactions wait, and whether anyone who holds them leads.
    pub stuck_senders: Vec<String>,
}

impl Checks {
    /// Whether the history is clean.
    pub fn passed(&self) -> bool {
        self.acknowledged_not_included == 0
            && self.nonce_mismatches.is_empty()
            && self.divergence.is_none()
            && self.batch_mismatch.is_none()
            && self.crashes.is_empty()
    }
}

/// Median and worst of some seconds.
#[derive(Debug, Clone, Serialize)]
pub struct Spread {
    /// How many.
    pub count: usize,
    /// Median.
    pub median: f64,
    /// Worst.
    pub worst: f64,
}

fn spread(mut values: Vec<f64>) -> Option<Spread> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some(Spread { count: values.len(), median: values[values.len() / 2], worst: values[values.len() - 1] })
}

/// A run's report (`nemesis.json`).
#[derive(Debug, Clone, Serialize)]
pub struct NemesisReport {
    /// The seed.
    pub seed: u64,
    /// Seconds of load.
    pub duration: u64,
    /// Transactions per second offered.
    pub rate: f64,
    /// Unix time of the start.
    pub started_at: f64,
    /// Each fault and how the layer took it.
    pub faults: Vec<FaultRecord>,
    /// Per kind: seconds without a commit from the fault (or its heal, for 2|2), and seconds
    /// for the node hit to be back at the head.
    pub recovery: BTreeMap<String, (Option<Spread>, Option<Spread>)>,
    /// The history check.
    pub checks: Checks,
    /// Included transactions per second, from the start of the load.
    pub included_per_second: Vec<u64>,
}

/// Committed and executed heights seen on each node over time.
#[derive(Debug, Default)]
struct Heights {
    /// (seconds since start, node, committed, executed)
    samples: Vec<(f64, usize, u64, u64)>,
}

impl Heights {
    fn max_committed_before(&self, t: f64) -> u64 {
        self.samples.iter().filter(|s| s.0 <= t).map(|s| s.2).max().unwrap_or_default()
    }

    /// First time after `from` that some node's committed height passed `height`.
    fn first_commit_after(&self, from: f64, height: u64) -> Option<f64> {
        self.samples.iter().filter(|s| s.0 >= from && s.2 > height).map(|s| s.0 - from).reduce(f64::min)
    }

    /// First time after `from` that `node` had executed `height`.
    fn node_reached(&self, node: usize, from: f64, height: u64) -> Option<f64> {
        self.samples
            .iter()
            .filter(|s| s.1 == node && s.0 >= from && s.3 >= height)
            .map(|s| s.0 - from)
            .reduce(f64::min)
    }
}

async fn status(rpc: &str) -> eyre::Result<serde_json::Value> {
    let client = HttpClientBuilder::default().request_timeout(Duration::from_secs(1)).build(rpc)?;
    Ok(client.request("flash_status", rpc_params![]).await?)
}

async fn admin(rpc: &str, method: &str, peer: &str) -> eyre::Result<()> {
    let client = HttpClientBuilder::default().request_timeout(Duration::from_secs(5)).build(rpc)?;
    let _: bool =
        client.request(method, rpc_params![peer]).await.wrap_err_with(|| format!("{method} on {rpc}"))?;
    Ok(())
}

/// Blocks (`block`) or unblocks every p2p link between `side` and `other`.
async fn partition(devnet: &Devnet, side: &[usize], other: &[usize], block: bool) -> eyre::Result<()> {
    let method = if block { "admin_blockPeer" } else { "admin_unblockPeer" };
    let peers: Vec<String> = devnet
        .layer
        .sequencers
        .iter()
        .map(|s| s.verifying_key().map(|k| flashlayer_p2p::peer_id(&k).to_string()))
        .collect::<eyre::Result<_>>()?;
    for (a, b) in side.iter().flat_map(|a| other.iter().map(move |b| (*a, *b))) {
        admin(&devnet.info.nodes[a].rpc, method, &peers[b]).await?;
        admin(&devnet.info.nodes[b].rpc, method, &peers[a]).await?;
    }
    Ok(())
}

/// The node leading the current view, as a live node's `flash_status` says.
async fn leader(devnet: &Devnet) -> Option<usize> {
    for node in &devnet.info.nodes {
        let Ok(status) = status(&node.rpc).await else { continue };
        let leader = status.pointer("/consensus/leader").and_then(|l| l.as_str())?.to_lowercase();
        return devnet.layer.sequencers.iter().position(|s| s.consensus_key.to_lowercase() == leader);
    }
    None
}

fn now_unix() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or_default()
}

/// Applies `fault`; returns the node it hit.
async fn apply(devnet: &Mutex<Devnet>, fault: &Fault) -> eyre::Result<Option<usize>> {
    let mut d = devnet.lock().await;
    let n = d.info.nodes.len();
    Ok(match fault.kind {
        FaultKind::Kill => {
            let i = fault.node.unwrap_or(0) % n;
            d.kill(i);
            Some(i)
        }
        FaultKind::KillLeader => {
            let i = leader(&d).await.unwrap_or(0);
            d.kill(i);
            Some(i)
        }
        FaultKind::Pause => {
            let i = fault.node.unwrap_or(0) % n;
            d.pause(i);
            Some(i)
        }
        FaultKind::PartitionHalves => {
            partition(&d, &[0, 1], &[2, 3], true).await?;
            None
        }
        FaultKind::PartitionOne => {
            let i = fault.node.unwrap_or(0) % n;
            let others: Vec<usize> = (0..n).filter(|j| *j != i).collect();
            partition(&d, &[i], &others, true).await?;
            Some(i)
        }
        FaultKind::L1Outage => {
            d.stop_l1();
            None
        }
    })
}

/// Heals `fault` (which hit `node`).
async fn heal(devnet: &Mutex<Devnet>, fault: &Fault, node: Option<usize>) -> eyre::Result<()> {
    let mut d = devnet.lock().await;
    let n = d.info.nodes.len();
    match (fault.kind, node) {
        (FaultKind::Kill | FaultKind::KillLeader, Some(i)) => d.restart(i).await?,
        (FaultKind::Pause, Some(i)) => d.resume(i),
        (FaultKind::PartitionHalves, _) => partition(&d, &[0, 1], &[2, 3], false).await?,
        (FaultKind::PartitionOne, Some(i)) => {
            let others: Vec<usize> = (0..n).filter(|j| *j != i).collect();
            partition(&d, &[i], &others, false).await?;
        }
        (FaultKind::L1Outage, _) => d.start_l1().await?,
        _ => {}
    }
    Ok(())
}

/// Runs the nemesis (see the module docs).
pub async fn run(options: NemesisOptions) -> eyre::Result<NemesisReport> {
    ensure!(options.duration >= 30, "--duration must be at least 30 seconds");
    std::fs::create_dir_all(&options.dir)?;
    let faults = match &options.schedule {
        Some(faults) => faults.clone(),
        None => schedule(options.seed, options.duration as f64, &options.kinds, 4),
    };
    std::fs::write(options.dir.join("schedule.json"), serde_json::to_string_pretty(&faults)? + "\n")?;
    println!(
        "[nemesis] seed {} · {} s at {} tx/s · {} faults:",
        options.seed,
        options.duration,
        options.rate,
        faults.len()
    );
    for f in &faults {
        let node = f.node.map(|n| format!(" node-{n}")).unwrap_or_default();
        println!("[nemesis]   +{:>6.1}s  {}{node} for {:.1} s", f.at, f.kind.name(), f.hold);
    }
    println!(
        "[nemesis] replay with --seed {} (or --schedule {})",
        options.seed,
        options.dir.join("schedule.json").display()
    );

    let dev_key = crate::devnet::dev_accounts(1)?.remove(0).0;
    let devnet = Devnet::start(DevnetOptions {
        dir: options.dir.join("devnet"),
        nodes: 4,
        chain_id: 13370,
        fresh: true,
        base_port: None,
        log_format: "human".into(),
        l1: Some(DevnetL1Options {
            anvil: options.anvil.clone(),
            explorer: None,
            setup: L1Setup {
                rpc: String::new(),
                deployer: dev_key,
                batch_blocks: 50,
                batch_interval_secs: 5,
                confirmations: 1,
                submit_timeout_secs: 5,
                challenge_window: Some(0),
                threshold: None,
                fund_settlement: alloy::primitives::utils::parse_ether(
                    &crate::devnet::DEV_SETTLEMENT_FUNDING_ETH.to_string(),
                )?,
                data_availability: Default::default(),
                grace_period: None,
                watchers: Vec::new(),
            },
        }),
        lifetime: None,
        admin_rpc: true,
        link: options.link,
    })
    .await?;
    let rpcs: Vec<String> = devnet.info.nodes.iter().map(|n| n.rpc.clone()).collect();
    let l1 = devnet.info.l1.clone();
    let devnet = Arc::new(Mutex::new(devnet));
    let start = Instant::now();
    let started_at = now_unix();
    let elapsed = move || start.elapsed().as_secs_f64();

    // Heights of every node, four times a second, and crashes as they happen.
    let heights = Arc::new(parking_lot::Mutex::new(Heights::default()));
    let crashes = Arc::new(parking_lot::Mutex::new(Vec::<String>::new()));
    let monitor = {
        let (heights, crashes, devnet, rpcs) =
            (heights.clone(), crashes.clone(), devnet.clone(), rpcs.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                let polls = rpcs.iter().map(|rpc| status(rpc));
                let results = futures::future::join_all(polls).await;
                let t = elapsed();
                for (i, result) in results.into_iter().enumerate() {
                    let Ok(s) = result else { continue };
                    let committed =
                        s.pointer("/consensus/committedHeight").and_then(|v| v.as_u64()).unwrap_or_default();
                    let executed = s.pointer("/executedHeight").and_then(|v| v.as_u64()).unwrap_or_default();
                    heights.lock().samples.push((t, i, committed, executed));
                }
                if let Ok(mut d) = devnet.try_lock() {
                    for (i, status) in d.crashed() {
                        let line = format!("node-{i} exited on its own at +{t:.1}s ({status})");
                        eprintln!("[nemesis] {line}");
                        crashes.lock().push(line);
                    }
                }
            }
        })
    };

    // The load, over every node, failing over as nodes go down.
    let load_started = Arc::new(tokio::sync::Notify::new());
    let mut load = tokio::spawn(flashlayer_loadgen::run(LoadgenConfig {
        rpc: rpcs.clone(),
        workload: Workload::Eth,
        rate: Rate(Some(options.rate)),
        duration: Some(options.duration as f64),
        count: None,
        max_rate: 25_000,
        senders: options.senders,
        mnemonic: flashlayer_loadgen::DEV_MNEMONIC.into(),
        first_index: 1000,
        faucet_key: None,
        batch_size: 100,
        concurrency: 8,
        adversarial: 0.0,
        max_fee_gwei: None,
        tip_gwei: 1.0,
        drain_timeout: 120,
        out: options.dir.join("loadgen"),
        failover: true,
        token: None,
        started: Some(load_started.clone()),
    }));

    // The schedule counts from the first transaction sent: signing a long run's transactions
    // takes minutes, and faults before the load would test an idle layer.
    tokio::select! {
        _ = load_started.notified() => {}
        ended = &mut load => {
            let why = match ended {
                Ok(Err(e)) => e,
                Ok(Ok(_)) => eyre::eyre!("it ended before sending"),
                Err(e) => e.into(),
            };
            return Err(why.wrap_err("the load generator failed in its setup"));
        }
    }
    let load_at = elapsed();
    println!("[nemesis] +{load_at:>6.1}s  load started; the schedule counts from here");

    // The faults, one at a time.
    let mut records = Vec::new();
    for fault in &faults {
        let wait = load_at + fault.at - elapsed();
        if wait > 0.0 {
            tokio::time::sleep(Duration::from_secs_f64(wait)).await;
        }
        let started = elapsed();
        let node = apply(&devnet, fault).await.wrap_err_with(|| format!("applying {:?}", fault))?;
        let node_text = node.map(|n| format!(" node-{n}")).unwrap_or_default();
        println!("[nemesis] +{started:>6.1}s  {}{node_text}", fault.kind.name());
        tokio::time::sleep(Duration::from_secs_f64(fault.hold)).await;
        heal(&devnet, fault, node).await.wrap_err_with(|| format!("healing {:?}", fault))?;
        let healed = elapsed();
        println!("[nemesis] +{healed:>6.1}s  healed {}{node_text}", fault.kind.name());
        records.push(FaultRecord {
            fault: fault.clone(),
            node,
            started,
            healed,
            first_commit_during: None,
            first_commit_after_heal: None,
            back_at_head: None,
        });
    }
    let report: Report = load.await?.wrap_err("the load generator failed")?;
    // Let the restarted and resumed nodes catch up, and the last batches land.
    tokio::time::sleep(Duration::from_secs(15)).await;
    monitor.abort();

    {
        let heights = heights.lock();
        for r in &mut records {
            let before = heights.max_committed_before(r.started);
            r.first_commit_during =
                heights.first_commit_after(r.started, before).filter(|t| r.started + t <= r.healed);
            let at_heal = heights.max_committed_before(r.healed);
            r.first_commit_after_heal = heights.first_commit_after(r.healed, at_heal);
            if matches!(
                r.fault.kind,
                FaultKind::Kill | FaultKind::KillLeader | FaultKind::Pause | FaultKind::PartitionOne
            ) {
                r.back_at_head = r.node.and_then(|i| heights.node_reached(i, r.healed, at_heal));
            }
        }
    }
    let mut recovery = BTreeMap::new();
    for (kind, name) in FaultKind::ALL {
        let of_kind: Vec<&FaultRecord> = records.iter().filter(|r| r.fault.kind == kind).collect();
        if of_kind.is_empty() {
            continue;
        }
        // Without a quorum nothing commits until the heal: measure from there.
        let stall: Vec<f64> = of_kind
            .iter()
            .filter_map(|r| match kind {
                FaultKind::PartitionHalves => r.first_commit_after_heal,
                _ => r.first_commit_during.or(r.first_commit_after_heal.map(|t| t + r.healed - r.started)),
            })
            .collect();
        let back: Vec<f64> = of_kind.iter().filter_map(|r| r.back_at_head).collect();
        recovery.insert(name.to_string(), (spread(stall), spread(back)));
    }

    let crashed = crashes.lock().clone();
    let checks = history_check(&report, &rpcs, l1.as_ref(), crashed).await?;
    let included_per_second = report.timeline.iter().map(|s| s.included).collect();
    let nemesis = NemesisReport {
        seed: options.seed,
        duration: options.duration,
        rate: options.rate,
        started_at,
        faults: records,
        recovery,
        checks,
        included_per_second,
    };
    std::fs::write(options.dir.join("nemesis.json"), serde_json::to_string_pretty(&nemesis)? + "\n")?;
    std::fs::write(options.dir.join("nemesis.html"), html(&nemesis, report.started_at as f64))?;
    print_summary(&nemesis, &options.dir);
    let devnet = Arc::try_unwrap(devnet).map_err(|_| eyre::eyre!("the devnet is still in use"))?.into_inner();
    devnet.stop().await?;
    if !nemesis.checks.passed() {
        bail!("the history check failed (see {})", options.dir.join("nemesis.json").display());
    }
    Ok(nemesis)
}

/// The history check (see the module docs).
async fn history_check(
    report: &Report,
    rpcs: &[String],
    l1: Option<&crate::devnet::DevnetL1>,
    crashes: Vec<String>,
) -> eyre::Result<Checks> {
    let providers: Vec<_> = rpcs
        .iter()
        .map(|rpc| Ok(ProviderBuilder::new().connect_http(rpc.parse()?)))
        .collect::<eyre::Result<_>>()?;
    // 1. Acknowledged transactions in the chain.
    let acknowledged_not_included = report.honest.not_included;
    // 2. Nonces.
    let mut nonce_mismatches = Vec::new();
    let mut stuck_senders = Vec::new();
    for account in &report.accounts {
        let nonce = providers[0].get_transaction_count(account.address).await?;
        let expected = account.first_nonce + account.included;
        if nonce != expected {
            nonce_mismatches.push(format!("{}: nonce {nonce}, expected {expected}", account.address));
        }
        if acknowledged_not_included > 0 && stuck_senders.len() < 20 {
            let mut pending = Vec::new();
            for p in &providers {
                pending.push(p.get_transaction_count(account.address).pending().await?);
            }
            if pending.iter().any(|n| *n > nonce) {
                stuck_senders.push(format!(
                    "{}: chain nonce {nonce}, pending nonce by node {pending:?}",
                    account.address
                ));
            }
        }
    }
    if !stuck_senders.is_empty() {
        for (i, rpc) in rpcs.iter().enumerate() {
            let eligible = status(rpc)
                .await
                .map(|s| s["consensus"]["eligibleLeaders"].to_string())
                .unwrap_or_else(|e| format!("unknown ({e})"));
            stuck_senders.push(format!("node-{i} eligible leaders: {eligible}"));
        }
    }
    // 3. The same chain everywhere.
    let mut heads = Vec::new();
    for p in &providers {
        heads.push(p.get_block_number().await?);
    }
    let top = heads.iter().copied().min().unwrap_or_default();
    let mut divergence = None;
    let mut chain: Vec<(B256, B256)> = Vec::with_capacity(top as usize + 1);
    'heights: for h in 0..=top {
        let mut first: Option<(B256, B256)> = None;
        for (i, p) in providers.iter().enumerate() {
            let block = p
                .get_block_by_number(h.into())
                .await?
                .ok_or_else(|| eyre::eyre!("node-{i} lacks block {h}"))?;
            let id = (block.header.hash, block.header.state_root);
            match first {
                None => first = Some(id),
                Some(f) if f != id => {
                    divergence = Some(format!("height {h}: node-0 {:?}, node-{i} {:?}", f, id));
                    break 'heights;
                }
                _ => {}
            }
        }
        chain.push(first.expect("four nodes"));
    }
    // 4. The L1 batch chain.
    let mut batches_checked = 0;
    let mut batch_mismatch = None;
    if let Some(l1) = l1 {
        let provider = ProviderBuilder::new().connect_http(l1.rpc.parse()?);
        let contract = flashlayer_settlement::bindings::FlashLayer::new(l1.layer_contract, provider);
        let last = contract.lastBatchIndex().call().await?;
        for index in 1..=last {
            let record = contract.batch(index).call().await?;
            let n = record.lastBlock as usize;
            batches_checked += 1;
            // A batch may land after the heads were read: past the common head, compare with
            // the nodes that have its last block by now.
            let mut found = chain.get(n).copied();
            if found.is_none() {
                for p in &providers {
                    if let Some(block) = p.get_block_by_number((n as u64).into()).await? {
                        found = Some((block.header.hash, block.header.state_root));
                        break;
                    }
                }
            }
            match found.as_ref() {
                Some((hash, root)) if *hash == record.lastBlockHash && *root == record.stateRoot => {}
                Some((hash, root)) => {
                    batch_mismatch = Some(format!(
                        "batch {index} ends at block {n} with hash {} and state root {}; the nodes have {hash} and {root}",
                        record.lastBlockHash, record.stateRoot
                    ));
                    break;
                }
                None => {
                    batch_mismatch = Some(format!("batch {index} ends at block {n}, which no node has"));
                    break;
                }
            }
        }
    }
    Ok(Checks {
        acknowledged_not_included,
        nonce_mismatches,
        heights_compared: top + 1,
        divergence,
        batches_checked,
        batch_mismatch,
        crashes,
        stuck_senders,
    })
}

fn print_summary(report: &NemesisReport, dir: &std::path::Path) {
    println!("[nemesis] recovery (seconds): kind · stall (median / worst) · back at head (median / worst)");
    for (kind, (stall, back)) in &report.recovery {
        let show = |s: &Option<Spread>| match s {
            Some(s) => format!("{:.1} / {:.1} (n={})", s.median, s.worst, s.count),
            None => "-".into(),
        };
        println!("[nemesis]   {kind:<17} {:<22} {}", show(stall), show(back));
    }
    let c = &report.checks;
    println!(
        "[nemesis] history check: {} · acknowledged not included {} · nonce mismatches {} · {} heights compared{} · {} L1 batches checked{} · crashes {}",
        if c.passed() { "PASSED" } else { "FAILED" },
        c.acknowledged_not_included,
        c.nonce_mismatches.len(),
        c.heights_compared,
        c.divergence.as_ref().map(|d| format!(" (diverged: {d})")).unwrap_or_default(),
        c.batches_checked,
        c.batch_mismatch.as_ref().map(|m| format!(" (mismatch: {m})")).unwrap_or_default(),
        c.crashes.len()
    );
    for line in &c.stuck_senders {
        println!("[nemesis]   waiting: {line}");
    }
    println!(
        "[nemesis] report: {} and {}",
        dir.join("nemesis.json").display(),
        dir.join("nemesis.html").display()
    );
}

/// The report page: per-second inclusions with the faults drawn as bands, and the tables.
fn html(report: &NemesisReport, load_started_at: f64) -> String {
    let (w, h, pad) = (1000.0, 260.0, 40.0);
    let secs = report.included_per_second.len().max(1) as f64;
    let peak = report.included_per_second.iter().copied().max().unwrap_or(1).max(1) as f64;
    let x = |t: f64| pad + (t / secs) * (w - 2.0 * pad);
    let y = |v: f64| h - pad - (v / peak) * (h - 2.0 * pad);
    let offset = report.started_at - load_started_at;
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="11">"#
    );
    for f in &report.faults {
        let (a, b) = (x(f.started + offset), x(f.healed + offset));
        let _ = write!(
            svg,
            r##"<rect x="{a:.1}" y="{pad}" width="{:.1}" height="{:.1}" fill="#f4b400" opacity="0.25"/><text x="{a:.1}" y="{:.1}">{}</text>"##,
            (b - a).max(1.0),
            h - 2.0 * pad,
            pad - 4.0,
            f.fault.kind.name()
        );
    }
    let points: Vec<String> = report
        .included_per_second
        .iter()
        .enumerate()
        .map(|(t, v)| format!("{:.1},{:.1}", x(t as f64), y(*v as f64)))
        .collect();
    let _ = write!(
        svg,
        r##"<polyline fill="none" stroke="#1a73e8" stroke-width="1.5" points="{}"/><line x1="{pad}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#555"/><text x="{pad}" y="{:.1}">0 s</text><text x="{:.1}" y="{:.1}" text-anchor="end">{secs:.0} s</text><text x="4" y="{:.1}">{peak:.0} tx/s</text></svg>"##,
        points.join(" "),
        h - pad,
        w - pad,
        h - pad,
        h - pad + 14.0,
        w - pad,
        h - pad + 14.0,
        pad + 4.0
    );
    let mut rows = String::new();
    for f in &report.faults {
        let opt = |v: Option<f64>| v.map(|v| format!("{v:.1}")).unwrap_or_else(|| "-".into());
        let _ = write!(
            rows,
            "<tr><td>{:.1}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            f.started,
            f.fault.kind.name(),
            f.node.map(|n| format!("node-{n}")).unwrap_or_default(),
            f.healed - f.started,
            opt(f.first_commit_during),
            opt(f.first_commit_after_heal),
            opt(f.back_at_head)
        );
    }
    let checks = serde_json::to_string_pretty(&report.checks).unwrap_or_default();
    format!(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>flashlayer nemesis, seed {seed}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}</style></head><body>
<h1>nemesis, seed {seed}: {verdict}</h1><p>{duration} s at {rate} tx/s offered, {n} faults. Included transactions per second; faults shaded.</p>{svg}
<h2>Faults</h2><table><tr><th>start (s)</th><th>fault</th><th>node</th><th>held (s)</th><th>next commit during (s)</th><th>next commit after heal (s)</th><th>back at head (s)</th></tr>{rows}</table>
<h2>History check</h2><pre>{checks}</pre></body></html>
"#,
        seed = report.seed,
        verdict = if report.checks.passed() { "history check passed" } else { "history check FAILED" },
        duration = report.duration,
        rate = report.rate,
        n = report.faults.len(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_always_makes_the_same_schedule_of_one_fault_at_a_time() {
        let kinds: Vec<FaultKind> = FaultKind::ALL.iter().map(|(k, _)| *k).collect();
        let a = schedule(42, 1800.0, &kinds, 4);
        assert_eq!(a, schedule(42, 1800.0, &kinds, 4));
        assert_ne!(a, schedule(43, 1800.0, &kinds, 4));
        for pair in a.windows(2) {
            assert!(pair[0].at + pair[0].hold + RECOVERY_GAP_SECS.0 <= pair[1].at + 0.1, "{pair:?}");
        }
        let last = a.last().unwrap();
        assert!(last.at + last.hold + RECOVERY_GAP_SECS.1 <= 1800.0);
        for (kind, _) in FaultKind::ALL {
            assert!(a.iter().any(|f| f.kind == kind), "{kind:?} never drawn in 30 minutes");
        }
    }

    #[test]
    fn fault_names_round_trip() {
        for (kind, name) in FaultKind::ALL {
            assert_eq!(name.parse::<FaultKind>().unwrap(), kind);
            assert_eq!(kind.name(), name);
        }
        assert!("flood".parse::<FaultKind>().is_err());
    }

    #[test]
    fn spreads_are_median_and_worst() {
        let s = spread(vec![3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.count, s.median, s.worst), (3, 2.0, 3.0));
        assert!(spread(vec![]).is_none());
    }

    #[test]
    fn recovery_comes_from_the_heights_seen() {
        let mut h = Heights::default();
        for (t, c) in [(0.0, 5), (1.0, 5), (2.0, 5), (3.5, 6)] {
            h.samples.push((t, 0, c, c));
        }
        h.samples.push((4.0, 2, 6, 3));
        h.samples.push((6.0, 2, 6, 6));
        assert_eq!(h.max_committed_before(1.5), 5);
        assert_eq!(h.first_commit_after(1.0, 5), Some(2.5));
        assert_eq!(h.node_reached(2, 3.0, 6), Some(3.0));
    }
}
