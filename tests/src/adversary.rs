//! The adversary kit: a hostile peer of a [`Cluster`], either a stranger (a fresh key, no
//! place in the validator set) or a Byzantine validator (the key of a cluster node that was
//! stopped for it). It speaks the real protocol through the real p2p and consensus crates, so
//! everything it sends arrives exactly as a real attacker's would, and it can also send raw
//! bytes. Test-only: it lives in the tests crate and never in a release build.

use crate::Cluster;
use alloy::primitives::{B256, Bytes};
use borsh::BorshSerialize;
use ed25519_dalek::{SigningKey, VerifyingKey};
use flashlayer_consensus::{
    ConsensusNetwork, InboundLimits,
    schedule::{LeaderRecord, data_hash},
};
use flashlayer_execution::Payload;
use flashlayer_p2p::{ConsensusTransport, P2p, P2pConfig, PeerLimits};
use hotstuff_rs::{
    block_sync::messages::{BlockSyncAdvertiseMessage, BlockSyncRequest, BlockSyncResponse},
    hotstuff::{
        messages::{HotStuffMessage, Proposal},
        types::PhaseCertificate,
    },
    networking::{messages::Message, network::Network},
    pacemaker::messages::{AdvanceView, PacemakerMessage, ProgressCertificate},
    types::{
        block::Block,
        crypto_primitives::Keypair,
        data_types::{BlockHeight, ChainID, CryptoHash, Data, Datum, Power, SignatureSet, ViewNumber},
        validator_set::ValidatorSet,
    },
};
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

/// A hostile peer.
pub struct Adversary {
    /// Its p2p handle.
    pub p2p: P2p,
    network: ConsensusNetwork,
    key: SigningKey,
    chain_id: u64,
    /// The cluster's validators (consensus keys, in the layer's order) and their peer ids.
    validators: Vec<VerifyingKey>,
}

fn layer_keys(cluster: &Cluster) -> Vec<VerifyingKey> {
    cluster.layer()["sequencers"]
        .as_array()
        .expect("sequencers")
        .iter()
        .map(|s| {
            let hex = s["consensus_key"].as_str().expect("key");
            let bytes: [u8; 32] =
                hex::decode(hex.trim_start_matches("0x")).expect("hex").try_into().expect("32");
            VerifyingKey::from_bytes(&bytes).expect("ed25519")
        })
        .collect()
}

impl Adversary {
    /// A stranger with a fresh key, dialling every node of `cluster`.
    pub async fn stranger(cluster: &Cluster) -> Self {
        Self::connect(cluster, SigningKey::from_bytes(&rand::random())).await
    }

    fn running(cluster: &Cluster) -> Vec<usize> {
        (0..cluster.nodes.len()).filter(|&i| cluster.pid(i).is_some() && !cluster.nodes[i].full).collect()
    }

    /// Validator `index` of `cluster` played by the adversary: its node must be stopped, the
    /// adversary takes its key (and with it its place in the validator set).
    pub async fn validator(cluster: &Cluster, index: usize) -> Self {
        let hex =
            std::fs::read_to_string(cluster.dir.path().join(format!("node-{index}/keys/consensus.key")))
                .expect("plain consensus key");
        let bytes: [u8; 32] =
            hex::decode(hex.trim().trim_start_matches("0x")).expect("hex").try_into().expect("32");
        Self::connect(cluster, SigningKey::from_bytes(&bytes)).await
    }

    async fn connect(cluster: &Cluster, key: SigningKey) -> Self {
        let layer = cluster.layer();
        let chain_id = layer["chain"]["chain_id"].as_u64().expect("chain id");
        let validators = layer_keys(cluster);
        let me = key.verifying_key();
        let peers = layer["sequencers"]
            .as_array()
            .expect("sequencers")
            .iter()
            .zip(&validators)
            .filter(|(_, k)| **k != me)
            .map(|(s, k)| {
                (flashlayer_p2p::peer_id(k), s["p2p"].as_str().expect("p2p").parse().expect("multiaddr"))
            })
            .collect();
        let (inbound, inbox) = flashlayer_consensus::inbox(InboundLimits::default());
        let p2p = P2p::spawn(
            P2pConfig {
                secret: key.to_bytes(),
                listen: "/ip4/127.0.0.1/tcp/0".parse().expect("multiaddr"),
                peers,
                chain_id,
                limits: PeerLimits::default(),
            },
            inbound.clone(),
            Arc::new(|_, _| {}),
            Arc::new(|_, _| true),
        )
        .await
        .expect("adversary p2p");
        let mut network =
            ConsensusNetwork::new(me, Arc::new(ConsensusTransport(p2p.clone())), inbound, inbox);
        let mut set = ValidatorSet::new();
        for v in &validators {
            set.put(v, Power::new(1));
        }
        network.init_validator_set(set);
        let adversary = Self { p2p, network, key, chain_id, validators };
        adversary.wait_connected(&Self::running(cluster), Duration::from_secs(30)).await;
        adversary
    }

    /// Waits until the cluster's `nodes` (but itself) are connected.
    pub async fn wait_connected(&self, nodes: &[usize], within: Duration) {
        let deadline = Instant::now() + within;
        let me = self.key.verifying_key();
        let want: Vec<_> = nodes
            .iter()
            .map(|&i| self.validators[i])
            .filter(|v| *v != me)
            .map(|v| flashlayer_p2p::peer_id(&v))
            .collect();
        loop {
            let peers = self.p2p.peers().await.expect("peers");
            if want.iter().all(|w| peers.iter().any(|p| p.peer_id == *w)) {
                return;
            }
            assert!(Instant::now() < deadline, "adversary not connected to every node");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The chain id messages are signed for.
    pub fn chain_id(&self) -> ChainID {
        ChainID::new(self.chain_id)
    }

    /// Its signing key, as hotstuff_rs signs with it.
    pub fn keypair(&self) -> Keypair {
        Keypair::new(self.key.clone())
    }

    /// Its consensus key.
    pub fn public(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// Consensus key of the cluster's validator `index`.
    pub fn validator_key(&self, index: usize) -> VerifyingKey {
        self.validators[index]
    }

    /// Sends `message` to the cluster's validator `index`.
    pub fn send(&mut self, index: usize, message: Message) {
        self.network.send(self.validators[index], message);
    }

    /// Sends `message` to every validator.
    pub fn broadcast(&mut self, message: Message) {
        self.network.broadcast(message);
    }

    /// Sends bytes as one consensus message to validator `index`.
    pub fn send_raw(&self, index: usize, bytes: Vec<u8>) {
        self.p2p.send_raw_consensus(flashlayer_p2p::peer_id(&self.validators[index]), bytes);
    }

    /// Stops its gossip liveness messages while it goes on speaking consensus: a validator
    /// whose gossip link went silent.
    pub fn mute_gossip_liveness(&self) {
        self.p2p.mute_gossip_liveness();
    }

    /// Stops its gossip liveness messages and leaves their topic: a validator of a version
    /// without them.
    pub fn leave_gossip_liveness(&self) {
        self.p2p.leave_gossip_liveness();
    }

    /// Gossips a raw transaction (batched with others by the p2p service).
    pub fn gossip_tx(&self, raw: Vec<u8>) {
        self.p2p.publish_tx(Bytes::from(raw));
    }

    /// The next consensus message for the adversary, if one comes within about a millisecond.
    pub fn recv(&mut self) -> Option<(VerifyingKey, Message)> {
        self.network.recv()
    }
}

/// Where node `index` of `cluster` listens for p2p, with its peer id.
pub fn p2p_address(cluster: &Cluster, index: usize) -> (libp2p::PeerId, libp2p::Multiaddr) {
    let layer = cluster.layer();
    let addr = layer["sequencers"][index]["p2p"].as_str().expect("p2p").parse().expect("multiaddr");
    (flashlayer_p2p::peer_id(&layer_keys(cluster)[index]), addr)
}

/// A stranger that only dials `peer` and does nothing else (one of a crowd that fills a node's
/// connection slots).
pub async fn stranger_dialing(chain_id: u64, peer: (libp2p::PeerId, libp2p::Multiaddr)) -> P2p {
    let (inbound, _inbox) = flashlayer_consensus::inbox(InboundLimits::default());
    P2p::spawn(
        P2pConfig {
            secret: rand::random(),
            listen: "/ip4/127.0.0.1/tcp/0".parse().expect("multiaddr"),
            peers: vec![peer],
            chain_id,
            limits: PeerLimits::default(),
        },
        inbound,
        Arc::new(|_, _| {}),
        Arc::new(|_, _| true),
    )
    .await
    .expect("stranger p2p")
}

/// A block sync request from height `start` for `limit` blocks.
pub fn sync_request(chain_id: ChainID, start: u64, limit: u32) -> Message {
    Message::from(BlockSyncRequest { chain_id, start_height: BlockHeight::new(start), limit })
}

/// An unsolicited block sync response carrying `blocks` blocks of `payload_bytes` junk each.
pub fn junk_sync_response(blocks: usize, payload_bytes: usize) -> Message {
    let blocks = (0..blocks)
        .map(|i| {
            let data = Data::new(vec![Datum::new(vec![i as u8; payload_bytes])]);
            Block::new(
                BlockHeight::new(i as u64 + 1),
                PhaseCertificate::genesis_pc(),
                CryptoHash::new([7; 32]),
                data,
            )
        })
        .collect();
    Message::from(BlockSyncResponse { blocks, highest_pc: PhaseCertificate::genesis_pc() })
}

/// A certificate for `block` at `view` whose signatures are garbage (as a forger makes one).
pub fn forged_pc(chain_id: ChainID, view: u64, block: [u8; 32], validators: usize) -> PhaseCertificate {
    // SignatureSet has no public constructor: decode one from its encoding (a vector of
    // optional 64-byte signatures).
    let garbage: Vec<Option<[u8; 64]>> = vec![Some([0xab; 64]); validators];
    let signatures =
        <SignatureSet as borsh::BorshDeserialize>::try_from_slice(&garbage.try_to_vec().expect("encodes"))
            .expect("a signature set");
    PhaseCertificate {
        chain_id,
        view: ViewNumber::new(view),
        block: CryptoHash::new(block),
        phase: hotstuff_rs::hotstuff::types::Phase::Generic,
        signatures,
    }
}

/// An `AdvanceView` carrying `pc`.
pub fn advance_view(pc: PhaseCertificate) -> Message {
    Message::from(PacemakerMessage::AdvanceView(AdvanceView {
        progress_certificate: ProgressCertificate::PhaseCertificate(pc),
    }))
}

/// An advertisement that the adversary has committed up to `height` (signed with its key).
pub fn advertise_height(adversary: &Adversary, height: u64) -> Message {
    Message::from(BlockSyncAdvertiseMessage::advertise_block(
        &adversary.keypair(),
        adversary.chain_id(),
        BlockHeight::new(height),
    ))
}

/// A phase vote for `block` proposed in `view`, properly signed by the adversary's key (what
/// makes a Byzantine validator look active to the leader schedule).
pub fn vote(adversary: &Adversary, view: ViewNumber, block: CryptoHash) -> Message {
    Message::from(HotStuffMessage::PhaseVote(hotstuff_rs::hotstuff::messages::PhaseVote::new(
        &adversary.keypair(),
        adversary.chain_id(),
        view,
        block,
        hotstuff_rs::hotstuff::types::Phase::Generic,
    )))
}

/// A timeout vote for `view`, properly signed by the adversary's key.
pub fn timeout_vote(adversary: &Adversary, view: u64) -> Message {
    Message::from(PacemakerMessage::timeout_vote(
        &adversary.keypair(),
        adversary.chain_id(),
        ViewNumber::new(view),
        None,
    ))
}

/// A proposal by the adversary (as leader of `view`) of a block extending the block `justify`
/// certifies (at `parent_height`), with `payload`; the block's leader record names the
/// adversary and no skipped leader (right for the first view of a leader's run following a
/// complete one).
pub fn proposal(
    adversary: &Adversary,
    view: u64,
    justify: PhaseCertificate,
    parent_height: Option<u64>,
    payload: &Payload,
) -> Message {
    let payload = payload.encode();
    let record = LeaderRecord {
        view,
        proposer: B256::from(adversary.public().to_bytes()),
        skipped: Vec::new(),
        l1_head: 0,
    }
    .encode();
    let hash = data_hash(&payload, &record);
    let height = parent_height.map_or(0, |h| h + 1);
    let block = Block::new(
        BlockHeight::new(height),
        justify,
        CryptoHash::new(hash.0),
        Data::new(vec![Datum::new(payload), Datum::new(record)]),
    );
    Message::from(HotStuffMessage::Proposal(Proposal {
        chain_id: adversary.chain_id(),
        view: ViewNumber::new(view),
        block,
    }))
}

/// `message` borsh-encoded, as it travels.
pub fn encode(message: &Message) -> Vec<u8> {
    message.try_to_vec().expect("encodes")
}

/// Resident memory of process `pid` in MiB (`/proc/PID/status`).
pub fn rss_mib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}
