//! The node's mempool: admission checks as geth does them, the journal that makes an
//! acknowledged transaction survive a crash, and the [`TxSource`] consensus takes blocks from.
//!
//! [`Pool`] is the state machine; [`Mempool`] is the thread-safe handle around it that does
//! decoding, sender recovery (once per transaction, libsecp256k1, outside the lock) and I/O.

mod pool;

pub use pool::{OrderingPolicy, Pool, PoolConfig, PoolError, PooledTx};

use alloy::{
    consensus::{Transaction, TxEnvelope, transaction::SignerRecoverable},
    eips::eip2718::Decodable2718,
    primitives::{Address, B256, Bytes, U256, keccak256},
};
use flashlayer_consensus::TxSource;
use flashlayer_execution::{ChainConfig, ExecutedBlock, SPEC};
use flashlayer_storage::Db;
use parking_lot::{Condvar, Mutex};
use rayon::prelude::*;
use revm::context_interface::cfg::gas::calculate_initial_tx_gas;
use std::{
    cmp::Reverse,
    collections::{BinaryHeap, HashSet, VecDeque},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};
use tokio::sync::broadcast;

/// Largest transaction accepted, as geth (128 KiB).
pub const MAX_TX_BYTES: usize = 128 * 1024;

/// How long after its admission a transaction this node acknowledged is gossiped again if it
/// is still waiting; each further round waits twice as long, up to [`REGOSSIP_MAX_GAP`].
pub const REGOSSIP_AFTER: Duration = Duration::from_secs(4);
/// How many times any waiting transaction is gossiped again. After these rounds only a
/// sender's next transaction (the one that holds up the rest) is, every [`REGOSSIP_MAX_GAP`],
/// for as long as it waits.
pub const REGOSSIP_ROUNDS: u8 = 5;
/// The longest gap between two gossips of a waiting transaction.
pub const REGOSSIP_MAX_GAP: Duration = Duration::from_secs(32);

/// Why a transaction was refused. Every message is geth's, so wallets and libraries that
/// match on them (nonce handling, fee bumping) behave as they do against geth.
#[derive(Debug, thiserror::Error)]
pub enum AdmitError {
    /// Larger than [`MAX_TX_BYTES`].
    #[error("oversized data: transaction size {0}, limit {MAX_TX_BYTES}")]
    Oversized(usize),
    /// Not a decodable EIP-2718 transaction.
    #[error("rlp: {0}")]
    Decode(String),
    /// Blob transactions have no place on a layer.
    #[error("transaction type not supported")]
    TypeNotSupported,
    /// Signed for another chain.
    #[error("invalid chain id for signer: have {have} want {want}")]
    InvalidChainId {
        /// Chain id in the transaction.
        have: u64,
        /// This layer's.
        want: u64,
    },
    /// Legacy transaction without EIP-155 chain id.
    #[error("only replay-protected (EIP-155) transactions allowed over RPC")]
    NotReplayProtected,
    /// Asks for more gas than a block has.
    #[error("exceeds block gas limit")]
    GasLimit,
    /// Above Osaka's per-transaction gas cap.
    #[error("transaction gas limit too high (cap: {cap}, tx: {tx})")]
    GasCap {
        /// The cap.
        cap: u64,
        /// The transaction's gas limit.
        tx: u64,
    },
    /// Tip above fee cap.
    #[error("max priority fee per gas higher than max fee per gas")]
    TipAboveFeeCap,
    /// Signature does not recover.
    #[error("invalid sender")]
    InvalidSender,
    /// Gas limit below intrinsic gas.
    #[error("intrinsic gas too low: gas {gas}, minimum needed {needed}")]
    IntrinsicGas {
        /// The transaction's gas limit.
        gas: u64,
        /// What it needs at least.
        needed: u64,
    },
    /// Fee cap below the base fee of the next block.
    #[error(
        "max fee per gas less than block base fee: address {sender}, maxFeePerGas: {fee_cap}, baseFee: {base_fee}"
    )]
    FeeCapTooLow {
        /// Sender.
        sender: Address,
        /// Its fee cap.
        fee_cap: u128,
        /// Next block's base fee.
        base_fee: u64,
    },
    /// The pool's own rules.
    #[error(transparent)]
    Pool(#[from] PoolError),
    /// The journal could not be written: the transaction is not acknowledged.
    #[error("internal error: {0}")]
    Storage(#[from] flashlayer_storage::Error),
    /// The admission workers are gone (the node is shutting down).
    #[error("internal error: node shutting down")]
    Shutdown,
}

/// The stateless admission checks of a raw transaction for the layer `chain` (size, EIP-2718
/// decoding, type, chain id, gas limits, fees, sender recovery, intrinsic gas): everything
/// that needs neither the pool nor the state. Bytes from any client or peer go through it
/// first (it is a fuzz target: `fuzz/`).
pub fn prepare(chain: &ChainConfig, raw: &[u8]) -> Result<(TxEnvelope, PooledTx), AdmitError> {
    if raw.len() > MAX_TX_BYTES {
        return Err(AdmitError::Oversized(raw.len()));
    }
    let mut buf = raw;
    let tx = TxEnvelope::decode_2718(&mut buf).map_err(|e| AdmitError::Decode(e.to_string()))?;
    if !buf.is_empty() {
        return Err(AdmitError::Decode("input contains more than one value".into()));
    }
    if tx.is_eip4844() {
        return Err(AdmitError::TypeNotSupported);
    }
    match tx.chain_id() {
        None => return Err(AdmitError::NotReplayProtected),
        Some(id) if id != chain.chain_id => {
            return Err(AdmitError::InvalidChainId { have: id, want: chain.chain_id });
        }
        Some(_) => {}
    }
    if tx.gas_limit() > chain.gas_limit() {
        return Err(AdmitError::GasLimit);
    }
    if tx.gas_limit() > chain.max_tx_gas() {
        return Err(AdmitError::GasCap { cap: chain.max_tx_gas(), tx: tx.gas_limit() });
    }
    if let Some(tip) = tx.max_priority_fee_per_gas()
        && tip > tx.max_fee_per_gas()
    {
        return Err(AdmitError::TipAboveFeeCap);
    }
    let sender = tx.recover_signer().map_err(|_| AdmitError::InvalidSender)?;
    let access_list = tx.access_list();
    let intrinsic = calculate_initial_tx_gas(
        SPEC,
        tx.input(),
        tx.kind().is_create(),
        access_list.map(|l| l.len() as u64).unwrap_or_default(),
        access_list.map(|l| l.iter().map(|i| i.storage_keys.len() as u64).sum()).unwrap_or_default(),
        tx.authorization_list().map(|l| l.len() as u64).unwrap_or_default(),
        None,
    );
    let needed = intrinsic.initial_total_gas().max(intrinsic.floor_gas());
    if tx.gas_limit() < needed {
        return Err(AdmitError::IntrinsicGas { gas: tx.gas_limit(), needed });
    }
    let max_fee = tx.max_fee_per_gas();
    let cost = U256::from(tx.gas_limit()).saturating_mul(U256::from(max_fee)).saturating_add(tx.value());
    let pooled = PooledTx {
        hash: *tx.tx_hash(),
        sender,
        nonce: tx.nonce(),
        gas_limit: tx.gas_limit(),
        max_fee,
        max_tip: tx.max_priority_fee_per_gas().unwrap_or(max_fee),
        cost,
        raw: Bytes::copy_from_slice(raw),
        journaled: false,
        admitted: Instant::now(),
    };
    Ok((tx, pooled))
}

/// What the mempool calls with each transaction its own RPC admitted.
type GossipHook = Box<dyn Fn(&Bytes) + Send + Sync>;

/// The mempool handle shared by RPC, consensus and the executor.
pub struct Mempool {
    pool: Mutex<Pool>,
    ready: Condvar,
    db: Db,
    chain: ChainConfig,
    /// Base fee of the next block, maintained by the executor.
    next_base_fee: AtomicU64,
    pending_txs: broadcast::Sender<B256>,
    /// Told of every transaction admitted from this node's RPC (the p2p gossip).
    on_local_admit: std::sync::OnceLock<GossipHook>,
    /// Where admission work (sender recovery above all) runs: see [`admission_pool`].
    admission: rayon::ThreadPool,
    /// Transactions this node acknowledged, by when to gossip them again (see
    /// [`due_for_regossip`](Self::due_for_regossip)).
    regossip: Mutex<BinaryHeap<Reverse<(Instant, B256, u8)>>>,
    /// When each recently included transaction was executed, and how long after this node took
    /// it in (the latency a submitter sees from this node, gossip and ordering included).
    latencies: Mutex<VecDeque<(Instant, Duration)>>,
}

/// How far back inclusion latencies are kept.
const LATENCY_WINDOW: Duration = Duration::from_secs(60);
/// Most latency samples kept (the newest): enough for a minute at several thousand tx/s.
const MAX_LATENCY_SAMPLES: usize = 200_000;

/// Inclusion latency over a recent window: what `flash_status` reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InclusionLatency {
    /// The window, in seconds.
    pub window_secs: u64,
    /// Transactions included in it that this node held before.
    pub samples: u64,
    /// Median latency from this node taking a transaction in to executing it, in milliseconds.
    pub p50_ms: u64,
    /// 95th percentile, in milliseconds.
    pub p95_ms: u64,
}

/// Nice value of the admission threads.
const ADMISSION_NICE: libc::c_int = 10;

/// The threads that admit transactions, one per core at a lower CPU priority (nice 10) than
/// the rest of the node. Under a flood, recovering senders could take every core; the consensus
/// threads, the libp2p task that carries their messages and the executor must still get the
/// CPU the moment they need it, or views time out and the chain stops while the pool fills.
/// Admission off the tokio workers also keeps the RPC and p2p tasks responsive.
fn admission_pool() -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .thread_name(|i| format!("admission-{i}"))
        .start_handler(|_| {
            // Linux keeps a nice value per thread: set this thread's own.
            // SAFETY: plain syscalls on the calling thread's id.
            let result = unsafe {
                let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
                libc::setpriority(libc::PRIO_PROCESS, tid, ADMISSION_NICE)
            };
            if result != 0 {
                tracing::debug!("could not lower the admission threads' priority");
            }
        })
        .build()
        .expect("starting the admission threads")
}

impl std::fmt::Debug for Mempool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mempool").field("chain_id", &self.chain.chain_id).finish_non_exhaustive()
    }
}

impl Mempool {
    /// A mempool for the layer `chain` over the node's database; `next_base_fee` is the base
    /// fee of the block after the executed head.
    pub fn new(config: PoolConfig, db: Db, chain: ChainConfig, next_base_fee: u64) -> Self {
        Self {
            pool: Mutex::new(Pool::new(config)),
            ready: Condvar::new(),
            db,
            chain,
            next_base_fee: AtomicU64::new(next_base_fee),
            pending_txs: broadcast::channel(16 * 1024).0,
            on_local_admit: std::sync::OnceLock::new(),
            admission: admission_pool(),
            regossip: Mutex::new(BinaryHeap::new()),
            latencies: Mutex::new(VecDeque::new()),
        }
    }

    /// Inclusion latency of the transactions executed in the last `window` (at most a minute).
    pub fn inclusion_latency(&self, window: Duration) -> InclusionLatency {
        let since = Instant::now().checked_sub(window.min(LATENCY_WINDOW));
        let mut recent: Vec<Duration> = self
            .latencies
            .lock()
            .iter()
            .rev()
            .take_while(|(at, _)| since.is_none_or(|since| *at >= since))
            .map(|(_, latency)| *latency)
            .collect();
        if recent.is_empty() {
            return InclusionLatency { window_secs: window.as_secs(), ..Default::default() };
        }
        recent.sort_unstable();
        let at = |q: f64| recent[((recent.len() - 1) as f64 * q).round() as usize].as_millis() as u64;
        InclusionLatency {
            window_secs: window.as_secs(),
            samples: recent.len() as u64,
            p50_ms: at(0.5),
            p95_ms: at(0.95),
        }
    }

    /// The transactions this node acknowledged that are still waiting and due to be gossiped
    /// again (at most `max`). Gossip is best effort: a peer drops batches when its admission is
    /// busy or the source is over its rate, a paused or partitioned node gossips into the void,
    /// and a node the leader schedule leaves out (see `flashlayer_consensus::schedule`) does
    /// not propose its own transactions for as long as it stays out. A transaction only this
    /// node holds would then wait forever, and with it every later nonce of its sender that
    /// other nodes hold. So a waiting transaction is gossiped again [`REGOSSIP_ROUNDS`] times
    /// with doubling gaps, and after that, while it is its sender's next, every
    /// [`REGOSSIP_MAX_GAP`] until it leaves the pool.
    pub fn due_for_regossip(&self, now: Instant, max: usize) -> Vec<Bytes> {
        let mut due = Vec::new();
        let mut heap = self.regossip.lock();
        let pool = self.pool.lock();
        while due.len() < max {
            match heap.peek() {
                Some(Reverse((at, _, _))) if *at <= now => {}
                _ => break,
            }
            let Some(Reverse((_, hash, round))) = heap.pop() else { break };
            // Gone from the pool (executed, replaced, superseded): forgotten.
            let Some(tx) = pool.get(&hash) else { continue };
            if round < REGOSSIP_ROUNDS || pool.is_next(&hash) {
                due.push(tx.raw.clone());
            }
            let gap = (REGOSSIP_AFTER * (2u32 << round.min(4))).min(REGOSSIP_MAX_GAP);
            heap.push(Reverse((now + gap, hash, round.saturating_add(1))));
        }
        due
    }

    fn schedule_regossip(&self, hash: B256) {
        self.regossip.lock().push(Reverse((Instant::now() + REGOSSIP_AFTER, hash, 0)));
    }

    /// Sets what happens to transactions admitted through this node's RPC: they are gossiped
    /// to the other nodes. Set once, at assembly.
    pub fn on_local_admit(&self, hook: impl Fn(&Bytes) + Send + Sync + 'static) {
        if self.on_local_admit.set(Box::new(hook)).is_err() {
            tracing::warn!("mempool gossip hook set twice; keeping the first");
        }
    }

    /// Admits a batch of transactions gossiped by a peer: senders recovered in parallel, each
    /// admitted on its own; refusals (mostly "already known") are expected and dropped.
    /// Returns how many were new. Not journaled: the node that acknowledged a transaction to
    /// its client journaled it, and restores and proposes it after a crash.
    pub fn admit_gossiped(&self, raws: &[Bytes]) -> usize {
        // Sender recovery is the costliest step of admission: skip it for transactions this
        // node already holds or has executed (a block can overtake the gossip carrying its
        // transactions, and then execution has recovered them already).
        let hashes: Vec<B256> = raws.par_iter().map(keccak256).collect();
        let known: Vec<bool> = {
            let pool = self.pool.lock();
            hashes.iter().map(|hash| pool.get(hash).is_some()).collect()
        };
        let fresh: Vec<&Bytes> = raws
            .iter()
            .zip(hashes.iter().zip(known))
            .filter(|(_, (hash, known))| !known && !matches!(self.db.tx_location(hash), Ok(Some(_))))
            .map(|(raw, _)| raw)
            .collect();
        let prepared: Vec<_> =
            self.admission.install(|| fresh.par_iter().map(|raw| self.prepare(raw)).collect());
        prepared
            .into_iter()
            .filter_map(Result::ok)
            .map(|(_, tx)| self.insert(tx, false))
            .filter(Result::is_ok)
            .count()
    }

    /// New pooled transaction hashes (for `newPendingTransactions` subscriptions).
    pub fn subscribe(&self) -> broadcast::Receiver<B256> {
        self.pending_txs.subscribe()
    }

    /// Stateless checks and sender recovery: everything that needs no lock.
    fn prepare(&self, raw: &[u8]) -> Result<(TxEnvelope, PooledTx), AdmitError> {
        prepare(&self.chain, raw)
    }

    /// [`admit`](Self::admit) on the admission threads, for async callers (the RPC server).
    pub async fn admit_async(self: &Arc<Self>, raw: Bytes) -> Result<B256, AdmitError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let this = Arc::clone(self);
        self.admission.spawn(move || {
            let _ = tx.send(this.admit(&raw));
        });
        rx.await.unwrap_or(Err(AdmitError::Shutdown))
    }

    /// Admits a raw transaction (`eth_sendRawTransaction`). On `Ok` the transaction is in the
    /// journal: acknowledged, it survives a crash of this process.
    pub fn admit(&self, raw: &[u8]) -> Result<B256, AdmitError> {
        // A resend of a pooled transaction is answered without recovering its sender again.
        if raw.len() <= MAX_TX_BYTES && self.pool.lock().get(&keccak256(raw)).is_some() {
            return Err(PoolError::AlreadyKnown.into());
        }
        let (_, tx) = self.prepare(raw)?;
        let raw = tx.raw.clone();
        let hash = self.insert(tx, true)?;
        if let Some(gossip) = self.on_local_admit.get() {
            gossip(&raw);
        }
        self.schedule_regossip(hash);
        Ok(hash)
    }

    fn insert(&self, mut tx: PooledTx, journal: bool) -> Result<B256, AdmitError> {
        tx.journaled |= journal;
        let base_fee = self.next_base_fee.load(Ordering::Relaxed);
        if tx.max_fee < base_fee as u128 {
            return Err(AdmitError::FeeCapTooLow { sender: tx.sender, fee_cap: tx.max_fee, base_fee });
        }
        let account = self.db.account(&keccak256(tx.sender))?;
        let (nonce, balance) = account.map(|a| (a.nonce, a.balance)).unwrap_or_default();
        let hash = tx.hash;
        let raw = tx.raw.clone();
        {
            let mut pool = self.pool.lock();
            let admitted = pool.add(tx, nonce, balance)?;
            // Journal under the lock so that a concurrent eviction cannot interleave.
            if journal && let Err(e) = self.db.journal_put(&hash, &raw) {
                pool.on_executed(&[hash], &Default::default());
                return Err(e.into());
            }
            if let Some(old) = admitted.replaced {
                self.db.journal_delete([old])?;
            }
        }
        self.ready.notify_all();
        let _ = self.pending_txs.send(hash);
        Ok(hash)
    }

    /// Re-admits the journal after a restart; entries that no longer pass (executed before
    /// the crash, replaced) are dropped from it. Returns how many came back.
    pub fn restore_journal(&self) -> Result<usize, flashlayer_storage::Error> {
        let entries = self.db.journal_all()?;
        let prepared: Vec<_> = entries.par_iter().map(|(hash, raw)| (*hash, self.prepare(raw))).collect();
        let mut restored = 0;
        let mut dropped = Vec::new();
        for (hash, result) in prepared {
            // Already in the journal: flagged so the entry goes when the block executes.
            match result.and_then(|(_, tx)| self.insert(PooledTx { journaled: true, ..tx }, false)) {
                Ok(hash) => {
                    // Peers may never have had it (gossiped just before a crash): tell them.
                    self.schedule_regossip(hash);
                    restored += 1
                }
                Err(e) => {
                    tracing::debug!(%hash, error = %e, "journaled transaction no longer admissible");
                    dropped.push(hash);
                }
            }
        }
        self.db.journal_delete(dropped)?;
        Ok(restored)
    }

    /// Applies an executed block: its transactions and final rejections leave the pool, and
    /// senders' nonces move on.
    pub fn on_executed(&self, executed: &ExecutedBlock) {
        let mut removed: Vec<B256> = executed.block.transactions.iter().map(|tx| *tx.tx_hash()).collect();
        removed.extend(executed.skipped.iter().filter(|s| s.reason.is_final()).map(|s| s.hash));
        let header = &executed.block.header;
        self.next_base_fee.store(
            self.chain.next_base_fee(header.gas_used, header.base_fee_per_gas.unwrap_or_default()),
            Ordering::Relaxed,
        );
        let now = Instant::now();
        let mut pool = self.pool.lock();
        let included: Vec<Duration> = executed
            .block
            .transactions
            .iter()
            .filter_map(|tx| {
                pool.get(tx.tx_hash()).map(|pooled| now.saturating_duration_since(pooled.admitted))
            })
            .collect();
        let superseded = pool.on_executed(&removed, &executed.sender_nonces);
        drop(pool);
        if !included.is_empty() {
            let mut latencies = self.latencies.lock();
            latencies.extend(included.into_iter().map(|latency| (now, latency)));
            while latencies.len() > MAX_LATENCY_SAMPLES
                || latencies
                    .front()
                    .is_some_and(|(at, _)| now.saturating_duration_since(*at) > LATENCY_WINDOW)
            {
                latencies.pop_front();
            }
        }
        if !superseded.is_empty()
            && let Err(e) = self.db.journal_delete(superseded)
        {
            tracing::warn!(error = %e, "could not drop superseded transactions from the journal");
        }
    }

    /// Whether a pooled transaction is in the journal.
    pub fn journaled(&self, hash: &B256) -> bool {
        self.pool.lock().get(hash).is_some_and(|tx| tx.journaled)
    }

    /// Sender of a pooled transaction, recovered at admission.
    pub fn sender_of(&self, hash: &B256) -> Option<Address> {
        self.pool.lock().sender_of(hash)
    }

    /// A pooled transaction.
    pub fn get(&self, hash: &B256) -> Option<PooledTx> {
        self.pool.lock().get(hash).map(|tx| (**tx).clone())
    }

    /// Next nonce for `sender` counting pooled transactions.
    pub fn pending_nonce(&self, sender: &Address, state_nonce: u64) -> u64 {
        self.pool.lock().pending_nonce(sender, state_nonce)
    }

    /// (pending, queued) counts.
    pub fn counts(&self) -> (usize, usize) {
        self.pool.lock().counts()
    }

    /// Base fee of the next block.
    pub fn next_base_fee(&self) -> u64 {
        self.next_base_fee.load(Ordering::Relaxed)
    }
}

impl TxSource for Mempool {
    fn select(&self, gas_limit: u64, max_bytes: usize, exclude: &HashSet<B256>) -> Vec<Bytes> {
        self.pool.lock().select(gas_limit, max_bytes, exclude, self.next_base_fee())
    }

    fn wait_pending(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut pool = self.pool.lock();
        while !pool.has_ready() {
            if self.ready.wait_until(&mut pool, deadline).timed_out() {
                return pool.has_ready();
            }
        }
        true
    }
}

impl flashlayer_execution::KnownTxs for Mempool {
    fn sender(&self, hash: &B256) -> Option<Address> {
        self.sender_of(hash)
    }

    fn journaled(&self, hash: &B256) -> bool {
        Mempool::journaled(self, hash)
    }
}
