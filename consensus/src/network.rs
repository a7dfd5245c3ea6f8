//! hotstuff_rs `Network` over a pluggable transport.

use crate::admission::{Admission, InboundLimits, Verdict};
use ed25519_dalek::VerifyingKey;
use hotstuff_rs::{
    block_sync::messages::{BlockSyncAdvertiseMessage, BlockSyncMessage},
    networking::{
        messages::{Message, ProgressMessage},
        network::Network,
    },
    types::{update_sets::ValidatorSetUpdates, validator_set::ValidatorSet},
};
use parking_lot::Mutex;
use std::{
    collections::HashMap,
    sync::{
        Arc,
        mpsc::{self, Receiver, Sender},
    },
    time::{Duration, Instant},
};

/// How long `recv` blocks when nothing is waiting. hotstuff_rs's poller thread calls `recv` in
/// a loop; returning at once would make that loop spin a core.
const RECV_WAIT: Duration = Duration::from_millis(1);

/// Carries consensus messages to other validators. The p2p crate implements it over libp2p;
/// [`LocalTransport`] serves a single-validator layer.
pub trait Transport: Send + Sync + 'static {
    /// Sends `message` to the validator `to` without blocking (drop it if the peer is
    /// unreachable: HotStuff retries through view changes and block sync).
    fn send(&self, to: &VerifyingKey, message: &Message);
    /// Sends `message` to every other validator without blocking.
    fn broadcast(&self, message: &Message);
    /// Learns the validator set (to connect to its members).
    fn set_validators(&self, validators: Vec<VerifyingKey>);
}

/// A transport with no peers: the single-validator case.
#[derive(Debug, Default, Clone, Copy)]
pub struct LocalTransport;

impl Transport for LocalTransport {
    fn send(&self, _to: &VerifyingKey, _message: &Message) {}
    fn broadcast(&self, _message: &Message) {}
    fn set_validators(&self, _validators: Vec<VerifyingKey>) {}
}

/// Where the transport hands received messages: the sender side of the replica's inbox.
///
/// Every message passes [`Admission`] on the way (who may send what, how fast, how much may
/// wait), and the committed height each peer advertises is noted (hotstuff_rs's block-sync
/// servers broadcast it every few seconds), which is how a node tells whether it is behind.
#[derive(Debug, Clone)]
pub struct Inbound {
    inbox: Sender<Queued>,
    shared: Arc<Shared>,
}

/// What the inbox holds: a message, its sender and its encoded size (0 for messages to self,
/// which admission never counted).
type Queued = (VerifyingKey, Message, u64);

/// State the [`Inbound`] and the [`ConsensusNetwork`] of one replica share.
#[derive(Debug)]
struct Shared {
    admission: Mutex<Admission>,
    advertised: Mutex<HashMap<VerifyingKey, u64>>,
}

impl Inbound {
    /// Offers a message from `origin`, `size` bytes on the wire, to the replica; returns what
    /// became of it.
    pub fn deliver(&self, origin: VerifyingKey, message: Message, size: u64) -> Verdict {
        let verdict = self.shared.admission.lock().admit(origin, &message, size, Instant::now());
        if tracing::enabled!(tracing::Level::TRACE) {
            let (kind, view) = describe(&message);
            tracing::trace!(kind, view, from = %hex::encode(&origin.as_bytes()[..4]), ?verdict, "consensus message in");
        }
        if verdict != Verdict::Accept {
            return verdict;
        }
        if let Message::ProgressMessage(ProgressMessage::BlockSyncAdvertiseMessage(
            BlockSyncAdvertiseMessage::AdvertiseBlock(advert),
        )) = &message
        {
            // Unverified here (hotstuff_rs checks the signature); callers only trust the
            // heights of validators, and only to say "behind", never to act on.
            self.shared.advertised.lock().insert(origin, advert.highest_committed_block_height.int());
        }
        // The replica has shut down if the inbox is gone; nothing to do then.
        if self.inbox.send((origin, message, size)).is_err() {
            self.shared.admission.lock().taken(&origin, size);
        }
        verdict
    }

    /// The highest committed block height (consensus numbering) each peer last advertised.
    pub fn advertised_heights(&self) -> Vec<(VerifyingKey, u64)> {
        self.shared.advertised.lock().iter().map(|(k, h)| (*k, *h)).collect()
    }

    /// Messages admission has dropped, and bytes waiting for the replica.
    pub fn admission_stats(&self) -> (u64, u64) {
        let admission = self.shared.admission.lock();
        (admission.dropped(), admission.queued_bytes())
    }
}

/// A consensus message's kind and view (when it has one), for trace logs.
fn describe(message: &Message) -> (&'static str, Option<u64>) {
    use hotstuff_rs::{hotstuff::messages::HotStuffMessage, pacemaker::messages::PacemakerMessage};
    match message {
        Message::ProgressMessage(ProgressMessage::HotStuffMessage(m)) => match m {
            HotStuffMessage::Proposal(p) => ("proposal", Some(p.view.int())),
            HotStuffMessage::Nudge(n) => ("nudge", Some(n.view.int())),
            HotStuffMessage::PhaseVote(v) => ("phase-vote", Some(v.view.int())),
            HotStuffMessage::NewView(v) => ("new-view", Some(v.view.int())),
        },
        Message::ProgressMessage(ProgressMessage::PacemakerMessage(m)) => match m {
            PacemakerMessage::TimeoutVote(v) => ("timeout-vote", Some(v.view.int())),
            PacemakerMessage::AdvanceView(_) => ("advance-view", None),
        },
        Message::ProgressMessage(ProgressMessage::BlockSyncAdvertiseMessage(_)) => ("sync-advertise", None),
        Message::BlockSyncMessage(BlockSyncMessage::BlockSyncRequest(_)) => ("sync-request", None),
        Message::BlockSyncMessage(BlockSyncMessage::BlockSyncResponse(_)) => ("sync-response", None),
    }
}

/// The hotstuff_rs network of one replica: messages to itself are looped back in memory,
/// everything else goes through the [`Transport`].
#[derive(Clone)]
pub struct ConsensusNetwork {
    me: VerifyingKey,
    transport: Arc<dyn Transport>,
    loopback: Sender<Queued>,
    inbox: Arc<Mutex<Receiver<Queued>>>,
    shared: Arc<Shared>,
    validators: Arc<Mutex<ValidatorSet>>,
}

impl std::fmt::Debug for ConsensusNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsensusNetwork").field("me", &self.me).finish()
    }
}

/// The receiving end of a replica's inbox (see [`inbox`]).
#[derive(Debug)]
pub struct Inbox(Receiver<Queued>);

/// A replica's inbox under `limits`: the transport delivers into the [`Inbound`] side, the
/// [`ConsensusNetwork`] reads the [`Inbox`] side. Made first, since the transport and the
/// network each need one end.
pub fn inbox(limits: InboundLimits) -> (Inbound, Inbox) {
    let (tx, rx) = mpsc::channel();
    let shared =
        Arc::new(Shared { admission: Mutex::new(Admission::new(limits)), advertised: Default::default() });
    (Inbound { inbox: tx, shared }, Inbox(rx))
}

impl ConsensusNetwork {
    /// The network of the replica `me` over `transport`, reading `inbox` (whose [`Inbound`]
    /// the transport delivers into).
    pub fn new(me: VerifyingKey, transport: Arc<dyn Transport>, inbound: Inbound, inbox: Inbox) -> Self {
        Self {
            me,
            transport,
            loopback: inbound.inbox,
            inbox: Arc::new(Mutex::new(inbox.0)),
            shared: inbound.shared,
            validators: Arc::new(Mutex::new(ValidatorSet::new())),
        }
    }

    fn publish_validators(&self) {
        let validators: Vec<_> = self.validators.lock().validators().copied().collect();
        self.shared.admission.lock().set_validators(validators.clone());
        self.transport.set_validators(validators);
    }
}

impl Network for ConsensusNetwork {
    fn init_validator_set(&mut self, validator_set: ValidatorSet) {
        *self.validators.lock() = validator_set;
        self.publish_validators();
    }

    fn update_validator_set(&mut self, updates: ValidatorSetUpdates) {
        self.validators.lock().apply_updates(&updates);
        self.publish_validators();
    }

    fn broadcast(&mut self, message: Message) {
        if tracing::enabled!(tracing::Level::TRACE) {
            let (kind, view) = describe(&message);
            tracing::trace!(kind, view, "consensus broadcast");
        }
        self.transport.broadcast(&message);
        // HotStuff counts the leader's own proposal and votes: deliver them to ourselves.
        let _ = self.loopback.send((self.me, message, 0));
    }

    fn send(&mut self, peer: VerifyingKey, message: Message) {
        if peer == self.me {
            let _ = self.loopback.send((self.me, message, 0));
        } else {
            if let Message::BlockSyncMessage(BlockSyncMessage::BlockSyncRequest(_)) = &message {
                self.shared.admission.lock().expect_sync_response(peer, Instant::now());
            }
            if tracing::enabled!(tracing::Level::TRACE) {
                let (kind, view) = describe(&message);
                tracing::trace!(kind, view, to = %hex::encode(&peer.as_bytes()[..4]), "consensus send");
            }
            self.transport.send(&peer, &message);
        }
    }

    fn recv(&mut self) -> Option<(VerifyingKey, Message)> {
        // Timeout and a closed inbox (shutdown) both mean: nothing now.
        let (origin, message, size) = self.inbox.lock().recv_timeout(RECV_WAIT).ok()?;
        if size > 0 {
            self.shared.admission.lock().taken(&origin, size);
        }
        Some((origin, message))
    }
}
