//! The transaction pool as a plain state machine: admission rules, per-sender nonce queues,
//! block selection in policy order, and eviction after execution. No I/O, no locks: the
//! [`Mempool`](super::Mempool) handle wraps it.

use alloy::primitives::{Address, B256, Bytes, U256};
use serde::{Deserialize, Serialize};
use std::{
    cmp::Reverse,
    collections::{BTreeMap, BinaryHeap, HashMap, HashSet},
    sync::Arc,
};

/// In what order the leader takes transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OrderingPolicy {
    /// First come, first served: arrival order at the leader, no gas auction.
    #[default]
    Fcfs,
    /// Highest effective tip first, arrival order among equals.
    Priority,
}

impl std::str::FromStr for OrderingPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "fcfs" => Ok(Self::Fcfs),
            "priority" => Ok(Self::Priority),
            other => Err(format!("unknown ordering policy {other:?} (fcfs | priority)")),
        }
    }
}

/// Pool limits.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// Ordering policy of the layer.
    pub ordering: OrderingPolicy,
    /// Most transactions held in total.
    pub max_txs: usize,
    /// Most transactions held per sender.
    pub max_per_sender: usize,
    /// Replacement must raise both fee cap and tip by this many percent.
    pub price_bump_percent: u128,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            ordering: OrderingPolicy::Fcfs,
            max_txs: 200_000,
            max_per_sender: 4096,
            price_bump_percent: 10,
        }
    }
}

/// A validated transaction with its recovered sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PooledTx {
    /// Transaction hash.
    pub hash: B256,
    /// Recovered sender (recovered once, here).
    pub sender: Address,
    /// Nonce.
    pub nonce: u64,
    /// Gas limit.
    pub gas_limit: u64,
    /// Max fee per gas (gas price for legacy).
    pub max_fee: u128,
    /// Max priority fee per gas (gas price for legacy).
    pub max_tip: u128,
    /// Most it can cost: gas limit * max fee + value.
    pub cost: U256,
    /// Raw EIP-2718 bytes.
    pub raw: Bytes,
    /// In this node's journal: admitted through its RPC (gossiped transactions are journaled
    /// by the node that acknowledged them).
    pub journaled: bool,
    /// When this node took it in (admission, gossip, or the journal at start-up): inclusion
    /// latency is measured from here.
    pub admitted: std::time::Instant,
}

/// Why the pool refused a transaction. Messages are geth's, since wallets match on them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    /// Same hash already pooled.
    #[error("already known")]
    AlreadyKnown,
    /// Nonce already used on chain.
    #[error("nonce too low: address {sender}, tx: {tx} state: {state}")]
    NonceTooLow {
        /// Sender.
        sender: Address,
        /// Transaction nonce.
        tx: u64,
        /// Account nonce.
        state: u64,
    },
    /// Same nonce pooled with a fee not 10% lower.
    #[error("replacement transaction underpriced")]
    ReplacementUnderpriced,
    /// Balance does not cover this and the sender's earlier pooled transactions.
    #[error("insufficient funds for gas * price + value: address {sender} have {have} want {want}")]
    InsufficientFunds {
        /// Sender.
        sender: Address,
        /// Balance.
        have: U256,
        /// Cost including earlier pooled transactions.
        want: U256,
    },
    /// Per-sender cap reached.
    #[error("account limit exceeded")]
    AccountLimit,
    /// Global cap reached.
    #[error("txpool is full")]
    PoolFull,
}

/// Result of a successful admission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    /// The transaction this one replaced (same sender and nonce), to be forgotten.
    pub replaced: Option<B256>,
}

#[derive(Debug, Default)]
struct SenderQueue {
    /// Account nonce as last executed.
    state_nonce: u64,
    txs: BTreeMap<u64, Arc<PooledTx>>,
    /// Admission order of each queued nonce, for FCFS.
    arrival: HashMap<u64, u64>,
    /// Sum of the queued transactions' costs, so that the funds check of a transaction
    /// appended after the last nonce (the usual case) is O(1), not a walk of the queue.
    total_cost: U256,
}

impl SenderQueue {
    fn insert(&mut self, tx: Arc<PooledTx>, arrival: u64) -> Option<Arc<PooledTx>> {
        self.total_cost = self.total_cost.saturating_add(tx.cost);
        self.arrival.insert(tx.nonce, arrival);
        let old = self.txs.insert(tx.nonce, tx);
        if let Some(old) = &old {
            self.total_cost = self.total_cost.saturating_sub(old.cost);
        }
        old
    }

    fn remove(&mut self, nonce: u64) -> Option<Arc<PooledTx>> {
        let tx = self.txs.remove(&nonce)?;
        self.arrival.remove(&nonce);
        self.total_cost = self.total_cost.saturating_sub(tx.cost);
        Some(tx)
    }

    /// What the sender's queued transactions below `nonce` may spend at most.
    fn spend_before(&self, nonce: u64) -> U256 {
        match self.txs.last_key_value() {
            Some((last, _)) if *last < nonce => self.total_cost,
            _ => self.txs.range(..nonce).fold(U256::ZERO, |sum, (_, t)| sum.saturating_add(t.cost)),
        }
    }
}

/// The pool.
#[derive(Debug)]
pub struct Pool {
    config: PoolConfig,
    by_hash: HashMap<B256, Arc<PooledTx>>,
    senders: HashMap<Address, SenderQueue>,
    next_arrival: u64,
}

impl Pool {
    /// An empty pool.
    pub fn new(config: PoolConfig) -> Self {
        Self { config, by_hash: HashMap::new(), senders: HashMap::new(), next_arrival: 0 }
    }

    /// Number of transactions held.
    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    /// Whether the pool holds nothing.
    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    /// Looks a pooled transaction up.
    pub fn get(&self, hash: &B256) -> Option<&Arc<PooledTx>> {
        self.by_hash.get(hash)
    }

    /// Sender of a pooled transaction.
    pub fn sender_of(&self, hash: &B256) -> Option<Address> {
        self.by_hash.get(hash).map(|tx| tx.sender)
    }

    /// Admits `tx` given its sender's executed nonce and balance.
    pub fn add(&mut self, tx: PooledTx, state_nonce: u64, balance: U256) -> Result<Admitted, PoolError> {
        if self.by_hash.contains_key(&tx.hash) {
            return Err(PoolError::AlreadyKnown);
        }
        if tx.nonce < state_nonce {
            return Err(PoolError::NonceTooLow { sender: tx.sender, tx: tx.nonce, state: state_nonce });
        }
        let queue = self.senders.entry(tx.sender).or_default();
        queue.state_nonce = queue.state_nonce.max(state_nonce);
        let existing = queue.txs.get(&tx.nonce).cloned();
        if let Some(old) = &existing {
            let bump = |old: u128| old + old * self.config.price_bump_percent / 100;
            if tx.max_fee < bump(old.max_fee) || tx.max_tip < bump(old.max_tip) {
                return Err(PoolError::ReplacementUnderpriced);
            }
        } else {
            if queue.txs.len() >= self.config.max_per_sender {
                return Err(PoolError::AccountLimit);
            }
            if self.by_hash.len() >= self.config.max_txs {
                return Err(PoolError::PoolFull);
            }
        }
        // Funds must cover this transaction and every earlier one the sender has queued.
        let want = queue.spend_before(tx.nonce).saturating_add(tx.cost);
        if want > balance {
            return Err(PoolError::InsufficientFunds { sender: tx.sender, have: balance, want });
        }
        let tx = Arc::new(tx);
        let arrival = self.next_arrival;
        self.next_arrival += 1;
        queue.insert(tx.clone(), arrival);
        if let Some(old) = &existing {
            self.by_hash.remove(&old.hash);
        }
        self.by_hash.insert(tx.hash, tx);
        Ok(Admitted { replaced: existing.map(|old| old.hash) })
    }

    /// The nonce a sender's next transaction should use: executed nonce plus its gapless run
    /// of pooled transactions (`eth_getTransactionCount(..., "pending")`).
    pub fn pending_nonce(&self, sender: &Address, state_nonce: u64) -> u64 {
        let Some(queue) = self.senders.get(sender) else { return state_nonce };
        let mut next = state_nonce.max(queue.state_nonce);
        while queue.txs.contains_key(&next) {
            next += 1;
        }
        next
    }

    /// Counts (pending, queued): gapless runs from the executed nonce, and the rest.
    pub fn counts(&self) -> (usize, usize) {
        let pending: usize = self
            .senders
            .iter()
            .map(|(sender, q)| (self.pending_nonce(sender, q.state_nonce) - q.state_nonce) as usize)
            .sum();
        (pending, self.len() - pending)
    }

    /// Whether the pooled transaction `hash` is its sender's next to execute (its nonce is the
    /// executed nonce): the one whose absence from the leaders' pools holds up every later
    /// transaction of that sender.
    pub fn is_next(&self, hash: &B256) -> bool {
        self.by_hash
            .get(hash)
            .and_then(|tx| self.senders.get(&tx.sender).map(|q| q.state_nonce == tx.nonce))
            .unwrap_or(false)
    }

    /// Whether any sender has a transaction at its executed nonce, i.e. ready for a block.
    pub fn has_ready(&self) -> bool {
        self.senders.values().any(|q| q.txs.contains_key(&q.state_nonce))
    }

    /// Selects raw transactions for a block, in policy order, within `gas_limit` and
    /// `max_bytes`. Per sender, nonces stay consecutive from the executed nonce; transactions
    /// in `exclude` (already in unexecuted ancestors) are left out but keep the run going.
    pub fn select(
        &self,
        gas_limit: u64,
        max_bytes: usize,
        exclude: &HashSet<B256>,
        base_fee: u64,
    ) -> Vec<Bytes> {
        // Heap entries: (priority key, sender, nonce). BinaryHeap is a max-heap.
        type Key = (u128, Reverse<u64>);
        let key = |q: &SenderQueue, tx: &PooledTx| -> Key {
            let arrival = q.arrival.get(&tx.nonce).copied().unwrap_or(u64::MAX);
            match self.config.ordering {
                OrderingPolicy::Fcfs => (0, Reverse(arrival)),
                OrderingPolicy::Priority => {
                    let tip = tx.max_fee.saturating_sub(base_fee as u128).min(tx.max_tip);
                    (tip, Reverse(arrival))
                }
            }
        };
        // First selectable transaction of a sender at or after `nonce`.
        let next_of = |q: &SenderQueue, mut nonce: u64| -> Option<Arc<PooledTx>> {
            loop {
                let tx = q.txs.get(&nonce)?;
                if !exclude.contains(&tx.hash) {
                    return Some(tx.clone());
                }
                nonce += 1;
            }
        };
        let mut heap: BinaryHeap<(Key, Address, u64)> = BinaryHeap::new();
        for (sender, q) in &self.senders {
            if let Some(tx) = next_of(q, q.state_nonce)
                && tx.max_fee >= base_fee as u128
            {
                heap.push((key(q, &tx), *sender, tx.nonce));
            }
        }
        let mut out = Vec::new();
        let (mut gas_left, mut bytes_left) = (gas_limit, max_bytes);
        while let Some((_, sender, nonce)) = heap.pop() {
            if gas_left < 21_000 {
                break;
            }
            let q = &self.senders[&sender];
            let tx = &q.txs[&nonce];
            if tx.gas_limit > gas_left || tx.raw.len() > bytes_left {
                // The sender's run stops here for this block; others may still fit.
                continue;
            }
            gas_left -= tx.gas_limit;
            bytes_left -= tx.raw.len();
            out.push(tx.raw.clone());
            // `next_of` only follows consecutive nonces, so the run stays gapless.
            if let Some(next) = next_of(q, nonce + 1) {
                heap.push((key(q, &next), sender, next.nonce));
            }
        }
        out
    }

    /// Forgets transactions an executed block settled: `removed` (included, or finally
    /// rejected) and, per sender in `sender_nonces`, every transaction below its new nonce.
    /// Returns the hashes forgotten beyond `removed` (superseded nonces) so the caller can
    /// drop them from the journal.
    pub fn on_executed(&mut self, removed: &[B256], sender_nonces: &HashMap<Address, u64>) -> Vec<B256> {
        for hash in removed {
            if let Some(tx) = self.by_hash.remove(hash)
                && let Some(q) = self.senders.get_mut(&tx.sender)
            {
                q.remove(tx.nonce);
            }
        }
        let mut superseded = Vec::new();
        for (sender, nonce) in sender_nonces {
            let Some(q) = self.senders.get_mut(sender) else { continue };
            q.state_nonce = q.state_nonce.max(*nonce);
            let stale: Vec<u64> = q.txs.range(..*nonce).map(|(n, _)| *n).collect();
            for n in stale {
                if let Some(tx) = q.remove(n) {
                    self.by_hash.remove(&tx.hash);
                    superseded.push(tx.hash);
                }
            }
        }
        self.senders.retain(|_, q| !q.txs.is_empty());
        superseded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tx(sender: u8, nonce: u64, fee: u128) -> PooledTx {
        let raw = Bytes::from(vec![sender, nonce as u8, fee as u8]);
        PooledTx {
            hash: alloy::primitives::keccak256(&raw),
            sender: Address::with_last_byte(sender),
            nonce,
            gas_limit: 21_000,
            max_fee: fee,
            max_tip: fee,
            cost: U256::from(21_000u128 * fee),
            raw,
            journaled: false,
            admitted: std::time::Instant::now(),
        }
    }

    fn rich() -> U256 {
        U256::from(10u128.pow(24))
    }

    #[test]
    fn nonce_too_low_and_already_known() {
        let mut pool = Pool::new(PoolConfig::default());
        assert!(matches!(pool.add(tx(1, 0, 10), 1, rich()), Err(PoolError::NonceTooLow { .. })));
        pool.add(tx(1, 1, 10), 1, rich()).unwrap();
        assert_eq!(pool.add(tx(1, 1, 10), 1, rich()), Err(PoolError::AlreadyKnown));
    }

    #[test]
    fn replacement_needs_ten_percent() {
        let mut pool = Pool::new(PoolConfig::default());
        pool.add(tx(1, 0, 100), 0, rich()).unwrap();
        assert_eq!(pool.add(tx(1, 0, 109), 0, rich()), Err(PoolError::ReplacementUnderpriced));
        let old = tx(1, 0, 100).hash;
        assert_eq!(pool.add(tx(1, 0, 110), 0, rich()).unwrap().replaced, Some(old));
        assert_eq!(pool.len(), 1);
    }

    #[test]
    fn funds_cover_queued_spend() {
        let mut pool = Pool::new(PoolConfig::default());
        let balance = U256::from(21_000u128 * 10 * 2);
        pool.add(tx(1, 0, 10), 0, balance).unwrap();
        pool.add(tx(1, 1, 10), 0, balance).unwrap();
        assert!(matches!(pool.add(tx(1, 2, 10), 0, balance), Err(PoolError::InsufficientFunds { .. })));
    }

    #[test]
    fn queued_spend_follows_replacements_and_removals() {
        let mut pool = Pool::new(PoolConfig::default());
        let units = |n: u128| U256::from(21_000u128 * n);
        pool.add(tx(1, 0, 10), 0, units(30)).unwrap();
        pool.add(tx(1, 1, 10), 0, units(30)).unwrap();
        // Replacing nonce 1 at 20 fills the balance exactly; one more does not fit.
        pool.add(tx(1, 1, 20), 0, units(30)).unwrap();
        assert!(matches!(pool.add(tx(1, 2, 10), 0, units(30)), Err(PoolError::InsufficientFunds { .. })));
        // Once nonce 0 executed its cost no longer counts: 20 queued + 10 fits in 30.
        pool.on_executed(&[tx(1, 0, 10).hash], &HashMap::from([(Address::with_last_byte(1), 1)]));
        pool.add(tx(1, 2, 10), 1, units(30)).unwrap();
        // Filling a gap below the last nonce counts only the nonces before it.
        let mut pool = Pool::new(PoolConfig::default());
        pool.add(tx(2, 0, 10), 0, units(100)).unwrap();
        pool.add(tx(2, 2, 10), 0, units(100)).unwrap();
        assert!(matches!(pool.add(tx(2, 1, 10), 0, units(15)), Err(PoolError::InsufficientFunds { .. })));
        pool.add(tx(2, 1, 10), 0, units(20)).unwrap();
    }

    #[test]
    fn caps() {
        let mut pool = Pool::new(PoolConfig { max_per_sender: 2, max_txs: 3, ..Default::default() });
        pool.add(tx(1, 0, 10), 0, rich()).unwrap();
        pool.add(tx(1, 1, 10), 0, rich()).unwrap();
        assert_eq!(pool.add(tx(1, 2, 10), 0, rich()), Err(PoolError::AccountLimit));
        pool.add(tx(2, 0, 10), 0, rich()).unwrap();
        assert_eq!(pool.add(tx(3, 0, 10), 0, rich()), Err(PoolError::PoolFull));
    }

    #[test]
    fn fcfs_selection_keeps_nonce_order_and_skips_gaps() {
        let mut pool = Pool::new(PoolConfig::default());
        pool.add(tx(2, 0, 10), 0, rich()).unwrap();
        pool.add(tx(1, 1, 50), 0, rich()).unwrap();
        pool.add(tx(1, 0, 50), 0, rich()).unwrap();
        pool.add(tx(3, 5, 10), 0, rich()).unwrap(); // gap: never selected
        let picked = pool.select(1_000_000, 1 << 20, &HashSet::new(), 0);
        assert_eq!(picked, vec![tx(2, 0, 10).raw, tx(1, 0, 50).raw, tx(1, 1, 50).raw]);
        assert_eq!(pool.pending_nonce(&Address::with_last_byte(1), 0), 2);
        assert_eq!(pool.counts(), (3, 1));
    }

    #[test]
    fn priority_selection_and_exclusion() {
        let mut pool = Pool::new(PoolConfig { ordering: OrderingPolicy::Priority, ..Default::default() });
        pool.add(tx(1, 0, 10), 0, rich()).unwrap();
        pool.add(tx(1, 1, 10), 0, rich()).unwrap();
        pool.add(tx(2, 0, 30), 0, rich()).unwrap();
        let exclude = HashSet::from([tx(1, 0, 10).hash]);
        let picked = pool.select(1_000_000, 1 << 20, &exclude, 0);
        assert_eq!(picked, vec![tx(2, 0, 30).raw, tx(1, 1, 10).raw]);
        // Gas limit caps the block.
        assert_eq!(pool.select(21_000, 1 << 20, &HashSet::new(), 0).len(), 1);
    }

    #[test]
    fn executed_transactions_leave() {
        let mut pool = Pool::new(PoolConfig::default());
        pool.add(tx(1, 0, 10), 0, rich()).unwrap();
        pool.add(tx(1, 1, 10), 0, rich()).unwrap();
        let superseded = pool.on_executed(&[], &HashMap::from([(Address::with_last_byte(1), 1)]));
        assert_eq!(superseded, vec![tx(1, 0, 10).hash]);
        assert_eq!(pool.len(), 1);
        assert!(pool.has_ready());
    }
}
