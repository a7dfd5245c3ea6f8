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
//!
//! A second task reads the settlement record an explorer shows, up to the same confirmed
//! block: every `BatchAccepted` (with its L1 transaction and time) and the exits once the layer
//! ends (`Claimed`, `Escaped`, `DepositRefunded`, `MessageRelayed`), counted in full and the
//! most recent kept ([`L1Batch`], [`Exit`]). It has its own queries and cursor: nothing it
//! reads or fails to read holds up the deposits and membership changes consensus waits on.
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

/// A batch the contract accepted, as its `BatchAccepted` event and transaction show it
/// (serialized as `flash_batches` lists it).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct L1Batch {
    /// Batch index (1, 2, ...).
    pub index: u64,
    /// Its hash (the contract's batch hash).
    pub hash: B256,
    /// First L2 block it covers.
    pub first_block: u64,
    /// Last L2 block it covers.
    pub last_block: u64,
    /// The L2 state root after its last block.
    pub state_root: B256,
    /// The L1 block it was accepted in.
    pub l1_block: u64,
    /// The submitting transaction.
    pub l1_tx: B256,
    /// The L1 block's timestamp (the contract's `acceptedAt`), once known (logs may come
    /// without it; it is then read from the block, a few batches per poll).
    pub accepted_at: Option<u64>,
    /// Whether it was the final batch (`Settled` in the same transaction).
    pub final_batch: bool,
}

/// What an [`Exit`] paid (serialized as its lowercase name: `claim`, `escape`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExitKind {
    /// `claim`/`claimTo`: a final balance.
    Claim,
    /// `escape`/`escapeTo`: a balance proved against the last good batch.
    Escape,
    /// `refundDeposit`: a deposit L2 never credited.
    Refund,
    /// `relayMessage`: an L2->L1 message (a withdrawal or a call).
    Relay,
}

/// One payment out of the bridge on L1 (serialized as `flash_claims` lists it).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Exit {
    /// What paid it.
    pub kind: ExitKind,
    /// The L2 account it is for (a relay: the message's target).
    pub account: Address,
    /// Who was paid, when not the account (escapes; claims to a recipient show the account).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payee: Option<Address>,
    /// Wei paid.
    pub amount: U256,
    /// The L1 block it was paid in.
    pub l1_block: u64,
    /// The transaction.
    pub l1_tx: B256,
}

/// Exits kept in full for the explorer; older ones are only counted.
pub const RECENT_EXITS: usize = 512;
/// Accepted batches kept for the explorer (the newest); older ones are only counted.
pub const RECENT_BATCHES: usize = 1_000;
/// Acceptance times read from L1 block headers per poll, at most.
const STAMPS_PER_POLL: usize = 32;

/// The bridge's payments so far, by kind: (count, wei).
pub type ExitTotals = BTreeMap<ExitKind, (u64, U256)>;

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
    /// The newest accepted batches by index (at most [`RECENT_BATCHES`]), as of the confirmed
    /// block.
    batches: BTreeMap<u64, L1Batch>,
    /// The most recent exits, oldest first (at most [`RECENT_EXITS`]).
    exits: std::collections::VecDeque<Exit>,
    exit_totals: ExitTotals,
    /// The contract's challenge window (seconds), read once.
    challenge_window: Option<u64>,
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
        // The settlement record: its own task, so that nothing it does holds up the poll below.
        let (record_provider, record_config, view) = (provider.clone(), config.clone(), watcher.view.clone());
        tokio::spawn(async move {
            let mut scanned = record_config.deployed_at.saturating_sub(1);
            loop {
                if let Err(e) = poll_record(&record_provider, &record_config, &view, &mut scanned).await {
                    tracing::debug!(error = %e, "L1 watcher: reading the settlement record failed; retrying");
                }
                tokio::time::sleep(record_config.poll.max(Duration::from_secs(1))).await;
            }
        });
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

    /// Membership changes announced on L1 (confirmed) up to nonce `applied`, the ones the
    /// chain has applied, in order (for the sequencer set `flash_status` lists).
    pub fn applied_membership(&self, applied: u64) -> Vec<MembershipChange> {
        let view = self.view.read();
        view.membership.range(..=applied).map(|(_, (c, _, _))| c.clone()).collect()
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

    /// Accepted batches, newest first, at most `limit`.
    pub fn batches(&self, limit: usize) -> Vec<L1Batch> {
        self.view.read().batches.values().rev().take(limit).cloned().collect()
    }

    /// How many batches the contract accepted (as of the confirmed block; they are numbered
    /// 1, 2, ...).
    pub fn batch_count(&self) -> u64 {
        self.view.read().batches.last_key_value().map_or(0, |(index, _)| *index)
    }

    /// Exits paid on L1, newest first, at most `limit` (of the last [`RECENT_EXITS`]), and
    /// the totals of all of them.
    pub fn exits(&self, limit: usize) -> (Vec<Exit>, ExitTotals) {
        let view = self.view.read();
        (view.exits.iter().rev().take(limit).cloned().collect(), view.exit_totals.clone())
    }

    /// The contract's challenge window in seconds, once read.
    pub fn challenge_window(&self) -> Option<u64> {
        self.view.read().challenge_window
    }

    /// The timestamp of the newest confirmed L1 block known here.
    pub fn l1_time(&self) -> Option<u64> {
        self.view.read().hashes.last_key_value().map(|(_, (_, _, time))| *time)
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

/// Reads the settlement record up to the main task's confirmed block, range by range: each
/// range joins the view and moves `scanned` past it together, so a failure re-reads only what
/// was not taken (no exit is counted twice). Then fills in a few missing acceptance times.
async fn poll_record(
    provider: &DynProvider,
    config: &WatcherConfig,
    view: &RwLock<View>,
    scanned: &mut u64,
) -> Result<(), alloy::contract::Error> {
    let contract = FlashLayer::new(config.contract, provider.clone());
    if view.read().challenge_window.is_none() {
        let window = contract.challengeWindow().call().await?;
        view.write().challenge_window = Some(window);
    }
    let Some(confirmed) = view.read().confirmed.map(|c| c.number) else { return Ok(()) };
    while *scanned < confirmed {
        let (start, end) = (*scanned + 1, (*scanned + LOG_RANGE).min(confirmed));
        let filter = Filter::new()
            .address(config.contract)
            .event_signature(vec![
                FlashLayer::BatchAccepted::SIGNATURE_HASH,
                FlashLayer::Settled::SIGNATURE_HASH,
                FlashLayer::Claimed::SIGNATURE_HASH,
                FlashLayer::Escaped::SIGNATURE_HASH,
                FlashLayer::DepositRefunded::SIGNATURE_HASH,
                FlashLayer::MessageRelayed::SIGNATURE_HASH,
            ])
            .from_block(start)
            .to_block(end);
        let mut record = Record::default();
        for log in provider.get_logs(&filter).await? {
            let block = log.block_number.unwrap_or(end);
            record.take(&log, block);
        }
        record.apply(&mut view.write());
        *scanned = end;
    }
    // Acceptance times the logs did not carry: from the recent hashes, else the block header,
    // newest batches first and a few per poll.
    let missing: Vec<(u64, u64)> = view
        .read()
        .batches
        .values()
        .rev()
        .filter(|b| b.accepted_at.is_none())
        .take(STAMPS_PER_POLL)
        .map(|b| (b.index, b.l1_block))
        .collect();
    for (index, l1_block) in missing {
        let known = view.read().hashes.get(&l1_block).map(|(_, _, time)| *time);
        let time = match known {
            Some(time) => Some(time),
            None => provider
                .get_block_by_number(BlockNumberOrTag::Number(l1_block))
                .await?
                .map(|b| b.header.timestamp),
        };
        if let Some(batch) = view.write().batches.get_mut(&index).filter(|b| b.l1_block == l1_block) {
            batch.accepted_at = time;
        }
    }
    Ok(())
}

/// The settlement record found in one `eth_getLogs` range, before it joins the view.
#[derive(Debug, Default)]
struct Record {
    batches: Vec<L1Batch>,
    /// Indices of final batches (`Settled`).
    settled: Vec<u64>,
    exits: Vec<Exit>,
}

impl Record {
    /// Takes `log` if it is part of the settlement record (`true`), else leaves it.
    fn take(&mut self, log: &alloy::rpc::types::Log, block: u64) -> bool {
        let tx = log.transaction_hash.unwrap_or_default();
        let exit =
            |kind, account, payee, amount| Exit { kind, account, payee, amount, l1_block: block, l1_tx: tx };
        let Some(topic) = log.topic0() else { return false };
        let taken = match *topic {
            FlashLayer::BatchAccepted::SIGNATURE_HASH => FlashLayer::BatchAccepted::decode_log(&log.inner)
                .map(|e| {
                    self.batches.push(L1Batch {
                        index: e.index,
                        hash: e.batchHash,
                        first_block: e.firstBlock,
                        last_block: e.lastBlock,
                        state_root: e.stateRoot,
                        l1_block: block,
                        l1_tx: tx,
                        accepted_at: log.block_timestamp,
                        final_batch: false,
                    })
                }),
            FlashLayer::Settled::SIGNATURE_HASH => {
                FlashLayer::Settled::decode_log(&log.inner).map(|e| self.settled.push(e.index))
            }
            FlashLayer::Claimed::SIGNATURE_HASH => FlashLayer::Claimed::decode_log(&log.inner)
                .map(|e| self.exits.push(exit(ExitKind::Claim, e.account, None, e.amount))),
            FlashLayer::Escaped::SIGNATURE_HASH => FlashLayer::Escaped::decode_log(&log.inner).map(|e| {
                let payee = (e.payee != e.account).then_some(e.payee);
                self.exits.push(exit(ExitKind::Escape, e.account, payee, e.amount))
            }),
            FlashLayer::DepositRefunded::SIGNATURE_HASH => {
                FlashLayer::DepositRefunded::decode_log(&log.inner)
                    .map(|e| self.exits.push(exit(ExitKind::Refund, e.from, None, e.amount)))
            }
            FlashLayer::MessageRelayed::SIGNATURE_HASH => FlashLayer::MessageRelayed::decode_log(&log.inner)
                .map(|e| self.exits.push(exit(ExitKind::Relay, e.target, None, e.value))),
            _ => return false,
        };
        if let Err(e) = taken {
            tracing::warn!(error = %e, "L1 watcher: undecodable settlement log");
        }
        true
    }

    /// Adds the record to the view. A batch index seen again (resubmitted after an L1
    /// reorganisation) takes the newer record.
    fn apply(self, view: &mut View) {
        for batch in self.batches {
            tracing::debug!(index = batch.index, l1_tx = %batch.l1_tx, "L1 watcher: batch accepted");
            view.batches.insert(batch.index, batch);
            while view.batches.len() > RECENT_BATCHES {
                view.batches.pop_first();
            }
        }
        for index in self.settled {
            if let Some(batch) = view.batches.get_mut(&index) {
                batch.final_batch = true;
            }
        }
        for exit in self.exits {
            let total = view.exit_totals.entry(exit.kind).or_default();
            total.0 += 1;
            total.1 = total.1.saturating_add(exit.amount);
            view.exits.push_back(exit);
            if view.exits.len() > RECENT_EXITS {
                view.exits.pop_front();
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::address;

    fn log(event: &impl SolEvent, block: u64, tx: u8, timestamp: Option<u64>) -> alloy::rpc::types::Log {
        alloy::rpc::types::Log {
            inner: alloy::primitives::Log {
                address: address!("0x00000000000000000000000000000000000000aa"),
                data: event.encode_log_data(),
            },
            block_number: Some(block),
            block_timestamp: timestamp,
            transaction_hash: Some(B256::repeat_byte(tx)),
            ..Default::default()
        }
    }

    fn accepted(index: u64) -> FlashLayer::BatchAccepted {
        FlashLayer::BatchAccepted {
            index,
            batchHash: B256::repeat_byte(index as u8),
            firstBlock: index * 10 - 9,
            lastBlock: index * 10,
            lastBlockHash: B256::ZERO,
            stateRoot: B256::repeat_byte((index as u8).wrapping_add(0x50)),
            messagesRoot: B256::ZERO,
            txDataHash: B256::ZERO,
        }
    }

    #[test]
    fn the_record_keeps_batches_by_index_and_counts_every_exit() {
        let mut view = View::default();
        let mut record = Record::default();
        let alice = address!("0x00000000000000000000000000000000000000a1");
        let bob = address!("0x00000000000000000000000000000000000000b0");
        let deposit = FlashLayer::Deposit { nonce: 1, from: alice, to: alice, amount: U256::from(5) };
        assert!(!record.take(&log(&deposit, 9, 1, None), 9), "deposits are not the record's");
        assert!(record.take(&log(&accepted(1), 10, 2, Some(1_000)), 10));
        assert!(record.take(&log(&accepted(2), 12, 3, Some(1_024)), 12));
        assert!(
            record.take(&log(&FlashLayer::Settled { index: 2, balancesRoot: B256::ZERO }, 12, 3, None), 12)
        );
        record.apply(&mut view);
        let batches: Vec<&L1Batch> = view.batches.values().collect();
        assert_eq!(batches.len(), 2);
        assert_eq!(
            (batches[1].index, batches[1].first_block, batches[1].last_block, batches[1].l1_block),
            (2, 11, 20, 12)
        );
        assert_eq!((batches[1].l1_tx, batches[1].accepted_at), (B256::repeat_byte(3), Some(1_024)));
        assert!(batches[1].final_batch && !batches[0].final_batch);

        // Batch 2 resubmitted after an L1 reorganisation: the newer record replaces it.
        let mut record = Record::default();
        record.take(&log(&accepted(2), 15, 4, Some(1_060)), 15);
        // More exits than are kept: all counted, the newest kept.
        for i in 0..RECENT_EXITS as u64 + 10 {
            record
                .take(&log(&FlashLayer::Claimed { account: alice, amount: U256::from(i) }, 16, 5, None), 16);
        }
        let escaped =
            FlashLayer::Escaped { account: bob, payee: alice, batchIndex: 1, amount: U256::from(7) };
        record.take(&log(&escaped, 17, 6, None), 17);
        record.apply(&mut view);
        assert_eq!(view.batches[&2].l1_tx, B256::repeat_byte(4));
        assert_eq!(view.batches.len(), 2);
        let n = RECENT_EXITS as u64 + 10;
        assert_eq!(view.exit_totals[&ExitKind::Claim], (n, U256::from(n * (n - 1) / 2)));
        assert_eq!(view.exit_totals[&ExitKind::Escape], (1, U256::from(7)));
        assert_eq!(view.exits.len(), RECENT_EXITS);
        let last = view.exits.back().unwrap();
        assert_eq!((last.kind, last.account, last.payee), (ExitKind::Escape, bob, Some(alice)));

        // Only the newest batches are kept; the count is the newest index.
        let mut record = Record::default();
        for index in 3..=RECENT_BATCHES as u64 + 5 {
            record.take(&log(&accepted(index), 20 + index, 7, None), 20 + index);
        }
        record.apply(&mut view);
        assert_eq!(view.batches.len(), RECENT_BATCHES);
        assert_eq!(*view.batches.first_key_value().unwrap().0, 6);
        assert_eq!(view.batches[&(RECENT_BATCHES as u64 + 5)].accepted_at, None, "read later from L1");
    }
}
