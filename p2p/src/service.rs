//! The swarm task: connections, consensus requests, transaction gossip, peer blocking.

use crate::{
    ALIVE_INTERVAL, BLOCK_DURATION, Command, Error, GOSSIP_BATCH_BYTES, GOSSIP_FLUSH, GOSSIP_SILENCE,
    MAX_BROADCAST_LISTENERS, MAX_GOSSIP_MESSAGE, MAX_SETTLEMENT_MESSAGE, MAX_STREAMS_PER_CONNECTION,
    P2pConfig, PeerLimits, Result, SettlementHandler, TxHandler, codec::ConsensusCodec, consensus_key,
};
use alloy::primitives::Bytes;
use borsh::BorshDeserialize;
use flashlayer_consensus::{Inbound, Verdict};
use futures::StreamExt;
use hotstuff_rs::networking::messages::Message;
use libp2p::{
    Multiaddr, PeerId, StreamProtocol, Swarm, SwarmBuilder, allow_block_list, connection_limits, gossipsub,
    identify, identity, noise,
    request_response::{self, ProtocolSupport},
    swarm::{NetworkBehaviour, SwarmEvent, dial_opts::DialOpts},
    tcp, yamux,
};
use std::{
    collections::{HashMap, HashSet},
    time::{Duration, Instant},
};
use tokio::sync::mpsc;

/// A connected peer.
#[derive(Debug, Clone)]
pub struct PeerInfo {
    /// Its id.
    pub peer_id: PeerId,
    /// Whether it is in the validator set.
    pub validator: bool,
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    blocked: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    limits: connection_limits::Behaviour,
    consensus: request_response::Behaviour<ConsensusCodec>,
    gossip: gossipsub::Behaviour,
    identify: identify::Behaviour,
}

fn transport_err(e: impl std::fmt::Display) -> Error {
    Error::Transport(e.to_string())
}

pub(crate) async fn spawn(
    config: P2pConfig,
    commands: mpsc::UnboundedReceiver<Command>,
    inbound: Inbound,
    on_txs: TxHandler,
    on_settlement: SettlementHandler,
) -> Result<PeerId> {
    let keypair =
        identity::Keypair::ed25519_from_bytes(config.secret).map_err(|e| Error::Identity(e.to_string()))?;
    let local = keypair.public().to_peer_id();
    let protocol = StreamProtocol::try_from_owned(format!("/flashlayer/{}/consensus/1", config.chain_id))
        .map_err(transport_err)?;
    let topic = gossipsub::IdentTopic::new(format!("/flashlayer/{}/txs/1", config.chain_id));
    let settlement_topic =
        gossipsub::IdentTopic::new(format!("/flashlayer/{}/settlement/1", config.chain_id));
    let alive_topic = gossipsub::IdentTopic::new(format!("/flashlayer/{}/alive/1", config.chain_id));

    let mut swarm = SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(tcp::Config::default().nodelay(true), noise::Config::new, yamux::Config::default)
        .map_err(transport_err)?
        .with_behaviour(|key| {
            let gossip_config = gossipsub::ConfigBuilder::default()
                .max_transmit_size(MAX_GOSSIP_MESSAGE)
                .validation_mode(gossipsub::ValidationMode::Strict)
                // Batches are decoded before they are forwarded.
                .validate_messages()
                .heartbeat_interval(Duration::from_millis(500))
                // Clusters are small: every validator is in every mesh.
                .mesh_n_low(1)
                .mesh_n(4)
                .mesh_n_high(12)
                .mesh_outbound_min(1)
                .build()?;
            let gossip = gossipsub::Behaviour::new(
                gossipsub::MessageAuthenticity::Signed(key.clone()),
                gossip_config,
            )?;
            let consensus = request_response::Behaviour::with_codec(
                ConsensusCodec,
                [(protocol, ProtocolSupport::Full)],
                request_response::Config::default()
                    .with_request_timeout(Duration::from_secs(10))
                    .with_max_concurrent_streams(MAX_STREAMS_PER_CONNECTION),
            );
            let identify =
                identify::Behaviour::new(identify::Config::new("/flashlayer/1".into(), key.public()));
            // A stranger can hold connections open, but not all of them, and not twice over.
            let limits = connection_limits::Behaviour::new(
                connection_limits::ConnectionLimits::default()
                    .with_max_established_incoming(Some(config.limits.max_incoming_connections))
                    .with_max_pending_incoming(Some(config.limits.max_pending_incoming))
                    .with_max_established_per_peer(Some(2)),
            );
            Ok(Behaviour { blocked: Default::default(), limits, consensus, gossip, identify })
        })
        .map_err(transport_err)?
        // Validators stay connected however quiet the layer is.
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(24 * 3600)))
        .build();
    swarm.behaviour_mut().gossip.subscribe(&topic).map_err(transport_err)?;
    swarm.behaviour_mut().gossip.subscribe(&settlement_topic).map_err(transport_err)?;
    swarm.behaviour_mut().gossip.subscribe(&alive_topic).map_err(transport_err)?;
    // TransportError's Display is empty for I/O errors (a port in use): say what and where.
    swarm
        .listen_on(config.listen.clone())
        .map_err(|e| Error::Transport(format!("listening on {}: {e:?}", config.listen)))?;
    let mut addresses = HashMap::new();
    for (peer, addr) in &config.peers {
        if *peer != local {
            swarm.add_peer_address(*peer, addr.clone());
            addresses.insert(*peer, addr.clone());
        }
    }
    let service = Service {
        swarm,
        local,
        topic,
        settlement_topic,
        alive_topic,
        next_alive: Instant::now(),
        last_housekeeping: Instant::now(),
        liveness_muted: false,
        heard: HashMap::new(),
        inbound,
        on_txs,
        on_settlement,
        addresses,
        validators: HashSet::new(),
        connected: HashSet::new(),
        batch: Vec::new(),
        batch_bytes: 0,
        misbehaved: HashMap::new(),
        blocked_by_operator: HashSet::new(),
        next_dial: HashMap::new(),
        limits: config.limits,
        gossip_rates: HashMap::new(),
        dropped_consensus: 0,
        slow: HashMap::new(),
    };
    tokio::spawn(service.run(commands));
    tracing::info!(peer_id = %local, listen = %config.listen, "p2p started");
    Ok(local)
}

struct Service {
    swarm: Swarm<Behaviour>,
    local: PeerId,
    topic: gossipsub::IdentTopic,
    settlement_topic: gossipsub::IdentTopic,
    /// The gossip liveness topic (see [`GOSSIP_SILENCE`]).
    alive_topic: gossipsub::IdentTopic,
    /// When this node's next liveness message is due.
    next_alive: Instant,
    /// When housekeeping last ran (a long gap: this process was stalled).
    last_housekeeping: Instant,
    /// Tests only: publish no liveness message.
    liveness_muted: bool,
    /// Per connected peer: when we last heard it directly over gossip (a liveness message) and
    /// over consensus.
    heard: HashMap<PeerId, Heard>,
    inbound: Inbound,
    on_txs: TxHandler,
    on_settlement: SettlementHandler,
    addresses: HashMap<PeerId, Multiaddr>,
    validators: HashSet<PeerId>,
    connected: HashSet<PeerId>,
    batch: Vec<Bytes>,
    batch_bytes: usize,
    misbehaved: HashMap<PeerId, Instant>,
    blocked_by_operator: HashSet<PeerId>,
    next_dial: HashMap<PeerId, (Instant, Duration)>,
    limits: PeerLimits,
    /// Per gossip source: tokens left and when they were counted.
    gossip_rates: HashMap<PeerId, (f64, Instant)>,
    /// Consensus messages admission dropped (logged every so often, not one by one).
    dropped_consensus: u64,
    /// Peers gossipsub could not send to, by when that was first and last reported (see
    /// [`STUCK_GOSSIP`]).
    slow: HashMap<PeerId, (Instant, Instant)>,
}

/// How long gossipsub may fail to send to a peer, heartbeat after heartbeat, before the
/// connection is closed and dialled again. Found by the nemesis run: under CPU pressure a
/// connection's gossip stream to one peer stopped draining for good (gossipsub's per-peer queue
/// full, every publish to that peer dropped for the rest of the run) while consensus on the
/// same connection went on, so that peer never saw this node's transactions again. A fresh
/// connection gets fresh streams.
const STUCK_GOSSIP: Duration = Duration::from_secs(5);

/// How often the service publishes liveness, checks gossip links, unblocks and redials.
const HOUSEKEEPING: Duration = Duration::from_millis(500);

/// How much later than its last gossip a validator must have been heard on consensus for its
/// gossip link to count as dead rather than the peer as gone. A peer that stops (paused,
/// crashed, cut off) stops on both channels at once, but its last liveness message can be up
/// to an [`ALIVE_INTERVAL`] older than its last consensus message: without this margin the two
/// clocks run out a moment apart and a paused validator was reconnected (caught by CI).
const CONSENSUS_AFTER_GOSSIP: Duration = Duration::from_secs(3);

/// When a connected peer was last heard, per channel: the gossip-liveness state machine (see
/// [`GOSSIP_SILENCE`]), kept apart from the swarm so its rules can be tested on their own.
#[derive(Debug, Clone, Copy)]
struct Heard {
    gossip: Instant,
    consensus: Option<Instant>,
}

impl Heard {
    /// A new connection gets the full silence allowance.
    fn connected(now: Instant) -> Self {
        Self { gossip: now, consensus: None }
    }

    /// A liveness message straight from the peer.
    fn on_gossip(&mut self, now: Instant) {
        self.gossip = now;
    }

    /// A consensus message from the peer.
    fn on_consensus(&mut self, now: Instant) {
        // Back after silence on both (it was paused, or just connected): its gossip gets the
        // full allowance again, or its buffered consensus messages could be taken for a live
        // peer with a dead gossip link.
        if self.consensus.is_none_or(|at| now.saturating_duration_since(at) >= GOSSIP_SILENCE) {
            self.gossip = now;
        }
        self.consensus = Some(now);
    }

    /// This node itself was stalled: what it has not read yet proves nothing about the peer.
    fn on_local_stall(&mut self, now: Instant) {
        self.gossip = now;
    }

    /// Whether the peer speaks on consensus but its gossip link has been silent for
    /// [`GOSSIP_SILENCE`]: it was heard on consensus recently, and well after its last gossip.
    fn gossip_link_dead(&self, now: Instant) -> bool {
        let Some(consensus) = self.consensus else { return false };
        now.saturating_duration_since(self.gossip) >= GOSSIP_SILENCE
            && now.saturating_duration_since(consensus) < GOSSIP_SILENCE
            && consensus.saturating_duration_since(self.gossip) >= CONSENSUS_AFTER_GOSSIP
    }
}

/// Gap in the slow-peer reports (one per gossipsub heartbeat, every 500 ms) after which a peer
/// counts as recovered.
const SLOW_REPORT_GAP: Duration = Duration::from_secs(3);

impl Service {
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let mut flush = tokio::time::interval(GOSSIP_FLUSH);
        flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut housekeeping = tokio::time::interval(HOUSEKEEPING);
        // After a stall (this process paused), one late round rather than a burst.
        housekeeping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                command = commands.recv() => match command {
                    Some(command) => self.on_command(command),
                    None => break,
                },
                event = self.swarm.select_next_some() => self.on_event(event),
                _ = flush.tick() => self.flush(),
                _ = housekeeping.tick() => self.housekeeping(),
            }
        }
        tracing::info!("p2p stopped");
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Send { to, bytes } => {
                if to != self.local {
                    self.swarm.behaviour_mut().consensus.send_request(&to, bytes);
                }
            }
            Command::Broadcast { bytes } => {
                // Validators (dialled if need be) and up to MAX_BROADCAST_LISTENERS connected
                // others: hotstuff_rs broadcasts proposals and advertisements to listeners too,
                // which is how a full node follows the chain.
                let listeners = self
                    .connected
                    .iter()
                    .filter(|p| !self.validators.contains(p))
                    .take(MAX_BROADCAST_LISTENERS);
                let peers: Vec<PeerId> =
                    self.validators.iter().chain(listeners).filter(|p| **p != self.local).copied().collect();
                for peer in peers {
                    self.swarm.behaviour_mut().consensus.send_request(&peer, bytes.clone());
                }
            }
            Command::SetValidators(validators) => self.validators = validators.into_iter().collect(),
            Command::PublishTx(raw) => {
                self.batch_bytes += raw.len();
                self.batch.push(raw);
                if self.batch_bytes >= GOSSIP_BATCH_BYTES {
                    self.flush();
                }
            }
            Command::PublishSettlement(message) => {
                let topic = self.settlement_topic.clone();
                match self.swarm.behaviour_mut().gossip.publish(topic, message) {
                    Ok(_) | Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => {}
                    // Signatures are re-gossiped until the batch lands, so a lost one is retried.
                    Err(e) => tracing::debug!(error = %e, "could not gossip a settlement message"),
                }
            }
            Command::Block(peer) => {
                self.blocked_by_operator.insert(peer);
                self.swarm.behaviour_mut().blocked.block_peer(peer);
            }
            Command::Unblock(peer) => {
                self.blocked_by_operator.remove(&peer);
                if !self.misbehaved.contains_key(&peer) {
                    self.swarm.behaviour_mut().blocked.unblock_peer(peer);
                    self.next_dial.remove(&peer);
                }
            }
            Command::MuteLiveness { leave } => {
                self.liveness_muted = true;
                if leave {
                    self.swarm.behaviour_mut().gossip.unsubscribe(&self.alive_topic);
                }
            }
            Command::Peers(reply) => {
                let peers = self
                    .connected
                    .iter()
                    .map(|p| PeerInfo { peer_id: *p, validator: self.validators.contains(p) })
                    .collect();
                let _ = reply.send(peers);
            }
        }
    }

    fn flush(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.batch);
        self.batch_bytes = 0;
        let data = alloy::rlp::encode(&batch);
        match self.swarm.behaviour_mut().gossip.publish(self.topic.clone(), data) {
            Ok(_) => {}
            // Alone (a one-validator layer, or cut off): nobody to tell.
            Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => {}
            Err(e) => tracing::warn!(error = %e, txs = batch.len(), "could not gossip transactions"),
        }
    }

    /// Publishes this node's liveness message when due, and reconnects validators that still
    /// speak on consensus but have been silent on gossip for [`GOSSIP_SILENCE`] (see there).
    /// A peer silent on both is down or paused: dialling it again would not help.
    fn check_gossip_links(&mut self, now: Instant) {
        // This node was stalled (paused, starved): what it has not read yet proves nothing
        // about its links, so every peer gets the full allowance again.
        if now.saturating_duration_since(self.last_housekeeping) > 4 * HOUSEKEEPING {
            for heard in self.heard.values_mut() {
                heard.on_local_stall(now);
            }
        }
        self.last_housekeeping = now;
        if !self.liveness_muted && now >= self.next_alive {
            self.next_alive = now + ALIVE_INTERVAL;
            let alive = self.alive_topic.clone();
            // gossipsub tells messages apart by source and sequence number: the payload is moot.
            match self.swarm.behaviour_mut().gossip.publish(alive, vec![1]) {
                Ok(_) | Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => {}
                Err(e) => tracing::debug!(error = %e, "could not publish the gossip liveness message"),
            }
        }
        let mut silent: Vec<PeerId> = self
            .heard
            .iter()
            .filter(|(peer, heard)| self.validators.contains(peer) && heard.gossip_link_dead(now))
            .map(|(peer, _)| *peer)
            .collect();
        // A node of a version without liveness messages (a rolling upgrade) is not subscribed
        // to them: nothing to expect from it.
        let alive = self.alive_topic.hash();
        let gossip = &self.swarm.behaviour().gossip;
        silent.retain(|peer| gossip.all_peers().any(|(p, topics)| p == peer && topics.contains(&&alive)));
        for peer in silent {
            let gossip = &self.swarm.behaviour().gossip;
            let kind = gossip.peer_protocol().find(|(p, _)| **p == peer).map(|(_, kind)| kind.to_string());
            let topics: Vec<String> = gossip
                .all_peers()
                .find(|(p, _)| **p == peer)
                .map(|(_, topics)| topics.iter().map(|t| t.to_string()).collect())
                .unwrap_or_default();
            let in_mesh = gossip.mesh_peers(&self.topic.hash()).any(|p| *p == peer);
            tracing::warn!(
                %peer,
                ?kind,
                ?topics,
                in_mesh,
                "no gossip from this validator for {} s while it speaks on consensus: reconnecting",
                GOSSIP_SILENCE.as_secs()
            );
            self.heard.remove(&peer);
            let _ = self.swarm.disconnect_peer_id(peer);
        }
    }

    fn misbehaved(&mut self, peer: PeerId, why: &str) {
        tracing::warn!(%peer, why, "peer misbehaved: disconnecting and blocking it for a while");
        self.misbehaved.insert(peer, Instant::now() + BLOCK_DURATION);
        self.swarm.behaviour_mut().blocked.block_peer(peer);
    }

    /// Takes a token from the gossip source's bucket (validators get more).
    fn gossip_allowed(&mut self, source: PeerId) -> bool {
        let rate = if self.validators.contains(&source) {
            self.limits.validator_gossip_batches_per_sec
        } else {
            self.limits.gossip_batches_per_sec
        };
        let now = Instant::now();
        let (tokens, at) = self.gossip_rates.entry(source).or_insert((2.0 * rate, now));
        *tokens = (*tokens + now.saturating_duration_since(*at).as_secs_f64() * rate).min(2.0 * rate);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn housekeeping(&mut self) {
        let now = Instant::now();
        self.check_gossip_links(now);
        // Sources quiet for a minute have full buckets again: forget them.
        self.gossip_rates.retain(|_, (_, at)| now.saturating_duration_since(*at) < Duration::from_secs(60));
        let expired: Vec<PeerId> =
            self.misbehaved.iter().filter(|(_, until)| **until <= now).map(|(p, _)| *p).collect();
        for peer in expired {
            self.misbehaved.remove(&peer);
            if !self.blocked_by_operator.contains(&peer) {
                self.swarm.behaviour_mut().blocked.unblock_peer(peer);
            }
        }
        // Redial known peers with exponential backoff (250 ms doubling to 8 s).
        let targets: Vec<(PeerId, Multiaddr)> = self
            .addresses
            .iter()
            .filter(|(p, _)| {
                !self.connected.contains(p)
                    && !self.misbehaved.contains_key(p)
                    && !self.blocked_by_operator.contains(p)
            })
            .map(|(p, a)| (*p, a.clone()))
            .collect();
        for (peer, addr) in targets {
            let (at, backoff) =
                self.next_dial.get(&peer).copied().unwrap_or((now, Duration::from_millis(250)));
            if at > now {
                continue;
            }
            let _ = self.swarm.dial(DialOpts::peer_id(peer).addresses(vec![addr]).build());
            self.next_dial.insert(peer, (now + backoff, (backoff * 2).min(Duration::from_secs(8))));
        }
    }

    fn on_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Consensus(request_response::Event::Message {
                peer,
                message: request_response::Message::Request { request, channel, .. },
                ..
            })) => {
                let _ = self.swarm.behaviour_mut().consensus.send_response(channel, ());
                if let Some(heard) = self.heard.get_mut(&peer) {
                    heard.on_consensus(Instant::now());
                }
                match (Message::try_from_slice(&request), consensus_key(&peer)) {
                    (Ok(message), Some(origin)) => {
                        if let Verdict::Drop(why) =
                            self.inbound.deliver(origin, message, request.len() as u64)
                        {
                            self.dropped_consensus += 1;
                            if self.dropped_consensus.is_power_of_two() {
                                tracing::info!(%peer, why, dropped = self.dropped_consensus, "dropped consensus messages");
                            } else {
                                tracing::debug!(%peer, why, "dropped a consensus message");
                            }
                        }
                    }
                    // The codec turns an oversized message into an empty one.
                    _ if request.is_empty() => self.misbehaved(peer, "empty or oversized consensus message"),
                    _ => self.misbehaved(peer, "undecodable consensus message"),
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Consensus(request_response::Event::OutboundFailure {
                peer,
                error,
                ..
            })) => {
                tracing::debug!(%peer, %error, "consensus message not delivered");
            }
            SwarmEvent::Behaviour(BehaviourEvent::Gossip(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            })) if message.topic == self.settlement_topic.hash() => {
                let from = message.source.unwrap_or(propagation_source);
                let valid =
                    message.data.len() <= MAX_SETTLEMENT_MESSAGE && (self.on_settlement)(from, &message.data);
                let acceptance = if valid {
                    gossipsub::MessageAcceptance::Accept
                } else {
                    gossipsub::MessageAcceptance::Reject
                };
                let _ = self.swarm.behaviour_mut().gossip.report_message_validation_result(
                    &message_id,
                    &propagation_source,
                    acceptance,
                );
            }
            SwarmEvent::Behaviour(BehaviourEvent::Gossip(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            })) if message.topic == self.alive_topic.hash() => {
                // Only the direct link counts, and no node of ours forwards these (Ignore drops
                // them from the message cache, so not even gossip requests serve them). A copy
                // relayed by a third peer could beat the direct one, which gossipsub then drops as
                // a duplicate: a peer racing a validator's liveness that way could get it
                // reconnected every few seconds. So a relay is misbehaviour, and the window it
                // raced in is taken as inconclusive for the source rather than as silence.
                let relayed = message.source.is_some_and(|source| source != propagation_source);
                if let Some(heard) = message.source.and_then(|source| self.heard.get_mut(&source)) {
                    heard.on_gossip(Instant::now());
                }
                let acceptance = if relayed {
                    gossipsub::MessageAcceptance::Reject
                } else {
                    gossipsub::MessageAcceptance::Ignore
                };
                let _ = self.swarm.behaviour_mut().gossip.report_message_validation_result(
                    &message_id,
                    &propagation_source,
                    acceptance,
                );
                if relayed {
                    self.misbehaved(propagation_source, "relayed another peer's gossip liveness message");
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Gossip(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            })) if !self.gossip_allowed(message.source.unwrap_or(propagation_source)) => {
                // Over its source's rate: neither admitted nor forwarded, nor held against the
                // peer that relayed it.
                let _ = self.swarm.behaviour_mut().gossip.report_message_validation_result(
                    &message_id,
                    &propagation_source,
                    gossipsub::MessageAcceptance::Ignore,
                );
            }
            SwarmEvent::Behaviour(BehaviourEvent::Gossip(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            })) => {
                let decoded = <Vec<Bytes> as alloy::rlp::Decodable>::decode(&mut message.data.as_slice());
                let gossip = &mut self.swarm.behaviour_mut().gossip;
                match decoded {
                    Ok(txs) => {
                        let _ = gossip.report_message_validation_result(
                            &message_id,
                            &propagation_source,
                            gossipsub::MessageAcceptance::Accept,
                        );
                        let from = message.source.unwrap_or(propagation_source);
                        (self.on_txs)(from, txs);
                    }
                    Err(_) => {
                        let _ = gossip.report_message_validation_result(
                            &message_id,
                            &propagation_source,
                            gossipsub::MessageAcceptance::Reject,
                        );
                        self.misbehaved(propagation_source, "undecodable transaction batch");
                    }
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Gossip(gossipsub::Event::SlowPeer {
                peer_id,
                failed_messages,
            })) => {
                let now = Instant::now();
                let (since, last) = self.slow.entry(peer_id).or_insert((now, now));
                if now.saturating_duration_since(*last) > SLOW_REPORT_GAP {
                    *since = now;
                }
                *last = now;
                if now.saturating_duration_since(*since) >= STUCK_GOSSIP {
                    tracing::warn!(
                        %peer_id,
                        ?failed_messages,
                        "gossip to this peer has been stuck for {} s: reconnecting",
                        STUCK_GOSSIP.as_secs()
                    );
                    self.slow.remove(&peer_id);
                    let _ = self.swarm.disconnect_peer_id(peer_id);
                }
            }
            SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                self.connected.insert(peer_id);
                self.heard.insert(peer_id, Heard::connected(Instant::now()));
                self.next_dial.remove(&peer_id);
                tracing::debug!(%peer_id, "connected");
            }
            SwarmEvent::ConnectionClosed { peer_id, num_established: 0, .. } => {
                self.connected.remove(&peer_id);
                self.heard.remove(&peer_id);
                self.slow.remove(&peer_id);
                tracing::debug!(%peer_id, "disconnected");
            }
            SwarmEvent::NewListenAddr { address, .. } => tracing::debug!(%address, "listening"),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    /// A live validator whose gossip link dies: consensus goes on, liveness stops.
    #[test]
    fn a_silent_gossip_link_under_live_consensus_is_dead() {
        let t0 = Instant::now();
        let mut heard = Heard::connected(t0);
        heard.on_gossip(t0);
        for s in 0..=12 {
            heard.on_consensus(t0 + s * S);
        }
        assert!(!heard.gossip_link_dead(t0 + 9 * S), "not silent for long enough yet");
        assert!(heard.gossip_link_dead(t0 + 12 * S));
    }

    /// The race CI found: a paused validator's last liveness message came a moment before its
    /// last consensus message, so gossip ran out of allowance while consensus still had some.
    #[test]
    fn a_peer_that_stops_on_both_channels_is_not_a_dead_link() {
        let t0 = Instant::now();
        let mut heard = Heard::connected(t0);
        for s in 0..20 {
            heard.on_gossip(t0 + s * S);
            heard.on_consensus(t0 + s * S + Duration::from_millis(900));
        }
        // Paused after t0 + 19.9 s: nothing more on either channel.
        for ms in (19_900..40_000).step_by(100) {
            assert!(!heard.gossip_link_dead(t0 + Duration::from_millis(ms)), "reconnected at {ms} ms");
        }
    }

    /// Back from a pause, its buffered consensus messages arrive before its liveness.
    #[test]
    fn a_peer_back_after_silence_on_both_gets_a_fresh_allowance() {
        let t0 = Instant::now();
        let mut heard = Heard::connected(t0);
        heard.on_gossip(t0);
        heard.on_consensus(t0);
        let back = t0 + 15 * S;
        heard.on_consensus(back);
        heard.on_consensus(back + 2 * S);
        assert!(!heard.gossip_link_dead(back + 2 * S));
        heard.on_gossip(back + 3 * S);
        assert!(!heard.gossip_link_dead(back + 5 * S));
    }

    /// A validator of an older version (no liveness messages) still has its connection
    /// allowance until it speaks on consensus; one that never speaks is never judged.
    #[test]
    fn a_peer_never_heard_on_consensus_is_not_judged() {
        let t0 = Instant::now();
        let heard = Heard::connected(t0);
        assert!(!heard.gossip_link_dead(t0 + 60 * S));
    }
}
