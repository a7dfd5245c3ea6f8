//! Peer-to-peer networking of a sequencer cluster, on libp2p.
//!
//! Each node's ed25519 consensus key is also its libp2p identity, so a validator's key and its
//! `PeerId` are the same thing. Two channels run over TCP + noise + yamux:
//! - **consensus**: HotStuff messages point to point (request-response with a one-byte ack,
//!   length-prefixed, size-capped), used through [`ConsensusTransport`], the p2p side of the
//!   consensus crate's `Transport` seam;
//! - **transaction gossip**: gossipsub, transactions batched many to a message (flushed every
//!   few milliseconds or when a batch grows large), decoded before forwarding;
//! - **settlement gossip**: gossipsub, the validators' signatures over settlement batches,
//!   checked by the node (signer and batch) before forwarding.
//!
//! Peers that send undecodable or oversized messages are disconnected and blocked for a while.
//! Every node also publishes a small liveness message each second on a third gossipsub topic;
//! a validator heard on consensus but not on gossip for [`GOSSIP_SILENCE`] gets a fresh
//! connection (gossipsub reports no per-link health, and links were seen to go silent).
//!
//! # Layout
//! - [`P2p`] (this file): the thread-safe handle the node holds: send and broadcast consensus
//!   messages, publish transaction and settlement gossip, block peers, list them.
//! - [`ConsensusTransport`] (this file): the consensus crate's `Transport` over [`P2p`].
//! - `service`: the swarm's one tokio task: behaviours, dialing known peers with backoff, the
//!   inbound consensus channel, gossip batching and decoding, peer blocking.
//! - `codec`: the length-prefixed, size-capped request-response codec of consensus messages.

mod codec;
mod service;

use alloy::primitives::Bytes;
use borsh::BorshSerialize;
use ed25519_dalek::VerifyingKey;
use flashlayer_consensus::{Inbound, Transport};
use hotstuff_rs::networking::messages::Message;
use libp2p::{Multiaddr, PeerId, identity};
use std::{sync::Arc, time::Duration};
use tokio::sync::{mpsc, oneshot};

pub use service::PeerInfo;

/// Largest consensus message (a proposal carries a whole payload; block sync several).
pub const MAX_CONSENSUS_MESSAGE: usize = 64 * 1024 * 1024;
/// Largest transaction-gossip message.
pub const MAX_GOSSIP_MESSAGE: usize = 2 * 1024 * 1024;
/// A transaction batch is published when it reaches this size, or after [`GOSSIP_FLUSH`].
pub const GOSSIP_BATCH_BYTES: usize = 256 * 1024;
/// Longest a transaction waits in the gossip batch. Each gossip message costs an ed25519
/// signature and a verification at every peer: 20 ms (a tenth of a block interval) keeps that
/// to 50 messages a second per node under load, where 5 ms spent ~6% of a loaded 4-node
/// devnet's CPU on them.
pub const GOSSIP_FLUSH: Duration = Duration::from_millis(20);
/// How long a misbehaving peer stays blocked.
pub const BLOCK_DURATION: Duration = Duration::from_secs(60);
/// How long a validator may be silent on gossip while it still speaks on consensus before the
/// connection is closed and dialled again. Every node publishes a small liveness message
/// straight to its peers every [`ALIVE_INTERVAL`]. Found by the Byzantine-leader test on a
/// loaded machine: a gossipsub link between two validators went silent in both directions for
/// good, with no error, no slow-peer report and consensus on the same connection unaffected,
/// so the transactions one of them acknowledged never reached the leaders (and every later
/// nonce of their senders waited behind them). gossipsub gives no per-link health, so the check
/// is end to end. Generous: under load the liveness message queues behind transaction batches.
pub const GOSSIP_SILENCE: Duration = Duration::from_secs(10);

/// How often a node publishes its gossip liveness message.
pub const ALIVE_INTERVAL: Duration = Duration::from_secs(1);

/// Most consensus request streams open at once on one connection (libp2p's default is 100;
/// each message is one short stream). Each may be reading a message of up to
/// [`MAX_CONSENSUS_MESSAGE`] into memory: this bounds what one peer holds in flight.
pub const MAX_STREAMS_PER_CONNECTION: usize = 32;
/// Most connected peers outside the validator set that consensus broadcasts (proposals,
/// advertisements) also go to: full nodes follow the chain from them, but every such peer
/// multiplies what a proposal costs to send.
pub const MAX_BROADCAST_LISTENERS: usize = 16;

/// p2p errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The key is not a valid ed25519 key.
    #[error("invalid identity key: {0}")]
    Identity(String),
    /// The swarm could not be built or could not listen.
    #[error("transport: {0}")]
    Transport(String),
    /// A bootnode address without its peer id.
    #[error("bootnode: {0}")]
    Bootnode(String),
    /// The p2p task has stopped.
    #[error("p2p service stopped")]
    Stopped,
}

/// Result with the p2p [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What the service hands to the node: transaction batches from peers.
pub type TxHandler = Arc<dyn Fn(PeerId, Vec<Bytes>) + Send + Sync>;

/// Settlement messages (batch signatures) from peers. Called on the swarm task, so it must be
/// quick; returns `false` for a message that can never be valid (undecodable, not signed by a
/// member), which gossipsub then neither forwards nor credits to its sender.
pub type SettlementHandler = Arc<dyn Fn(PeerId, &[u8]) -> bool + Send + Sync>;

/// Largest settlement gossip message (a batch signature is well under 1 KiB).
pub const MAX_SETTLEMENT_MESSAGE: usize = 16 * 1024;

/// How to run the p2p service.
#[derive(Debug, Clone)]
pub struct P2pConfig {
    /// The node's ed25519 consensus key seed (its identity).
    pub secret: [u8; 32],
    /// Address to listen on.
    pub listen: Multiaddr,
    /// Peers to keep connected (redialled with backoff): the other validators, and bootnodes.
    pub peers: Vec<(PeerId, Multiaddr)>,
    /// HotStuff chain id, part of the protocol names so that layers never mix.
    pub chain_id: u64,
    /// Connection and gossip limits.
    pub limits: PeerLimits,
}

/// What a node allows its peers at the connection and gossip level (consensus messages have
/// their own limits, `flashlayer_consensus::InboundLimits`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PeerLimits {
    /// Most established incoming connections.
    pub max_incoming_connections: u32,
    /// Most incoming connections in their handshake at once.
    pub max_pending_incoming: u32,
    /// Transaction batches per second one gossip source outside the validator set may publish
    /// (full nodes relay their users' transactions; bursts up to twice that).
    pub gossip_batches_per_sec: f64,
    /// The same for a validator.
    pub validator_gossip_batches_per_sec: f64,
}

impl Default for PeerLimits {
    fn default() -> Self {
        Self {
            max_incoming_connections: 128,
            max_pending_incoming: 32,
            gossip_batches_per_sec: 20.0,
            // A validator flushes a batch every 20 ms (50/s) under load, more when batches fill.
            validator_gossip_batches_per_sec: 400.0,
        }
    }
}

/// The `PeerId` of a validator's consensus key.
pub fn peer_id(key: &VerifyingKey) -> PeerId {
    let public = identity::ed25519::PublicKey::try_from_bytes(key.as_bytes())
        .expect("an ed25519 verifying key is a valid libp2p ed25519 public key");
    PeerId::from_public_key(&identity::PublicKey::from(public))
}

/// Splits a bootnode address (`/ip4/…/tcp/…/p2p/<peer id>`) into the peer and where to dial it.
pub fn parse_bootnode(addr: &Multiaddr) -> Result<(PeerId, Multiaddr)> {
    let mut dial = addr.clone();
    match dial.pop() {
        Some(libp2p::multiaddr::Protocol::P2p(peer)) => Ok((peer, dial)),
        _ => Err(Error::Bootnode(format!("{addr} does not end in /p2p/<peer id>"))),
    }
}

/// The consensus key of a peer, if its identity is ed25519.
pub fn consensus_key(peer: &PeerId) -> Option<VerifyingKey> {
    // An ed25519 PeerId is the identity multihash of the protobuf-encoded public key.
    let public = identity::PublicKey::try_decode_protobuf(peer.as_ref().digest()).ok()?;
    let ed = public.try_into_ed25519().ok()?;
    VerifyingKey::from_bytes(&ed.to_bytes()).ok()
}

pub(crate) enum Command {
    Send {
        to: PeerId,
        bytes: Vec<u8>,
    },
    Broadcast {
        bytes: Vec<u8>,
    },
    SetValidators(Vec<PeerId>),
    PublishTx(Bytes),
    PublishSettlement(Vec<u8>),
    Block(PeerId),
    Unblock(PeerId),
    Peers(oneshot::Sender<Vec<PeerInfo>>),
    /// Stop publishing the gossip liveness message (tests: a stuck gossip link), and with
    /// `leave` unsubscribe from it too (tests: a node of a version without it).
    #[cfg_attr(not(any(test, feature = "test-utils")), allow(dead_code))]
    MuteLiveness {
        leave: bool,
    },
}

/// Handle to the running p2p service. Cheap to clone; usable from any thread.
#[derive(Clone, Debug)]
pub struct P2p {
    commands: mpsc::UnboundedSender<Command>,
    local: PeerId,
}

impl P2p {
    /// Starts the service on the current tokio runtime. Consensus messages go to `inbound`,
    /// transaction batches to `on_txs`. Returns once it listens.
    pub async fn spawn(
        config: P2pConfig,
        inbound: Inbound,
        on_txs: TxHandler,
        on_settlement: SettlementHandler,
    ) -> Result<Self> {
        let (commands, rx) = mpsc::unbounded_channel();
        let local = service::spawn(config, rx, inbound, on_txs, on_settlement).await?;
        Ok(Self { commands, local })
    }

    /// This node's `PeerId`.
    pub fn local_peer_id(&self) -> PeerId {
        self.local
    }

    fn command(&self, command: Command) {
        // The service only stops at shutdown; messages sent after that are moot.
        let _ = self.commands.send(command);
    }

    /// Gossips a transaction this node admitted (batched with others).
    pub fn publish_tx(&self, raw: Bytes) {
        self.command(Command::PublishTx(raw));
    }

    /// Gossips a settlement message (a batch signature) to every peer.
    pub fn publish_settlement(&self, message: Vec<u8>) {
        self.command(Command::PublishSettlement(message));
    }

    /// Blocks a peer (disconnects it and refuses it) until [`unblock`](Self::unblock).
    pub fn block(&self, peer: PeerId) {
        self.command(Command::Block(peer));
    }

    /// Lifts a block.
    pub fn unblock(&self, peer: PeerId) {
        self.command(Command::Unblock(peer));
    }

    /// Connected peers.
    pub async fn peers(&self) -> Result<Vec<PeerInfo>> {
        let (tx, rx) = oneshot::channel();
        self.command(Command::Peers(tx));
        rx.await.map_err(|_| Error::Stopped)
    }
}

#[cfg(any(test, feature = "test-utils"))]
impl P2p {
    /// Sends arbitrary bytes as a consensus message: tests use it to play a misbehaving peer.
    pub fn send_raw_consensus(&self, to: PeerId, bytes: Vec<u8>) {
        self.command(Command::Send { to, bytes });
    }

    /// Stops publishing the gossip liveness message while everything else goes on: tests use
    /// it to play a validator whose gossip link went silent.
    pub fn mute_gossip_liveness(&self) {
        self.command(Command::MuteLiveness { leave: false });
    }

    /// Stops publishing the gossip liveness message and unsubscribes from its topic: tests
    /// use it to play a validator of a version that has none.
    pub fn leave_gossip_liveness(&self) {
        self.command(Command::MuteLiveness { leave: true });
    }
}

/// The consensus crate's `Transport` over libp2p.
#[derive(Debug, Clone)]
pub struct ConsensusTransport(pub P2p);

impl Transport for ConsensusTransport {
    fn send(&self, to: &VerifyingKey, message: &Message) {
        match message.try_to_vec() {
            Ok(bytes) => self.0.command(Command::Send { to: peer_id(to), bytes }),
            Err(e) => tracing::error!(error = %e, "could not encode a consensus message"),
        }
    }

    fn broadcast(&self, message: &Message) {
        match message.try_to_vec() {
            Ok(bytes) => self.0.command(Command::Broadcast { bytes }),
            Err(e) => tracing::error!(error = %e, "could not encode a consensus message"),
        }
    }

    fn set_validators(&self, validators: Vec<VerifyingKey>) {
        self.0.command(Command::SetValidators(validators.iter().map(peer_id).collect()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_id_roundtrips_to_consensus_key() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key();
        assert_eq!(consensus_key(&peer_id(&key)), Some(key));
    }

    #[test]
    fn bootnode_needs_its_peer_id() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key();
        let addr: Multiaddr = format!("/ip4/127.0.0.1/tcp/4001/p2p/{}", peer_id(&key)).parse().unwrap();
        let (peer, dial) = parse_bootnode(&addr).unwrap();
        assert_eq!(peer, peer_id(&key));
        assert_eq!(dial, "/ip4/127.0.0.1/tcp/4001".parse::<Multiaddr>().unwrap());
        assert!(parse_bootnode(&"/ip4/127.0.0.1/tcp/4001".parse().unwrap()).is_err());
    }
}
