//! Where a layer is in its life, as one node sees it: live, closing (its end was reached: the
//! deadline passed, the end block came or the owner closed it on L1), settled (the final batch
//! was accepted on L1). `flashlayer dispose` adds the last phase, disposed, by deleting the
//! node's data. See `docs/lifecycle.md`.
//!
//! The end itself is a consensus rule (`flashlayer_consensus::AppConfig::end_time`, the
//! payload's `end` flag); this module only reports it and turns transactions away once it is
//! near: RPC stops admitting as soon as this node knows the end is due, a little before the
//! chain ends, so nothing is acknowledged that can no longer be included.

use flashlayer_execution::BlockExecutor;
use flashlayer_settlement::{service::SettlementStatus, watcher::L1Watcher};
use flashlayer_storage::Db;
use parking_lot::Mutex;
use serde::Serialize;
use std::{
    sync::Arc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

/// A layer's phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// The node runs but has not executed a block yet.
    Starting,
    /// Taking transactions.
    Live,
    /// The end is due or reached: no transactions; the final batch is on its way to L1.
    Closing,
    /// The final batch is accepted on L1: balances are claimable; the node can be disposed.
    Settled,
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Starting => "starting",
            Self::Live => "live",
            Self::Closing => "closing",
            Self::Settled => "settled",
        })
    }
}

/// A node's view of its layer's life.
#[derive(Debug, Clone)]
pub struct Lifecycle {
    /// The layer's deadline (Unix seconds), if any.
    pub end_time: Option<u64>,
    /// The layer's end block, if any.
    pub end_block: Option<u64>,
    watcher: Option<L1Watcher>,
    db: Db,
    /// The executed head and its `ended_at`, read from the database at most every
    /// [`HEAD_CACHE`]: admission asks on every transaction.
    head: Arc<Mutex<Option<(Instant, u64, u64)>>>,
}

/// How long the cached executed head is used before it is read again.
const HEAD_CACHE: Duration = Duration::from_millis(100);

/// This machine's clock in Unix seconds.
pub(crate) fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

impl Lifecycle {
    /// The life of a layer ending at `end_time` / `end_block` (or when closed on L1, as
    /// `watcher` sees it), with its chain in `db`.
    pub fn new(end_time: Option<u64>, end_block: Option<u64>, watcher: Option<L1Watcher>, db: Db) -> Self {
        Self { end_time, end_block, watcher, db, head: Arc::new(Mutex::new(None)) }
    }

    /// The executed head and the block that ended the layer (0: live), at most
    /// [`HEAD_CACHE`] old.
    fn head(&self) -> (u64, u64) {
        let mut cached = self.head.lock();
        if let Some((at, head, ended_at)) = *cached
            && at.elapsed() < HEAD_CACHE
        {
            return (head, ended_at);
        }
        let head = self.db.head_number().ok().flatten().unwrap_or_default();
        let ended_at = BlockExecutor::settlement_of(&self.db, head).map(|r| r.ended_at).unwrap_or_default();
        *cached = Some((Instant::now(), head, ended_at));
        (head, ended_at)
    }

    /// The L2 block that ended the layer, once executed here.
    pub fn ended_at(&self) -> Option<u64> {
        let (_, ended_at) = self.head();
        (ended_at != 0).then_some(ended_at)
    }

    /// The L1 block the owner closed the layer in, once confirmed here.
    pub fn closed_at(&self) -> Option<u64> {
        self.watcher.as_ref().and_then(L1Watcher::closed_at)
    }

    /// Why the layer takes no more transactions, if it does not.
    pub fn closed_reason(&self) -> Option<String> {
        if let Some(block) = self.ended_at() {
            return Some(format!("the layer ended at block {block}"));
        }
        if let Some(block) = self.closed_at() {
            return Some(format!("the layer's owner closed it on L1 (block {block})"));
        }
        if let Some(end) = self.end_time
            && now_secs() >= end
        {
            return Some(format!("the layer's deadline ({end}, Unix time) has passed"));
        }
        if let Some(end) = self.end_block {
            // The end block itself carries no transactions.
            let (head, _) = self.head();
            if head + 1 >= end {
                return Some(format!("the layer ends at block {end}"));
            }
        }
        None
    }

    /// Seconds until the deadline (0 once passed; `None` without a deadline).
    pub fn time_left(&self) -> Option<u64> {
        self.end_time.map(|end| end.saturating_sub(now_secs()))
    }

    /// The phase, given the settlement status (`None` on a layer without an L1).
    pub fn phase(&self, settlement: Option<&SettlementStatus>) -> Phase {
        if settlement.is_some_and(|s| s.settled) {
            return Phase::Settled;
        }
        if self.closed_reason().is_some() {
            return Phase::Closing;
        }
        match self.head() {
            (0, _) => Phase::Starting,
            _ => Phase::Live,
        }
    }
}
