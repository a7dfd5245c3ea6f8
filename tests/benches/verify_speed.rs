//! `flashlayer verify`'s re-execution speed beside the node's own execution speed, in one run:
//! `cargo bench -p flashlayer-tests --bench verify_speed` (needs anvil: `. scripts/env.sh`;
//! `FLASHLAYER_BENCH_SECS` sets the load's length, default 30).
//!
//! One node settling on anvil takes ETH transfers as fast as it accepts them (the load
//! generator, 500 senders); once L1 has accepted every batch, `verify` rebuilds the chain from
//! the node's batch data in a fresh directory. The node's figure is its executed transactions
//! over the time its executor spent on blocks (`block_execution_seconds`: execution, state root
//! and the block's write); verify's is the transactions it re-executed over the time it spent
//! checking batches (decoding, executing, writing, deriving the batch).

use alloy::providers::{Provider, ProviderBuilder};
use flashlayer_settlement::bindings::FlashLayer;
use flashlayer_tests::{Anvil, Cluster, flashlayer_bin};
use std::{process::Command, time::Duration};

async fn metric(port: u16, name: &str) -> Option<f64> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    stream.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").await.ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).await.ok()?;
    text.lines().find(|l| l.starts_with(name))?.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::main]
async fn main() {
    let secs: u64 = std::env::var("FLASHLAYER_BENCH_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(30);
    let anvil = Anvil::start_l1().await;
    let cluster = Cluster::start_with_l1(1, &anvil, &["--batch-blocks", "50", "--batch-interval", "5"]).await;
    let node = &cluster.nodes[0];
    let out = tempfile::tempdir().unwrap();
    let status = Command::new(flashlayer_bin())
        .arg("loadgen")
        .args([
            "--rpc",
            &node.rpc_url(),
            "--workload",
            "eth",
            "--rate",
            "max",
            "--duration",
            &secs.to_string(),
        ])
        .args(["--senders", "500", "--drain-timeout", "20", "--out"])
        .arg(out.path())
        .status()
        .expect("loadgen");
    assert!(status.success(), "loadgen failed");
    let included = metric(node.metrics_port, "flashlayer_txs_included_total").await.expect("metric");
    let exec_secs =
        metric(node.metrics_port, "flashlayer_block_execution_seconds_sum").await.expect("metric");

    // Wait for L1 to settle everything executed so far.
    let head = node.provider().get_block_number().await.unwrap();
    let l1 = ProviderBuilder::new().connect_http(anvil.rpc_url().parse().unwrap()).erased();
    let contract = cluster.layer()["l1"]["contract"].as_str().unwrap().parse().unwrap();
    let flash = FlashLayer::new(contract, l1);
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    while flash.lastBlock().call().await.unwrap() < head {
        assert!(std::time::Instant::now() < deadline, "L1 did not settle block {head}");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let verify = Command::new(flashlayer_bin())
        .args(["verify", "--l1-rpc", &anvil.rpc_url(), "--data-rpc", &node.rpc_url(), "--layer"])
        .arg(cluster.dir.path().join("layer.json"))
        .output()
        .expect("verify");
    let said = String::from_utf8_lossy(&verify.stdout).to_string();
    assert!(verify.status.success(), "verify failed: {said}{}", String::from_utf8_lossy(&verify.stderr));
    println!("{said}");
    // "... re-execution 1.2 s (12345 tx/s) ..."
    let verify_rate: f64 = said
        .split("re-execution ")
        .nth(1)
        .and_then(|r| r.split('(').nth(1)?.split(' ').next()?.parse().ok())
        .expect("verify's rate");
    let node_rate = included / exec_secs.max(1e-9);
    println!("| what | transactions | tx/s |");
    println!("|---|---|---|");
    println!("| node executor (block_execution_seconds) | {included:.0} | {node_rate:.0} |");
    println!("| flashlayer verify (re-execution from batch data) | {included:.0} | {verify_rate:.0} |");
    println!("verify / node: {:.2}", verify_rate / node_rate);
}
