//! Four replicas in this process, each on its own RocksDB on disk, joined by an in-process
//! transport, with no executor (execution lags without end).
//!
//! A crash at the moment a replica sends its vote, injected: four replicas in this process,
//! each on its own RocksDB on disk, joined by an in-process transport. When one replica sends
//! its first vote past the start, the transport takes a RocksDB checkpoint of that replica's
//! database before the vote leaves: the checkpoint is exactly what a process killed at that
//! instant leaves on disk. The replica is then restarted from the checkpoint and its view's
//! leader equivocates, proposing a second block for the view the replica already voted in. An
//! honest replica must not vote for it (upstream hotstuff_rs sent the vote before it recorded
//! it; see `vendor/hotstuff_rs/FLASHLAYER-PATCHES.md`, patch 15).

use alloy::primitives::{B256, Bytes};
use ed25519_dalek::{SigningKey, VerifyingKey};
use flashlayer_consensus::{
    AppConfig, ConsensusNetwork, FlashApp, FlashSchedule, Inbound, InboundLimits, NoL1, Replica,
    ReplicaConfig, Transport, TxSource, inbox,
    schedule::{LeaderRecord, data_hash},
};
use flashlayer_execution::Payload;
use flashlayer_storage::Db;
use hotstuff_rs::{
    hotstuff::messages::{HotStuffMessage, Proposal},
    networking::messages::{Message, ProgressMessage},
    types::{
        block::Block,
        data_types::{CryptoHash, Data, Datum},
    },
};
use parking_lot::Mutex;
use std::{
    collections::{HashMap, HashSet},
    path::Path,
    sync::{Arc, atomic::AtomicU64},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

const CHAIN_ID: u64 = 4242;

/// No transactions: the replicas make empty blocks.
struct Empty;

impl TxSource for Empty {
    fn select(&self, _gas_limit: u64, _max_bytes: usize, _exclude: &HashSet<B256>) -> Vec<Bytes> {
        Vec::new()
    }

    fn wait_pending(&self, timeout: Duration) -> bool {
        std::thread::sleep(timeout);
        false
    }
}

/// What a transport sees go out: the sender, the recipient (`None` for a broadcast) and the
/// message. Returns nothing; it may block (the checkpoint is taken inside it).
type Tap = Arc<dyn Fn(&VerifyingKey, Option<&VerifyingKey>, &Message) + Send + Sync>;

/// The in-process wire: every replica's inbound by key, and a tap on everything sent.
#[derive(Clone)]
struct Wire {
    peers: Arc<Mutex<HashMap<[u8; 32], Inbound>>>,
    tap: Tap,
}

struct WireEnd {
    me: VerifyingKey,
    wire: Wire,
}

impl WireEnd {
    fn deliver(&self, to: &VerifyingKey, message: &Message) {
        let inbound = self.wire.peers.lock().get(&to.to_bytes()).cloned();
        if let Some(inbound) = inbound {
            let size = borsh::to_vec(message).map(|b| b.len() as u64).unwrap_or(0);
            let _ = inbound.deliver(self.me, message.clone(), size);
        }
    }
}

impl Transport for WireEnd {
    fn send(&self, to: &VerifyingKey, message: &Message) {
        (self.wire.tap)(&self.me, Some(to), message);
        self.deliver(to, message);
    }

    fn broadcast(&self, message: &Message) {
        (self.wire.tap)(&self.me, None, message);
        let others: Vec<[u8; 32]> =
            self.wire.peers.lock().keys().filter(|k| **k != self.me.to_bytes()).copied().collect();
        for key in others {
            self.deliver(&VerifyingKey::from_bytes(&key).expect("key"), message);
        }
    }

    fn set_validators(&self, _validators: Vec<VerifyingKey>) {}
}

fn key(i: u8) -> SigningKey {
    SigningKey::from_bytes(&[i + 1; 32])
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs()
}

/// Starts replica `me` of `validators` on the database at `path`, attached to `wire`; returns
/// its database, the replica and its app's count of blocks decoded.
fn start(
    me: &SigningKey,
    validators: &[VerifyingKey],
    path: &Path,
    genesis_timestamp: u64,
    wire: &Wire,
) -> (Db, Replica, Arc<AtomicU64>) {
    let db = Db::open(path).expect("open db");
    let public = me.verifying_key();
    let schedule = Arc::new(FlashSchedule::open(db.consensus_store()));
    let app = FlashApp::new(
        AppConfig {
            gas_limit: 30_000_000,
            max_tx_gas: 16_777_216,
            block_interval: Duration::from_millis(100),
            empty_block_interval: Duration::from_millis(100),
            max_payload_bytes: 1024 * 1024,
            genesis_timestamp,
            max_future_drift: Duration::from_secs(15),
            max_past_drift: Duration::from_secs(15),
            chain_id: CHAIN_ID,
            end_time: None,
            end_block: None,
        },
        public,
        schedule.clone(),
        Arc::new(Empty),
        Arc::new(NoL1),
        Arc::new(AtomicU64::new(0)),
    );
    let decodes = app.decodes();
    let (inbound, inbox) = inbox(InboundLimits::default());
    wire.peers.lock().insert(public.to_bytes(), inbound.clone());
    let network =
        ConsensusNetwork::new(public, Arc::new(WireEnd { me: public, wire: wire.clone() }), inbound, inbox);
    let replica = Replica::start(
        me.clone(),
        ReplicaConfig {
            chain_id: CHAIN_ID,
            validators: validators.to_vec(),
            max_view_time: Duration::from_secs(2),
        },
        db.consensus_store(),
        schedule,
        app,
        network,
    )
    .expect("replica starts");
    (db, replica, decodes)
}

fn phase_vote_view(message: &Message) -> Option<u64> {
    match message {
        Message::ProgressMessage(ProgressMessage::HotStuffMessage(HotStuffMessage::PhaseVote(vote))) => {
            Some(vote.view.int())
        }
        _ => None,
    }
}

fn proposal_of(message: &Message) -> Option<&Proposal> {
    match message {
        Message::ProgressMessage(ProgressMessage::HotStuffMessage(HotStuffMessage::Proposal(p))) => Some(p),
        _ => None,
    }
}

/// `proposal` with another block at the same height on the same parent: what an equivocating
/// leader sends. The payload's timestamp moves on by a second, so every hash differs and the
/// block still passes the app's checks.
fn equivocation(proposal: &Proposal) -> Proposal {
    let data = proposal.block.data.vec();
    let mut payload = Payload::decode(data[0].bytes()).expect("payload");
    payload.timestamp += 1;
    let record = LeaderRecord::decode(data[1].bytes()).expect("record");
    let (payload, record) = (payload.encode(), record.encode());
    let hash = data_hash(&payload, &record);
    let block = Block::new(
        proposal.block.height,
        proposal.block.justify.clone(),
        CryptoHash::new(hash.0),
        Data::new(vec![Datum::new(payload), Datum::new(record)]),
    );
    assert_ne!(block.hash, proposal.block.hash, "the second block must differ");
    Proposal { chain_id: proposal.chain_id, view: proposal.view, block }
}

#[test]
fn a_crash_at_the_vote_send_cannot_make_a_second_vote() {
    let dirs: Vec<tempfile::TempDir> = (0..4).map(|_| tempfile::tempdir().expect("tempdir")).collect();
    let checkpoint_dir = tempfile::tempdir().expect("tempdir");
    let checkpoint = checkpoint_dir.path().join("db");
    let keys: Vec<SigningKey> = (0..4).map(key).collect();
    let validators: Vec<VerifyingKey> = keys.iter().map(|k| k.verifying_key()).collect();
    let victim = validators[3];
    let genesis = now_secs();

    // The victim's database, filled in once it exists (the tap runs on its algorithm thread).
    let victim_db: Arc<Mutex<Option<Db>>> = Arc::default();
    // The view the victim voted in when "killed", and every proposal it was sent, by view.
    let crashed_in: Arc<Mutex<Option<u64>>> = Arc::default();
    let proposals: Arc<Mutex<HashMap<u64, (VerifyingKey, Proposal)>>> = Arc::default();
    let tap: Tap = {
        let (victim_db, crashed_in, proposals, checkpoint) =
            (victim_db.clone(), crashed_in.clone(), proposals.clone(), checkpoint.clone());
        Arc::new(move |from, to, message| {
            if let Some(p) = proposal_of(message)
                && (to.is_none() || to == Some(&victim))
            {
                proposals.lock().insert(p.view.int(), (*from, p.clone()));
            }
            // The first vote the victim sends in view 6 or later (a few blocks in, past start).
            if *from == victim
                && let Some(view) = phase_vote_view(message)
                && view >= 6
            {
                let mut crashed = crashed_in.lock();
                if crashed.is_none()
                    && let Some(db) = victim_db.lock().as_ref()
                {
                    db.checkpoint(&checkpoint).expect("checkpoint");
                    *crashed = Some(view);
                }
            }
        })
    };
    let wire = Wire { peers: Arc::default(), tap };
    let mut replicas = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        let (db, replica, _) = start(k, &validators, dirs[i].path(), genesis, &wire);
        if i == 3 {
            *victim_db.lock() = Some(db);
        }
        replicas.push(replica);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let view = loop {
        if let Some(view) = *crashed_in.lock() {
            break view;
        }
        assert!(
            Instant::now() < deadline,
            "the victim never voted in view 6 or later: the cluster made no progress"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let (leader, proposal) =
        proposals.lock().get(&view).cloned().expect("the victim voted on a proposal it was sent");
    // Everything stops: the "crashed" process and, so that nothing else talks to the restarted
    // one, the others too.
    wire.peers.lock().clear();
    drop(replicas);
    victim_db.lock().take();

    // The victim comes back from what was on disk when it sent the vote, and the leader of
    // that view sends it a second block for the same view.
    let votes: Arc<Mutex<Vec<u64>>> = Arc::default();
    let restarted = Wire {
        peers: Arc::default(),
        tap: {
            let votes = votes.clone();
            Arc::new(move |from, _to, message| {
                if *from == victim
                    && let Some(v) = phase_vote_view(message)
                {
                    votes.lock().push(v);
                }
            })
        },
    };
    let (_db, replica, _) = start(&keys[3], &validators, &checkpoint, genesis, &restarted);
    let inbound = restarted.peers.lock().get(&victim.to_bytes()).cloned().expect("victim inbound");
    let second = equivocation(&proposal);
    let message = Message::from(HotStuffMessage::Proposal(second));
    let _ = inbound.deliver(leader, message, 0);
    std::thread::sleep(Duration::from_secs(1));
    drop(replica);
    let votes = votes.lock().clone();
    assert!(
        !votes.contains(&view),
        "the restarted replica voted again in view {view} (for the equivocating leader's second block): votes sent {votes:?}"
    );
}

/// Found in review (hostile peers issue, finding 10): validation walked and decoded every
/// unexecuted ancestor of a block, each time: quadratic in the execution lag (a node catching
/// up, a slow disk). Here execution never moves, so every block's ancestry reaches back to
/// genesis; each replica must still decode each block about once.
#[test]
fn validation_decodes_each_block_once_however_far_execution_lags() {
    let dirs: Vec<tempfile::TempDir> = (0..4).map(|_| tempfile::tempdir().expect("tempdir")).collect();
    let keys: Vec<SigningKey> = (0..4).map(key).collect();
    let validators: Vec<VerifyingKey> = keys.iter().map(|k| k.verifying_key()).collect();
    let wire = Wire { peers: Arc::default(), tap: Arc::new(|_, _, _| {}) };
    let genesis = now_secs();
    let started: Vec<_> =
        keys.iter().enumerate().map(|(i, k)| start(k, &validators, dirs[i].path(), genesis, &wire)).collect();
    let height = |db: &Db| {
        flashlayer_consensus::committed::committed_height(&db.consensus_store()).ok().flatten().unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_secs(90);
    while started.iter().map(|(db, _, _)| height(db)).min().unwrap_or(0) < 80 {
        assert!(Instant::now() < deadline, "80 blocks not committed within 90 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    wire.peers.lock().clear();
    for (i, (db, _, decodes)) in started.iter().enumerate() {
        let (blocks, decoded) = (height(db) + 1, decodes.load(std::sync::atomic::Ordering::Relaxed));
        println!("replica {i}: {blocks} blocks, {decoded} decodes");
        // Once per block, plus a few re-reads of blocks that arrived around a restart of the
        // walk; quadratic would be thousands.
        assert!(decoded <= 2 * blocks + 8, "replica {i} decoded {decoded} times for {blocks} blocks");
    }
}
