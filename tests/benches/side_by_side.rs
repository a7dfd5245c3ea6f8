//! The side-by-side benchmark behind `scripts/bench`: one workload, in one run, against
//! (a) one flashlayer node, (b) a 4-node cluster, healthy and with one node down, (c) anvil with interval mining, and (d) the
//! machine's limit, a microbenchmark of what a node does per transaction (decode + sender
//! recovery on every core, then revm execution and the RocksDB commit). Prints one table with
//! the ratios, and writes `bench.json` and `bench.html` (every run's charts) next to the
//! loadgen reports.
//!
//! Each system gets two `flashlayer loadgen` runs of ETH transfers: as fast as accepted
//! (throughput), and open-loop at a fixed rate (latency at that rate); one node also gets an
//! ERC-20 run. Layers and anvil get block gas limits large enough that gas is not what limits
//! them.
//!
//! Environment: `FLASHLAYER_BENCH_SECS` (each run's sending time, default 60),
//! `FLASHLAYER_BENCH_RATE` (the fixed rate, default 5000), `FLASHLAYER_BENCH_OUT` (default
//! `bench-results/<unix time>` in the repository), `FLASHLAYER_BENCH_ONLY` (comma-separated
//! subset of `node,cluster,down,anvil,limit,state`; `down` is the 4-node cluster with one node
//! SIGKILLed before the load; `state` is one node per size in `FLASHLAYER_BENCH_STATE`, extra
//! genesis accounts, default `0,1000000`, for the state-scale table).

use alloy::{
    consensus::{TxEnvelope, transaction::SignerRecoverable},
    eips::eip2718::Decodable2718,
    genesis::{Genesis, GenesisAccount},
    primitives::{Address, B256, U256},
    signers::local::PrivateKeySigner,
};
use flashlayer_execution::{BlockExecutor, ChainConfig, FeeMode, Payload};
use flashlayer_loadgen::{Report, html};
use flashlayer_storage::Db;
use flashlayer_tests::{Anvil, Cluster, flashlayer_bin, repo_root, signed_transfer};
use rayon::prelude::*;
use serde::Serialize;
use std::{
    collections::HashMap,
    fmt::Write as _,
    path::{Path, PathBuf},
    process::Command,
    time::Instant,
};

/// Block gas limit of the layers: 200M per 200 ms block keeps even 20,000 transfers/s under
/// the EIP-1559 target (the base fee then falls rather than outrunning the fee caps), and bounds
/// a block to about 9,500 transfers, which keeps a loaded cluster's views short.
const LAYER_GAS_LIMIT: &str = "200000000";
/// anvil mines once a second: 1B gas holds 47,000 transfers, more than it takes in a second.
const ANVIL_GAS_LIMIT: &str = "1000000000";

#[derive(Debug, Clone, Serialize)]
struct Row {
    system: String,
    workload: String,
    rate: String,
    included_per_sec: f64,
    median_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    rejected: u64,
    not_included: u64,
    /// Largest peak resident set of the system's processes, MiB.
    peak_rss_mib: Option<f64>,
    report: Option<PathBuf>,
}

/// The genesis token of the state-scale runs.
const GENESIS_TOKEN: Address = Address::repeat_byte(0x70);
/// Most holders the genesis token gets.
const TOKEN_HOLDERS: u64 = 1_000_000;

/// One node with a genesis of `extra_accounts` more accounts, under the same load.
#[derive(Debug, Clone, Serialize)]
struct StateRow {
    extra_accounts: u64,
    /// Holders of the genesis token the ERC-20 run moves.
    token_holders: u64,
    /// From starting the node to its RPC answering (genesis written).
    genesis_secs: f64,
    included_per_sec: f64,
    median_second: f64,
    /// ERC-20 transfers of the genesis token, included per second.
    erc20_per_sec: f64,
    peak_rss_mib: Option<f64>,
    /// Mean of the node's `state_root_seconds` histogram over the run, ms.
    state_root_ms_mean: Option<f64>,
    /// Blocks the histogram counted.
    blocks: u64,
}

/// `state_root_seconds` sum and count from a node's metrics.
async fn state_root_metric(port: u16) -> Option<(f64, f64)> {
    let text = http_get(&format!("127.0.0.1:{port}"), "/metrics").await?;
    let value = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
    };
    Some((value("flashlayer_state_root_seconds_sum")?, value("flashlayer_state_root_seconds_count")?))
}

/// A plain HTTP/1.0 GET (the metrics endpoint is plain text; no HTTP client crate needed).
async fn http_get(addr: &str, path: &str) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes()).await.ok()?;
    let mut body = String::new();
    stream.read_to_string(&mut body).await.ok()?;
    Some(body)
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// VmHWM of a process, in MiB.
fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Runs `flashlayer loadgen` into its own directory under `out`; returns its report and that
/// directory.
fn loadgen(
    system: &str,
    urls: &[String],
    workload: &str,
    rate: &str,
    secs: u64,
    out: &Path,
    extra: &[&str],
) -> (Report, PathBuf) {
    let slug: String = system
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    let dir = out.join(format!("{slug}-{workload}-{rate}"));
    println!("--- {system}: loadgen {workload} at rate {rate} for {secs} s");
    let status = Command::new(flashlayer_bin())
        .arg("loadgen")
        .args(["--rpc", &urls.join(",")])
        .args(["--workload", workload, "--rate", rate, "--duration", &secs.to_string()])
        .args(["--senders", "500", "--drain-timeout", "20"])
        .args(extra)
        .arg("--out")
        .arg(&dir)
        .status()
        .expect("run flashlayer loadgen");
    assert!(status.success(), "loadgen against {system} failed ({status})");
    let text = std::fs::read_to_string(dir.join("report.json")).expect("report.json");
    (serde_json::from_str(&text).expect("report"), dir)
}

fn row(system: &str, report: &Report, rss: Option<f64>, dir: PathBuf) -> Row {
    Row {
        system: system.to_owned(),
        workload: report.workload.clone(),
        rate: report.rate.clone(),
        included_per_sec: report.throughput.included_per_sec,
        median_second: report.throughput.median_included_per_sec,
        p50_ms: report.latency_ms.p50,
        p99_ms: report.latency_ms.p99,
        rejected: report.honest.rejected,
        not_included: report.honest.not_included,
        peak_rss_mib: rss,
        report: Some(dir),
    }
}

/// Runs the loadgen phases against a system; returns rows and reports.
fn phases(
    system: &str,
    urls: &[String],
    workloads: &[&str],
    rate: u64,
    secs: u64,
    out: &Path,
    rss: &dyn Fn() -> Option<f64>,
) -> Vec<(Row, Report)> {
    let mut runs = Vec::new();
    for (workload, rate) in
        workloads.iter().map(|w| (*w, "max".to_owned())).chain([("eth", rate.to_string())])
    {
        let (report, dir) = loadgen(system, urls, workload, &rate, secs, out, &[]);
        runs.push((row(system, &report, rss(), dir), report));
    }
    runs
}

/// The machine limit: blocks of ETH transfers through a node's per-transaction work, timed
/// on one core: decode + sender recovery (the mempool's admission), then revm execution and
/// the RocksDB commit (the executor). A node overlaps the two on different cores but must
/// execute in order, so the limit is `min(cores / (recover + execute), 1 / execute)`.
/// Returns (limit tx/s, recover us per tx, execute us per tx), medians over the blocks.
fn machine_limit(cores: usize) -> (f64, f64, f64) {
    const SENDERS: usize = 4_000;
    const BLOCKS: u64 = 10;
    let keys: Vec<PrivateKeySigner> = (0..SENDERS)
        .map(|i| {
            let mut key = [0u8; 32];
            key[24..].copy_from_slice(&(i as u64 + 1).to_be_bytes());
            PrivateKeySigner::from_bytes(&B256::from(key)).expect("valid key")
        })
        .collect();
    let alloc = keys
        .iter()
        .map(|k| (k.address(), GenesisAccount::default().with_balance(U256::from(10u128.pow(24)))))
        .collect();
    let mut genesis = Genesis {
        gas_limit: 1_000_000_000,
        base_fee_per_gas: Some(1_000_000_000),
        alloc,
        ..Default::default()
    };
    genesis.config.chain_id = 13370;
    let chain = ChainConfig {
        chain_id: 13370,
        fee_mode: FeeMode::Eip1559,
        fee_recipient: Address::ZERO,
        genesis,
        alloc_file: None,
        alloc_dropped: None,
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let mut executor = BlockExecutor::open(Db::open(dir.path()).expect("db"), chain).expect("genesis");
    let (mut recover_us, mut execute_us) = (Vec::new(), Vec::new());
    for block in 0..BLOCKS {
        let raws: Vec<_> = keys
            .par_iter()
            .enumerate()
            .map(|(i, k)| signed_transfer(k, block, keys[(i + 1) % SENDERS].address(), 1).1)
            .collect();
        let started = Instant::now();
        let known: HashMap<B256, Address> = raws
            .iter()
            .map(|raw| {
                let tx = TxEnvelope::decode_2718(&mut raw.as_ref()).expect("decode");
                (*tx.tx_hash(), tx.recover_signer().expect("recover"))
            })
            .collect();
        let recovered = Instant::now();
        let payload =
            Payload { timestamp: executor.head().timestamp + 1, transactions: raws, ..Default::default() };
        let executed =
            executor.execute(&payload, B256::ZERO, &|h: &B256| known.get(h).copied()).expect("execute");
        assert_eq!(executed.block.transactions.len(), SENDERS, "transactions skipped");
        let done = Instant::now();
        if block >= 2 {
            recover_us.push((recovered - started).as_secs_f64() * 1e6 / SENDERS as f64);
            execute_us.push((done - recovered).as_secs_f64() * 1e6 / SENDERS as f64);
        }
    }
    let (recover, execute) = (median(recover_us), median(execute_us));
    let limit = (cores as f64 * 1e6 / (recover + execute)).min(1e6 / execute);
    (limit, recover, execute)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
        _ => "-".into(),
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let secs: u64 = env_or("FLASHLAYER_BENCH_SECS", 60);
    let rate: u64 = env_or("FLASHLAYER_BENCH_RATE", 5_000);
    let only: Vec<String> = std::env::var("FLASHLAYER_BENCH_ONLY")
        .unwrap_or_else(|_| "node,cluster,down,anvil,limit".into())
        .split(',')
        .map(str::to_owned)
        .collect();
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
    let out = std::env::var_os("FLASHLAYER_BENCH_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("bench-results").join(stamp.to_string()));
    std::fs::create_dir_all(&out).expect("output directory");
    let cores = std::thread::available_parallelism().map(usize::from).unwrap_or(1);
    println!(
        "side-by-side benchmark: {secs} s per run, fixed rate {rate} tx/s, {cores} cores, output {}",
        out.display()
    );

    let mut runs: Vec<(Row, Report)> = Vec::new();
    let gas = ["--gas-limit", LAYER_GAS_LIMIT];
    if only.iter().any(|o| o == "node") {
        let node = Cluster::start_with_init(1, &gas).await;
        let urls = vec![node.nodes[0].rpc_url()];
        let rss = || node.pid(0).and_then(peak_rss_mib);
        runs.extend(phases("one node", &urls, &["eth", "erc20"], rate, secs, &out, &rss));
    }
    if only.iter().any(|o| o == "cluster") {
        let cluster = Cluster::start_with_init(4, &gas).await;
        let urls: Vec<String> = cluster.nodes.iter().map(|n| n.rpc_url()).collect();
        let rss = || (0..4).filter_map(|i| cluster.pid(i).and_then(peak_rss_mib)).reduce(f64::max);
        runs.extend(phases("devnet (4 nodes)", &urls, &["eth"], rate, secs, &out, &rss));
    }
    if only.iter().any(|o| o == "down") {
        // One validator of four SIGKILLed before the load and left down: what a layer offers
        // while an operator's machine is lost (the leader schedule leaves it out).
        let mut cluster = Cluster::start_with_init(4, &gas).await;
        cluster.kill(3);
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
        let urls: Vec<String> = cluster.nodes[..3].iter().map(|n| n.rpc_url()).collect();
        let rss = || (0..3).filter_map(|i| cluster.pid(i).and_then(peak_rss_mib)).reduce(f64::max);
        runs.extend(phases("devnet, one node down", &urls, &["eth"], rate, secs, &out, &rss));
    }
    // State scale: one node whose genesis holds N extra accounts, same workload, side by side
    // (the first N is the baseline, 0 by default).
    let mut state_rows: Vec<StateRow> = Vec::new();
    if only.iter().any(|o| o == "state") {
        let sizes: Vec<u64> = std::env::var("FLASHLAYER_BENCH_STATE")
            .unwrap_or_else(|_| "0,1000000".into())
            .split(',')
            .map(|n| n.trim().parse().expect("FLASHLAYER_BENCH_STATE: comma-separated account counts"))
            .collect();
        for extra in sizes {
            // The ERC-20 runs move a token placed in the genesis with up to a million holders.
            let holders = extra.min(TOKEN_HOLDERS);
            let system = format!("one node, +{extra} accounts");
            println!("--- {system}: writing the genesis (and a token with {holders} holders)");
            let started = Instant::now();
            let node =
                Cluster::start_with_genesis_accounts(1, &gas, extra, Some((GENESIS_TOKEN, holders))).await;
            let genesis_secs = started.elapsed().as_secs_f64();
            let urls = vec![node.nodes[0].rpc_url()];
            let rss = || node.pid(0).and_then(peak_rss_mib);
            let (report, dir) = loadgen(&system, &urls, "eth", "max", secs, &out, &[]);
            let root = state_root_metric(node.nodes[0].metrics_port).await;
            let eth = row(&system, &report, rss(), dir);
            runs.push((eth.clone(), report));
            let token = GENESIS_TOKEN.to_string();
            let (report, dir) = loadgen(&system, &urls, "erc20", "max", secs, &out, &["--token", &token]);
            let erc20 = row(&system, &report, rss(), dir);
            runs.push((erc20.clone(), report));
            state_rows.push(StateRow {
                extra_accounts: extra,
                token_holders: holders,
                genesis_secs,
                included_per_sec: eth.included_per_sec,
                median_second: eth.median_second,
                erc20_per_sec: erc20.included_per_sec,
                peak_rss_mib: erc20.peak_rss_mib,
                state_root_ms_mean: root.map(|(sum, count)| 1000.0 * sum / count.max(1.0)),
                blocks: root.map(|(_, count)| count as u64).unwrap_or_default(),
            });
        }
    }
    if only.iter().any(|o| o == "anvil") {
        let anvil = Anvil::start_with(&["--block-time", "1", "--gas-limit", ANVIL_GAS_LIMIT]).await;
        let urls = vec![anvil.rpc_url()];
        let rss = || peak_rss_mib(anvil.pid());
        runs.extend(phases("anvil (1 s blocks)", &urls, &["eth"], rate, secs, &out, &rss));
    }
    let mut rows: Vec<Row> = runs.iter().map(|(r, _)| r.clone()).collect();
    let mut limit_note = String::new();
    if only.iter().any(|o| o == "limit") {
        println!("--- machine limit: decode + recover, execute + commit, each timed on one core");
        let (tps, recover, execute) =
            tokio::task::spawn_blocking(move || machine_limit(cores)).await.expect("limit");
        limit_note = format!(
            "machine limit = min({cores} cores / (recover {recover:.1} us + execute {execute:.1} us), 1 / execute) per transaction"
        );
        rows.push(Row {
            system: "machine limit".into(),
            workload: "eth".into(),
            rate: "-".into(),
            included_per_sec: tps,
            median_second: tps,
            p50_ms: 0.0,
            p99_ms: 0.0,
            rejected: 0,
            not_included: 0,
            peak_rss_mib: None,
            report: None,
        });
    }

    // The table.
    let mut table = String::new();
    let _ = writeln!(
        table,
        "{:<22} {:<8} {:>6} {:>14} {:>12} {:>9} {:>9} {:>9} {:>12} {:>10}",
        "system",
        "workload",
        "rate",
        "included tx/s",
        "median sec",
        "p50 ms",
        "p99 ms",
        "rejected",
        "not incl.",
        "peak RSS"
    );
    for r in &rows {
        let _ = writeln!(
            table,
            "{:<22} {:<8} {:>6} {:>14.0} {:>12.0} {:>9.0} {:>9.0} {:>9} {:>12} {:>10}",
            r.system,
            r.workload,
            r.rate,
            r.included_per_sec,
            r.median_second,
            r.p50_ms,
            r.p99_ms,
            r.rejected,
            r.not_included,
            r.peak_rss_mib.map(|m| format!("{m:.0} MiB")).unwrap_or_else(|| "-".into())
        );
    }
    let find = |system: &str, workload: &str, rate: &str| {
        rows.iter()
            .find(|r| r.system.starts_with(system) && r.workload == workload && r.rate == rate)
            .map(|r| r.included_per_sec)
    };
    let limit = find("machine", "eth", "-");
    let node = find("one node", "eth", "max");
    let node_erc20 = find("one node", "erc20", "max");
    let devnet = find("devnet (4", "eth", "max");
    let down = find("devnet, one", "eth", "max");
    let anvil = find("anvil", "eth", "max");
    let _ = writeln!(table);
    let _ = writeln!(table, "one node / anvil            {}", ratio(node, anvil));
    let _ = writeln!(table, "one node erc20 / eth        {}", ratio(node_erc20, node));
    let _ = writeln!(table, "devnet / anvil              {}", ratio(devnet, anvil));
    let _ = writeln!(table, "one node down / devnet      {}", ratio(down, devnet));
    let _ = writeln!(table, "devnet / limit              {}", ratio(devnet, limit));
    let _ = writeln!(table, "devnet / (limit / 4 nodes)  {}", ratio(devnet, limit.map(|l| l / 4.0)));
    if !limit_note.is_empty() {
        let _ = writeln!(table, "{limit_note}");
    }
    if let Some(base) = state_rows.first().cloned() {
        let _ = writeln!(table);
        let _ = writeln!(
            table,
            "{:>14} {:>10} {:>10} {:>10} {:>9} {:>10} {:>9} {:>10} {:>16} {:>7}",
            "extra accounts",
            "holders",
            "genesis s",
            "eth tx/s",
            "vs first",
            "erc20 tx/s",
            "vs first",
            "peak RSS",
            "state root ms",
            "blocks"
        );
        for r in &state_rows {
            let _ = writeln!(
                table,
                "{:>14} {:>10} {:>10.1} {:>10.0} {:>9} {:>10.0} {:>9} {:>10} {:>16} {:>7}",
                r.extra_accounts,
                r.token_holders,
                r.genesis_secs,
                r.included_per_sec,
                ratio(Some(r.included_per_sec), Some(base.included_per_sec)),
                r.erc20_per_sec,
                ratio(Some(r.erc20_per_sec), Some(base.erc20_per_sec)),
                r.peak_rss_mib.map(|m| format!("{m:.0} MiB")).unwrap_or_else(|| "-".into()),
                r.state_root_ms_mean.map(|m| format!("{m:.2} (mean)")).unwrap_or_else(|| "-".into()),
                r.blocks
            );
        }
    }
    println!("\n{table}");

    let json = serde_json::json!({
        "secs": secs,
        "fixed_rate": rate,
        "cores": cores,
        "binary": flashlayer_bin(),
        "rows": rows,
        "state": state_rows,
        "ratios": {
            "node_over_anvil": node.zip(anvil).map(|(a, b)| a / b),
            "node_erc20_over_eth": node_erc20.zip(node).map(|(a, b)| a / b),
            "devnet_over_anvil": devnet.zip(anvil).map(|(a, b)| a / b),
            "one_down_over_devnet": down.zip(devnet).map(|(a, b)| a / b),
            "devnet_over_limit": devnet.zip(limit).map(|(a, b)| a / b),
        },
    });
    std::fs::write(out.join("bench.json"), serde_json::to_string_pretty(&json).expect("json") + "\n")
        .expect("bench.json");
    let names: Vec<String> =
        runs.iter().map(|(r, rep)| format!("{} {} {}", r.system, rep.workload, rep.rate)).collect();
    let charts: Vec<(&str, &Report)> =
        names.iter().map(String::as_str).zip(runs.iter().map(|(_, rep)| rep)).collect();
    std::fs::write(out.join("bench.html"), html(&charts, &table)).expect("bench.html");
    println!("wrote {} and {}", out.join("bench.json").display(), out.join("bench.html").display());
}
