//! The node's settlement loop: derive batches from the executed chain, sign them, gather the
//! other validators' signatures from gossip, and submit quorum-signed batches to L1.
//!
//! Each batch is signed by the signer set of its blocks (the chain's membership changes move
//! it, see [`crate::chain`]). When the set changes, the outgoing set also signs the
//! `updateSigners` that installs the new one, and that update is submitted (by the same
//! rotation, over the outgoing set) before the new set's first batch. The final batch is
//! submitted with `settle` and its balances root.
//!
//! Submission rotates: batch `i` is submitted by the member at position `(i - 1) mod n` of the
//! sorted signer set; the member `r` places after it takes over once the quorum has been
//! waiting `r * submit_timeout` without the batch landing, so a dead submitter costs one
//! timeout. Before sending, the call is simulated against the latest L1 state: a batch that
//! already landed (another submitter was faster) is never sent. Each attempt takes the
//! account's confirmed nonce; a transaction not mined in time is replaced by the next attempt
//! with twice each of its fees ([`Fees::outbidding`]; attempts that sent nothing bump nothing), so a stuck transaction is
//! replaced rather than queued behind, and an L1 node restart only costs a retry.

use crate::{
    BuiltBatch, Error, L2Message, Result, SignatureSet,
    batch::{domain, final_signing_hash, sign_digest, signer_set_update_signing_hash, signing_hash},
    bindings::FlashLayer,
    chain::{BatchChain, BatchRules, SignerSet},
    messages::proof,
    watcher::L1Watcher,
};
use alloy::{
    network::EthereumWallet,
    primitives::{Address, B256, Bytes, U256},
    providers::{Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
    sol_types::Eip712Domain,
};
use alloy_rlp::{RlpDecodable, RlpEncodable};
use flashlayer_storage::Db;
use parking_lot::Mutex;
use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};

/// How this node takes part in settlement.
#[derive(Debug, Clone)]
pub struct SettlementConfig {
    /// Batch boundaries, and where batch data goes (`rules.data_availability`: on
    /// `l1-calldata` and `l1-blobs` layers each submission carries its batch's data).
    pub rules: BatchRules,
    /// L1 chain id (EIP-712 domain).
    pub l1_chain_id: u64,
    /// The layer's FlashLayer contract.
    pub contract: Address,
    /// L1 JSON-RPC endpoint to submit through.
    pub l1_rpc: String,
    /// The settlement addresses of the set the layer was created with (later sets follow
    /// from the chain's membership changes).
    pub members: Vec<Address>,
    /// Signatures that set needs.
    pub threshold: usize,
    /// This node's settlement key; `None` on a full node (follows, never signs).
    pub key: Option<PrivateKeySigner>,
    /// How long a quorum waits for the designated submitter before the next member tries.
    pub submit_timeout: Duration,
}

/// The fees of a settlement transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fees {
    /// The account nonce it was sent with.
    nonce: u64,
    /// Priority fee per gas.
    tip: u128,
    /// Fee cap per gas.
    max_fee: u128,
    /// Blob fee cap per blob gas (a blob transaction).
    blob_fee: Option<u128>,
}

impl Fees {
    /// The fees to send with, from fresh estimates (`self`) and the transaction last sent for
    /// the same item: one that replaces it (same nonce, still pending) doubles each of its
    /// fees, as the pools require of a blob transaction's replacement (geth's legacy pool
    /// asks 10%), whatever the estimates did since: estimates that fell must not make the
    /// replacement underpriced. Past the old nonce (the last one was mined) the estimates
    /// stand alone.
    fn outbidding(self, last: Option<Fees>) -> Fees {
        match last {
            Some(last) if last.nonce == self.nonce => Fees {
                nonce: self.nonce,
                tip: self.tip.max(last.tip.saturating_mul(2)),
                max_fee: self.max_fee.max(last.max_fee.saturating_mul(2)),
                blob_fee: match (self.blob_fee, last.blob_fee) {
                    (Some(fresh), Some(last)) => Some(fresh.max(last.saturating_mul(2))),
                    (fresh, _) => fresh,
                },
            },
            _ => self,
        }
    }
}

/// A validator's signature over one batch ([`BATCH`]) or one signer-set update ([`UPDATE`]),
/// as gossiped.
#[derive(Debug, Clone, PartialEq, Eq, RlpEncodable, RlpDecodable)]
pub struct BatchSignature {
    /// [`BATCH`] or [`UPDATE`].
    pub kind: u8,
    /// Batch index, or the epoch a signer-set update installs.
    pub index: u64,
    /// Settlement address of the signer.
    pub signer: Address,
    /// 65-byte `r ++ s ++ v`.
    pub signature: Bytes,
}

/// [`BatchSignature::kind`] of a batch signature.
pub const BATCH: u8 = 0;
/// [`BatchSignature::kind`] of a signer-set update signature (`updateSigners`).
pub const UPDATE: u8 = 1;

/// Publishes a gossip message to the other nodes.
pub type Gossip = Arc<dyn Fn(Vec<u8>) + Send + Sync>;

/// Where settlement stands, for `flash_status`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SettlementStatus {
    /// Highest batch built from the executed chain.
    pub built: u64,
    /// Highest batch with a quorum of signatures here.
    pub signed: u64,
    /// Highest batch this node sent to L1, and the transaction.
    pub submitted: Option<(u64, B256)>,
    /// Last batch accepted by the contract (latest L1 block).
    pub accepted: u64,
    /// Last L2 block settled by it (`safe`).
    pub safe_block: u64,
    /// Last L2 block settled as of the L1 `finalized` block (`finalized`).
    pub finalized_block: u64,
    /// Index of the final batch once built here.
    pub final_batch: Option<u64>,
    /// The signer set of the next batch (follows the chain's membership changes).
    pub signers: Vec<Address>,
    /// The contract's signer-set epoch (latest L1 block).
    pub epoch: u64,
    /// The final batch is accepted on L1: the layer is settled.
    pub settled: bool,
    /// ... and that acceptance is in the L1 `finalized` block.
    pub settled_finalized: bool,
    /// The first disputed batch on L1 (0: none).
    pub disputed_from: u64,
    /// Whether accounts may escape now, with their balances in `escape_batch`.
    pub escape_open: bool,
    /// The batch an escape proves against.
    pub escape_batch: u64,
    /// When the escape opens (L1 Unix time; `u64::MAX`: not while the layer is live and
    /// undisputed, nor once it settled undisputed).
    pub escape_opens_at: u64,
    /// Each signer's newest batch signature checked here since the node started: (signer,
    /// batch index, Unix time). A batch settled on L1 before this node saw a signer's
    /// signature of it is not counted (late signatures of settled batches are not checked).
    pub last_signatures: Vec<(Address, u64, u64)>,
}

/// What a relayer needs to relay one L2->L1 message on L1.
#[derive(Debug, Clone)]
pub struct MessageProof {
    /// The batch committing to it.
    pub batch_index: u64,
    /// The message.
    pub message: L2Message,
    /// Siblings from leaf to root.
    pub proof: Vec<B256>,
    /// The batch's messages root.
    pub root: B256,
    /// Whether the batch has been accepted on L1 (relayable once the challenge window passed).
    pub accepted: bool,
}

/// Something ready to submit.
struct Due {
    item: Item,
    what: Submission,
    attempt: u32,
}

enum Submission {
    /// `submitBatch`, or `settle` for the final batch (with its balances root).
    Batch { batch: Box<crate::Batch>, balances_root: Option<B256>, signatures: Vec<Bytes> },
    /// `updateSigners`.
    Update { members: Vec<Address>, threshold: usize, after_batch: u64, signatures: Vec<Bytes> },
}

/// Signatures for batches not built here yet are held up to this many per batch.
const MAX_EARLY_SIGNATURES: usize = 64;
/// How many settled batches (and signer-set epochs) keep their signature sets, for
/// resubmission after an L1 reorg that undid their acceptance (a few hundred bytes each).
const KEEP_SETTLED: u64 = 1_024;
/// How long a sent submission may take to be mined before it is replaced with a higher tip.
const RECEIPT_WAIT: Duration = Duration::from_secs(36);
/// Own signatures of unsettled batches are gossiped again this often (gossip keeps no history:
/// a node that was down or behind would otherwise never see them).
const REGOSSIP: Duration = Duration::from_secs(3);

/// What a submission is about: ([`BATCH`], index) or ([`UPDATE`], epoch).
type Item = (u8, u64);

struct State {
    chain: BatchChain,
    sets: BTreeMap<u64, SignatureSet>,
    /// Signer-set updates by the epoch they install: the new set and the old set's signatures.
    updates: BTreeMap<u64, (SignerSet, SignatureSet)>,
    early: BTreeMap<u64, Vec<BatchSignature>>,
    quorum_at: BTreeMap<Item, Instant>,
    /// The item being attempted (`None`: the attempt is still running) or last attempted and
    /// when it ended: the next attempt waits `submit_timeout` after it.
    in_flight: Option<(Item, Option<Instant>)>,
    /// Transactions actually sent per item: each resend doubles the tip (a failed simulation
    /// or an unreachable L1 sends nothing and bumps nothing).
    sent: BTreeMap<Item, u32>,
    /// The fees of the last transaction sent per item, which a replacement must outbid.
    last_fees: BTreeMap<Item, Fees>,
    submitted: Option<(u64, B256)>,
    last_gossip: Option<Instant>,
    /// Each signer's newest batch signature checked here: (batch index, Unix time it was
    /// checked), for the live page's sequencer set.
    last_signed: BTreeMap<Address, (u64, u64)>,
    /// [`Settlement::final_totals`], summed once.
    final_totals: Option<(u64, usize, U256)>,
}

impl State {
    /// Notes that `signer`'s signature of batch `index` checked out.
    fn signed(&mut self, signer: Address, index: u64) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let entry = self.last_signed.entry(signer).or_insert((index, now));
        if index > entry.0 {
            *entry = (index, now);
        }
    }
}

/// The settlement service of one node. Cheap to clone.
#[derive(Clone)]
pub struct Settlement {
    config: Arc<SettlementConfig>,
    domain: Eip712Domain,
    state: Arc<Mutex<State>>,
    watcher: L1Watcher,
    db: Db,
    gossip: Gossip,
}

impl std::fmt::Debug for Settlement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settlement").field("contract", &self.config.contract).finish()
    }
}

impl Settlement {
    /// A service over `db`'s executed chain; call [`on_executed`](Self::on_executed) as blocks
    /// execute and [`run`](Self::run) once.
    pub fn new(config: SettlementConfig, watcher: L1Watcher, db: Db, gossip: Gossip) -> Self {
        let domain = domain(config.l1_chain_id, config.contract);
        #[allow(unused_mut)]
        let mut chain = BatchChain::new(config.rules, config.members.clone(), config.threshold);
        #[cfg(feature = "fault-injection")]
        if let Some(value) = std::env::var_os("FLASHLAYER_FAULT_CORRUPT_STATE_ROOT") {
            // A number is the first batch to corrupt; a path, a file that names the first L2
            // block whose batch is corrupt.
            use crate::chain::Corrupt;
            let which = match value.to_str().and_then(|v| v.parse().ok()) {
                Some(from) => Corrupt::From(from),
                None => Corrupt::FromBlockIn(value.into()),
            };
            tracing::warn!(
                ?which,
                "TEST FAULT FLASHLAYER_FAULT_CORRUPT_STATE_ROOT: this node signs wrong state roots"
            );
            chain.corrupt_state_roots(which);
        }
        let state = State {
            chain,
            sets: BTreeMap::new(),
            updates: BTreeMap::new(),
            early: BTreeMap::new(),
            quorum_at: BTreeMap::new(),
            in_flight: None,
            sent: BTreeMap::new(),
            last_fees: BTreeMap::new(),
            submitted: None,
            last_gossip: None,
            last_signed: BTreeMap::new(),
            final_totals: None,
        };
        Self { config: Arc::new(config), domain, state: Arc::new(Mutex::new(state)), watcher, db, gossip }
    }

    /// The watcher this service reads L1 through.
    pub fn watcher(&self) -> &L1Watcher {
        &self.watcher
    }

    /// The layer's contract on L1.
    pub fn contract(&self) -> Address {
        self.config.contract
    }

    /// The L1's chain id.
    pub fn l1_chain_id(&self) -> u64 {
        self.config.l1_chain_id
    }

    /// Derives the batches closed by blocks up to `head`, signs and gossips them.
    pub fn on_executed(&self, head: u64) {
        let mut state = self.state.lock();
        let closed = match state.chain.advance(&self.db, head) {
            Ok(closed) => closed,
            Err(e) => {
                tracing::error!(error = %e, "settlement: cannot derive batches from the executed chain");
                return;
            }
        };
        for built in closed {
            let index = built.batch.index;
            // The state at a batch boundary stays provable for the layer's life (eth_getProof
            // there is what an exit without operators proves against).
            match self.db.retain_state_at(built.batch.lastBlock) {
                Ok(true) => {}
                Ok(false) => tracing::warn!(
                    index,
                    block = built.batch.lastBlock,
                    "settlement: the batch's state was pruned before the batch was built here (raise --state-history); eth_getProof will not answer at its last block"
                ),
                Err(e) => tracing::error!(index, error = %e, "settlement: cannot retain the batch's state"),
            }
            let digest = match &built.balances {
                Some(balances) => final_signing_hash(&built.batch, balances.root, &self.domain),
                None => signing_hash(&built.batch, &self.domain),
            };
            let signers = &built.signers;
            let mut set = match SignatureSet::new(digest, signers.members.iter().copied(), signers.threshold)
            {
                Ok(set) => set,
                Err(e) => {
                    tracing::error!(error = %e, "settlement: bad signer set");
                    return;
                }
            };
            if let Some(next) = &built.next_signers {
                tracing::info!(
                    index,
                    epoch = next.epoch,
                    members = next.members.len(),
                    threshold = next.threshold,
                    "sequencer set changes after this batch"
                );
                let digest = signer_set_update_signing_hash(
                    next.epoch,
                    next.after_batch,
                    next.membership_nonce,
                    &next.members,
                    next.threshold as u64,
                    &self.domain,
                );
                match SignatureSet::new(digest, signers.members.iter().copied(), signers.threshold) {
                    Ok(mut update) => {
                        if let Some(key) = self.member_key(&signers.members)
                            && let Ok(signature) = sign_digest(&digest, key)
                        {
                            let _ = update.add(key.address(), &signature);
                            let message = BatchSignature {
                                kind: UPDATE,
                                index: next.epoch,
                                signer: key.address(),
                                signature,
                            };
                            (self.gossip)(alloy::rlp::encode(&message));
                        }
                        state.updates.insert(next.epoch, (next.clone(), update));
                    }
                    Err(e) => tracing::error!(error = %e, "settlement: bad signer set"),
                }
            }
            match &built.balances {
                Some(balances) => {
                    tracing::info!(index, first = built.batch.firstBlock, last = built.batch.lastBlock, hash = %built.hash, messages = built.messages.len(), balances_root = %balances.root, accounts = balances.accounts.len(), total_wei = %balances.total(), "final batch built")
                }
                None => {
                    tracing::info!(index, first = built.batch.firstBlock, last = built.batch.lastBlock, hash = %built.hash, messages = built.messages.len(), "batch built")
                }
            }
            if let Some(key) = self.member_key(&built.signers.members) {
                match sign_digest(&digest, key) {
                    Ok(signature) => {
                        if set.add(key.address(), &signature).is_ok() {
                            state.signed(key.address(), index);
                        }
                        let message = BatchSignature { kind: BATCH, index, signer: key.address(), signature };
                        (self.gossip)(alloy::rlp::encode(&message));
                    }
                    Err(e) => tracing::error!(error = %e, index, "settlement: signing failed"),
                }
            }
            for early in state.early.remove(&index).unwrap_or_default() {
                match set.add(early.signer, &early.signature) {
                    Ok(_) => state.signed(early.signer, index),
                    Err(e) => {
                        tracing::warn!(error = %e, index, signer = %early.signer, "settlement: signature does not match our batch")
                    }
                }
            }
            if set.has_quorum() {
                state.quorum_at.entry((BATCH, index)).or_insert_with(Instant::now);
            }
            state.sets.insert(index, set);
        }
        let quorate: Vec<u64> =
            state.updates.iter().filter(|(_, (_, set))| set.has_quorum()).map(|(epoch, _)| *epoch).collect();
        for epoch in quorate {
            state.quorum_at.entry((UPDATE, epoch)).or_insert_with(Instant::now);
        }
    }

    /// This node's key, if it is one of `members`.
    fn member_key(&self, members: &[Address]) -> Option<&PrivateKeySigner> {
        self.config.key.as_ref().filter(|key| members.contains(&key.address()))
    }

    /// A gossiped settlement message; `false` if it can never be valid.
    pub fn on_gossip(&self, bytes: &[u8]) -> bool {
        let Ok(message) = <BatchSignature as alloy::rlp::Decodable>::decode(&mut &bytes[..]) else {
            return false;
        };
        if message.kind == UPDATE {
            if message.index <= self.watcher.settled().epoch {
                return true;
            }
            let mut state = self.state.lock();
            let state = &mut *state;
            if let Some((_, set)) = state.updates.get_mut(&message.index) {
                match set.add(message.signer, &message.signature) {
                    Ok(_) if set.has_quorum() => {
                        state.quorum_at.entry((UPDATE, message.index)).or_insert_with(Instant::now);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, epoch = message.index, signer = %message.signer, "settlement: signer-set update signature does not match ours");
                        return false;
                    }
                }
            }
            return true;
        }
        if message.kind != BATCH {
            return false;
        }
        if message.index <= self.watcher.settled().batch_index {
            return true;
        }
        let mut state = self.state.lock();
        let state = &mut *state;
        match state.sets.get_mut(&message.index) {
            Some(set) => match set.add(message.signer, &message.signature) {
                Ok(_) => {
                    if set.has_quorum() {
                        state.quorum_at.entry((BATCH, message.index)).or_insert_with(Instant::now);
                    }
                    state.signed(message.signer, message.index);
                    true
                }
                Err(e) => {
                    // A member signing another batch than ours: it diverged, or we did.
                    tracing::warn!(error = %e, index = message.index, signer = %message.signer, "settlement: signature does not match our batch");
                    false
                }
            },
            None if message.index > state.chain.built().len() as u64 => {
                let early = state.early.entry(message.index).or_default();
                if early.len() < MAX_EARLY_SIGNATURES && !early.contains(&message) {
                    early.push(message);
                }
                true
            }
            // Built and already settled (its set dropped): nothing to do.
            None => true,
        }
    }

    /// Runs the submission loop forever.
    pub async fn run(self) {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            tick.tick().await;
            self.housekeeping();
            if let Some(due) = self.due() {
                // Its own task: waiting for an L1 receipt must not hold up re-gossiping.
                let this = self.clone();
                let item = due.item;
                tokio::spawn(async move {
                    this.submit(due).await;
                    this.state.lock().in_flight = Some((item, Some(Instant::now())));
                });
            }
        }
    }

    /// Drops the signature sets of batches settled long ago, re-gossips own signatures of
    /// unsettled ones now and then. Sets of recently settled batches are kept: an L1 reorg can
    /// undo their acceptance, and then they must be submitted again (without them settlement
    /// would stop for good, since signatures are gathered only once).
    fn housekeeping(&self) {
        let l1 = self.watcher.settled();
        let (settled, epoch) = (l1.batch_index, l1.epoch);
        let done = |(kind, index): &Item| match *kind {
            BATCH => *index <= settled,
            _ => *index <= epoch,
        };
        let forgotten = |(kind, index): &Item| match *kind {
            BATCH => *index + KEEP_SETTLED <= settled,
            _ => *index + KEEP_SETTLED <= epoch,
        };
        let mut state = self.state.lock();
        state.sets.retain(|index, _| *index + KEEP_SETTLED > settled);
        state.updates.retain(|e, _| *e + KEEP_SETTLED > epoch);
        state.quorum_at.retain(|item, _| !forgotten(item));
        state.early.retain(|index, _| *index > settled);
        state.sent.retain(|item, _| !forgotten(item));
        if state.in_flight.is_some_and(|(item, _)| done(&item)) {
            state.in_flight = None;
        }
        let Some(key) = &self.config.key else { return };
        if state.last_gossip.is_some_and(|at| at.elapsed() < REGOSSIP) {
            return;
        }
        state.last_gossip = Some(Instant::now());
        let own = state
            .sets
            .range(settled + 1..)
            .map(|(index, set)| (BATCH, *index, set))
            .chain(state.updates.range(epoch + 1..).map(|(e, (_, set))| (UPDATE, *e, set)));
        for (kind, index, set) in own {
            if let Some(signature) = set.signature_of(&key.address()) {
                let message = BatchSignature { kind, index, signer: key.address(), signature };
                (self.gossip)(alloy::rlp::encode(&message));
            }
        }
    }

    /// What this node should submit now, if anything: the next batch, or first the signer-set
    /// update that installs the set signing it.
    fn due(&self) -> Option<Due> {
        let key = self.config.key.as_ref()?;
        let settled = self.watcher.settled();
        if settled.disputed_from != 0 {
            // Final on L1: nothing this node signs can land any more (the watcher said so).
            return None;
        }
        let next = settled.batch_index + 1;
        let mut state = self.state.lock();
        let built = state.chain.get(next)?.clone();
        if built.batch.prevBatchHash != settled.batch_hash {
            tracing::error!(index = next, ours = %built.batch.prevBatchHash, l1 = %settled.batch_hash, "settlement: our batch chain does not extend L1's; not submitting");
            return None;
        }
        // The batch is signed by a set the contract does not hold yet: install that set first,
        // submitted by the outgoing set (the previous batch's signers) with their signatures.
        let (item, members) = if built.signers.epoch > settled.epoch {
            let old = state
                .chain
                .get(next - 1)
                .map_or_else(|| self.config.members.clone(), |b| b.signers.members.clone());
            ((UPDATE, settled.epoch + 1), old)
        } else {
            ((BATCH, next), built.signers.members.clone())
        };
        let waited = state.quorum_at.get(&item)?.elapsed();
        let me = members.iter().position(|m| *m == key.address())?;
        let designated = ((item.1.max(1) - 1) % members.len() as u64) as usize;
        let rank = (me + members.len() - designated) % members.len();
        if waited < self.config.submit_timeout * rank as u32 {
            return None;
        }
        if let Some((current, ended)) = state.in_flight
            && current == item
            && ended.is_none_or(|at| at.elapsed() < self.config.submit_timeout)
        {
            return None;
        }
        let what = match item {
            (UPDATE, epoch) => {
                let (set, signatures) = state.updates.get(&epoch)?;
                Submission::Update {
                    members: set.members.clone(),
                    threshold: set.threshold,
                    after_batch: set.after_batch,
                    signatures: signatures.quorum()?,
                }
            }
            _ => Submission::Batch {
                signatures: state.sets.get(&next)?.quorum()?,
                balances_root: built.balances.as_ref().map(|b| b.root),
                batch: Box::new(built.batch),
            },
        };
        state.in_flight = Some((item, None));
        let attempt = state.sent.get(&item).copied().unwrap_or_default();
        Some(Due { item, what, attempt })
    }

    async fn submit(&self, due: Due) {
        let Due { item, what, attempt } = due;
        let index = item.1;
        let Some(key) = self.config.key.clone() else { return };
        let url = match self.config.l1_rpc.parse() {
            Ok(url) => url,
            Err(e) => {
                tracing::error!(error = %e, "settlement: bad L1 RPC URL");
                return;
            }
        };
        // A fresh provider per attempt: nothing cached survives an L1 restart.
        let provider = ProviderBuilder::new().wallet(EthereumWallet::from(key.clone())).connect_http(url);
        let contract = FlashLayer::new(self.config.contract, provider.clone());
        // On an l1-calldata layer the data rides along (the contract checks it against the
        // batch's txDataHash); on an l1-blobs layer it rides in the transaction's blobs (the
        // contract checks their versioned hashes).
        use crate::data::DataAvailability;
        let mode = self.config.rules.data_availability;
        let data = match (&what, mode) {
            (Submission::Batch { batch, .. }, DataAvailability::L1Calldata | DataAvailability::L1Blobs) => {
                let (first, last) = (batch.firstBlock, batch.lastBlock);
                let db = self.db.clone();
                let encoded = tokio::task::spawn_blocking(move || {
                    let data = crate::data::encode_range(&db, first, last)?;
                    let sidecar = match mode {
                        DataAvailability::L1Blobs => Some(
                            alloy::eips::eip4844::builder::SidecarBuilder::<
                                alloy::eips::eip4844::builder::SimpleCoder,
                            >::from_coder_and_data(Default::default(), &data)
                            .build_7594()
                            .map_err(|e| Error::Data(format!("blob sidecar: {e}")))?,
                        ),
                        _ => None,
                    };
                    Ok::<_, Error>((data, sidecar))
                })
                .await;
                match encoded {
                    Ok(Ok(encoded)) => Some(encoded),
                    Ok(Err(e)) => {
                        tracing::error!(index, error = %e, "settlement: cannot encode the batch data");
                        return;
                    }
                    Err(e) => {
                        tracing::error!(index, error = %e, "settlement: batch data task failed");
                        return;
                    }
                }
            }
            _ => None,
        };
        let (data, sidecar) = match data {
            Some((_, Some(sidecar))) => (None, Some(sidecar)),
            Some((data, None)) => (Some(Bytes::from(data)), None),
            None => (None, None),
        };
        let call = match (what, data) {
            (Submission::Batch { batch, balances_root: Some(root), signatures }, Some(data)) => {
                contract.settleWithData(*batch, root, signatures, data).clear_decoder()
            }
            (Submission::Batch { batch, balances_root: None, signatures }, Some(data)) => {
                contract.submitBatchWithData(*batch, signatures, data).clear_decoder()
            }
            (Submission::Batch { batch, balances_root: Some(root), signatures }, None) => {
                contract.settle(*batch, root, signatures).clear_decoder()
            }
            (Submission::Batch { batch, balances_root: None, signatures }, None) => {
                contract.submitBatch(*batch, signatures).clear_decoder()
            }
            (Submission::Update { members, threshold, after_batch, signatures }, _) => {
                tracing::info!(
                    epoch = index,
                    members = members.len(),
                    threshold,
                    "settlement: installing the new signer set"
                );
                contract
                    .updateSigners(members, U256::from(threshold), after_batch, signatures)
                    .clear_decoder()
            }
        };
        let blobs = sidecar.as_ref().map(|s| s.blobs.len());
        let call = match sidecar {
            Some(sidecar) => call.sidecar_7594(sidecar),
            None => call,
        };
        if let Err(e) = call.call().await {
            match e.as_decoded_interface_error::<FlashLayer::FlashLayerErrors>() {
                Some(FlashLayer::FlashLayerErrors::WrongBatchIndex(_)) => {
                    tracing::debug!(index, "settlement: batch already accepted");
                }
                Some(other) => {
                    tracing::error!(index, error = ?other, "settlement: the contract rejects our batch")
                }
                None => tracing::warn!(index, error = %e, "settlement: simulating submitBatch failed"),
            }
            return;
        }
        let last = self.state.lock().last_fees.get(&item).copied();
        let sent = async {
            let nonce = provider.get_transaction_count(key.address()).latest().await?;
            let estimate = provider.estimate_eip1559_fees().await?;
            let tip = estimate.max_priority_fee_per_gas.max(1_000_000_000);
            let fresh = Fees {
                nonce,
                tip,
                max_fee: estimate.max_fee_per_gas + tip,
                // Twice the blob base fee: it may rise before inclusion.
                blob_fee: match blobs {
                    Some(_) => Some(provider.get_blob_base_fee().await?.max(1) * 2),
                    None => None,
                },
            };
            let fees = fresh.outbidding(last);
            let mut call = call.nonce(nonce).max_priority_fee_per_gas(fees.tip).max_fee_per_gas(fees.max_fee);
            if let Some(blob_fee) = fees.blob_fee {
                call = call.max_fee_per_blob_gas(blob_fee);
            }
            let pending = call.send().await?;
            Ok::<_, alloy::contract::Error>((pending, fees))
        }
        .await;
        let pending = match sent {
            Ok((pending, fees)) => {
                self.state.lock().last_fees.insert(item, fees);
                pending
            }
            Err(e) => {
                tracing::warn!(index, attempt, error = %e, "settlement: sending submitBatch failed; will retry");
                return;
            }
        };
        let hash = *pending.tx_hash();
        tracing::info!(index, tx = %hash, attempt, blobs, "settlement: batch submitted");
        {
            let mut state = self.state.lock();
            if item.0 == BATCH {
                state.submitted = Some((index, hash));
            }
            *state.sent.entry(item).or_default() += 1;
        }
        // Wait for it to be mined (a few L1 blocks); if it is not, the next attempt replaces it
        // with a higher tip.
        let wait = self.config.submit_timeout.max(RECEIPT_WAIT);
        match pending.with_timeout(Some(wait)).get_receipt().await {
            Ok(receipt) if receipt.status() => {
                tracing::info!(index, tx = %hash, "settlement: batch accepted on L1")
            }
            Ok(_) => {
                tracing::warn!(index, tx = %hash, "settlement: submitBatch reverted (raced by another submitter?)")
            }
            Err(e) => {
                tracing::warn!(index, tx = %hash, error = %e, "settlement: no receipt yet; will resubmit with a higher tip")
            }
        }
    }

    /// Where settlement stands.
    pub fn status(&self) -> SettlementStatus {
        let state = self.state.lock();
        let settled = self.watcher.settled();
        let signed = state.sets.iter().filter(|(_, s)| s.has_quorum()).map(|(i, _)| *i).max();
        SettlementStatus {
            built: state.chain.built().len() as u64,
            signed: signed.unwrap_or(settled.batch_index),
            submitted: state.submitted,
            accepted: settled.batch_index,
            safe_block: settled.l2_block,
            finalized_block: self.watcher.finalized().l2_block,
            final_batch: state.chain.final_batch().map(|b| b.batch.index),
            signers: state.chain.signers().members.clone(),
            epoch: settled.epoch,
            settled: settled.final_batch,
            settled_finalized: self.watcher.finalized().final_batch,
            disputed_from: settled.disputed_from,
            escape_open: settled.escape_open,
            escape_batch: settled.escape_batch,
            escape_opens_at: settled.escape_opens_at,
            last_signatures: state.last_signed.iter().map(|(a, (i, t))| (*a, *i, *t)).collect(),
        }
    }

    /// The final batch's index, how many accounts it pays and their total (wei), once built
    /// here: what claims count against, without copying the balances.
    pub fn final_totals(&self) -> Option<(u64, usize, U256)> {
        let mut state = self.state.lock();
        let last = state.chain.final_batch()?;
        let index = last.batch.index;
        if let Some(totals) = state.final_totals.filter(|(cached, _, _)| *cached == index) {
            return Some(totals);
        }
        let balances = last.balances.as_ref()?;
        let totals = (index, balances.accounts.len(), balances.total());
        state.final_totals = Some(totals);
        Some(totals)
    }

    /// The final batch and its balances, once built here.
    pub fn final_batch(&self) -> Option<BuiltBatch> {
        self.state.lock().chain.final_batch().cloned()
    }

    /// The data of batch `index` ([`crate::data`]), once built here: `(batch, data)`. Encoded
    /// from the stored blocks on each call (a node keeps its blocks for the layer's life), and
    /// checked against the commitment the node signed.
    pub fn batch_data(&self, index: u64) -> Result<Option<(crate::Batch, Vec<u8>)>> {
        let Some(batch) = self.state.lock().chain.get(index).map(|b| b.batch.clone()) else {
            return Ok(None);
        };
        let data = crate::data::encode_range(&self.db, batch.firstBlock, batch.lastBlock)?;
        let hash = self.config.rules.data_availability.commitment(&data)?;
        if hash != batch.txDataHash {
            return Err(Error::Data(format!(
                "batch {index}'s data now commits to {hash}, it was signed as {}: the stored blocks changed",
                batch.txDataHash
            )));
        }
        Ok(Some((batch, data)))
    }

    /// The proof a relayer needs for the message with hash `message_hash`, once its batch is
    /// built here.
    pub fn message_proof(&self, message_hash: B256) -> Option<MessageProof> {
        let state = self.state.lock();
        let (built, position): (&BuiltBatch, usize) = state.chain.find_message(message_hash)?;
        let leaves: Vec<B256> = built.messages.iter().map(L2Message::leaf).collect();
        Some(MessageProof {
            batch_index: built.batch.index,
            message: built.messages[position].clone(),
            proof: proof(&leaves, position).ok()?,
            root: built.batch.messagesRoot,
            accepted: built.batch.index <= self.watcher.settled().batch_index,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Fees;

    /// A replacement outbids the pending transaction on every fee even when the estimates fell
    /// (a blob transaction's replacement is refused below twice each fee); a new nonce starts
    /// from the estimates.
    #[test]
    fn a_replacement_doubles_every_fee_of_the_pending_transaction() {
        let sent = Fees { nonce: 7, tip: 2_000, max_fee: 50_000, blob_fee: Some(10) };
        let cheaper = Fees { nonce: 7, tip: 1_000, max_fee: 30_000, blob_fee: Some(2) };
        assert_eq!(
            cheaper.outbidding(Some(sent)),
            Fees { nonce: 7, tip: 4_000, max_fee: 100_000, blob_fee: Some(20) }
        );
        let dearer = Fees { nonce: 7, tip: 9_000, max_fee: 400_000, blob_fee: Some(100) };
        assert_eq!(dearer.outbidding(Some(sent)), dearer);
        let next = Fees { nonce: 8, ..cheaper };
        assert_eq!(next.outbidding(Some(sent)), next);
        assert_eq!(cheaper.outbidding(None), cheaper);
    }
}
