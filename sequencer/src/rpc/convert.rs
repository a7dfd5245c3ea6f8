//! Stored blocks, transactions and receipts as alloy RPC types.

use alloy::{
    consensus::{ReceiptEnvelope, Transaction as _, TxEnvelope, transaction::Recovered},
    primitives::{Address, U256},
    rlp::Encodable,
    rpc::types::{Block, BlockTransactions, Header as RpcHeader, Log, Transaction, TransactionReceipt},
};
use flashlayer_storage::StoredBlock;

/// Price per gas a transaction actually paid in a block with `base_fee`.
pub fn effective_gas_price(tx: &TxEnvelope, base_fee: u64) -> u128 {
    tx.effective_gas_price(Some(base_fee))
}

/// An included transaction.
pub fn transaction(block: &StoredBlock, index: usize) -> Transaction {
    let tx = &block.transactions[index];
    let base_fee = block.header.base_fee_per_gas.unwrap_or_default();
    Transaction {
        inner: Recovered::new_unchecked(tx.clone(), block.senders[index]),
        block_hash: Some(block.hash),
        block_number: Some(block.header.number),
        transaction_index: Some(index as u64),
        effective_gas_price: Some(effective_gas_price(tx, base_fee)),
        block_timestamp: Some(block.header.timestamp),
    }
}

/// A pooled (not yet included) transaction.
pub fn pending_transaction(tx: TxEnvelope, sender: Address) -> Transaction {
    Transaction {
        inner: Recovered::new_unchecked(tx, sender),
        block_hash: None,
        block_number: None,
        transaction_index: None,
        effective_gas_price: None,
        block_timestamp: None,
    }
}

/// A block with transaction hashes or full transactions.
pub fn block(block: &StoredBlock, full: bool) -> Block {
    let transactions = if full {
        BlockTransactions::Full((0..block.transactions.len()).map(|i| transaction(block, i)).collect())
    } else {
        BlockTransactions::Hashes(block.transactions.iter().map(|tx| *tx.tx_hash()).collect())
    };
    let size = block.header.length() + block.transactions.iter().map(|tx| tx.length()).sum::<usize>() + 8;
    Block {
        header: RpcHeader {
            hash: block.hash,
            inner: block.header.clone(),
            total_difficulty: Some(U256::ZERO),
            size: Some(U256::from(size)),
        },
        uncles: vec![],
        transactions,
        withdrawals: Some(Default::default()),
    }
}

/// The logs of one receipt with their positions, `first_log_index` being the block-wide
/// index of its first log.
pub fn receipt_logs(
    block: &StoredBlock,
    index: usize,
    receipt: &ReceiptEnvelope,
    first_log_index: usize,
) -> Vec<Log> {
    receipt
        .logs()
        .iter()
        .enumerate()
        .map(|(i, log)| Log {
            inner: log.clone(),
            block_hash: Some(block.hash),
            block_number: Some(block.header.number),
            block_timestamp: Some(block.header.timestamp),
            transaction_hash: Some(*block.transactions[index].tx_hash()),
            transaction_index: Some(index as u64),
            log_index: Some((first_log_index + i) as u64),
            removed: false,
        })
        .collect()
}

/// Every log of a block, positioned.
pub fn block_logs(block: &StoredBlock, receipts: &[ReceiptEnvelope]) -> Vec<Log> {
    let mut next = 0;
    let mut out = Vec::new();
    for (i, receipt) in receipts.iter().enumerate() {
        let logs = receipt_logs(block, i, receipt, next);
        next += logs.len();
        out.extend(logs);
    }
    out
}

/// The receipt of the transaction at `index`.
pub fn receipt(block: &StoredBlock, receipts: &[ReceiptEnvelope], index: usize) -> TransactionReceipt {
    let tx = &block.transactions[index];
    let r = &receipts[index];
    let previous_cumulative = index.checked_sub(1).map(|i| receipts[i].cumulative_gas_used()).unwrap_or(0);
    let first_log_index: usize = receipts[..index].iter().map(|r| r.logs().len()).sum();
    let mut logs = receipt_logs(block, index, r, first_log_index).into_iter();
    let inner = r.clone().map_logs(|_| logs.next().expect("one positioned log per log"));
    let sender = block.senders[index];
    let contract_address = tx.to().is_none().then(|| sender.create(tx.nonce()));
    TransactionReceipt {
        inner,
        transaction_hash: *tx.tx_hash(),
        transaction_index: Some(index as u64),
        block_hash: Some(block.hash),
        block_number: Some(block.header.number),
        gas_used: r.cumulative_gas_used() - previous_cumulative,
        effective_gas_price: effective_gas_price(tx, block.header.base_fee_per_gas.unwrap_or_default()),
        blob_gas_used: None,
        blob_gas_price: None,
        from: sender,
        to: tx.to(),
        contract_address,
    }
}
