//! The node's settlement loop: derive batches from the executed chain, sign them, gather the
//! other validators' signatures from gossip, and submit quorum-signed batches to L1.
//!
//! Submission rotates: batch `i` is submitted by the member at position `(i - 1) mod n` of the
//! sorted signer set; the member `r` places after it takes over once the quorum has been
//! waiting `r * submit_timeout` without the batch landing, so a dead submitter costs one
//! timeout. Before sending, the call is simulated against the latest L1 state: a batch that
//! already landed (another submitter was faster) is never sent. Each attempt takes the
//! account's confirmed nonce; a transaction not mined in time is replaced by the next attempt
//! with twice its tip (attempts that sent nothing bump nothing), so a stuck transaction is
//! replaced rather than queued behind, and an L1 node restart only costs a retry.

use crate::{
    BuiltBatch, L2Message, SignatureSet,
    batch::{domain, final_signing_hash, sign_digest, signing_hash},
    bindings::FlashLayer,
    chain::{BatchChain, BatchRules},
    messages::proof,
    watcher::L1Watcher,
};
use alloy::{
    network::EthereumWallet,
    primitives::{Address, B256, Bytes},
    providers::{Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
    sol_types::{Eip712Domain, SolInterface},
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
    /// Batch boundaries.
    pub rules: BatchRules,
    /// L1 chain id (EIP-712 domain).
    pub l1_chain_id: u64,
    /// The layer's FlashLayer contract.
    pub contract: Address,
    /// L1 JSON-RPC endpoint to submit through.
    pub l1_rpc: String,
    /// The signer set's settlement addresses.
    pub members: Vec<Address>,
    /// Signatures needed.
    pub threshold: usize,
    /// This node's settlement key; `None` on a full node (follows, never signs).
    pub key: Option<PrivateKeySigner>,
    /// How long a quorum waits for the designated submitter before the next member tries.
    pub submit_timeout: Duration,
}

/// A validator's signature over one batch, as gossiped.
#[derive(Debug, Clone, PartialEq, Eq, RlpEncodable, RlpDecodable)]
pub struct BatchSignature {
    /// Batch index.
    pub index: u64,
    /// Settlement address of the signer.
    pub signer: Address,
    /// 65-byte `r ++ s ++ v`.
    pub signature: Bytes,
}

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
    /// The final batch is accepted on L1: the layer is settled.
    pub settled: bool,
    /// ... and that acceptance is in the L1 `finalized` block.
    pub settled_finalized: bool,
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

/// A batch ready to submit.
struct Due {
    index: u64,
    batch: crate::Batch,
    /// The final batch's balances root (`settle` instead of `submitBatch`).
    balances_root: Option<B256>,
    signatures: Vec<Bytes>,
    attempt: u32,
}

/// Signatures for batches not built here yet are held up to this many per batch.
const MAX_EARLY_SIGNATURES: usize = 64;
/// How long a sent submission may take to be mined before it is replaced with a higher tip.
const RECEIPT_WAIT: Duration = Duration::from_secs(36);
/// Own signatures of unsettled batches are gossiped again this often (gossip keeps no history:
/// a node that was down or behind would otherwise never see them).
const REGOSSIP: Duration = Duration::from_secs(3);

struct State {
    chain: BatchChain,
    sets: BTreeMap<u64, SignatureSet>,
    early: BTreeMap<u64, Vec<BatchSignature>>,
    quorum_at: BTreeMap<u64, Instant>,
    /// The batch being attempted (`None`: the attempt is still running) or last attempted and
    /// when it ended: the next attempt waits `submit_timeout` after it.
    in_flight: Option<(u64, Option<Instant>)>,
    /// Transactions actually sent per batch: each resend doubles the tip (a failed simulation
    /// or an unreachable L1 sends nothing and bumps nothing).
    sent: BTreeMap<u64, u32>,
    submitted: Option<(u64, B256)>,
    last_gossip: Option<Instant>,
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
        let state = State {
            chain: BatchChain::new(config.rules),
            sets: BTreeMap::new(),
            early: BTreeMap::new(),
            quorum_at: BTreeMap::new(),
            in_flight: None,
            sent: BTreeMap::new(),
            submitted: None,
            last_gossip: None,
        };
        Self { config: Arc::new(config), domain, state: Arc::new(Mutex::new(state)), watcher, db, gossip }
    }

    /// The watcher this service reads L1 through.
    pub fn watcher(&self) -> &L1Watcher {
        &self.watcher
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
            let digest = match &built.balances {
                Some(balances) => final_signing_hash(&built.batch, balances.root, &self.domain),
                None => signing_hash(&built.batch, &self.domain),
            };
            let mut set =
                match SignatureSet::new(digest, self.config.members.iter().copied(), self.config.threshold) {
                    Ok(set) => set,
                    Err(e) => {
                        tracing::error!(error = %e, "settlement: bad signer set");
                        return;
                    }
                };
            match &built.balances {
                Some(balances) => {
                    tracing::info!(index, first = built.batch.firstBlock, last = built.batch.lastBlock, hash = %built.hash, messages = built.messages.len(), balances_root = %balances.root, accounts = balances.accounts.len(), total_wei = %balances.total(), "final batch built")
                }
                None => {
                    tracing::info!(index, first = built.batch.firstBlock, last = built.batch.lastBlock, hash = %built.hash, messages = built.messages.len(), "batch built")
                }
            }
            if let Some(key) = &self.config.key {
                match sign_digest(&digest, key) {
                    Ok(signature) => {
                        let _ = set.add(key.address(), &signature);
                        let message = BatchSignature { index, signer: key.address(), signature };
                        (self.gossip)(alloy::rlp::encode(&message));
                    }
                    Err(e) => tracing::error!(error = %e, index, "settlement: signing failed"),
                }
            }
            for early in state.early.remove(&index).unwrap_or_default() {
                if let Err(e) = set.add(early.signer, &early.signature) {
                    tracing::warn!(error = %e, index, signer = %early.signer, "settlement: signature does not match our batch");
                }
            }
            if set.has_quorum() {
                state.quorum_at.entry(index).or_insert_with(Instant::now);
            }
            state.sets.insert(index, set);
        }
    }

    /// A gossiped settlement message; `false` if it can never be valid.
    pub fn on_gossip(&self, bytes: &[u8]) -> bool {
        let Ok(message) = <BatchSignature as alloy::rlp::Decodable>::decode(&mut &bytes[..]) else {
            return false;
        };
        if !self.config.members.contains(&message.signer) {
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
                        state.quorum_at.entry(message.index).or_insert_with(Instant::now);
                    }
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
                let index = due.index;
                tokio::spawn(async move {
                    this.submit(due).await;
                    this.state.lock().in_flight = Some((index, Some(Instant::now())));
                });
            }
        }
    }

    /// Drops settled batches' signature sets, re-gossips own signatures now and then.
    fn housekeeping(&self) {
        let settled = self.watcher.settled().batch_index;
        let mut state = self.state.lock();
        state.sets.retain(|index, _| *index > settled);
        state.quorum_at.retain(|index, _| *index > settled);
        state.early.retain(|index, _| *index > settled);
        state.sent.retain(|index, _| *index > settled);
        if state.in_flight.is_some_and(|(index, _)| index <= settled) {
            state.in_flight = None;
        }
        let Some(key) = &self.config.key else { return };
        if state.last_gossip.is_some_and(|at| at.elapsed() < REGOSSIP) {
            return;
        }
        state.last_gossip = Some(Instant::now());
        for (index, set) in &state.sets {
            if let Some(own) = set.signature_of(&key.address()) {
                let message = BatchSignature { index: *index, signer: key.address(), signature: own };
                (self.gossip)(alloy::rlp::encode(&message));
            }
        }
    }

    /// The next batch this node should submit now, if any (with the balances root of the final
    /// batch).
    fn due(&self) -> Option<Due> {
        let key = self.config.key.as_ref()?;
        let settled = self.watcher.settled();
        let next = settled.batch_index + 1;
        let mut state = self.state.lock();
        let built = state.chain.get(next)?.clone();
        if built.batch.prevBatchHash != settled.batch_hash {
            tracing::error!(index = next, ours = %built.batch.prevBatchHash, l1 = %settled.batch_hash, "settlement: our batch chain does not extend L1's; not submitting");
            return None;
        }
        let signatures = state.sets.get(&next)?.quorum()?;
        let waited = state.quorum_at.get(&next)?.elapsed();
        let members = &self.config.members;
        let me = members.iter().position(|m| *m == key.address())?;
        let designated = ((next - 1) % members.len() as u64) as usize;
        let rank = (me + members.len() - designated) % members.len();
        if waited < self.config.submit_timeout * rank as u32 {
            return None;
        }
        if let Some((index, ended)) = state.in_flight
            && index == next
            && ended.is_none_or(|at| at.elapsed() < self.config.submit_timeout)
        {
            return None;
        }
        state.in_flight = Some((next, None));
        let attempt = state.sent.get(&next).copied().unwrap_or_default();
        let balances_root = built.balances.as_ref().map(|b| b.root);
        Some(Due { index: next, batch: built.batch, balances_root, signatures, attempt })
    }

    async fn submit(&self, due: Due) {
        let Due { index, batch, balances_root, signatures, attempt } = due;
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
        let call = match balances_root {
            Some(root) => contract.settle(batch, root, signatures).clear_decoder(),
            None => contract.submitBatch(batch, signatures).clear_decoder(),
        };
        if let Err(e) = call.call().await {
            match e.as_decoded_interface_error::<FlashLayer::FlashLayerErrors>() {
                Some(FlashLayer::FlashLayerErrors::WrongBatchIndex(_)) => {
                    tracing::debug!(index, "settlement: batch already accepted");
                }
                Some(other) => {
                    tracing::error!(index, error = ?other.selector(), "settlement: the contract rejects our batch")
                }
                None => tracing::warn!(index, error = %e, "settlement: simulating submitBatch failed"),
            }
            return;
        }
        let sent = async {
            let nonce = provider.get_transaction_count(key.address()).latest().await?;
            let fees = provider.estimate_eip1559_fees().await?;
            let bump = 2u128.pow(attempt.min(8));
            let tip = fees.max_priority_fee_per_gas.max(1_000_000_000) * bump;
            let pending = call
                .nonce(nonce)
                .max_priority_fee_per_gas(tip)
                .max_fee_per_gas(fees.max_fee_per_gas * bump + tip)
                .send()
                .await?;
            Ok::<_, alloy::contract::Error>(pending)
        }
        .await;
        let pending = match sent {
            Ok(pending) => pending,
            Err(e) => {
                tracing::warn!(index, attempt, error = %e, "settlement: sending submitBatch failed; will retry");
                return;
            }
        };
        let hash = *pending.tx_hash();
        tracing::info!(index, tx = %hash, attempt, "settlement: batch submitted");
        {
            let mut state = self.state.lock();
            state.submitted = Some((index, hash));
            *state.sent.entry(index).or_default() += 1;
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
            settled: settled.final_batch,
            settled_finalized: self.watcher.finalized().final_batch,
        }
    }

    /// The final batch and its balances, once built here.
    pub fn final_batch(&self) -> Option<BuiltBatch> {
        self.state.lock().chain.final_batch().cloned()
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
