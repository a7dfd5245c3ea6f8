//! What a node accepts from its peers' consensus messages, before hotstuff_rs sees them.
//!
//! hotstuff_rs trusts its peers: its queues were unbounded and it served block sync to anyone
//! (see `vendor/hotstuff_rs/FLASHLAYER-PATCHES.md`). Every message from the network passes
//! [`Admission::admit`] first, a plain state machine (time is an argument) that decides:
//! - **who may send what**: peers outside the validator set (full nodes, strangers) only ask for
//!   block sync; everything else they send is dropped (full nodes' replicas send `NewView`s,
//!   which leaders ignore anyway). A block sync response is taken only from a peer this node
//!   asked, within [`SYNC_RESPONSE_WINDOW`].
//! - **how fast**: token buckets per peer, on messages and bytes for validators and on sync
//!   requests for everyone (each one makes the sync server read and encode up to 32 MiB).
//! - **how much may wait**: bytes queued for the replica, per peer and in all; the replica
//!   frees them as it takes the messages ([`Admission::taken`]).
//!
//! A drop is not a punishment: HotStuff recovers lost messages through view changes and block
//! sync. (Bytes no honest peer sends, undecodable or oversized ones, get the peer disconnected
//! in the p2p layer before they reach this.)

use ed25519_dalek::VerifyingKey;
use hotstuff_rs::{
    block_sync::messages::BlockSyncMessage,
    networking::messages::{Message, ProgressMessage},
};
use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

/// How long after asking a peer for blocks its response is taken (the client waits 3 s; a
/// response after this is an answer nobody waits for).
pub const SYNC_RESPONSE_WINDOW: Duration = Duration::from_secs(10);

/// The limits a node enforces on consensus messages from its peers (operator flags).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InboundLimits {
    /// Bytes of messages waiting for the replica, from all peers together.
    pub max_queued_bytes: u64,
    /// Bytes of messages waiting for the replica from one peer (room for a 32 MiB block sync
    /// response beside the proposals of the moment).
    pub max_queued_bytes_per_peer: u64,
    /// Messages per second one validator may send (sustained; bursts up to twice that).
    pub validator_msgs_per_sec: f64,
    /// Bytes per second one validator may send (sustained; bursts up to twice that).
    pub validator_bytes_per_sec: f64,
    /// Block sync requests per second one peer may send (validators and others alike).
    pub sync_requests_per_sec: f64,
}

impl Default for InboundLimits {
    fn default() -> Self {
        Self {
            max_queued_bytes: 256 << 20,
            max_queued_bytes_per_peer: 96 << 20,
            // A loaded 4-node layer sees a few hundred messages a second from each peer.
            validator_msgs_per_sec: 2_000.0,
            validator_bytes_per_sec: (128 << 20) as f64,
            sync_requests_per_sec: 4.0,
        }
    }
}

/// What becomes of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Queued for the replica.
    Accept,
    /// Dropped, with the reason; the peer may be honest (a full node's `NewView`, a burst over
    /// its rate, a late sync response).
    Drop(&'static str),
}

/// A token bucket: `rate` per second, holding up to `burst`.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(burst: f64, now: Instant) -> Self {
        Self { tokens: burst, at: now }
    }

    fn take(&mut self, amount: f64, rate: f64, burst: f64, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(burst);
        self.at = now;
        if self.tokens >= amount {
            self.tokens -= amount;
            true
        } else {
            false
        }
    }
}

#[derive(Debug)]
struct Peer {
    msgs: Bucket,
    bytes: Bucket,
    sync_requests: Bucket,
    queued: u64,
    /// Until when a block sync response from this peer is expected.
    sync_response_until: Option<Instant>,
}

/// The admission state of one node (see the module docs).
#[derive(Debug)]
pub struct Admission {
    limits: InboundLimits,
    validators: Vec<VerifyingKey>,
    peers: HashMap<VerifyingKey, Peer>,
    queued: u64,
    dropped: u64,
}

/// The kinds of consensus message, as admission tells them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    SyncRequest,
    SyncResponse,
    Progress,
}

fn kind(message: &Message) -> Kind {
    match message {
        Message::BlockSyncMessage(BlockSyncMessage::BlockSyncRequest(_)) => Kind::SyncRequest,
        Message::BlockSyncMessage(BlockSyncMessage::BlockSyncResponse(_)) => Kind::SyncResponse,
        Message::ProgressMessage(_) => Kind::Progress,
    }
}

impl Admission {
    /// Admission with `limits` and no validators known yet.
    pub fn new(limits: InboundLimits) -> Self {
        Self { limits, validators: Vec::new(), peers: HashMap::new(), queued: 0, dropped: 0 }
    }

    /// The validator set changed.
    pub fn set_validators(&mut self, validators: Vec<VerifyingKey>) {
        self.validators = validators;
        // Forget peers with nothing queued and no pending request: keeps the map to the peers
        // that matter (validators, and strangers only while they have something in flight).
        self.peers.retain(|key, peer| {
            peer.queued > 0 || peer.sync_response_until.is_some() || self.validators.contains(key)
        });
    }

    fn is_validator(&self, key: &VerifyingKey) -> bool {
        self.validators.contains(key)
    }

    fn peer(&mut self, key: VerifyingKey, now: Instant) -> &mut Peer {
        let limits = self.limits;
        self.peers.entry(key).or_insert_with(|| Peer {
            msgs: Bucket::full(2.0 * limits.validator_msgs_per_sec, now),
            bytes: Bucket::full(2.0 * limits.validator_bytes_per_sec, now),
            sync_requests: Bucket::full(2.0 * limits.sync_requests_per_sec, now),
            queued: 0,
            sync_response_until: None,
        })
    }

    /// This node asked `peer` for blocks: its response is expected.
    pub fn expect_sync_response(&mut self, peer: VerifyingKey, now: Instant) {
        self.peer(peer, now).sync_response_until = Some(now + SYNC_RESPONSE_WINDOW);
    }

    /// Decides on `message` of `size` encoded bytes from `origin`; an accepted message counts
    /// as queued until [`taken`](Self::taken).
    pub fn admit(&mut self, origin: VerifyingKey, message: &Message, size: u64, now: Instant) -> Verdict {
        let verdict = self.decide(origin, message, size, now);
        if verdict == Verdict::Accept {
            self.queued += size;
            self.peer(origin, now).queued += size;
        } else {
            self.dropped += 1;
        }
        verdict
    }

    fn decide(&mut self, origin: VerifyingKey, message: &Message, size: u64, now: Instant) -> Verdict {
        let validator = self.is_validator(&origin);
        let kind = kind(message);
        if !validator && kind == Kind::Progress {
            if let Message::ProgressMessage(ProgressMessage::HotStuffMessage(_)) = message {
                // Full nodes' replicas send NewView to leaders: harmless, and ignored.
                return Verdict::Drop("consensus message from a peer outside the validator set");
            }
            return Verdict::Drop("pacemaker or advertisement from a peer outside the validator set");
        }
        let limits = self.limits;
        if self.queued.saturating_add(size) > limits.max_queued_bytes {
            return Verdict::Drop("inbound queue full");
        }
        let peer = self.peer(origin, now);
        if peer.queued.saturating_add(size) > limits.max_queued_bytes_per_peer {
            return Verdict::Drop("peer's inbound queue full");
        }
        match kind {
            Kind::SyncRequest => {
                let rate = limits.sync_requests_per_sec;
                if !peer.sync_requests.take(1.0, rate, 2.0 * rate, now) {
                    return Verdict::Drop("block sync requests over the rate limit");
                }
            }
            Kind::SyncResponse => match peer.sync_response_until {
                Some(until) if until >= now => peer.sync_response_until = None,
                _ => return Verdict::Drop("block sync response nobody asked for"),
            },
            Kind::Progress => {}
        }
        if validator {
            let (msgs, bytes) = (limits.validator_msgs_per_sec, limits.validator_bytes_per_sec);
            if !peer.msgs.take(1.0, msgs, 2.0 * msgs, now)
                || !peer.bytes.take(size as f64, bytes, 2.0 * bytes, now)
            {
                return Verdict::Drop("validator over its message rate limit");
            }
        }
        Verdict::Accept
    }

    /// The replica took a message of `size` bytes from `origin` off the queue.
    pub fn taken(&mut self, origin: &VerifyingKey, size: u64) {
        self.queued = self.queued.saturating_sub(size);
        if let Some(peer) = self.peers.get_mut(origin) {
            peer.queued = peer.queued.saturating_sub(size);
        }
    }

    /// Bytes waiting for the replica.
    pub fn queued_bytes(&self) -> u64 {
        self.queued
    }

    /// Messages dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotstuff_rs::{
        block_sync::messages::{BlockSyncRequest, BlockSyncResponse},
        hotstuff::{messages::NewView, types::PhaseCertificate},
        types::data_types::{BlockHeight, ChainID, ViewNumber},
    };

    fn key(i: u8) -> VerifyingKey {
        ed25519_dalek::SigningKey::from_bytes(&[i; 32]).verifying_key()
    }

    fn sync_request() -> Message {
        Message::from(BlockSyncRequest {
            chain_id: ChainID::new(1),
            start_height: BlockHeight::new(0),
            limit: u32::MAX,
        })
    }

    fn sync_response() -> Message {
        Message::from(BlockSyncResponse { blocks: Vec::new(), highest_pc: PhaseCertificate::genesis_pc() })
    }

    fn new_view() -> Message {
        Message::from(hotstuff_rs::hotstuff::messages::HotStuffMessage::NewView(NewView {
            chain_id: ChainID::new(1),
            view: ViewNumber::new(3),
            highest_pc: PhaseCertificate::genesis_pc(),
        }))
    }

    fn admission() -> (Admission, Instant) {
        let mut a = Admission::new(InboundLimits::default());
        a.set_validators(vec![key(1), key(2), key(3)]);
        (a, Instant::now())
    }

    #[test]
    fn strangers_only_ask_for_sync_and_only_so_fast() {
        let (mut a, now) = admission();
        let stranger = key(9);
        assert!(matches!(a.admit(stranger, &new_view(), 100, now), Verdict::Drop(_)));
        // The burst (twice the rate), then nothing until the bucket refills.
        let burst = (2.0 * InboundLimits::default().sync_requests_per_sec) as usize;
        for _ in 0..burst {
            assert_eq!(a.admit(stranger, &sync_request(), 20, now), Verdict::Accept);
        }
        assert!(matches!(a.admit(stranger, &sync_request(), 20, now), Verdict::Drop(_)));
        assert_eq!(a.admit(stranger, &sync_request(), 20, now + Duration::from_secs(1)), Verdict::Accept);
    }

    #[test]
    fn sync_responses_only_when_asked_and_once() {
        let (mut a, now) = admission();
        let server = key(2);
        assert!(matches!(a.admit(server, &sync_response(), 100, now), Verdict::Drop(_)));
        a.expect_sync_response(server, now);
        assert_eq!(a.admit(server, &sync_response(), 100, now), Verdict::Accept);
        assert!(matches!(a.admit(server, &sync_response(), 100, now), Verdict::Drop(_)));
        // Too late.
        a.expect_sync_response(server, now);
        let late = now + SYNC_RESPONSE_WINDOW + Duration::from_millis(1);
        assert!(matches!(a.admit(server, &sync_response(), 100, late), Verdict::Drop(_)));
    }

    #[test]
    fn queued_bytes_are_bounded_per_peer_and_freed_when_taken() {
        let (mut a, now) = admission();
        let limits = InboundLimits::default();
        let big = limits.max_queued_bytes_per_peer / 2;
        assert_eq!(a.admit(key(1), &new_view(), big, now), Verdict::Accept);
        assert_eq!(a.admit(key(1), &new_view(), big, now), Verdict::Accept);
        assert!(matches!(a.admit(key(1), &new_view(), 1, now), Verdict::Drop(_)));
        // Another peer still has room; the total is bounded too.
        assert_eq!(a.admit(key(2), &new_view(), big, now), Verdict::Accept);
        a.taken(&key(1), big);
        assert_eq!(a.admit(key(1), &new_view(), big, now), Verdict::Accept);
        assert_eq!(a.queued_bytes(), 3 * big);
        assert!(a.queued_bytes() <= limits.max_queued_bytes);
    }

    #[test]
    fn a_flooding_validator_is_rate_limited() {
        let (mut a, now) = admission();
        let burst = (2.0 * InboundLimits::default().validator_msgs_per_sec) as usize;
        let accepted = (0..burst + 100)
            .filter(|_| {
                let ok = a.admit(key(3), &new_view(), 10, now) == Verdict::Accept;
                a.taken(&key(3), 10);
                ok
            })
            .count();
        assert_eq!(accepted, burst);
    }
}
