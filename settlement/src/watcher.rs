//! The L1 watcher: follows the layer's `FlashLayer` contract on L1.
//!
//! One task polls the L1 every [`WatcherConfig::poll`]:
//! - the newest block `confirmations` deep is the node's **confirmed L1 view**: its number and
//!   hash (consensus payloads name it as their L1 origin), and every `Deposit` event up to it,
//!   which the leader puts into payloads and validators check proposals against;
//! - every `MembershipChanged` (an operator joining or leaving, approved on L1) up to it, which
//!   the leader puts into payloads like deposits;
//! - whether the owner closed the layer (`closedAt`) as of the confirmed block: a block whose
//!   L1 origin is at or past the close ends the layer;
//! - the contract's settlement state: the last accepted batch at the latest L1 block (what the
//!   submitter builds on; `safe` on L2) and at the L1 `finalized` block (`finalized` on L2), and
//!   whether that batch settled the layer.
//!
//! A deposit seen confirmed is treated as final (pick `confirmations` for the L1 at hand; 0-2
//! on a devnet). An L1 reorganisation deeper than that can make L2 credit a deposit that L1 no
//! longer has: batches commit to the running hash of the credited deposits, which the contract
//! checks against its own, so such a batch never lands and no unbacked ETH can leave the bridge
//! (settlement stops instead, which an operator sees as `WrongDepositsHash`).
//!
//! A membership change becomes usable at the first confirmed L1 block whose timestamp has
//! reached its `effectiveAt` (the contract's announcement plus its membership delay): L1
//! facts, so every node decides the same.

use crate::bindings::FlashLayer;
use alloy::{
    eips::BlockNumberOrTag,
    primitives::{Address, B256, U256},
    providers::{DynProvider, Provider},
    rpc::types::Filter,
    sol_types::SolEvent,
};
use flashlayer_execution::{Deposit, L1Origin, MembershipChange};
use parking_lot::RwLock;
use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};

/// Where the layer's contract is and how to follow it.
#[derive(Debug, Clone)]
pub struct WatcherConfig {
    /// The FlashLayer contract.
    pub contract: Address,
    /// L1 block it was deployed in: deposits are scanned from here.
    pub deployed_at: u64,
    /// How many L1 blocks deep a block must be to count.
    pub confirmations: u64,
    /// Time between polls.
    pub poll: Duration,
    /// Consensus keys of the members the layer was created with (settlement address ->
    /// key): the contract records keys only for operators that joined later, so a departure
    /// of an initial member names its key from here.
    pub initial_keys: Vec<(Address, B256)>,
}

/// The contract's last accepted batch as of some L1 block.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Settled {
    /// Index of the last accepted batch (0: none yet).
    pub batch_index: u64,
    /// Its hash.
    pub batch_hash: B256,
    /// The last L2 block it covers.
    pub l2_block: u64,
    /// Whether that batch was the final one (the layer is settled).
    pub final_batch: bool,
    /// The contract's signer-set epoch.
    pub epoch: u64,
    /// The first disputed batch (0: none): it and every later one never pay out.
    pub disputed_from: u64,
    /// Whether accounts may escape now (the contract's `escapeStatus`).
    pub escape_open: bool,
    /// The batch they escape with (the batch before `disputed_from`, or the last one).
    pub escape_batch: u64,
    /// When the escape opens, L1 Unix time (`u64::MAX`: not while the layer is live, or once
    /// the final batch landed undisputed).
    pub escape_opens_at: u64,
}

/// What the watcher knows, shared with consensus, RPC and the submitter.
#[derive(Debug, Default)]
struct View {
    confirmed: Option<L1Origin>,
    /// Hashes of recent confirmed L1 blocks (to check other leaders' origins), when this node
    /// learned each, and their L1 timestamps.
    hashes: BTreeMap<u64, (B256, Instant, u64)>,
    /// Deposit nonce -> (deposit, L1 block).
    deposits: BTreeMap<u64, (Deposit, u64)>,
    /// L1 block in which the owner closed the layer, as of the confirmed block.
    closed_at: Option<u64>,
    /// Membership nonce -> (change, L1 block, L1 timestamp from which it applies).
    membership: BTreeMap<u64, (MembershipChange, u64, u64)>,
    latest: Settled,
    finalized: Settled,
    last_poll: Option<Instant>,
    last_error: Option<String>,
}

/// How long a confirmed L1 block must have been known here before this node, as leader, names
/// it as a payload's origin. Every validator polls on its own schedule; naming a block the
/// moment it is confirmed here would have the others refuse the proposal until their next poll
/// (and the view time out). Several poll periods make that rare.
const ORIGIN_SETTLE: Duration = Duration::from_millis(1_500);

/// How many recent L1 block hashes are kept for origin checks.
const HASH_WINDOW: u64 = 1024;
/// Largest block range per `eth_getLogs`.
const LOG_RANGE: u64 = 5_000;

/// Handle to the watcher's view. Cheap to clone.
#[derive(Debug, Clone)]
pub struct L1Watcher {
    view: Arc<RwLock<View>>,
}

impl L1Watcher {
    /// Starts following `config.contract` on `provider` (on the current tokio runtime).
    pub fn spawn(provider: DynProvider, config: WatcherConfig) -> Self {
        let watcher = Self { view: Arc::new(RwLock::new(View::default())) };
        let view = watcher.view.clone();
        tokio::spawn(async move {
            let mut scanned = config.deployed_at.saturating_sub(1);
            loop {
                match poll(&provider, &config, &view, &mut scanned).await {
                    Ok(()) => view.write().last_error = None,
                    Err(e) => {
                        tracing::warn!(error = %e, "L1 watcher: poll failed; retrying");
                        view.write().last_error = Some(e.to_string());
                    }
                }
                tokio::time::sleep(config.poll).await;
            }
        });
        watcher
    }

    /// The confirmed L1 view: newest confirmed block, if any poll succeeded yet.
    pub fn confirmed(&self) -> Option<L1Origin> {
        self.view.read().confirmed
    }

    /// The origin for a new payload (the newest confirmed L1 block known here for a while,
    /// see `ORIGIN_SETTLE`) numbered at most `highest`, and up to `max` deposits after nonce
    /// `after` that it confirms.
    pub fn next_deposits(&self, after: u64, max: usize, highest: u64) -> (L1Origin, Vec<Deposit>) {
        let view = self.view.read();
        let Some(origin) = view
            .hashes
            .range(..=highest)
            .rev()
            .find(|(_, (_, learned, _))| learned.elapsed() >= ORIGIN_SETTLE)
            .map(|(number, (hash, _, _))| L1Origin { number: *number, hash: *hash })
        else {
            return (L1Origin::default(), Vec::new());
        };
        // Only a gapless run (the contract numbers deposits 1, 2, 3, ...) of deposits in blocks
        // the origin confirms.
        let deposits = (after + 1..)
            .zip(view.deposits.range(after + 1..).take(max))
            .take_while(|(expected, (nonce, (_, block)))| expected == *nonce && *block <= origin.number)
            .map(|(_, (_, (deposit, _)))| deposit.clone())
            .collect();
        (origin, deposits)
    }

    /// The next sequencer-set change after nonce `after` that `origin` confirms and whose
    /// membership delay has passed by `origin`'s timestamp, if any.
    pub fn next_membership(&self, after: u64, origin: &L1Origin) -> Option<MembershipChange> {
        let view = self.view.read();
        let (change, block, effective_at) = view.membership.get(&(after + 1))?;
        let (_, _, origin_time) = view.hashes.get(&origin.number)?;
        (*block <= origin.number && effective_at <= origin_time).then(|| change.clone())
    }

    /// Checks another leader's sequencer-set change against this node's view.
    pub fn verify_membership(&self, origin: &L1Origin, change: &MembershipChange) -> Result<(), String> {
        let view = self.view.read();
        let Some((_, _, origin_time)) = view.hashes.get(&origin.number) else {
            return Err(format!("L1 block {} is outside this node's recent L1 view", origin.number));
        };
        match view.membership.get(&change.nonce) {
            Some((seen, block, effective_at)) if seen == change && *block <= origin.number => {
                if effective_at > origin_time {
                    return Err(format!(
                        "membership change {} applies from L1 time {effective_at}, origin {} is at {origin_time}",
                        change.nonce, origin.number
                    ));
                }
                Ok(())
            }
            Some((seen, _, _)) if seen == change => {
                Err(format!("membership change {} is after L1 origin {}", change.nonce, origin.number))
            }
            Some(_) => Err(format!("membership change {} differs from this node's L1 view", change.nonce)),
            None => Err(format!("membership change {} not seen on L1 by this node", change.nonce)),
        }
    }

    /// Membership changes announced on L1 (confirmed) and not yet applied by the chain past
    /// nonce `applied`: (change, L1 timestamp from which it applies), for `flashlayer status`.
    pub fn pending_membership(&self, applied: u64) -> Vec<(MembershipChange, u64)> {
        let view = self.view.read();
        view.membership.range(applied + 1..).map(|(_, (c, _, at))| (c.clone(), *at)).collect()
    }

    /// Checks another leader's origin and deposits against this node's view.
    pub fn verify(&self, origin: &L1Origin, deposits: &[Deposit]) -> Result<(), String> {
        let view = self.view.read();
        let confirmed = view.confirmed.ok_or("this node has no confirmed L1 view yet")?;
        if origin.number > confirmed.number {
            return Err(format!(
                "L1 origin {} is ahead of this node's confirmed L1 {}",
                origin.number, confirmed.number
            ));
        }
        match view.hashes.get(&origin.number) {
            Some((hash, _, _)) if *hash == origin.hash => {}
            Some((hash, _, _)) => {
                return Err(format!("L1 block {} is {hash}, not {}", origin.number, origin.hash));
            }
            None => return Err(format!("L1 block {} is outside this node's recent L1 view", origin.number)),
        }
        for deposit in deposits {
            match view.deposits.get(&deposit.nonce) {
                Some((seen, block)) if seen == deposit && *block <= origin.number => {}
                Some((seen, _)) if seen == deposit => {
                    return Err(format!("deposit {} is after L1 origin {}", deposit.nonce, origin.number));
                }
                Some(_) => return Err(format!("deposit {} differs from this node's L1 view", deposit.nonce)),
                None => return Err(format!("deposit {} not seen on L1 by this node", deposit.nonce)),
            }
        }
        Ok(())
    }

    /// The L1 block in which the owner closed the layer, once that block is confirmed.
    pub fn closed_at(&self) -> Option<u64> {
        self.view.read().closed_at
    }

    /// The last accepted batch at the latest L1 block.
    pub fn settled(&self) -> Settled {
        self.view.read().latest
    }

    /// The last accepted batch at the L1 `finalized` block.
    pub fn finalized(&self) -> Settled {
        self.view.read().finalized
    }

    /// The last poll error, if the last poll failed.
    pub fn last_error(&self) -> Option<String> {
        self.view.read().last_error.clone()
    }

    /// Time since the last successful poll.
    pub fn since_last_poll(&self) -> Option<Duration> {
        self.view.read().last_poll.map(|t| t.elapsed())
    }
}

async fn poll(
    provider: &DynProvider,
    config: &WatcherConfig,
    view: &RwLock<View>,
    scanned: &mut u64,
) -> Result<(), alloy::contract::Error> {
    let latest = provider.get_block_number().await?;
    let confirmed = latest.saturating_sub(config.confirmations);
    if confirmed > *scanned || view.read().confirmed.is_none() {
        let from = (*scanned + 1).min(confirmed);
        let mut start = from;
        while start <= confirmed {
            let end = (start + LOG_RANGE - 1).min(confirmed);
            // Deposits and membership changes in one query, told apart by their topic.
            let filter = Filter::new()
                .address(config.contract)
                .event_signature(vec![
                    FlashLayer::Deposit::SIGNATURE_HASH,
                    FlashLayer::MembershipChanged::SIGNATURE_HASH,
                ])
                .from_block(start)
                .to_block(end);
            let mut fresh = Vec::new();
            let mut changes = Vec::new();
            for log in provider.get_logs(&filter).await? {
                let block = log.block_number.unwrap_or(end);
                if log.topic0() == Some(&FlashLayer::Deposit::SIGNATURE_HASH) {
                    match FlashLayer::Deposit::decode_log(&log.inner) {
                        Ok(event) => fresh.push((
                            Deposit {
                                nonce: event.nonce,
                                from: event.from,
                                to: event.to,
                                amount: event.amount,
                            },
                            block,
                        )),
                        Err(e) => tracing::warn!(error = %e, "L1 watcher: undecodable Deposit log"),
                    }
                    continue;
                }
                match FlashLayer::MembershipChanged::decode_log(&log.inner) {
                    Ok(event) => {
                        let mut consensus_key = event.consensusKey;
                        if consensus_key.is_zero()
                            && let Some((_, key)) =
                                config.initial_keys.iter().find(|(a, _)| *a == event.operator)
                        {
                            consensus_key = *key;
                        }
                        changes.push((
                            MembershipChange {
                                nonce: event.nonce,
                                operator: event.operator,
                                consensus_key,
                                joining: event.joining,
                            },
                            block,
                            event.effectiveAt,
                        ));
                    }
                    Err(e) => tracing::warn!(error = %e, "L1 watcher: undecodable MembershipChanged log"),
                }
            }
            let mut v = view.write();
            for (deposit, block) in fresh {
                tracing::info!(nonce = deposit.nonce, to = %deposit.to, amount = %deposit.amount, l1_block = block, "L1 deposit confirmed");
                v.deposits.insert(deposit.nonce, (deposit, block));
            }
            for (change, block, effective_at) in changes {
                tracing::info!(nonce = change.nonce, operator = %change.operator, joining = change.joining, l1_block = block, effective_at, "L1 membership change confirmed");
                v.membership.insert(change.nonce, (change, block, effective_at));
            }
            drop(v);
            start = end + 1;
        }
        // Whether the owner closed the layer as of the confirmed block: read before its hash is
        // published below, so whoever names an origin past the close knows of the close.
        let contract = FlashLayer::new(config.contract, provider.clone());
        let closed_at = contract.closedAt().block(BlockNumberOrTag::Number(confirmed).into()).call().await?;
        if closed_at != 0 && view.read().closed_at.is_none() {
            tracing::info!(l1_block = closed_at, "L1 watcher: the owner closed the layer");
        }
        // Hashes of the newly confirmed blocks (the recent ones), for origin checks.
        let first_hash = from.max(confirmed.saturating_sub(HASH_WINDOW - 1));
        let mut hashes = Vec::new();
        for number in first_hash..=confirmed {
            if view.read().hashes.contains_key(&number) {
                continue;
            }
            if let Some(block) = provider.get_block_by_number(BlockNumberOrTag::Number(number)).await? {
                hashes.push((number, (block.header.hash, Instant::now(), block.header.timestamp)));
            }
        }
        let mut v = view.write();
        if closed_at != 0 {
            v.closed_at = Some(closed_at);
        }
        v.hashes.extend(hashes);
        while v.hashes.len() as u64 > HASH_WINDOW {
            v.hashes.pop_first();
        }
        if let Some((hash, _, _)) = v.hashes.get(&confirmed).copied() {
            v.confirmed = Some(L1Origin { number: confirmed, hash });
        }
        *scanned = confirmed;
    }

    let contract = FlashLayer::new(config.contract, provider.clone());
    let latest_settled = settled_at(&contract, BlockNumberOrTag::Latest).await?;
    // Not every L1 serves a `finalized` block (or it may predate the contract): then nothing
    // is finalized yet.
    let finalized = settled_at(&contract, BlockNumberOrTag::Finalized).await.unwrap_or_default();
    let mut v = view.write();
    if latest_settled.disputed_from != 0 && v.latest.disputed_from != latest_settled.disputed_from {
        tracing::error!(
            batch = latest_settled.disputed_from,
            "L1 watcher: a watcher DISPUTED batch {} on L1: it and every later batch never pay out, the layer takes no more batches, and accounts escape with their balances in batch {}",
            latest_settled.disputed_from,
            latest_settled.disputed_from - 1
        );
    }
    v.latest = latest_settled;
    v.finalized = finalized;
    v.last_poll = Some(Instant::now());
    Ok(())
}

async fn settled_at(
    contract: &FlashLayer::FlashLayerInstance<DynProvider>,
    at: BlockNumberOrTag,
) -> Result<Settled, alloy::contract::Error> {
    let batch_index = contract.lastBatchIndex().block(at.into()).call().await?;
    let batch_hash = contract.lastBatchHash().block(at.into()).call().await?;
    let l2_block = contract.lastBlock().block(at.into()).call().await?;
    let final_batch = contract.settled().block(at.into()).call().await?;
    let epoch = contract.epoch().block(at.into()).call().await?;
    // A contract from before disputes and the escape (a resumed development layer) has
    // neither: read as none, rather than stopping settlement.
    let disputed_from = contract.disputedFrom().block(at.into()).call().await.unwrap_or_default();
    let escape = match contract.escapeStatus().block(at.into()).call().await {
        Ok(escape) => escape,
        Err(_) => FlashLayer::escapeStatusReturn { open: false, index: batch_index, opensAt: U256::MAX },
    };
    Ok(Settled {
        batch_index,
        batch_hash,
        l2_block,
        final_batch,
        epoch,
        disputed_from,
        escape_open: escape.open,
        escape_batch: escape.index,
        escape_opens_at: escape.opensAt.saturating_to(),
    })
}
