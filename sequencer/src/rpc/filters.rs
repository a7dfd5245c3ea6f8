//! Log queries and installed filters (`eth_getLogs`, `eth_newFilter` and friends).

use super::{RpcContext, convert, error::RpcError};
use alloy::{
    consensus::ReceiptEnvelope,
    eips::BlockNumberOrTag,
    primitives::{B256, BlockNumber, U256},
    rpc::types::{Filter, FilterBlockOption, FilterChanges, Log},
};
use flashlayer_storage::StoredBlock;
use parking_lot::Mutex;
use std::{
    collections::HashMap,
    time::{Duration, Instant},
};
use tokio::sync::broadcast;

/// Widest block range one `eth_getLogs` may scan.
pub const MAX_BLOCK_RANGE: u64 = 100_000;
/// Most logs one query returns.
pub const MAX_LOGS: usize = 20_000;
/// A filter not polled for this long is removed, as geth does.
pub const FILTER_TIMEOUT: Duration = Duration::from_secs(300);

/// Logs of one block that match `filter`'s addresses and topics.
pub fn block_matches(filter: &Filter, block: &StoredBlock, receipts: &[ReceiptEnvelope]) -> Vec<Log> {
    if !filter.matches_bloom(block.header.logs_bloom) {
        return vec![];
    }
    convert::block_logs(block, receipts).into_iter().filter(|log| filter.matches(&log.inner)).collect()
}

/// Logs matching `filter` in blocks `from..=to`.
fn scan(ctx: &RpcContext, filter: &Filter, from: BlockNumber, to: BlockNumber) -> Result<Vec<Log>, RpcError> {
    if to >= from && to - from >= MAX_BLOCK_RANGE {
        return Err(RpcError::Limit(format!("query exceeds max block range {MAX_BLOCK_RANGE}")));
    }
    let mut out = Vec::new();
    for number in from..=to {
        let Some(header) = ctx.db.header(number)? else { break };
        if !filter.matches_bloom(header.logs_bloom) {
            continue;
        }
        let block = ctx.db.block(number)?.ok_or(RpcError::HeaderNotFound)?;
        let receipts = ctx.db.receipts(number)?.unwrap_or_default();
        out.extend(block_matches(filter, &block, &receipts));
        if out.len() > MAX_LOGS {
            return Err(RpcError::Limit(format!("query returned more than {MAX_LOGS} results")));
        }
    }
    Ok(out)
}

/// `eth_getLogs`.
pub fn query(ctx: &RpcContext, filter: &Filter) -> Result<Vec<Log>, RpcError> {
    match filter.block_option {
        FilterBlockOption::AtBlockHash(hash) => {
            let number = ctx.db.block_number(&hash)?.ok_or(RpcError::HeaderNotFound)?;
            scan(ctx, filter, number, number)
        }
        FilterBlockOption::Range { from_block, to_block } => {
            let head = ctx.head()?;
            let resolve = |tag: Option<BlockNumberOrTag>| -> Result<u64, RpcError> {
                Ok(ctx.resolve_number(tag.unwrap_or_default())?.unwrap_or(head).min(head))
            };
            let (from, to) = (resolve(from_block)?, resolve(to_block)?);
            if from > to {
                return Err(RpcError::InvalidParams("invalid block range params".into()));
            }
            scan(ctx, filter, from, to)
        }
    }
}

enum Kind {
    Logs(Box<Filter>),
    Blocks,
    Pending(broadcast::Receiver<B256>),
}

struct Installed {
    kind: Kind,
    /// Last block whose changes were returned.
    seen: BlockNumber,
    polled: Instant,
}

/// Filters installed by clients, polled with `eth_getFilterChanges`.
#[derive(Default)]
pub struct Filters {
    installed: Mutex<HashMap<U256, Installed>>,
}

impl std::fmt::Debug for Filters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Filters").field("installed", &self.installed.lock().len()).finish()
    }
}

impl Filters {
    fn install(&self, kind: Kind, seen: BlockNumber) -> U256 {
        let mut installed = self.installed.lock();
        installed.retain(|_, f| f.polled.elapsed() < FILTER_TIMEOUT);
        let id = U256::from(rand::random::<u128>());
        installed.insert(id, Installed { kind, seen, polled: Instant::now() });
        id
    }

    /// `eth_newFilter`: changes are logs from the next block on.
    pub fn new_logs(&self, ctx: &RpcContext, filter: Filter) -> Result<U256, RpcError> {
        Ok(self.install(Kind::Logs(Box::new(filter)), ctx.head()?))
    }

    /// `eth_newBlockFilter`.
    pub fn new_blocks(&self, ctx: &RpcContext) -> Result<U256, RpcError> {
        Ok(self.install(Kind::Blocks, ctx.head()?))
    }

    /// `eth_newPendingTransactionFilter`.
    pub fn new_pending(&self, ctx: &RpcContext) -> Result<U256, RpcError> {
        Ok(self.install(Kind::Pending(ctx.mempool.subscribe()), ctx.head()?))
    }

    /// `eth_uninstallFilter`.
    pub fn uninstall(&self, id: U256) -> bool {
        self.installed.lock().remove(&id).is_some()
    }

    /// `eth_getFilterChanges`.
    pub fn changes(&self, ctx: &RpcContext, id: U256) -> Result<FilterChanges, RpcError> {
        let head = ctx.head()?;
        let mut installed = self.installed.lock();
        let f = installed.get_mut(&id).ok_or(RpcError::FilterNotFound)?;
        f.polled = Instant::now();
        let from = f.seen + 1;
        let changes = match &mut f.kind {
            Kind::Logs(filter) => {
                let logs = if from <= head { scan(ctx, filter, from, head)? } else { vec![] };
                FilterChanges::Logs(logs)
            }
            Kind::Blocks => FilterChanges::Hashes(
                (from..=head).filter_map(|n| ctx.db.block_hash(n).ok().flatten()).collect(),
            ),
            Kind::Pending(rx) => {
                let mut hashes = Vec::new();
                loop {
                    match rx.try_recv() {
                        Ok(hash) => hashes.push(hash),
                        Err(broadcast::error::TryRecvError::Lagged(_)) => continue,
                        Err(_) => break,
                    }
                }
                FilterChanges::Hashes(hashes)
            }
        };
        f.seen = head.max(f.seen);
        Ok(changes)
    }

    /// `eth_getFilterLogs`: every log the filter matches, not only new ones.
    pub fn logs(&self, ctx: &RpcContext, id: U256) -> Result<Vec<Log>, RpcError> {
        let filter = {
            let mut installed = self.installed.lock();
            let f = installed.get_mut(&id).ok_or(RpcError::FilterNotFound)?;
            f.polled = Instant::now();
            match &f.kind {
                Kind::Logs(filter) => filter.as_ref().clone(),
                _ => return Err(RpcError::FilterNotFound),
            }
        };
        query(ctx, &filter)
    }
}
