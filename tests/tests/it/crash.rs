//! A crash in the middle of traffic: SIGKILL the node while transactions stream in (blocks and
//! their trie writes under way), restart it, and check that nothing it acknowledged or reported
//! was lost or changed, and that the stored trie still describes the state exactly.

use alloy::{
    eips::BlockNumberOrTag,
    primitives::{Address, B256, U256},
    providers::Provider,
};
use flashlayer_tests::{TestNode, signed_transfer, wait_receipts};
use jsonrpsee::{core::client::ClientT, http_client::HttpClientBuilder, rpc_params};
use std::{
    collections::{HashMap, HashSet},
    time::{Duration, Instant},
};

const SENDERS: usize = 8;
const PER_SENDER: u64 = 4_000;
const VALUE: u64 = 1_000;

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_during_traffic_loses_nothing() {
    let mut node = TestNode::start().await;
    let url = node.rpc_url();
    let provider = node.provider();
    let accounts = node.accounts();
    let mut initial = HashMap::new();
    for a in &accounts[..SENDERS] {
        initial.insert(a.address, provider.get_balance(a.address).await.unwrap());
    }
    let recipients: Vec<Address> = (0..SENDERS).map(|_| Address::from(rand::random::<[u8; 20]>())).collect();

    // The first block comes once the first HotStuff view has run out; traffic starts after it.
    let deadline = Instant::now() + Duration::from_secs(60);
    while provider.get_block_number().await.unwrap() == 0 {
        assert!(Instant::now() < deadline, "no first block:\n{}", node.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Each sender streams sequential nonces and stops at the first error (the crash).
    let mut tasks = Vec::new();
    for (i, account) in accounts[..SENDERS].iter().enumerate() {
        let signer = account.signer();
        let to = recipients[i];
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let client =
                HttpClientBuilder::default().request_timeout(Duration::from_secs(5)).build(&url).unwrap();
            let mut acked = Vec::new();
            for nonce in 0..PER_SENDER {
                let (_, raw) = signed_transfer(&signer, nonce, to, VALUE);
                match client.request::<B256, _>("eth_sendRawTransaction", rpc_params![raw]).await {
                    Ok(hash) => acked.push(hash),
                    Err(jsonrpsee::core::client::Error::Call(e)) => {
                        panic!("sender {i} nonce {nonce} refused: {e}")
                    }
                    // Transport errors: the node is gone.
                    Err(_) => break,
                }
            }
            acked
        }));
    }

    // Let blocks come, remember every block the node reported, then crash it mid-stream.
    let start = provider.get_block_number().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let head = provider.get_block_number().await.unwrap();
    assert!(head > start, "blocks came while transactions streamed");
    assert!(tasks.iter().any(|t| !t.is_finished()), "the stream was still running at the crash");
    let mut reported = Vec::new();
    for n in 0..=head {
        let block = provider.get_block_by_number(BlockNumberOrTag::Number(n)).await.unwrap().unwrap();
        reported.push(block.header.hash);
    }
    node.kill();
    let mut acked = HashSet::new();
    for task in tasks {
        acked.extend(task.await.unwrap());
    }
    assert!(!acked.is_empty());
    let total_acked = acked.len();

    node.restart().await;
    let provider = node.provider();

    // Every block reported before the crash keeps its hash.
    for (n, hash) in reported.iter().enumerate() {
        let block = provider.get_block_by_number(BlockNumberOrTag::Number(n as u64)).await.unwrap().unwrap();
        assert_eq!(block.header.hash, *hash, "block {n} changed across the crash");
    }

    // Every acknowledged transaction is eventually included.
    wait_receipts(&provider, &acked.iter().copied().collect::<Vec<_>>(), Duration::from_secs(120)).await;

    // Exactly once, and the balances add up.
    let head = provider.get_block_number().await.unwrap();
    let mut seen = HashSet::new();
    let mut included: HashMap<Address, u64> = HashMap::new();
    let mut fees: HashMap<Address, U256> = HashMap::new();
    for n in 1..=head {
        let receipts = provider.get_block_receipts(n.into()).await.unwrap().unwrap();
        for r in receipts {
            assert!(seen.insert(r.transaction_hash), "{} included twice", r.transaction_hash);
            assert!(r.status());
            *included.entry(r.from).or_default() += 1;
            *fees.entry(r.from).or_default() += U256::from(r.gas_used) * U256::from(r.effective_gas_price);
        }
    }
    for hash in &acked {
        assert!(seen.contains(hash));
    }
    for (i, account) in accounts[..SENDERS].iter().enumerate() {
        let count = included.get(&account.address).copied().unwrap_or_default();
        assert_eq!(provider.get_transaction_count(account.address).await.unwrap(), count);
        assert_eq!(provider.get_balance(recipients[i]).await.unwrap(), U256::from(VALUE * count));
        let spent = U256::from(VALUE * count) + fees.get(&account.address).copied().unwrap_or_default();
        assert_eq!(provider.get_balance(account.address).await.unwrap(), initial[&account.address] - spent);
    }
    println!("acknowledged {total_acked}, included {} over {head} blocks", seen.len());

    // The incremental trie went through the crash with the state it describes: rebuilt from
    // the leaves alone, every trie has the head's root and exactly the stored branch nodes.
    let head_root = provider.get_block_by_number(BlockNumberOrTag::Latest).await.unwrap().unwrap().header;
    node.stop();
    let db = flashlayer_storage::Db::open(&node.db_path()).unwrap();
    assert_eq!(db.head_number().unwrap(), Some(head_root.number));
    let check = flashlayer_storage::trie::check_tries(&db).unwrap();
    assert!(check.problems.is_empty(), "trie and state disagree after the crash: {:#?}", check.problems);
    assert_eq!(check.state_root, head_root.state_root, "the leaves give another root than the head's");
    println!(
        "trie check: root {} from the leaves, {} storage tries, no problem",
        check.state_root, check.storage_tries
    );
}
