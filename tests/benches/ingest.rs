//! RPC ingest: how many `eth_sendRawTransaction` per second one node acknowledges (decode,
//! sender recovery, admission, journal write), with many concurrent HTTP clients.
//!
//! Run by `scripts/bench`. Starts a real node process (release build); transactions are signed
//! before the clock starts so that signing never limits the rate. Prints the median of rounds.

use alloy::primitives::{Address, B256, Bytes};
use flashlayer_tests::{TestNode, signed_transfer};
use jsonrpsee::{core::client::ClientT, http_client::HttpClientBuilder, rpc_params};
use std::time::Instant;

const CLIENTS: usize = 32;
const PER_ROUND: usize = 6_000;
const ROUNDS: usize = 3;

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let node = TestNode::start().await;
    let accounts = node.accounts();
    let url = node.rpc_url();
    println!(
        "ingest bench: {ROUNDS} rounds of {PER_ROUND} eth_sendRawTransaction over {CLIENTS} HTTP clients"
    );
    let mut rates = Vec::new();
    for round in 0..ROUNDS {
        // Every sender gets a contiguous nonce run per round so all are admissible.
        let per_sender = PER_ROUND / accounts.len();
        let mut txs: Vec<Bytes> = Vec::with_capacity(PER_ROUND);
        for account in &accounts {
            let signer = account.signer();
            for k in 0..per_sender {
                txs.push(
                    signed_transfer(&signer, (round * per_sender + k) as u64, Address::with_last_byte(7), 1)
                        .1,
                );
            }
        }
        // Interleave senders so that clients do not all hit one nonce queue in order.
        let mut chunks: Vec<Vec<Bytes>> = vec![Vec::new(); CLIENTS];
        for (i, tx) in txs.into_iter().enumerate() {
            chunks[i % CLIENTS].push(tx);
        }
        let started = Instant::now();
        let mut tasks = Vec::new();
        for chunk in chunks {
            let url = url.clone();
            tasks.push(tokio::spawn(async move {
                let client = HttpClientBuilder::default().build(&url).unwrap();
                let mut ok = 0usize;
                for raw in chunk {
                    if client.request::<B256, _>("eth_sendRawTransaction", rpc_params![raw]).await.is_ok() {
                        ok += 1;
                    }
                }
                ok
            }));
        }
        let mut accepted = 0;
        for t in tasks {
            accepted += t.await.unwrap();
        }
        let secs = started.elapsed().as_secs_f64();
        let rate = accepted as f64 / secs;
        println!("  round {round}: {accepted} accepted in {secs:.2} s = {rate:.0} tx/s");
        rates.push(rate);
        // Let the node drain the round before the next.
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    }
    rates.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!("  median ingest: {:.0} tx/s", rates[rates.len() / 2]);
}
