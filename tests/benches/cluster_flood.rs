//! A simple flood of the 4-node cluster (until the load generator exists): pre-signed ETH
//! transfers from the ten dev accounts, sent concurrently through all four nodes' RPC, as fast
//! as they are accepted. Reports sustained included transfers per second and
//! submit-to-inclusion latency (block first seen by polling node 0, every 20 ms).
//!
//! Run by `scripts/bench` (`cargo bench --workspace --bench cluster_flood`).

use alloy::{
    eips::BlockNumberOrTag,
    primitives::{Address, B256, Bytes},
    providers::Provider,
};
use flashlayer_tests::{Cluster, signed_transfer};
use jsonrpsee::{core::client::ClientT, http_client::HttpClientBuilder, rpc_params};
use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

const PER_ACCOUNT: u64 = 3_000;
const CLIENTS_PER_ACCOUNT: usize = 1;

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let cluster = Cluster::start(4).await;
    let accounts = cluster.accounts();
    // Wait for the first block so start-up is not measured.
    let provider = cluster.nodes[0].provider();
    while provider.get_block_number().await.unwrap() == 0 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let start_block = provider.get_block_number().await.unwrap();
    println!(
        "cluster flood: 4 nodes, {} accounts x {PER_ACCOUNT} ETH transfers, spread over all nodes",
        accounts.len()
    );

    let mut signed: Vec<Vec<(B256, Bytes)>> = Vec::new();
    for account in &accounts {
        let signer = account.signer();
        signed.push(
            (0..PER_ACCOUNT)
                .map(|nonce| signed_transfer(&signer, nonce, Address::with_last_byte(9), 1))
                .collect(),
        );
    }
    let total = signed.iter().map(Vec::len).sum::<usize>();

    // Watch blocks on node 0 as they appear.
    let watcher = {
        let provider = provider.clone();
        tokio::spawn(async move {
            let mut seen: HashMap<B256, Instant> = HashMap::new();
            let mut next = start_block + 1;
            let mut blocks = Vec::new();
            while seen.len() < total {
                let head = provider.get_block_number().await.unwrap();
                while next <= head {
                    let block =
                        provider.get_block_by_number(BlockNumberOrTag::Number(next)).await.unwrap().unwrap();
                    let now = Instant::now();
                    blocks.push((now, block.transactions.len()));
                    for h in block.transactions.hashes() {
                        seen.insert(h, now);
                    }
                    next += 1;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            (seen, blocks)
        })
    };

    let started = Instant::now();
    let mut tasks = Vec::new();
    for (i, txs) in signed.into_iter().enumerate() {
        let url = cluster.nodes[i % 4].rpc_url();
        for chunk in txs.chunks(txs.len() / CLIENTS_PER_ACCOUNT) {
            let chunk = chunk.to_vec();
            let url = url.clone();
            tasks.push(tokio::spawn(async move {
                let client = HttpClientBuilder::default().build(&url).unwrap();
                let mut submitted = Vec::with_capacity(chunk.len());
                for (hash, raw) in chunk {
                    let at = Instant::now();
                    client.request::<B256, _>("eth_sendRawTransaction", rpc_params![raw]).await.unwrap();
                    submitted.push((hash, at));
                }
                submitted
            }));
        }
    }
    let mut submitted = HashMap::new();
    for t in tasks {
        submitted.extend(t.await.unwrap());
    }
    let sent_in = started.elapsed();
    let (seen, blocks) = watcher.await.unwrap();
    let last = seen.values().max().copied().unwrap();
    let elapsed = last.duration_since(started).as_secs_f64();
    let mut latencies: Vec<f64> =
        submitted.iter().map(|(h, at)| seen[h].duration_since(*at).as_secs_f64() * 1e3).collect();
    latencies.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "  submitted {total} in {:.2} s ({:.0} tx/s accepted)",
        sent_in.as_secs_f64(),
        total as f64 / sent_in.as_secs_f64()
    );
    println!(
        "  included  {total} in {elapsed:.2} s = {:.0} tx/s sustained, over {} blocks",
        total as f64 / elapsed,
        blocks.len()
    );
    println!(
        "  submit-to-inclusion latency: p50 {:.0} ms, p90 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        pct(0.5),
        pct(0.9),
        pct(0.99),
        latencies[latencies.len() - 1]
    );
}
