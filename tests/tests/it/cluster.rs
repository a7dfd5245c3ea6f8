//! Four validator processes on loopback, ordering with HotStuff over libp2p: the same chain
//! everywhere, through transactions spread over every node, a crashed leader, and a lost
//! quorum.

use alloy::{
    eips::BlockNumberOrTag,
    network::TransactionBuilder,
    primitives::{Address, B256, U256},
    providers::Provider,
    rpc::types::TransactionRequest,
};
use flashlayer_tests::{Account, Cluster, signed_transfer, wait_receipts};
use jsonrpsee::{core::client::ClientT, http_client::HttpClientBuilder, rpc_params};
use std::{
    collections::HashSet,
    time::{Duration, Instant},
};

/// Sends `count` transfers from each of `senders` (account i through node i % nodes), nonces
/// from `first_nonce`; returns the acknowledged hashes. Stops a sender at a transport error.
async fn stream(
    cluster: &Cluster,
    senders: &[Account],
    first_nonce: u64,
    count: u64,
    nodes: &[usize],
) -> Vec<B256> {
    let mut tasks = Vec::new();
    for (i, account) in senders.iter().enumerate() {
        let url = cluster.nodes[nodes[i % nodes.len()]].rpc_url();
        let account = account.clone();
        tasks.push(tokio::spawn(async move {
            let client =
                HttpClientBuilder::default().request_timeout(Duration::from_secs(5)).build(&url).unwrap();
            let mut acked = Vec::new();
            for nonce in first_nonce..first_nonce + count {
                let (_, raw) = signed_transfer(&account.signer(), nonce, Address::repeat_byte(0x77), 1);
                match client.request::<B256, _>("eth_sendRawTransaction", rpc_params![raw]).await {
                    Ok(hash) => acked.push(hash),
                    Err(jsonrpsee::core::client::Error::Call(e)) => panic!("refused: {e}"),
                    Err(_) => break,
                }
            }
            acked
        }));
    }
    let mut acked = Vec::new();
    for t in tasks {
        acked.extend(t.await.unwrap());
    }
    acked
}

/// Waits until every hash has a receipt on node `on`.
async fn all_included(cluster: &Cluster, on: usize, hashes: &[B256], within: Duration) {
    wait_receipts(&cluster.nodes[on].provider(), hashes, within).await;
}

/// Same block hash and state root at every height up to the lowest head of `nodes`, and no
/// transaction in two blocks. Returns that height.
async fn same_chain(cluster: &Cluster, nodes: &[usize]) -> u64 {
    let mut head = u64::MAX;
    for &i in nodes {
        head = head.min(cluster.nodes[i].provider().get_block_number().await.unwrap());
    }
    let mut seen = HashSet::new();
    for n in 0..=head {
        let mut reference = None;
        for &i in nodes {
            let block = cluster.nodes[i]
                .provider()
                .get_block_by_number(BlockNumberOrTag::Number(n))
                .await
                .unwrap()
                .unwrap();
            let id = (block.header.hash, block.header.state_root);
            match reference {
                None => {
                    reference = Some(id);
                    for tx in block.transactions.hashes() {
                        assert!(seen.insert(tx), "{tx} included twice");
                    }
                }
                Some(r) => assert_eq!(r, id, "node {i} diverges at block {n}"),
            }
        }
    }
    head
}

/// Heads of `nodes` once they have not moved for `quiet` (commits of certificates formed before
/// a fault may still land for a moment after it).
async fn settled_heads(cluster: &Cluster, nodes: &[usize], quiet: Duration) -> Vec<u64> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = futures::future::join_all(nodes.iter().map(|i| head(cluster, *i))).await;
    let mut since = Instant::now();
    while since.elapsed() < quiet {
        assert!(Instant::now() < deadline, "heads never settled");
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = futures::future::join_all(nodes.iter().map(|i| head(cluster, *i))).await;
        if now != last {
            last = now;
            since = Instant::now();
        }
    }
    last
}

async fn head(cluster: &Cluster, i: usize) -> u64 {
    cluster.nodes[i].provider().get_block_number().await.unwrap()
}

async fn wait_head_past(cluster: &Cluster, i: usize, past: u64, within: Duration) -> u64 {
    let deadline = Instant::now() + within;
    loop {
        let h = head(cluster, i).await;
        if h > past {
            return h;
        }
        assert!(Instant::now() < deadline, "node {i} stuck at {h}, wanted past {past}\n{}", cluster.log(i));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A transaction sent to node 1 gets a receipt on node 4; after transactions spread over all
/// nodes every node holds the same blocks and state roots.
#[tokio::test(flavor = "multi_thread")]
async fn four_nodes_one_chain() {
    let cluster = Cluster::start(4).await;
    let accounts = cluster.accounts();
    let wallet = cluster.nodes[0].wallet(&accounts[0]);
    let pending = wallet
        .send_transaction(
            TransactionRequest::default().with_to(Address::repeat_byte(5)).with_value(U256::from(9)),
        )
        .await
        .unwrap();
    let hash = *pending.tx_hash();
    all_included(&cluster, 3, &[hash], Duration::from_secs(60)).await;
    let receipt = cluster.nodes[3].provider().get_transaction_receipt(hash).await.unwrap().unwrap();
    assert!(receipt.status());

    let acked = stream(&cluster, &accounts[1..9], 0, 150, &[0, 1, 2, 3]).await;
    assert_eq!(acked.len(), 8 * 150);
    for node in 0..4 {
        all_included(&cluster, node, &acked, Duration::from_secs(120)).await;
    }
    let height = same_chain(&cluster, &[0, 1, 2, 3]).await;
    assert!(height > 1);
    let status: serde_json::Value =
        cluster.nodes[2].provider().raw_request("flash_status".into(), ()).await.unwrap();
    assert_eq!(status["peers"].as_array().unwrap().len(), 3, "{status}");
    assert_eq!(status["consensus"]["validators"].as_array().unwrap().len(), 4);
}

/// Kill the current leader while transactions flow: the other three keep committing and
/// include everything they acknowledged exactly once; the restarted node catches up to the
/// same chain.
#[tokio::test(flavor = "multi_thread")]
async fn leader_crash_and_catch_up() {
    let mut cluster = Cluster::start(4).await;
    let accounts = cluster.accounts();
    let start = wait_head_past(&cluster, 0, 0, Duration::from_secs(60)).await;

    let status: serde_json::Value =
        cluster.nodes[0].provider().raw_request("flash_status".into(), ()).await.unwrap();
    let leader = cluster.index_of_key(status["consensus"]["leader"].as_str().unwrap());
    let alive: Vec<usize> = (0..4).filter(|i| *i != leader).collect();
    cluster.kill(leader);

    let acked = stream(&cluster, &accounts[..6], 0, 100, &alive).await;
    assert_eq!(acked.len(), 600);
    all_included(&cluster, alive[0], &acked, Duration::from_secs(120)).await;
    wait_head_past(&cluster, alive[1], start + 2, Duration::from_secs(60)).await;
    same_chain(&cluster, &alive).await;

    cluster.restart(leader).await;
    let target = head(&cluster, alive[0]).await;
    wait_head_past(&cluster, leader, target.saturating_sub(1), Duration::from_secs(120)).await;
    all_included(&cluster, leader, &acked, Duration::from_secs(60)).await;
    same_chain(&cluster, &[0, 1, 2, 3]).await;
}

/// With two of four down nothing commits; one back restores the quorum and the chain moves on
/// with no divergent block anywhere.
#[tokio::test(flavor = "multi_thread")]
async fn no_quorum_no_blocks_then_recovery() {
    let mut cluster = Cluster::start(4).await;
    let accounts = cluster.accounts();
    wait_head_past(&cluster, 0, 0, Duration::from_secs(60)).await;
    cluster.kill(2);
    cluster.kill(3);
    // Let whatever was in flight settle, then watch for a while: no new block.
    let frozen = settled_heads(&cluster, &[0, 1], Duration::from_secs(4)).await[0];
    let acked = stream(&cluster, &accounts[..2], 0, 5, &[0, 1]).await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(head(&cluster, 0).await, frozen, "a block was committed without a quorum");
    assert_eq!(head(&cluster, 1).await, frozen);

    cluster.restart(2).await;
    wait_head_past(&cluster, 0, frozen, Duration::from_secs(90)).await;
    all_included(&cluster, 0, &acked, Duration::from_secs(90)).await;
    all_included(&cluster, 2, &acked, Duration::from_secs(90)).await;
    same_chain(&cluster, &[0, 1, 2]).await;
}

async fn admin(cluster: &Cluster, on: usize, method: &str, peer: &str) {
    let client = HttpClientBuilder::default().build(cluster.nodes[on].rpc_url()).unwrap();
    let ok: bool = client.request(method, rpc_params![peer]).await.unwrap();
    assert!(ok);
}

/// A 2|2 partition (p2p block lists) leaves neither side a quorum: no commits anywhere. Healed,
/// the chain moves on, the same everywhere.
#[tokio::test(flavor = "multi_thread")]
async fn partition_two_two_halts_then_heals() {
    let cluster = Cluster::start(4).await;
    let accounts = cluster.accounts();
    wait_head_past(&cluster, 0, 0, Duration::from_secs(60)).await;
    let sides = [[0usize, 1], [2, 3]];
    for (side, other) in [(sides[0], sides[1]), (sides[1], sides[0])] {
        for a in side {
            for b in other {
                admin(&cluster, a, "admin_blockPeer", &cluster.peer_id(b)).await;
            }
        }
    }
    let frozen = settled_heads(&cluster, &[0, 1, 2, 3], Duration::from_secs(4)).await;
    let acked = stream(&cluster, &accounts[..4], 0, 5, &[0, 1, 2, 3]).await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    for (i, frozen) in frozen.iter().enumerate() {
        assert_eq!(head(&cluster, i).await, *frozen, "node {i} committed during the partition");
    }

    for (side, other) in [(sides[0], sides[1]), (sides[1], sides[0])] {
        for a in side {
            for b in other {
                admin(&cluster, a, "admin_unblockPeer", &cluster.peer_id(b)).await;
            }
        }
    }
    let top = *frozen.iter().max().unwrap();
    for i in 0..4 {
        wait_head_past(&cluster, i, top, Duration::from_secs(90)).await;
        all_included(&cluster, i, &acked, Duration::from_secs(90)).await;
    }
    same_chain(&cluster, &[0, 1, 2, 3]).await;
}

/// A peer that sends undecodable or oversized consensus messages is disconnected and kept
/// out, and the cluster keeps committing the same chain.
#[tokio::test(flavor = "multi_thread")]
async fn garbage_and_oversized_messages_get_a_peer_dropped() {
    use flashlayer_p2p::{P2p, P2pConfig};
    let cluster = Cluster::start(4).await;
    let start = wait_head_past(&cluster, 0, 0, Duration::from_secs(60)).await;
    let layer: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(cluster.dir.path().join("layer.json")).unwrap())
            .unwrap();
    let target_addr: libp2p::Multiaddr = layer["sequencers"][0]["p2p"].as_str().unwrap().parse().unwrap();
    let target: libp2p::PeerId = cluster.peer_id(0).parse().unwrap();

    let oversized = vec![0u8; flashlayer_p2p::MAX_CONSENSUS_MESSAGE + 1];
    for (what, payload) in [("garbage", vec![0xff; 100]), ("oversized", oversized)] {
        let (inbound, _inbox) = flashlayer_consensus::inbox(Default::default());
        let rogue = P2p::spawn(
            P2pConfig {
                secret: rand::random(),
                listen: "/ip4/127.0.0.1/tcp/0".parse().unwrap(),
                peers: vec![(target, target_addr.clone())],
                chain_id: 13370,
                limits: Default::default(),
            },
            inbound,
            std::sync::Arc::new(|_, _| {}),
            std::sync::Arc::new(|_, _| true),
        )
        .await
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !rogue.peers().await.unwrap().iter().any(|p| p.peer_id == target) {
            assert!(Instant::now() < deadline, "{what}: rogue never connected");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        rogue.send_raw_consensus(target, payload);
        let deadline = Instant::now() + Duration::from_secs(20);
        while rogue.peers().await.unwrap().iter().any(|p| p.peer_id == target) {
            assert!(Instant::now() < deadline, "{what}: rogue still connected");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // It keeps redialling; the node keeps refusing.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let status: serde_json::Value =
            cluster.nodes[0].provider().raw_request("flash_status".into(), ()).await.unwrap();
        let rogue_id = rogue.local_peer_id().to_string();
        assert!(
            !status["peers"].as_array().unwrap().iter().any(|p| p["peerId"] == rogue_id.as_str()),
            "{what}: rogue let back in: {status}"
        );
    }
    let moved = wait_head_past(&cluster, 0, start + 1, Duration::from_secs(60)).await;
    assert!(moved > start);
    same_chain(&cluster, &[0, 1, 2, 3]).await;
}

/// A full node (a key outside the sequencer set) follows the layer without voting: a
/// transaction sent to it is ordered by the validators, it executes the same chain, and after
/// a restart it catches up by block sync. A key outside the set is refused without
/// `--full-node`.
#[tokio::test(flavor = "multi_thread")]
async fn full_node_follows_relays_and_catches_up() {
    let mut cluster = Cluster::start(4).await;
    let full = cluster.add_full_node().await;
    let accounts = cluster.accounts();

    // Relayed: the full node gossips what its RPC admits; a validator orders it.
    let wallet = cluster.nodes[full].wallet(&accounts[0]);
    let pending = wallet
        .send_transaction(
            TransactionRequest::default().with_to(Address::repeat_byte(6)).with_value(U256::from(3)),
        )
        .await
        .unwrap();
    let hash = *pending.tx_hash();
    all_included(&cluster, 0, &[hash], Duration::from_secs(60)).await;
    all_included(&cluster, full, &[hash], Duration::from_secs(60)).await;

    let acked = stream(&cluster, &accounts[1..6], 0, 60, &[full, 1, 2]).await;
    assert_eq!(acked.len(), 5 * 60);
    all_included(&cluster, full, &acked, Duration::from_secs(120)).await;
    same_chain(&cluster, &[0, 1, 2, 3, full]).await;

    let status: serde_json::Value =
        cluster.nodes[full].provider().raw_request("flash_status".into(), ()).await.unwrap();
    assert_eq!(status["role"], "full", "{status}");
    let peers = status["peers"].as_array().unwrap();
    assert_eq!(peers.iter().filter(|p| p["validator"] == true).count(), 4, "{status}");
    let status: serde_json::Value =
        cluster.nodes[0].provider().raw_request("flash_status".into(), ()).await.unwrap();
    assert_eq!(status["role"], "validator", "{status}");
    assert!(status["peers"].as_array().unwrap().iter().any(|p| p["validator"] == false), "{status}");

    // Down while the validators go on; back, it syncs to their chain.
    cluster.kill(full);
    let more = stream(&cluster, &accounts[6..9], 0, 60, &[0, 1, 2, 3]).await;
    all_included(&cluster, 0, &more, Duration::from_secs(120)).await;
    let target = head(&cluster, 0).await;
    cluster.restart(full).await;
    wait_head_past(&cluster, full, target, Duration::from_secs(120)).await;
    all_included(&cluster, full, &more, Duration::from_secs(60)).await;
    same_chain(&cluster, &[0, 1, 2, 3, full]).await;
    let syncing: serde_json::Value =
        cluster.nodes[full].provider().raw_request("eth_syncing".into(), ()).await.unwrap();
    assert_eq!(syncing, serde_json::Value::Bool(false));

    // The same outsider key without --full-node is refused with a hint.
    let dir = cluster.dir.path();
    let out = flashlayer_tests::output(
        std::process::Command::new(flashlayer_tests::flashlayer_bin())
            .arg("node")
            .arg("--layer")
            .arg(dir.join("layer.json"))
            .arg("--keys")
            .arg(dir.join(format!("node-{full}/keys")))
            .arg("--datadir")
            .arg(dir.join("refused")),
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("not in the layer's sequencer set") && stderr.contains("--full-node"),
        "{stderr}"
    );
}
