//! The hotstuff_rs `App`: block production and validation rules.

use crate::schedule::{FlashSchedule, LeaderRecord, data_hash};
use alloy::{
    consensus::{Transaction, TxEnvelope},
    eips::eip2718::Decodable2718,
    primitives::{B256, Bytes, keccak256},
};
use ed25519_dalek::VerifyingKey;
use flashlayer_execution::{Deposit, L1Origin, MembershipChange, Payload};
use flashlayer_storage::ConsensusStore;
use hotstuff_rs::{
    app::{App, ProduceBlockRequest, ProduceBlockResponse, ValidateBlockRequest, ValidateBlockResponse},
    block_tree::accessors::app::AppBlockTreeView,
    types::{
        data_types::{CryptoHash, Data, Datum, Power},
        update_sets::ValidatorSetUpdates,
    },
};
use parking_lot::Mutex;
use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

/// Where the leader takes transactions from: the mempool.
pub trait TxSource: Send + Sync + 'static {
    /// Raw transactions for the next block in the layer's ordering policy, within `gas_limit`
    /// total gas and `max_bytes` total size. Transactions whose hash is in `exclude` are already
    /// in an ancestor block that has not executed yet: they are left out but still count for
    /// their sender's nonce sequence.
    fn select(&self, gas_limit: u64, max_bytes: usize, exclude: &HashSet<B256>) -> Vec<Bytes>;

    /// Waits up to `timeout` for a transaction that could go into a block; returns whether one
    /// is there.
    fn wait_pending(&self, timeout: Duration) -> bool;
}

/// This node's view of the L1, for the deposits consensus orders.
///
/// The leader includes the deposits its watcher has seen confirmed; every validator checks
/// them against its own watcher before voting, so a deposit enters the chain only once a
/// quorum has seen it on L1.
pub trait L1View: Send + Sync + 'static {
    /// The newest confirmed L1 block numbered at most `highest`, and up to `max` deposits with
    /// nonces after `after_nonce` confirmed by it, in nonce order.
    fn next_deposits(&self, after_nonce: u64, max: usize, highest: u64) -> (L1Origin, Vec<Deposit>);

    /// Checks a proposal's L1 origin (a block this node knows, by number and hash) and
    /// deposits (each one this node has seen, identical, confirmed by that origin).
    fn verify(&self, origin: &L1Origin, deposits: &[Deposit]) -> Result<(), String>;

    /// The L1 block in which the layer's owner closed it, once this node has seen the close
    /// confirmed. A block whose L1 origin is at or past it ends the layer.
    fn closed_at(&self) -> Option<u64>;

    /// The next sequencer-set change after nonce `after_nonce` that `origin` confirms.
    fn next_membership(&self, after_nonce: u64, origin: &L1Origin) -> Option<MembershipChange>;

    /// Checks a proposal's sequencer-set change against this node's L1 view.
    fn verify_membership(&self, origin: &L1Origin, change: &MembershipChange) -> Result<(), String>;

    /// What executed L2 block `number` recorded: last deposit nonce credited, L1 origin, and
    /// whether the layer had ended by then.
    fn executed_record(&self, number: u64) -> Option<ExecutedRecord>;
}

/// The part of an executed block's settlement record that the next blocks depend on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExecutedRecord {
    /// Last deposit nonce credited up to the block.
    pub last_deposit_nonce: u64,
    /// The block's L1 origin.
    pub l1_origin: L1Origin,
    /// The layer ended at or before the block.
    pub ended: bool,
    /// Last membership-change nonce applied up to the block.
    pub last_membership_nonce: u64,
}

/// A layer without an L1: no origin, no deposits.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoL1;

impl L1View for NoL1 {
    fn next_deposits(&self, _after_nonce: u64, _max: usize, _highest: u64) -> (L1Origin, Vec<Deposit>) {
        (L1Origin::default(), Vec::new())
    }

    fn verify(&self, origin: &L1Origin, deposits: &[Deposit]) -> Result<(), String> {
        if *origin != L1Origin::default() || !deposits.is_empty() {
            return Err("this layer has no L1: no origin or deposits allowed".into());
        }
        Ok(())
    }

    fn closed_at(&self) -> Option<u64> {
        None
    }

    fn next_membership(&self, _after_nonce: u64, _origin: &L1Origin) -> Option<MembershipChange> {
        None
    }

    fn verify_membership(&self, _origin: &L1Origin, _change: &MembershipChange) -> Result<(), String> {
        Err("this layer has no L1: its sequencer set never changes".into())
    }

    fn executed_record(&self, _number: u64) -> Option<ExecutedRecord> {
        Some(ExecutedRecord::default())
    }
}

/// Most deposits one block credits.
pub const MAX_DEPOSITS_PER_BLOCK: usize = 256;

/// What the chain up to (and including) a parent block holds that the next block depends on.
#[derive(Debug, Default)]
struct Ancestry {
    /// Transactions in ancestors that have not executed yet.
    unexecuted_txs: HashSet<B256>,
    /// Last deposit nonce credited by the chain.
    last_deposit_nonce: u64,
    /// The parent's L1 origin.
    l1_origin: L1Origin,
    /// The layer has ended at or before the parent.
    ended: bool,
    /// The end is in a block that has not executed yet (the chain must move on to commit it).
    end_unexecuted: bool,
    /// Last membership-change nonce in the chain.
    last_membership_nonce: u64,
}

/// Block production and validation parameters.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// Block gas limit.
    pub gas_limit: u64,
    /// Largest single transaction gas limit.
    pub max_tx_gas: u64,
    /// Minimum time between blocks when transactions keep arriving.
    pub block_interval: Duration,
    /// Longest time without a block when nothing arrives: the chain still moves (timestamps,
    /// liveness) but does not fill up with empty blocks.
    pub empty_block_interval: Duration,
    /// Largest payload in bytes.
    pub max_payload_bytes: usize,
    /// Timestamp of the genesis block (parent of the first payload).
    pub genesis_timestamp: u64,
    /// How far a proposal's timestamp may run ahead of this node's clock.
    pub max_future_drift: Duration,
    /// How far a proposal's timestamp may lag behind this node's clock (a leader may not
    /// freeze time).
    pub max_past_drift: Duration,
    /// The layer's chain id: transactions signed for another chain, or for none (pre-EIP-155),
    /// are refused at vote time.
    pub chain_id: u64,
    /// The first block with a timestamp at or past this (Unix seconds) ends the layer.
    pub end_time: Option<u64>,
    /// This L2 block number ends the layer (if it is not over by then).
    pub end_block: Option<u64>,
}

/// The flash layer's hotstuff_rs application.
pub struct FlashApp<S> {
    config: AppConfig,
    /// This replica's consensus key (the proposer in its blocks' leader records).
    me: VerifyingKey,
    /// Who leads which view; blocks record it (see [`crate::schedule`]).
    schedule: Arc<FlashSchedule>,
    source: Arc<S>,
    l1: Arc<dyn L1View>,
    /// L2 number of the last executed block, maintained by the executor.
    executed: Arc<AtomicU64>,
    last_block_at: Instant,
    /// Decoded blocks the ancestry walks go through (see [`BlockInfo`]).
    blocks: Mutex<HashMap<CryptoHash, Arc<BlockInfo>>>,
    /// When this leader proposes its parent's L1 origin (after a view timed out).
    l1_backoff: OriginBackoff,
    /// Each proposer's newest confirmed L1 block, as its latest leader record said (see
    /// [`origin_cap`]).
    l1_heads: Mutex<HashMap<B256, u64>>,
    /// Blocks decoded from the store so far (cache misses of `blocks`).
    decodes: Arc<AtomicU64>,
}

/// What one block contributes to its descendants' [`Ancestry`], decoded once. Without it every
/// validation decoded every unexecuted ancestor's payload again: quadratic while execution
/// lags (a node catching up, a slow disk).
#[derive(Debug)]
struct BlockInfo {
    height: u64,
    /// The parent (`None` for the first block).
    parent: Option<CryptoHash>,
    timestamp: u64,
    tx_hashes: Vec<B256>,
    l1_origin: L1Origin,
    last_deposit_nonce: Option<u64>,
    last_membership_nonce: Option<u64>,
    end: bool,
}

/// Most decoded blocks kept (far more than the unexecuted depth of a healthy node).
const BLOCK_INFO_CACHE: usize = 4096;

/// How long a leader proposes its parent's L1 origin and no deposits after it saw a view time
/// out: when its L1 view is ahead of more than a third of the validators', a new origin would
/// be refused again and again, and L1 trouble would stop the layer instead of delaying
/// deposits. Doubles while timeouts recur without the chain's origin moving (see
/// [`OriginBackoff`]), up to [`L1_ORIGIN_BACKOFF_MAX`].
pub const L1_ORIGIN_BACKOFF: Duration = Duration::from_secs(10);

/// The longest origin backoff: how late deposits can be while more than a third of the
/// validators' L1 endpoints lag (a leader tries a new origin once per this long).
pub const L1_ORIGIN_BACKOFF_MAX: Duration = Duration::from_secs(160);

/// When a leader stops proposing new L1 facts, a plain state machine (the caller passes the
/// clock). Every validator trips it on seeing a timed-out view (a proposal whose view is more
/// than one past its justify's), not only the next leader: otherwise each leader whose L1
/// view is ahead of the lagging third paid for its own timeout. A trip while already backing
/// off changes nothing; a trip after a backoff ended with the chain's L1 origin where the
/// last trip left it (the new origins tried since were refused again) doubles the backoff;
/// one after the origin moved starts again from [`L1_ORIGIN_BACKOFF`].
#[derive(Debug, Clone, Default)]
pub struct OriginBackoff {
    until: Option<Instant>,
    /// The current backoff is `L1_ORIGIN_BACKOFF << level`.
    level: u32,
    /// The chain's L1 origin (number) at the last trip.
    stuck_at: u64,
}

impl OriginBackoff {
    /// A view timed out while the chain's L1 origin was `origin`.
    pub fn trip(&mut self, now: Instant, origin: u64) {
        let Some(until) = self.until else {
            self.start(now, 0, origin);
            return;
        };
        if now < until {
            return;
        }
        let max_level = (L1_ORIGIN_BACKOFF_MAX.as_secs() / L1_ORIGIN_BACKOFF.as_secs()).ilog2();
        let level = if origin > self.stuck_at { 0 } else { (self.level + 1).min(max_level) };
        self.start(now, level, origin);
    }

    fn start(&mut self, now: Instant, level: u32, origin: u64) {
        self.level = level;
        self.stuck_at = origin;
        self.until = Some(now + L1_ORIGIN_BACKOFF * (1 << level));
        tracing::info!(
            backoff_s = (L1_ORIGIN_BACKOFF * (1 << level)).as_secs(),
            l1_origin = origin,
            "a view timed out: proposing no new L1 origin or deposits for a while"
        );
    }

    /// Whether a leader should keep its parent's L1 origin now.
    pub fn backing_off(&self, now: Instant) -> bool {
        self.until.is_some_and(|until| now < until)
    }
}

/// How far this node's clock may be from the deadline when it judges a block that ends the
/// layer by time (a leader's clock decides the block's timestamp, not whether the end is due).
pub const END_CLOCK_SKEW: Duration = Duration::from_secs(2);

impl<S> std::fmt::Debug for FlashApp<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlashApp").field("config", &self.config).finish()
    }
}

impl<S: TxSource> FlashApp<S> {
    /// The app of replica `me` under `schedule`, taking transactions from `source` and
    /// deposits from `l1`; `executed` is the executor's head number.
    pub fn new(
        config: AppConfig,
        me: VerifyingKey,
        schedule: Arc<FlashSchedule>,
        source: Arc<S>,
        l1: Arc<dyn L1View>,
        executed: Arc<AtomicU64>,
    ) -> Self {
        Self {
            config,
            me,
            schedule,
            source,
            l1,
            executed,
            last_block_at: Instant::now(),
            blocks: Mutex::new(HashMap::new()),
            l1_backoff: OriginBackoff::default(),
            l1_heads: Mutex::new(HashMap::new()),
            decodes: Arc::default(),
        }
    }

    /// How many blocks this app has decoded from the store (each should be once, however far
    /// execution lags: see [`BlockInfo`]).
    pub fn decodes(&self) -> Arc<AtomicU64> {
        self.decodes.clone()
    }

    /// The block's decoded contribution, from the cache or the store.
    fn block_info(
        &self,
        view: &AppBlockTreeView<'_, ConsensusStore>,
        block: &CryptoHash,
    ) -> Option<Arc<BlockInfo>> {
        if let Some(info) = self.blocks.lock().get(block) {
            return Some(info.clone());
        }
        let height = view.block_height(block).ok()??.int();
        let parent = view.block_justify(block).ok().map(|pc| pc.block).filter(|_| height > 0);
        let data = view.block_data(block).ok()??;
        self.decodes.fetch_add(1, Ordering::Relaxed);
        let payload = Payload::decode(data.iter().next()?.bytes()).ok()?;
        let info = Arc::new(BlockInfo {
            height,
            parent,
            timestamp: payload.timestamp,
            tx_hashes: payload.transactions.iter().map(keccak256).collect(),
            l1_origin: payload.l1_origin,
            last_deposit_nonce: payload.deposits.last().map(|d| d.nonce),
            last_membership_nonce: payload.membership.last().map(|c| c.nonce),
            end: payload.end,
        });
        let mut blocks = self.blocks.lock();
        if blocks.len() >= BLOCK_INFO_CACHE {
            // Executed blocks are never walked again.
            let executed = self.executed.load(Ordering::Acquire);
            blocks.retain(|_, info| info.height + 1 >= executed);
            if blocks.len() >= BLOCK_INFO_CACHE {
                blocks.clear();
            }
        }
        blocks.insert(*block, info.clone());
        Some(info)
    }

    /// Timestamp of the parent block's payload (genesis timestamp for the first block).
    fn parent_timestamp(
        &self,
        view: &AppBlockTreeView<'_, ConsensusStore>,
        parent: Option<CryptoHash>,
    ) -> u64 {
        parent
            .and_then(|p| self.block_info(view, &p))
            .map(|info| info.timestamp)
            .unwrap_or(self.config.genesis_timestamp)
    }

    /// Walks back from `parent` through the blocks that have not executed yet: their
    /// transactions (the leader must not propose them again; if any exist the chain needs more
    /// blocks now to commit them, when `with_txs`), the newest deposit nonce and the parent's
    /// L1 origin, falling back to the executed head's record.
    fn ancestry(
        &self,
        view: &AppBlockTreeView<'_, ConsensusStore>,
        parent: Option<CryptoHash>,
        with_txs: bool,
    ) -> Result<Ancestry, String> {
        let executed = self.executed.load(Ordering::Acquire);
        let mut ancestry = Ancestry::default();
        let (mut nonce, mut origin, mut membership) = (None, None, None);
        let mut cursor = parent;
        while let Some(block) = cursor {
            let Some(info) = self.block_info(view, &block) else { break };
            // Consensus height h is L2 block h + 1.
            if info.height < executed {
                break;
            }
            if info.end {
                ancestry.ended = true;
                ancestry.end_unexecuted = true;
            }
            if with_txs {
                ancestry.unexecuted_txs.extend(info.tx_hashes.iter().copied());
            }
            origin.get_or_insert(info.l1_origin);
            if nonce.is_none() {
                nonce = info.last_deposit_nonce;
            }
            if membership.is_none() {
                membership = info.last_membership_nonce;
            }
            cursor = info.parent;
        }
        // What the unexecuted blocks did not say, the executed head's record does.
        let record = self
            .l1
            .executed_record(executed)
            .ok_or_else(|| format!("no settlement record for executed block {executed}"))?;
        ancestry.last_deposit_nonce = nonce.unwrap_or(record.last_deposit_nonce);
        ancestry.l1_origin = origin.unwrap_or(record.l1_origin);
        ancestry.ended |= record.ended;
        ancestry.last_membership_nonce = membership.unwrap_or(record.last_membership_nonce);
        Ok(ancestry)
    }

    /// Whether L2 block `number` with `timestamp` and L1 `origin` must end the layer (if it has
    /// not ended yet): its deadline or end block is reached, or the owner's close on L1 is at or
    /// before the origin (`with_l1`: as far as this node's watcher knows).
    fn end_due(&self, number: u64, timestamp: u64, origin: &L1Origin, with_l1: bool) -> bool {
        self.config.end_time.is_some_and(|end| timestamp >= end)
            || self.config.end_block.is_some_and(|end| number >= end)
            || (with_l1 && self.l1.closed_at().is_some_and(|closed| origin.number >= closed))
    }

    /// The time against which a block's end-by-deadline is judged on this node: the block's
    /// timestamp, bounded by this node's clock (within [`END_CLOCK_SKEW`]) so that a leader
    /// can neither end the layer early (`ending`: no later than our clock allows) nor put it
    /// off (not ending: no earlier than our clock says).
    fn clock_for_end(&self, timestamp: u64, ending: bool) -> u64 {
        let now = Self::now_secs();
        let skew = END_CLOCK_SKEW.as_secs();
        if ending { timestamp.min(now + skew) } else { timestamp.max(now.saturating_sub(skew)) }
    }

    fn now_secs() -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
    }

    /// The view recorded in `block`'s leader record.
    fn record_view(view: &AppBlockTreeView<'_, ConsensusStore>, block: &CryptoHash) -> Option<u64> {
        let datum = view.block_datum(block, 1)?;
        LeaderRecord::decode(datum.bytes()).ok().map(|r| r.view)
    }

    /// Checks a block's leader record: a live proposal's names its view, its sender and the
    /// leaders skipped since its parent as this node's schedule has them; a synced block's
    /// (vouched for by the quorum that certified it) only moves forward from its parent's.
    fn check_record(
        &self,
        request: &ValidateBlockRequest<'_, '_, ConsensusStore>,
        parent: Option<CryptoHash>,
        record: &LeaderRecord,
    ) -> Result<(), String> {
        let view = request.block_tree();
        let parent_view =
            parent.map(|p| Self::record_view(view, &p).ok_or("parent has no leader record")).transpose()?;
        if parent_view.is_some_and(|p| record.view <= p) {
            return Err(format!("leader record view {} not after the parent's", record.view));
        }
        let Some((proposal_view, origin)) = request.proposal() else { return Ok(()) };
        if record.view != proposal_view.int() || record.proposer.0 != origin.to_bytes() {
            return Err(format!(
                "leader record says view {} by {}, the proposal came in view {} from {}",
                record.view,
                record.proposer,
                proposal_view.int(),
                hex::encode(origin.to_bytes())
            ));
        }
        let validators = view.validator_set().map_err(|e| format!("validator set: {e:?}"))?;
        let expected: Vec<B256> = self
            .schedule
            .skipped_between(parent_view, record.view, &validators, &origin)
            .iter()
            .map(|k| B256::from(k.to_bytes()))
            .collect();
        if record.skipped != expected {
            return Err(format!(
                "leader record skips {} leader(s) where this node's schedule skips {}",
                record.skipped.len(),
                expected.len()
            ));
        }
        Ok(())
    }

    /// Checks a proposed block's data against the payload rules.
    fn check(
        &self,
        request: &ValidateBlockRequest<'_, '_, ConsensusStore>,
        live: bool,
    ) -> Result<Option<ValidatorSetUpdates>, String> {
        let block = request.proposed_block();
        let mut data = block.data.iter();
        let (Some(datum), Some(record_datum), None) = (data.next(), data.next(), data.next()) else {
            return Err("block data must be a payload and a leader record".into());
        };
        let bytes = datum.bytes();
        if bytes.len() > self.config.max_payload_bytes {
            return Err(format!("payload of {} bytes over the limit", bytes.len()));
        }
        if block.data_hash.bytes() != data_hash(bytes, record_datum.bytes()).0 {
            return Err("data hash does not match the payload and leader record".into());
        }
        let payload = Payload::decode(bytes).map_err(|e| format!("payload: {e}"))?;
        let record = LeaderRecord::decode(record_datum.bytes()).map_err(|e| format!("leader record: {e}"))?;
        let parent = (!block.justify.is_genesis_pc()).then_some(block.justify.block);
        self.check_record(request, parent, &record)?;
        self.l1_heads.lock().insert(record.proposer, record.l1_head);
        let parent_ts = self.parent_timestamp(request.block_tree(), parent);
        if payload.timestamp < parent_ts {
            return Err(format!("timestamp {} before parent's {parent_ts}", payload.timestamp));
        }
        // L1 origin never moves back; deposits continue the chain's nonces without gaps and
        // match this node's own L1 view.
        let ancestry = self.ancestry(request.block_tree(), parent, false)?;
        if payload.l1_origin.number < ancestry.l1_origin.number {
            return Err(format!(
                "L1 origin {} before parent's {}",
                payload.l1_origin.number, ancestry.l1_origin.number
            ));
        }
        if payload.deposits.len() > MAX_DEPOSITS_PER_BLOCK {
            return Err(format!("{} deposits, over {MAX_DEPOSITS_PER_BLOCK}", payload.deposits.len()));
        }
        for (i, deposit) in payload.deposits.iter().enumerate() {
            let expected = ancestry.last_deposit_nonce + 1 + i as u64;
            if deposit.nonce != expected {
                return Err(format!("deposit nonce {} where {expected} is next", deposit.nonce));
            }
        }
        // Sequencer-set changes: the next nonce, one per block, as this node's L1 view has it.
        if payload.membership.len() > 1 {
            return Err("more than one membership change in a block".into());
        }
        if let Some(change) = payload.membership.first() {
            let expected = ancestry.last_membership_nonce + 1;
            if change.nonce != expected {
                return Err(format!("membership change {} where {expected} is next", change.nonce));
            }
            if live {
                self.l1.verify_membership(&payload.l1_origin, change)?;
            }
        }
        // End of life: the block that ends the layer and every block after it are empty.
        let number = block.height.int() + 1;
        if ancestry.ended || payload.end {
            if !payload.transactions.is_empty()
                || !payload.deposits.is_empty()
                || !payload.membership.is_empty()
            {
                return Err("blocks from the layer's end on carry no transactions or deposits".into());
            }
            if ancestry.ended && payload.end {
                return Err("the layer has already ended".into());
            }
            if ancestry.ended && payload.l1_origin != ancestry.l1_origin {
                return Err("the L1 origin does not move after the layer's end".into());
            }
            // A leader may not end the layer early; synced blocks carry the quorum's word.
            if payload.end
                && live
                && !self.end_due(
                    number,
                    self.clock_for_end(payload.timestamp, true),
                    &payload.l1_origin,
                    true,
                )
            {
                return Err(format!("block {number} ends the layer before its end"));
            }
        } else if self.end_due(number, payload.timestamp, &payload.l1_origin, live)
            || (live
                && self.end_due(
                    number,
                    self.clock_for_end(payload.timestamp, false),
                    &payload.l1_origin,
                    false,
                ))
        {
            return Err(format!("block {number} must end the layer"));
        }
        // Blocks fetched by block sync come with the quorum's certificates and may name L1
        // blocks long out of this node's recent view: the quorum vouches for those.
        if live && (payload.l1_origin != ancestry.l1_origin || !payload.deposits.is_empty()) {
            self.l1.verify(&payload.l1_origin, &payload.deposits)?;
        }
        if live {
            let now = Self::now_secs();
            if payload.timestamp > now + self.config.max_future_drift.as_secs() {
                return Err(format!("timestamp {} too far in the future", payload.timestamp));
            }
            if payload.timestamp + self.config.max_past_drift.as_secs() < now {
                return Err(format!("timestamp {} too far in the past (now {now})", payload.timestamp));
            }
        }
        // The gas rule keeps execution within the block limit whatever the transactions do.
        // Transactions no node could ever execute are refused outright: they cost a block's
        // bytes but no gas, and blocks full of them broke block sync between honest nodes.
        let mut gas = 0u64;
        for (i, raw) in payload.transactions.iter().enumerate() {
            let tx = TxEnvelope::decode_2718(&mut raw.as_ref())
                .map_err(|e| format!("transaction {i} does not decode: {e}"))?;
            match tx.chain_id() {
                Some(id) if id == self.config.chain_id => {}
                Some(id) => return Err(format!("transaction {i} is for chain {id}")),
                None => return Err(format!("transaction {i} has no chain id (pre-EIP-155)")),
            }
            gas = gas.saturating_add(tx.gas_limit());
        }
        if gas > self.config.gas_limit {
            return Err(format!("payload gas {gas} over block limit {}", self.config.gas_limit));
        }
        Ok(validator_set_updates(&payload))
    }

    fn validate(
        &mut self,
        request: ValidateBlockRequest<'_, '_, ConsensusStore>,
        live: bool,
    ) -> ValidateBlockResponse {
        let started = Instant::now();
        // A proposal after a timed-out view: back off from new L1 origins like its leader.
        if let Some((view, _)) = request.proposal().filter(|_| live) {
            let block = request.proposed_block();
            if view.int() > block.justify.view.int() + 1 {
                let parent = (!block.justify.is_genesis_pc()).then_some(block.justify.block);
                if let Ok(ancestry) = self.ancestry(request.block_tree(), parent, false) {
                    self.l1_backoff.trip(started, ancestry.l1_origin.number);
                }
            }
        }
        let checked = self.check(&request, live);
        tracing::debug!(
            height = request.proposed_block().height.int(),
            live,
            check_ms = started.elapsed().as_millis() as u64,
            since_last_ms = self.last_block_at.elapsed().as_millis() as u64,
            "validated block"
        );
        match checked {
            Ok(validator_set_updates) => {
                self.last_block_at = Instant::now();
                ValidateBlockResponse::Valid { app_state_updates: None, validator_set_updates }
            }
            Err(reason) => {
                tracing::warn!(%reason, height = request.proposed_block().height.int(), "rejected proposal");
                ValidateBlockResponse::Invalid
            }
        }
    }
}

/// The highest L1 block a leader names as origin: the quorum-th highest of the validators'
/// newest confirmed L1 blocks (`heads`, from their latest leader records; `own_head` for this
/// leader, and for validators not heard from yet, optimistically). A quorum has said it knows
/// every block up to it, so their votes do not depend on the rest, whose L1 endpoints may lag:
/// more than a third of the validators lagging then slows deposits, not blocks. Up to f false
/// claims cannot move the cap past an honest validator's head from either side.
fn origin_cap(heads: &HashMap<B256, u64>, validators: &[B256], me: &B256, own_head: u64) -> u64 {
    let mut known: Vec<u64> = validators
        .iter()
        .map(|v| if v == me { own_head } else { heads.get(v).copied().unwrap_or(own_head) })
        .collect();
    if known.is_empty() {
        return own_head;
    }
    known.sort_unstable_by(|a, b| b.cmp(a));
    let quorum = known.len() - (known.len() - 1) / 3;
    known[quorum - 1].min(own_head)
}

/// The hotstuff_rs validator-set updates a payload's membership change makes (each validator
/// has power 1).
fn validator_set_updates(payload: &Payload) -> Option<ValidatorSetUpdates> {
    let change = payload.membership.first()?;
    let key = change.validator_key()?;
    let mut updates = ValidatorSetUpdates::new();
    if change.joining {
        updates.insert(key, Power::new(1));
    } else {
        updates.delete(key);
    }
    Some(updates)
}

impl<S: TxSource> FlashApp<S> {
    fn respond(&mut self, payload: Payload, record: LeaderRecord, what: &str) -> ProduceBlockResponse {
        let encoded = payload.encode();
        let record = record.encode();
        tracing::debug!(end = payload.end, membership = payload.membership.len(), "{what}");
        let data_hash = CryptoHash::new(data_hash(&encoded, &record).0);
        self.last_block_at = Instant::now();
        ProduceBlockResponse {
            data_hash,
            data: Data::new(vec![Datum::new(encoded), Datum::new(record)]),
            app_state_updates: None,
            validator_set_updates: validator_set_updates(&payload),
        }
    }

    /// This replica's leader record for a block in `request`'s view.
    fn record(&self, request: &ProduceBlockRequest<'_, ConsensusStore>, l1_head: u64) -> LeaderRecord {
        let view = request.block_tree();
        let parent_view = request.parent_block().and_then(|p| Self::record_view(view, &p));
        let skipped = match view.validator_set() {
            Ok(validators) => self
                .schedule
                .skipped_between(parent_view, request.cur_view().int(), &validators, &self.me)
                .iter()
                .map(|k| B256::from(k.to_bytes()))
                .collect(),
            Err(e) => {
                tracing::error!(error = ?e, "cannot read the validator set");
                Vec::new()
            }
        };
        LeaderRecord {
            view: request.cur_view().int(),
            proposer: B256::from(self.me.to_bytes()),
            skipped,
            l1_head,
        }
    }
}

impl<S: TxSource> App<ConsensusStore> for FlashApp<S> {
    fn produce_block(&mut self, request: ProduceBlockRequest<'_, ConsensusStore>) -> ProduceBlockResponse {
        let view = request.block_tree();
        let parent = request.parent_block();
        let ancestry = match self.ancestry(view, parent, true) {
            Ok(ancestry) => ancestry,
            Err(reason) => {
                // Only a broken store gets here; propose nothing new rather than guess.
                tracing::error!(%reason, "cannot read the chain's settlement state");
                Ancestry::default()
            }
        };
        let exclude = &ancestry.unexecuted_txs;
        let number = parent.and_then(|p| view.block_height(&p).ok().flatten()).map_or(0, |h| h.int() + 1) + 1;

        // Pace blocks at the block interval.
        let since = self.last_block_at.elapsed();
        if since < self.config.block_interval {
            std::thread::sleep(self.config.block_interval - since);
        }
        if ancestry.ended {
            // After the end the chain only moves to commit the end block, then idles.
            if !ancestry.end_unexecuted {
                let waited = self.last_block_at.elapsed();
                std::thread::sleep(self.config.empty_block_interval.saturating_sub(waited));
            }
            let timestamp = Self::now_secs().max(self.parent_timestamp(view, parent));
            let payload = Payload { timestamp, l1_origin: ancestry.l1_origin, ..Default::default() };
            let l1_head = self.l1.next_deposits(0, 0, u64::MAX).0.number;
            let record = self.record(&request, l1_head);
            return self.respond(payload, record, "produced block after the end");
        }
        // With transactions waiting in uncommitted ancestors the chain must move on now to
        // commit them; otherwise wait for work, up to the empty-block interval.
        if exclude.is_empty() {
            let waited = self.last_block_at.elapsed();
            let budget = self.config.empty_block_interval.saturating_sub(waited);
            self.source.wait_pending(budget);
        }
        let timestamp = Self::now_secs().max(self.parent_timestamp(view, parent));
        // A view before this one timed out: maybe over our L1 origin, which validators whose L1
        // endpoint lags cannot check. For a while, move the chain on without new L1 facts:
        // L1 trouble then delays deposits instead of stopping the layer.
        if request.cur_view().int() > request.justify_view().int() + 1 {
            self.l1_backoff.trip(Instant::now(), ancestry.l1_origin.number);
        }
        let backing_off = self.l1_backoff.backing_off(Instant::now());
        // Name as origin only an L1 block a quorum of validators has said it knows, so that
        // validators whose L1 endpoint lags do not refuse it (and the view time out).
        let l1_head = self.l1.next_deposits(ancestry.last_deposit_nonce, 0, u64::MAX).0.number;
        let cap = match view.validator_set() {
            Ok(validators) => {
                let validators: Vec<B256> =
                    validators.validators().map(|k| B256::from(k.to_bytes())).collect();
                origin_cap(&self.l1_heads.lock(), &validators, &B256::from(self.me.to_bytes()), l1_head)
            }
            Err(_) => l1_head,
        };
        let (mut l1_origin, mut deposits) = if backing_off {
            (ancestry.l1_origin, Vec::new())
        } else {
            self.l1.next_deposits(ancestry.last_deposit_nonce, MAX_DEPOSITS_PER_BLOCK, cap)
        };
        // Our watcher may be behind the parent's (another leader's) view: never go back.
        if l1_origin.number < ancestry.l1_origin.number {
            l1_origin = ancestry.l1_origin;
            deposits.clear();
        }
        if self.end_due(number, timestamp, &l1_origin, true) {
            tracing::info!(
                number,
                timestamp,
                l1_origin = l1_origin.number,
                "proposing the block that ends the layer"
            );
            let payload = Payload { timestamp, l1_origin, end: true, ..Default::default() };
            let record = self.record(&request, l1_head);
            return self.respond(payload, record, "produced the end block");
        }
        let membership: Vec<MembershipChange> = if backing_off {
            Vec::new()
        } else {
            self.l1.next_membership(ancestry.last_membership_nonce, &l1_origin).into_iter().collect()
        };
        if let Some(change) = membership.first() {
            tracing::info!(number, nonce = change.nonce, operator = %change.operator, joining = change.joining, "proposing a sequencer-set change");
        }
        let selecting = Instant::now();
        let payload = fit_payload(
            Payload { timestamp, transactions: Vec::new(), l1_origin, deposits, end: false, membership },
            self.config.max_payload_bytes,
            |budget| self.source.select(self.config.gas_limit, budget, exclude),
        );
        let selected = selecting.elapsed();
        tracing::debug!(
            txs = payload.transactions.len(),
            in_flight = exclude.len(),
            select_ms = selected.as_millis() as u64,
            since_last_ms = since.as_millis() as u64,
            "selected transactions"
        );
        let record = self.record(&request, l1_head);
        self.respond(payload, record, "produced block")
    }

    fn validate_block(
        &mut self,
        request: ValidateBlockRequest<'_, '_, ConsensusStore>,
    ) -> ValidateBlockResponse {
        self.validate(request, true)
    }

    fn validate_block_for_sync(
        &mut self,
        request: ValidateBlockRequest<'_, '_, ConsensusStore>,
    ) -> ValidateBlockResponse {
        self.validate(request, false)
    }
}

/// Fills `payload` (everything but its transactions) with what `select(byte_budget)` picks, so
/// that the whole encoding stays within `max_bytes`, the limit every validator checks: the
/// deposits, the membership change and the RLP framing of each transaction come off the
/// transactions' share (the selection counts raw transaction bytes only), and any excess is
/// dropped from the end of the selection (which keeps each sender's nonces gapless).
fn fit_payload(mut payload: Payload, max_bytes: usize, select: impl FnOnce(usize) -> Vec<Bytes>) -> Payload {
    use alloy::rlp::Encodable;
    let fixed = payload.length() + 64;
    // A transaction's framing is 1-4 bytes on top of its 100+: a 1/32 allowance covers it.
    let budget = max_bytes.saturating_sub(fixed) / 32 * 31;
    payload.transactions = select(budget);
    while payload.length() > max_bytes && payload.transactions.pop().is_some() {}
    payload
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A leader never proposes a payload its validators refuse as too large: with deposits
    /// and a selection that fills its byte budget with transfer-sized transactions, the
    /// encoding stays within the limit (counting raw bytes alone overshot it by the deposits
    /// and 3 bytes of framing per transaction, and every validator refused the block).
    #[test]
    fn a_full_payload_stays_within_the_validators_limit() {
        let max = 100_000;
        let deposits: Vec<Deposit> = (1..=200)
            .map(|n| Deposit {
                nonce: n,
                from: alloy::primitives::Address::repeat_byte(1),
                to: alloy::primitives::Address::repeat_byte(2),
                amount: alloy::primitives::U256::from(n),
            })
            .collect();
        let base = Payload { timestamp: 7, deposits, ..Default::default() };
        let payload = fit_payload(base, max, |budget| {
            (0..budget / 110).map(|i| Bytes::from(vec![(i % 251) as u8 + 1; 110])).collect()
        });
        assert!(payload.encode().len() <= max, "{} bytes", payload.encode().len());
        assert!(payload.transactions.len() > 600, "{} transactions", payload.transactions.len());
        // A selection that ignores its budget is cut to fit.
        let payload = fit_payload(Payload::default(), max, |_| vec![Bytes::from(vec![9u8; 1000]); 200]);
        assert!(payload.encode().len() <= max);
        assert!(payload.transactions.len() >= 95, "{}", payload.transactions.len());
    }

    #[test]
    fn origin_backoff_doubles_while_the_origin_is_stuck_and_resets_when_it_moves() {
        let t0 = Instant::now();
        let mut b = OriginBackoff::default();
        assert!(!b.backing_off(t0));
        b.trip(t0, 5);
        assert!(b.backing_off(t0 + L1_ORIGIN_BACKOFF - Duration::from_millis(1)));
        assert!(!b.backing_off(t0 + L1_ORIGIN_BACKOFF));
        // Another timeout inside the backoff (another leader's turn) does not extend it.
        b.trip(t0 + Duration::from_secs(3), 5);
        assert!(!b.backing_off(t0 + L1_ORIGIN_BACKOFF));
        // Tried a new origin after the backoff, refused again: twice as long, then four times,
        // up to the cap.
        let mut now = t0 + L1_ORIGIN_BACKOFF;
        let mut expected = L1_ORIGIN_BACKOFF;
        for _ in 0..8 {
            expected = (expected * 2).min(L1_ORIGIN_BACKOFF_MAX);
            b.trip(now, 5);
            assert!(b.backing_off(now + expected - Duration::from_millis(1)), "{expected:?}");
            assert!(!b.backing_off(now + expected), "{expected:?}");
            now += expected;
        }
        assert_eq!(expected, L1_ORIGIN_BACKOFF_MAX);
        // The chain's origin moved since: a new timeout starts from the base again.
        b.trip(now, 6);
        assert!(!b.backing_off(now + L1_ORIGIN_BACKOFF));
    }

    #[test]
    fn origin_cap_is_what_a_quorum_knows_and_f_liars_cannot_move_it_out_of_the_honest_range() {
        let v: Vec<B256> = (1..=4).map(B256::repeat_byte).collect();
        let heads = |h: [u64; 3]| HashMap::from([(v[1], h[0]), (v[2], h[1]), (v[3], h[2])]);
        // All fresh: the cap is the third-highest head.
        assert_eq!(origin_cap(&heads([100, 99, 100]), &v, &v[0], 100), 100);
        assert_eq!(origin_cap(&heads([100, 98, 99]), &v, &v[0], 100), 99);
        // Two of four frozen at 40: a quorum of three must include one of them.
        assert_eq!(origin_cap(&heads([100, 40, 40]), &v, &v[0], 100), 40);
        // One liar claiming far ahead or far behind: still within the honest heads.
        assert_eq!(origin_cap(&heads([u64::MAX, 90, 95]), &v, &v[0], 100), 95);
        assert_eq!(origin_cap(&heads([0, 90, 95]), &v, &v[0], 100), 90);
        // Never past this leader's own view; validators not heard from count as this one.
        assert_eq!(origin_cap(&heads([200, 200, 200]), &v, &v[0], 100), 100);
        assert_eq!(origin_cap(&HashMap::new(), &v, &v[0], 100), 100);
        // One validator: itself.
        assert_eq!(origin_cap(&HashMap::new(), &v[..1], &v[0], 7), 7);
    }
}
