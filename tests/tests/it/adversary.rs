//! Hostile peers and a Byzantine validator against real node processes: nothing one of them
//! sends may crash, stall or bloat an honest node. Each scenario measures the honest nodes'
//! blocks per minute without the attack and during it (printed), asserts the attack costs at
//! most a fifth of it, that no honest node exits, and that each stays under a memory bound.
//!
//! The adversaries come from `flashlayer_tests::adversary`: a stranger (fresh key) or the key
//! of a validator whose node was stopped for the purpose.

use alloy::{
    consensus::TxEnvelope,
    eips::{BlockNumberOrTag, eip2718::Encodable2718},
    primitives::{Address, Bytes, TxKind, U256},
    providers::Provider,
};
use flashlayer_execution::Payload;
use flashlayer_tests::{
    Cluster,
    adversary::{self, Adversary},
    signed_transfer,
};
use hotstuff_rs::{
    block_sync::messages::BlockSyncMessage,
    hotstuff::messages::HotStuffMessage,
    networking::messages::{Message, ProgressMessage},
};
use jsonrpsee::{core::client::ClientT, http_client::HttpClientBuilder, rpc_params};
use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

/// RSS no honest node may exceed during an attack (an idle node uses ~100 MiB, a loaded one
/// ~250 MiB; the bounded queues add at most ~0.6 GiB).
const RSS_BOUND_MIB: u64 = 1_536;
/// How long each phase (without, then with the attack) is measured.
const PHASE: Duration = Duration::from_secs(20);

/// Transfers at about `per_sec` a second through the given nodes until `stop`, so that blocks
/// come at the block interval rather than the empty-block interval. Returns how many were
/// acknowledged and how many sends failed.
///
/// A send that fails (a timeout, say) may still have been admitted, and its nonce then gossiped
/// on: the resend of the same signed bytes answers "already known", which counts as
/// acknowledged, and "nonce too low" (it was included meanwhile) moves on to the node's pending
/// nonce. Otherwise one lost answer would stop the trickle for good, and the test would measure
/// an idle chain at the empty-block interval.
fn trickle(
    cluster: &Cluster,
    nodes: &[usize],
    per_sec: u64,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Trickled> {
    let urls: Vec<String> = nodes.iter().map(|&i| cluster.nodes[i].rpc_url()).collect();
    let signer = cluster.accounts()[9].signer();
    tokio::spawn(async move {
        let clients: Vec<_> = urls
            .iter()
            .map(|u| HttpClientBuilder::default().request_timeout(Duration::from_secs(3)).build(u).unwrap())
            .collect();
        let mut trickled = Trickled::default();
        let mut nonce = 0;
        let mut k = 0usize;
        while !stop.load(Ordering::Relaxed) {
            let client = &clients[k % clients.len()];
            k += 1;
            let (_, raw) = signed_transfer(&signer, nonce, Address::repeat_byte(0x42), 1);
            let error = client
                .request::<serde_json::Value, _>("eth_sendRawTransaction", rpc_params![raw])
                .await
                .err()
                .map(|e| e.to_string());
            match error {
                Some(e) if !e.contains("already known") => {
                    trickled.failed += 1;
                    if e.contains("nonce too low")
                        && let Ok(pending) = client
                            .request::<alloy::primitives::U64, _>(
                                "eth_getTransactionCount",
                                rpc_params![signer.address(), "pending"],
                            )
                            .await
                    {
                        nonce = nonce.max(pending.to::<u64>());
                    }
                    trickled.first_error.get_or_insert(e);
                }
                // "already known": an earlier send of the same bytes was admitted after all.
                _ => {
                    trickled.acknowledged += 1;
                    nonce += 1;
                }
            }
            tokio::time::sleep(Duration::from_millis(1000 / per_sec)).await;
        }
        trickled.next_nonce = nonce;
        trickled
    })
}

/// What [`trickle`] did.
#[derive(Debug, Default)]
struct Trickled {
    acknowledged: u64,
    /// The nonce after the last acknowledged transfer: the sender's nonce once all are in.
    next_nonce: u64,
    failed: u64,
    first_error: Option<String>,
}

async fn height(cluster: &Cluster, i: usize) -> u64 {
    cluster.nodes[i].provider().get_block_number().await.unwrap_or_default()
}

/// Blocks per minute node `i` executed over `phase`, while `during` runs (the attack, or
/// nothing).
async fn blocks_per_minute(cluster: &Cluster, i: usize, phase: Duration) -> f64 {
    let from = height(cluster, i).await;
    tokio::time::sleep(phase).await;
    let to = height(cluster, i).await;
    (to - from) as f64 * 60.0 / phase.as_secs_f64()
}

/// Every listed node still runs, serves RPC, and stays under the memory bound.
async fn honest_nodes_alive_and_bounded(cluster: &Cluster, nodes: &[usize], what: &str) {
    for &i in nodes {
        let pid = cluster.pid(i).unwrap_or_else(|| panic!("{what}: node {i} is gone"));
        let rss =
            adversary::rss_mib(pid).unwrap_or_else(|| panic!("{what}: node {i} exited\n{}", cluster.log(i)));
        println!("{what}: node {i} RSS {rss} MiB");
        assert!(rss < RSS_BOUND_MIB, "{what}: node {i} uses {rss} MiB, over {RSS_BOUND_MIB}");
        height(cluster, i).await;
    }
}

/// Prints the honest block rate without the attack (the mean of the phases before and after
/// it: rates on two shared cores drift) and during it, and asserts the attack costs at most a
/// fifth.
fn assert_attack_cost(what: &str, before: f64, during: f64, after: f64) {
    let without = (before + after) / 2.0;
    println!(
        "{what}: {without:.0} blocks/min without the attack ({before:.0} before, {after:.0} after), {during:.0} during it ({:.0}%)",
        100.0 * during / without
    );
    assert!(
        during >= 0.8 * without,
        "{what}: {during:.0} blocks/min during the attack, {without:.0} without"
    );
}

/// Measures the honest nodes without and with `attack` (run until `stop` is set), prints the
/// blocks per minute, and asserts the attack costs at most a fifth.
async fn under_attack<F, Fut>(cluster: &Cluster, honest: &[usize], what: &str, attack: F)
where
    F: FnOnce(Arc<AtomicBool>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let stop_trickle = Arc::new(AtomicBool::new(false));
    let trickler = trickle(cluster, honest, 100, stop_trickle.clone());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = blocks_per_minute(cluster, honest[0], PHASE).await;
    let stop = Arc::new(AtomicBool::new(false));
    let attacker = tokio::spawn(attack(stop.clone()));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let during = blocks_per_minute(cluster, honest[0], PHASE).await;
    honest_nodes_alive_and_bounded(cluster, honest, what).await;
    stop.store(true, Ordering::Relaxed);
    attacker.await.unwrap();
    // Block rates on two shared cores drift: the attack is compared with the mean of a phase
    // before it and one after it.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = blocks_per_minute(cluster, honest[0], PHASE).await;
    stop_trickle.store(true, Ordering::Relaxed);
    all_trickled_in(cluster, honest, what, trickler).await;
    assert_attack_cost(what, before, during, after);
}

/// Stops waiting for the trickle, prints what it did, and checks that every transfer it got
/// acknowledged is in the chain (nothing acknowledged is lost, attack or not). A lost one
/// would also explain a block rate at the empty-block interval: its sender's later nonces
/// never become ready.
async fn all_trickled_in(
    cluster: &Cluster,
    honest: &[usize],
    what: &str,
    trickler: tokio::task::JoinHandle<Trickled>,
) {
    let trickled = trickler.await.unwrap();
    println!("{what}: trickle {trickled:?}");
    let sender = cluster.accounts()[9].address;
    let provider = cluster.nodes[honest[0]].provider();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let nonce = provider.get_transaction_count(sender).await.unwrap_or_default();
        if nonce >= trickled.next_nonce {
            break;
        }
        if Instant::now() > deadline {
            let mut pools = Vec::new();
            for &i in honest {
                let p = cluster.nodes[i].provider();
                let chain = p.get_transaction_count(sender).await.ok();
                let pending = p.get_transaction_count(sender).pending().await.ok();
                let status: Option<serde_json::Value> = p.raw_request("txpool_status".into(), ()).await.ok();
                pools.push(format!("node {i}: nonce {chain:?}, pending nonce {pending:?}, pool {status:?}"));
            }
            panic!(
                "{what}: the trickle's sender is at nonce {nonce} 30 s after it stopped, {} were \
                 acknowledged\n{}",
                trickled.next_nonce,
                pools.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// The remote kill: one block sync request with `limit: u32::MAX` from a peer outside the
/// validator set used to abort the node (`Vec::with_capacity(limit)`, and `max` instead of
/// `min` of the limits). Now it gets at most the node's own limit of blocks, and a stream of
/// such requests is rate-limited; every node lives.
#[tokio::test(flavor = "multi_thread")]
async fn one_sync_request_with_limit_u32_max_kills_nobody() {
    let cluster = Cluster::start(4).await;
    let mut stranger = Adversary::stranger(&cluster).await;
    let chain_id = stranger.chain_id();
    for i in 0..4 {
        stranger.send(i, adversary::sync_request(chain_id, 0, u32::MAX));
    }
    // The answer (to the first request, before the rate limit) holds at most 64 blocks.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut answered = 0;
    while Instant::now() < deadline && answered < 4 {
        if let Some((_, Message::BlockSyncMessage(BlockSyncMessage::BlockSyncResponse(r)))) = stranger.recv()
        {
            assert!(r.blocks.len() <= 64, "a response of {} blocks", r.blocks.len());
            answered += 1;
        }
    }
    assert!(answered > 0, "no node answered a sync request at all");
    // And a flood of them, raw.
    let raw = adversary::encode(&adversary::sync_request(chain_id, 0, u32::MAX));
    for _ in 0..500 {
        stranger.send_raw(0, raw.clone());
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    honest_nodes_alive_and_bounded(&cluster, &[0, 1, 2, 3], "sync limit u32::MAX").await;
    let from = height(&cluster, 0).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while height(&cluster, 0).await <= from {
        assert!(Instant::now() < deadline, "node 0 stopped making blocks");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Floods that used to fill memory: unsolicited block sync responses (queued unbounded,
/// drained only while syncing) and future-view proposals with large payloads (buffered before
/// the sender was checked, counted by struct size), from a stranger and from a Byzantine
/// validator; plus a connection flood and junk transaction gossip from strangers.
#[tokio::test(flavor = "multi_thread")]
async fn floods_from_strangers_and_a_byzantine_validator_stay_bounded() {
    let mut cluster = Cluster::start(4).await;
    cluster.kill(3);
    let mut byzantine = Adversary::validator(&cluster, 3).await;
    let mut stranger = Adversary::stranger(&cluster).await;
    let node0 = adversary::p2p_address(&cluster, 0);
    let chain_id = byzantine.chain_id();
    under_attack(&cluster, &[0, 1, 2], "floods", |stop| async move {
        let big = Payload { timestamp: now_secs(), ..Default::default() };
        let mut view = 1_000_000u64;
        // 150 strangers dialling node 0: more than its incoming connection limit takes.
        let mut crowd = Vec::new();
        for _ in 0..150 {
            crowd.push(adversary::stranger_dialing(chain_id.int(), node0.clone()).await);
        }
        while !stop.load(Ordering::Relaxed) {
            for i in 0..3 {
                // 8 MiB of junk "blocks", nobody asked for them.
                stranger.send(i, adversary::junk_sync_response(2, 4 << 20));
                byzantine.send(i, adversary::junk_sync_response(2, 4 << 20));
                // Proposals far in the future, 4 MiB of payload each.
                let mut payload = big.clone();
                payload.transactions = vec![Bytes::from(vec![0u8; 4 << 20])];
                let pc = hotstuff_rs::hotstuff::types::PhaseCertificate::genesis_pc();
                byzantine.send(i, adversary::proposal(&byzantine, view, pc.clone(), None, &payload));
                stranger.send(i, adversary::proposal(&byzantine, view, pc, None, &payload));
                view += 4;
            }
            for k in 0..200u32 {
                stranger.gossip_tx(k.to_be_bytes().repeat(30));
            }
            while byzantine.recv().is_some() {}
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        drop(crowd);
    })
    .await;
}

/// A Byzantine validator that advertises height 0 and sends `AdvanceView`s certifying blocks
/// nobody has (forged certificates) used to make every honest node sync with it on its
/// algorithm thread for seconds at a time; with timeout votes for ever-higher views it also
/// grew a map without bound. Now the certificate is checked before any sync, and each
/// validator counts with its highest timeout view only.
#[tokio::test(flavor = "multi_thread")]
async fn fake_advance_views_and_height_zero_adverts_do_not_stall_the_honest() {
    let mut cluster = Cluster::start(4).await;
    cluster.kill(3);
    let mut byzantine = Adversary::validator(&cluster, 3).await;
    let chain_id = byzantine.chain_id();
    under_attack(&cluster, &[0, 1, 2], "fake AdvanceView", |stop| async move {
        let mut view = 10u64;
        let mut k = 0u64;
        while !stop.load(Ordering::Relaxed) {
            byzantine.broadcast(adversary::advertise_height(&byzantine, 0));
            let block: [u8; 32] = rand::random();
            byzantine.broadcast(adversary::advance_view(adversary::forged_pc(chain_id, view, block, 4)));
            // Timeout votes for ever-higher epoch-change views, properly signed.
            for _ in 0..20 {
                k += 1;
                byzantine.broadcast(adversary::timeout_vote(&byzantine, 4 * (1_000 + k)));
            }
            view += 1;
            while byzantine.recv().is_some() {}
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
}

/// A validator that goes on voting while its gossip falls silent (found on a loaded machine: a
/// gossipsub link stopped delivering in both directions, with no error, while consensus on the
/// same connection went on, and the transactions one node acknowledged never reached the
/// leaders). Every honest node notices within `GOSSIP_SILENCE` and gives it a fresh connection.
#[tokio::test(flavor = "multi_thread")]
async fn a_validator_silent_on_gossip_gets_a_fresh_connection() {
    let mut cluster = Cluster::start(4).await;
    cluster.kill(3);
    let (peer, _) = adversary::p2p_address(&cluster, 3);
    let mut validator = Adversary::validator(&cluster, 3).await;
    validator.mute_gossip_liveness();
    let votes = vote_for(&mut validator, flashlayer_p2p::GOSSIP_SILENCE * 2 + Duration::from_secs(5)).await;
    println!("silent on gossip: voted {votes} times");
    assert!(votes >= 3, "the muted validator saw too few proposals to look alive ({votes})");
    for i in 0..3 {
        assert!(
            silence_reconnects(&cluster, i, &peer) > 0,
            "node {i} never reconnected the validator silent on gossip\n{}",
            flashlayer_tests::tail(&cluster.log(i), 40)
        );
    }
}

/// A validator running a version without liveness messages (a rolling upgrade) is not
/// subscribed to them: it votes and is never reconnected for the silence.
#[tokio::test(flavor = "multi_thread")]
async fn a_validator_without_liveness_messages_is_left_alone() {
    let mut cluster = Cluster::start(4).await;
    cluster.kill(3);
    let (peer, _) = adversary::p2p_address(&cluster, 3);
    let mut validator = Adversary::validator(&cluster, 3).await;
    validator.leave_gossip_liveness();
    let votes = vote_for(&mut validator, flashlayer_p2p::GOSSIP_SILENCE * 2 + Duration::from_secs(5)).await;
    println!("without liveness: voted {votes} times");
    assert!(votes >= 3, "the validator saw too few proposals to look alive ({votes})");
    for i in 0..3 {
        assert_eq!(
            silence_reconnects(&cluster, i, &peer),
            0,
            "node {i} reconnected a validator of an older version"
        );
    }
}

/// A validator SIGSTOPped for longer than `GOSSIP_SILENCE`, then resumed: its buffered
/// consensus messages may come back before its liveness, and nobody may take that for a dead
/// gossip link (nor may it, for the others, whose messages it reads late). Only reconnects
/// that involve the paused node count: a one-way link elsewhere, healed late, is the check
/// doing its job.
#[tokio::test(flavor = "multi_thread")]
async fn a_paused_validator_is_not_reconnected_for_silence_when_it_resumes() {
    let cluster = Cluster::start(4).await;
    let peers: Vec<libp2p::PeerId> = (0..4).map(|i| adversary::p2p_address(&cluster, i).0).collect();
    // Past start-up, whose one-way links are healed GOSSIP_SILENCE after consensus begins.
    tokio::time::sleep(flashlayer_p2p::GOSSIP_SILENCE * 3).await;
    let involving_2 = || -> Vec<usize> {
        (0..4)
            .map(|i| match i {
                2 => peers.iter().map(|p| silence_reconnects(&cluster, 2, p)).sum(),
                _ => silence_reconnects(&cluster, i, &peers[2]),
            })
            .collect()
    };
    let before = involving_2();
    let pid = cluster.pid(2).expect("node 2 runs") as i32;
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    tokio::time::sleep(flashlayer_p2p::GOSSIP_SILENCE + Duration::from_secs(5)).await;
    unsafe { libc::kill(pid, libc::SIGCONT) };
    tokio::time::sleep(flashlayer_p2p::GOSSIP_SILENCE + Duration::from_secs(5)).await;
    let after = involving_2();
    assert_eq!(
        after,
        before,
        "reconnects for gossip silence involving node 2 (by node i; node 2's own in place 2), across its pause\n{}",
        flashlayer_tests::tail(&cluster.log(2), 40)
    );
    cluster.nodes[0].provider().get_block_number().await.expect("the layer answers");
}

/// A peer that relays another peer's liveness message (no node of ours forwards them) could
/// beat the direct copy and get a healthy validator reconnected again and again: a relay is
/// refused and its relayer blocked. Here a stock gossipsub node relays the liveness messages
/// of a second one, which is not connected to node 1 at all.
#[tokio::test(flavor = "multi_thread")]
async fn a_peer_relaying_liveness_messages_is_blocked() {
    use futures::StreamExt;
    use libp2p::{SwarmBuilder, gossipsub, noise, swarm::SwarmEvent, tcp, yamux};
    let cluster = Cluster::start(4).await;
    let chain_id = cluster.layer()["chain"]["chain_id"].as_u64().expect("chain id");
    let topic = gossipsub::IdentTopic::new(format!("/flashlayer/{chain_id}/alive/1"));
    let stock = |topic: &gossipsub::IdentTopic| {
        let mut swarm = SwarmBuilder::with_new_identity()
            .with_tokio()
            .with_tcp(tcp::Config::default(), noise::Config::new, yamux::Config::default)
            .expect("tcp")
            .with_behaviour(|key| {
                gossipsub::Behaviour::<gossipsub::IdentityTransform>::new(
                    gossipsub::MessageAuthenticity::Signed(key.clone()),
                    gossipsub::Config::default(),
                )
                .expect("gossipsub")
            })
            .expect("behaviour")
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
            .build();
        swarm.behaviour_mut().subscribe(topic).expect("subscribe");
        swarm
    };
    let mut source = stock(&topic);
    let mut relay = stock(&topic);
    source.listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap()).unwrap();
    let source_addr = loop {
        if let SwarmEvent::NewListenAddr { address, .. } = source.select_next_some().await {
            break address;
        }
    };
    let relay_id = *relay.local_peer_id();
    relay.dial(source_addr).unwrap();
    let (_, node1) = adversary::p2p_address(&cluster, 1);
    relay.dial(node1).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut tick = tokio::time::interval(Duration::from_millis(300));
    while Instant::now() < deadline {
        tokio::select! {
            _ = source.select_next_some() => {}
            _ = relay.select_next_some() => {}
            _ = tick.tick() => {
                let _ = source.behaviour_mut().publish(topic.clone(), vec![1]);
            }
        }
    }
    let log = cluster.log(1);
    assert!(
        log.lines().any(|l| l.contains("relayed another peer's gossip liveness message")
            && l.contains(&relay_id.to_string())),
        "node 1 did not block the peer relaying liveness messages\n{}",
        flashlayer_tests::tail(&log, 40)
    );
}

/// Votes on every proposal `validator` receives for `how_long`: a validator alive on
/// consensus. Returns how many votes it sent.
async fn vote_for(validator: &mut Adversary, how_long: Duration) -> u64 {
    let deadline = Instant::now() + how_long;
    let mut votes = 0;
    while Instant::now() < deadline {
        match validator.recv() {
            Some((
                _,
                Message::ProgressMessage(ProgressMessage::HotStuffMessage(HotStuffMessage::Proposal(p))),
            )) => {
                validator.broadcast(adversary::vote(validator, p.view, p.block.hash));
                votes += 1;
            }
            Some(_) => {}
            None => tokio::time::sleep(Duration::from_millis(1)).await,
        }
    }
    votes
}

/// How many times node `i` has reconnected `peer` for gossip silence (its log's warnings).
fn silence_reconnects(cluster: &Cluster, i: usize, peer: &libp2p::PeerId) -> usize {
    let peer = peer.to_string();
    cluster
        .log(i)
        .lines()
        .filter(|l| l.contains("no gossip from this validator") && l.contains(&peer))
        .count()
}

/// A Byzantine validator as leader: equivocating proposals (a different block to each node),
/// one full of undecodable transactions, and timestamps at both edges of what validators take.
/// The undecodable block and the one from the past are refused before anyone votes, the
/// equivocation gets no quorum, and a leader that fails its turn is left out of the schedule:
/// the honest nodes keep their block rate. Nothing in the chain has a timestamp more than 15 s
/// ahead of the clock.
///
/// The validator is honest (its node runs) until the attack: a node down from the start is
/// skipped twice before the schedule's window takes it out, and two skips keep it out for
/// 1,024 blocks, longer than the test. At the attack its node is killed and the adversary, with
/// its key, takes over at once, votes on every proposal to look alive and attacks each turn it
/// is given. Only fresh turns count: a `NewView` for a view the chain has passed is stale.
#[tokio::test(flavor = "multi_thread")]
async fn a_byzantine_leader_gets_one_turn_and_no_junk_in() {
    let what = "Byzantine leader";
    let mut cluster = Cluster::start(4).await;
    let honest = [0, 1, 2];
    let stop_trickle = Arc::new(AtomicBool::new(false));
    let trickler = trickle(&cluster, &honest, 100, stop_trickle.clone());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = blocks_per_minute(&cluster, 0, PHASE).await;

    cluster.kill(3);
    let mut byzantine = Adversary::validator(&cluster, 3).await;
    let turns = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counted = turns.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    let attacker = tokio::spawn(async move {
        let mut heights = std::collections::HashMap::new();
        // The highest view a proposal was seen in: NewViews below it are stale.
        let mut seen_view = 0;
        let mut last_view = 0;
        while !stopped.load(Ordering::Relaxed) {
            let Some((_, message)) = byzantine.recv() else {
                tokio::time::sleep(Duration::from_millis(1)).await;
                continue;
            };
            match message {
                // Learn block heights from proposals, and vote for them: a validator that votes
                // looks alive to the leader schedule, which gives it turns to lead.
                Message::ProgressMessage(ProgressMessage::HotStuffMessage(HotStuffMessage::Proposal(p))) => {
                    heights.insert(p.block.hash, p.block.height.int());
                    seen_view = seen_view.max(p.view.int());
                    byzantine.broadcast(adversary::vote(&byzantine, p.view, p.block.hash));
                }
                // A NewView sent to us: we lead the view after it.
                Message::ProgressMessage(ProgressMessage::HotStuffMessage(HotStuffMessage::NewView(nv))) => {
                    let view = nv.view.int() + 1;
                    if view <= last_view || view <= seen_view {
                        continue;
                    }
                    last_view = view;
                    let parent = heights.get(&nv.highest_pc.block).copied();
                    if parent.is_none() && !nv.highest_pc.is_genesis_pc() {
                        // It missed the parent's proposal: a block at the wrong height would
                        // be dropped before any check, and the turn wasted.
                        println!("{what}: view {view} extends a block it has not seen");
                        continue;
                    }
                    let base = Payload { timestamp: now_secs(), ..Default::default() };
                    let junk =
                        Payload { transactions: vec![Bytes::from(vec![0xee; 200]); 500], ..base.clone() };
                    let future = Payload { timestamp: now_secs() + 14, ..base.clone() };
                    let past = Payload { timestamp: now_secs().saturating_sub(40), ..base.clone() };
                    let pc = nv.highest_pc.clone();
                    // Equivocation: each node gets a different block, and which one rotates
                    // with the turn, so that over its turns each node sees each kind.
                    let turn = counted.fetch_add(1, Ordering::Relaxed) as usize;
                    println!("{what}: leading view {view}");
                    for (k, payload) in [&junk, &future, &past].into_iter().enumerate() {
                        let node = (k + turn) % 3;
                        byzantine
                            .send(node, adversary::proposal(&byzantine, view, pc.clone(), parent, payload));
                    }
                }
                _ => {}
            }
        }
    });
    // Long enough for a turn or two: a failed turn keeps it out for the schedule's window.
    let during = blocks_per_minute(&cluster, 0, Duration::from_secs(45)).await;
    honest_nodes_alive_and_bounded(&cluster, &honest, what).await;
    stop.store(true, Ordering::Relaxed);
    attacker.await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = blocks_per_minute(&cluster, 0, PHASE).await;
    stop_trickle.store(true, Ordering::Relaxed);
    all_trickled_in(&cluster, &honest, what, trickler).await;
    assert_attack_cost(what, before, during, after);
    let turns = turns.load(Ordering::Relaxed);
    println!("Byzantine leader: it was asked to lead {turns} time(s)");
    assert!(turns >= 1, "the Byzantine validator never got a turn to attack with");
    // Its junk block and its block from the past were refused before anyone voted, by some
    // honest node at least (which nodes depends on the turns it got).
    let logs: Vec<String> = (0..3).map(|i| cluster.log(i)).collect();
    let rejections: Vec<&str> =
        logs.iter().flat_map(|l| l.lines()).filter(|l| l.contains("rejected proposal")).collect();
    println!("Byzantine leader: {} rejected proposal(s):\n{}", rejections.len(), rejections.join("\n"));
    assert!(
        rejections.iter().any(|l| l.contains("does not decode")),
        "no node refused the block of undecodable transactions"
    );
    // The block from the past falls to the first time rule it breaks: while the chain moves,
    // its parent is younger than 40 s, so "before parent's"; after a stall, the past bound.
    assert!(
        rejections.iter().any(|l| l.contains("before parent's") || l.contains("too far in the past")),
        "no node refused the block from the past"
    );
    // Nothing in the chain is from the future beyond the validators' drift.
    let provider = cluster.nodes[0].provider();
    let head = provider.get_block_number().await.unwrap();
    let now = now_secs();
    for n in 1..=head {
        let block = provider.get_block_by_number(BlockNumberOrTag::Number(n)).await.unwrap().unwrap();
        assert!(
            block.header.timestamp <= now + 15,
            "block {n} timestamp {} far ahead",
            block.header.timestamp
        );
    }
}

/// Blocks larger than a sync response may carry: a node that was down while 80 MiB of large
/// transactions were included (blocks of ~2.4 MB, the gas limit) catches up by block sync, in
/// responses cut at 32 MiB (upstream
/// built one response of every block, over the 64 MiB frame; it reached the client as nothing
/// and the honest server was disconnected).
#[tokio::test(flavor = "multi_thread")]
async fn a_node_catches_up_over_large_blocks() {
    let mut cluster = Cluster::start(4).await;
    cluster.kill(3);
    let accounts = cluster.accounts();
    let client = HttpClientBuilder::default()
        .max_request_size(16 << 20)
        .request_timeout(Duration::from_secs(30))
        .build(cluster.nodes[0].rpc_url())
        .unwrap();
    let mut hashes = Vec::new();
    // 640 transactions of 125 KiB of calldata, 5.1M gas each (the EIP-7623 calldata floor).
    for (a, account) in accounts.iter().take(8).enumerate() {
        let signer = account.signer();
        for nonce in 0..80u64 {
            let mut tx = alloy::consensus::TxEip1559 {
                chain_id: 13370,
                nonce,
                gas_limit: 5_200_000,
                max_fee_per_gas: 100_000_000_000,
                max_priority_fee_per_gas: 1,
                to: TxKind::Call(Address::repeat_byte(0x33)),
                value: U256::ZERO,
                input: Bytes::from(vec![a as u8 + 1; 125 * 1024]),
                ..Default::default()
            };
            use alloy::{consensus::SignableTransaction, network::TxSignerSync};
            let sig = signer.sign_transaction_sync(&mut tx).unwrap();
            let raw = TxEnvelope::from(tx.into_signed(sig)).encoded_2718();
            let hash: alloy::primitives::B256 =
                client.request("eth_sendRawTransaction", rpc_params![Bytes::from(raw)]).await.unwrap();
            hashes.push(hash);
        }
    }
    flashlayer_tests::wait_receipts(&cluster.nodes[0].provider(), &hashes, Duration::from_secs(180)).await;
    let head = height(&cluster, 0).await;
    cluster.restart(3).await;
    let deadline = Instant::now() + Duration::from_secs(180);
    while height(&cluster, 3).await < head {
        assert!(Instant::now() < deadline, "node 3 did not catch up over large blocks:\n{}", cluster.log(3));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    honest_nodes_alive_and_bounded(&cluster, &[0, 1, 2, 3], "large blocks").await;
}
