//! Block execution: committed payload in, Ethereum block out.

use crate::{
    ChainConfig, Error, Payload, Result,
    messages::{BlockSettlement, L2_MESSAGE_PASSER, SentMessage},
    simulate::evm_env,
    state_root::{AccountChange, StateChanges, apply_changes},
};
use alloy::{
    consensus::{
        EMPTY_OMMER_ROOT_HASH, Header, Receipt, ReceiptEnvelope, ReceiptWithBloom, Transaction, TxEnvelope,
        proofs::{calculate_receipt_root, calculate_transaction_root},
        transaction::SignerRecoverable,
    },
    eips::{eip2718::Decodable2718, eip7685::EMPTY_REQUESTS_HASH},
    genesis::GenesisAccount,
    primitives::{Address, B256, Bloom, Bytes, U256, keccak256},
};
use alloy_evm::{Evm, EvmFactory, FromRecoveredTx, eth::EthEvmFactory};
use alloy_trie::{EMPTY_ROOT_HASH, KECCAK_EMPTY};
use flashlayer_storage::{Db, StateReader, StoredBlock, history::DEFAULT_HISTORY_BLOCKS};
use rayon::prelude::*;
use revm::{
    DatabaseCommit,
    context::TxEnv,
    context_interface::result::{EVMError, InvalidTransaction, ResultAndState},
    database::{AccountState, CacheDB},
};
use std::collections::HashMap;

/// Why a transaction in a committed payload was left out of the block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// Not a valid EIP-2718 transaction.
    Undecodable,
    /// The signature does not recover.
    BadSignature,
    /// Its nonce was already used.
    NonceTooLow,
    /// An earlier nonce of the sender is missing; it may fit a later block.
    NonceTooHigh,
    /// The block's gas is used up; it may fit a later block.
    BlockGasExhausted,
    /// Any other validity failure (funds, fee cap below base fee, gas below intrinsic, ...).
    Invalid(String),
}

impl SkipReason {
    /// A final skip means the transaction can never be included from here on and should leave
    /// every mempool; the others may still fit a later block.
    pub fn is_final(&self) -> bool {
        !matches!(self, Self::NonceTooHigh | Self::BlockGasExhausted)
    }
}

/// A transaction left out of a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedTx {
    /// Hash of the raw transaction bytes.
    pub hash: B256,
    /// Why.
    pub reason: SkipReason,
}

/// The outcome of executing one payload.
#[derive(Debug, Clone)]
pub struct ExecutedBlock {
    /// The block as stored.
    pub block: StoredBlock,
    /// One receipt per included transaction.
    pub receipts: Vec<ReceiptEnvelope>,
    /// Transactions of the payload that were not included.
    pub skipped: Vec<SkippedTx>,
    /// New nonce of every sender that had a transaction included.
    pub sender_nonces: HashMap<Address, u64>,
    /// Deposits credited, messages sent, L1 origin (also stored with the block).
    pub settlement: BlockSettlement,
    /// Time spent on the state root (trie work), part of the block's execution time.
    pub state_root_time: std::time::Duration,
}

/// Recovers the senders of `txs` in parallel (libsecp256k1 through alloy's `secp256k1`
/// backend); `None` where the signature is invalid.
pub fn recover_senders(txs: &[TxEnvelope]) -> Vec<Option<Address>> {
    txs.par_iter().map(|tx| tx.recover_signer().ok()).collect()
}

/// What the node's mempool knows of a block's transactions when it executes them.
pub trait KnownTxs: Sync {
    /// The sender, if the mempool recovered it at admission.
    fn sender(&self, hash: &B256) -> Option<Address>;

    /// Whether the transaction is in the mempool journal (its entry then goes with the block's
    /// write).
    fn journaled(&self, _hash: &B256) -> bool {
        true
    }
}

/// A plain sender lookup (benches, tests): every transaction counts as journaled.
impl<F: Fn(&B256) -> Option<Address> + Sync> KnownTxs for F {
    fn sender(&self, hash: &B256) -> Option<Address> {
        self(hash)
    }
}

/// Executes committed payloads on top of the stored chain.
#[derive(Debug)]
pub struct BlockExecutor {
    db: Db,
    config: ChainConfig,
    head: Header,
    head_hash: B256,
    /// The head's settlement record (last deposit nonce, L1 origin).
    head_settlement: BlockSettlement,
    /// Blocks of state history kept below the head.
    history_blocks: u64,
}

impl BlockExecutor {
    /// Opens the executor on `db`, writing the genesis block first if the database is new, and
    /// refusing a database that holds another layer's genesis.
    pub fn open(db: Db, config: ChainConfig) -> Result<Self> {
        match db.head_number()? {
            None => {
                // The genesis state root comes out of the very write that stores the state.
                let mut write = db.block_write();
                let root = match (&config.alloc_file, config.alloc_dropped) {
                    (Some(path), Some(_)) => stream_genesis(&db, path, &mut write)?,
                    (None, Some(count)) => {
                        return Err(Error::Genesis(format!(
                            "the alloc ({count} accounts) was left out of the parsed description and no file to stream it from was named"
                        )));
                    }
                    _ => apply_changes(&db, &genesis_changes(&config), &mut write, None)?.0,
                };
                let genesis = Self::genesis_header(&config, root);
                let genesis_hash = genesis.hash_slow();
                let block = StoredBlock {
                    header: genesis.clone(),
                    hash: genesis_hash,
                    transactions: vec![],
                    senders: vec![],
                };
                write.block(&block, &[]);
                write.block_settlement(0, &BlockSettlement::default().encode());
                write.genesis_marker(&genesis_hash);
                write.commit()?;
                tracing::info!(hash = %genesis_hash, state_root = %genesis.state_root, "wrote genesis block");
            }
            Some(_) => {
                // The alloc is already in the state; the stored root stands for it, and every
                // other genesis field is compared through the hash.
                let root = db.header(0)?.ok_or(Error::NoGenesis)?.state_root;
                let genesis_hash = Self::genesis_header(&config, root).hash_slow();
                let stored = db.block_hash(0)?.ok_or(Error::NoGenesis)?;
                if stored != genesis_hash {
                    return Err(Error::GenesisMismatch { stored, expected: genesis_hash });
                }
            }
        }
        let number = db.head_number()?.ok_or(Error::NoGenesis)?;
        let head = db.header(number)?.ok_or(Error::NoGenesis)?;
        let head_hash = db.block_hash(number)?.ok_or(Error::NoGenesis)?;
        let head_settlement = Self::settlement_of(&db, number)?;
        Ok(Self { db, config, head, head_hash, head_settlement, history_blocks: DEFAULT_HISTORY_BLOCKS })
    }

    /// Keeps the state of the last `blocks` blocks readable (`--state-history`).
    pub fn with_history_blocks(mut self, blocks: u64) -> Self {
        self.history_blocks = blocks;
        self
    }

    /// The settlement record stored with block `number`.
    pub fn settlement_of(db: &Db, number: u64) -> Result<BlockSettlement> {
        let bytes = db.block_settlement(number)?.ok_or(Error::NoGenesis)?;
        BlockSettlement::decode(&bytes).map_err(|e| Error::Corrupt(format!("block {number} settlement: {e}")))
    }

    /// The last deposit nonce credited up to the head.
    pub fn last_deposit_nonce(&self) -> u64 {
        self.head_settlement.last_deposit_nonce
    }

    /// The genesis header of a layer with the given genesis state root.
    pub fn genesis_header(config: &ChainConfig, state_root: B256) -> Header {
        let g = &config.genesis;
        Header {
            parent_hash: B256::ZERO,
            ommers_hash: EMPTY_OMMER_ROOT_HASH,
            beneficiary: g.coinbase,
            state_root,
            transactions_root: EMPTY_ROOT_HASH,
            receipts_root: EMPTY_ROOT_HASH,
            logs_bloom: Bloom::ZERO,
            difficulty: U256::ZERO,
            number: 0,
            gas_limit: config.gas_limit(),
            gas_used: 0,
            timestamp: g.timestamp,
            extra_data: g.extra_data.clone(),
            mix_hash: g.mix_hash,
            nonce: Default::default(),
            base_fee_per_gas: Some(config.genesis_base_fee()),
            withdrawals_root: Some(EMPTY_ROOT_HASH),
            blob_gas_used: Some(0),
            excess_blob_gas: Some(0),
            parent_beacon_block_root: Some(config.beacon_root()),
            requests_hash: Some(EMPTY_REQUESTS_HASH),
            ..Default::default()
        }
    }

    /// The executed head.
    pub fn head(&self) -> &Header {
        &self.head
    }

    /// Hash of the executed head.
    pub fn head_hash(&self) -> B256 {
        self.head_hash
    }

    /// The layer's execution parameters.
    pub fn config(&self) -> &ChainConfig {
        &self.config
    }

    /// Executes `payload` as the next block and commits it (with the deletion of its
    /// transactions from the mempool journal) in one atomic write.
    ///
    /// `consensus_hash` (the HotStuff block hash) becomes the header's `mix_hash`
    /// (PREVRANDAO), linking the Ethereum block to the consensus block that ordered it.
    /// `known` gives senders already recovered by the mempool, so that each node recovers
    /// each signature once, and says which transactions are in the mempool journal.
    pub fn execute(
        &mut self,
        payload: &Payload,
        consensus_hash: B256,
        known: &dyn KnownTxs,
    ) -> Result<ExecutedBlock> {
        let parent = &self.head;
        let number = parent.number + 1;
        let base_fee =
            self.config.next_base_fee(parent.gas_used, parent.base_fee_per_gas.unwrap_or_default());
        // Consensus validates timestamps; clamping keeps execution total regardless.
        let timestamp = payload.timestamp.max(parent.timestamp);
        let gas_limit = self.config.gas_limit();

        // Nothing runs once the layer has ended (consensus admits no such block; this keeps
        // execution total).
        let ended_at = match self.head_settlement.ended_at {
            0 if payload.end => number,
            ended_at => ended_at,
        };
        let mut skipped = Vec::new();
        let mut decoded = Vec::with_capacity(payload.transactions.len());
        for raw in &payload.transactions {
            if ended_at != 0 {
                skipped.push(SkippedTx {
                    hash: keccak256(raw),
                    reason: SkipReason::Invalid("the layer has ended".into()),
                });
                continue;
            }
            match TxEnvelope::decode_2718(&mut raw.as_ref()) {
                Ok(tx) if !tx.is_eip4844() => decoded.push(tx),
                Ok(_) => skipped.push(SkippedTx {
                    hash: keccak256(raw),
                    reason: SkipReason::Invalid("blob transactions are not supported".into()),
                }),
                Err(_) => skipped.push(SkippedTx { hash: keccak256(raw), reason: SkipReason::Undecodable }),
            }
        }
        let senders: Vec<Option<Address>> = decoded
            .par_iter()
            .map(|tx| known.sender(tx.tx_hash()).or_else(|| tx.recover_signer().ok()))
            .collect();

        let env = evm_env(&self.config, number, timestamp, base_fee, consensus_hash);
        let mut evm =
            EthEvmFactory::default().create_evm(CacheDB::new(StateReader::new(self.db.clone())), env);
        // Deposits first, so that deposited funds are spendable by the block's transactions.
        // Consensus admits only the next nonces in order; anything else is ignored, which keeps
        // execution total and identical everywhere.
        let mut settlement = BlockSettlement {
            l1_origin: payload.l1_origin,
            last_deposit_nonce: self.head_settlement.last_deposit_nonce,
            deposits_hash: self.head_settlement.deposits_hash,
            deposits: Vec::new(),
            messages: Vec::new(),
            ended_at,
            last_membership_nonce: self.head_settlement.last_membership_nonce,
            membership: Vec::new(),
        };
        // Consensus admits only the next nonce; anything else is ignored (total execution).
        for change in &payload.membership {
            if ended_at == 0 && change.nonce == settlement.last_membership_nonce + 1 {
                settlement.last_membership_nonce = change.nonce;
                settlement.membership.push(change.clone());
            }
        }
        for deposit in &payload.deposits {
            if ended_at != 0 || deposit.nonce != settlement.last_deposit_nonce + 1 {
                continue;
            }
            credit(evm.db_mut(), deposit.to, deposit.amount)?;
            settlement.last_deposit_nonce = deposit.nonce;
            settlement.deposits_hash = crate::messages::next_deposits_hash(settlement.deposits_hash, deposit);
            settlement.deposits.push(deposit.clone());
        }
        let mut transactions = Vec::with_capacity(decoded.len());
        let mut tx_senders = Vec::with_capacity(decoded.len());
        let mut receipts = Vec::with_capacity(decoded.len());
        let mut cumulative_gas = 0u64;
        let mut sender_nonces = HashMap::new();
        for (tx, sender) in decoded.into_iter().zip(senders) {
            let hash = *tx.tx_hash();
            let Some(sender) = sender else {
                skipped.push(SkippedTx { hash, reason: SkipReason::BadSignature });
                continue;
            };
            if cumulative_gas + tx.gas_limit() > gas_limit {
                skipped.push(SkippedTx { hash, reason: SkipReason::BlockGasExhausted });
                continue;
            }
            match evm.transact(TxEnv::from_recovered_tx(&tx, sender)) {
                Ok(ResultAndState { result, state }) => {
                    evm.db_mut().commit(state);
                    cumulative_gas += result.tx_gas_used();
                    let receipt = Receipt {
                        status: result.is_success().into(),
                        cumulative_gas_used: cumulative_gas,
                        logs: result.into_logs(),
                    };
                    settlement.messages.extend(receipt.logs.iter().filter_map(SentMessage::from_log));
                    receipts.push(ReceiptEnvelope::from_typed(tx.tx_type(), ReceiptWithBloom::from(receipt)));
                    sender_nonces.insert(sender, tx.nonce() + 1);
                    transactions.push(tx);
                    tx_senders.push(sender);
                }
                Err(EVMError::Transaction(invalid)) => {
                    skipped.push(SkippedTx { hash, reason: skip_reason(invalid) })
                }
                Err(EVMError::Header(e)) => return Err(Error::Evm(e.to_string())),
                Err(EVMError::Database(e)) => return Err(e.into()),
                Err(EVMError::Custom(e)) => return Err(Error::Evm(e)),
                Err(EVMError::CustomAny(e)) => return Err(Error::Evm(e.to_string())),
            }
        }
        let cache = evm.into_db().cache;
        let changes = cache_changes(cache);

        let mut write = self.db.block_write();
        let (state_root, state_root_time) = apply_changes(&self.db, &changes, &mut write, Some(number))?;
        write.prune_history(number, self.history_blocks)?;
        let logs_bloom =
            receipts.iter().fold(Bloom::ZERO, |bloom, r: &ReceiptEnvelope| bloom | *r.logs_bloom());
        let header = Header {
            parent_hash: self.head_hash,
            ommers_hash: EMPTY_OMMER_ROOT_HASH,
            beneficiary: self.config.fee_recipient,
            state_root,
            transactions_root: calculate_transaction_root(&transactions),
            receipts_root: calculate_receipt_root(&receipts),
            logs_bloom,
            difficulty: U256::ZERO,
            number,
            gas_limit,
            gas_used: cumulative_gas,
            timestamp,
            extra_data: Bytes::new(),
            mix_hash: consensus_hash,
            nonce: Default::default(),
            base_fee_per_gas: Some(base_fee),
            withdrawals_root: Some(EMPTY_ROOT_HASH),
            blob_gas_used: Some(0),
            excess_blob_gas: Some(0),
            parent_beacon_block_root: Some(self.config.beacon_root()),
            requests_hash: Some(EMPTY_REQUESTS_HASH),
            ..Default::default()
        };
        let hash = header.hash_slow();
        let block = StoredBlock { header, hash, transactions, senders: tx_senders };
        write.block(&block, &receipts);
        write.block_settlement(number, &settlement.encode());
        // Only journaled entries are deleted: a delete of an absent key still writes a
        // tombstone, and most of a block's transactions reached this node by gossip.
        for tx in &block.transactions {
            if known.journaled(tx.tx_hash()) {
                write.journal_delete(tx.tx_hash());
            }
        }
        for skip in skipped.iter().filter(|s| s.reason.is_final()) {
            if known.journaled(&skip.hash) {
                write.journal_delete(&skip.hash);
            }
        }
        write.commit()?;
        self.head = block.header.clone();
        self.head_hash = hash;
        self.head_settlement = settlement.clone();
        Ok(ExecutedBlock { block, receipts, skipped, sender_nonces, settlement, state_root_time })
    }
}

fn skip_reason(invalid: InvalidTransaction) -> SkipReason {
    match invalid {
        InvalidTransaction::NonceTooLow { .. } => SkipReason::NonceTooLow,
        InvalidTransaction::NonceTooHigh { .. } => SkipReason::NonceTooHigh,
        other => SkipReason::Invalid(other.to_string()),
    }
}

/// Turns the block's `CacheDB` into state changes: every account the EVM touched, with the
/// storage it holds in the cache (values only read are rewritten unchanged, which is harmless).
fn cache_changes(cache: revm::database::Cache) -> StateChanges {
    let mut changes = StateChanges::new();
    for (address, account) in cache.accounts {
        let change = match account.account_state {
            AccountState::None => continue,
            AccountState::NotExisting => AccountChange { info: None, ..Default::default() },
            AccountState::Touched | AccountState::StorageCleared => {
                let info = &account.info;
                let empty = info.nonce == 0 && info.balance.is_zero() && info.code_hash == KECCAK_EMPTY;
                if empty && account.storage.values().all(|v| v.is_zero()) {
                    // EIP-161: touched empty accounts are removed.
                    AccountChange { info: None, ..Default::default() }
                } else {
                    let new_code = cache
                        .contracts
                        .get(&info.code_hash)
                        .filter(|_| info.code_hash != KECCAK_EMPTY)
                        .map(|code| code.original_bytes());
                    AccountChange {
                        info: Some((info.nonce, info.balance, info.code_hash)),
                        storage_wiped: matches!(account.account_state, AccountState::StorageCleared),
                        storage: account.storage.into_iter().collect(),
                        new_code,
                    }
                }
            }
        };
        changes.insert(address, change);
    }
    changes
}

/// Adds `amount` to `to`'s balance (a deposit: no code runs, it cannot fail).
pub(crate) fn credit(db: &mut CacheDB<StateReader>, to: Address, amount: U256) -> Result<()> {
    let mut info = revm::Database::basic(db, to)?.unwrap_or_default();
    info.balance = info.balance.saturating_add(amount);
    let mut account = revm::state::Account::from(info);
    account.mark_touch();
    db.commit(std::iter::once((to, account)).collect());
    Ok(())
}

/// The genesis state: the layer's alloc plus the system contracts every layer has.
fn genesis_changes(config: &ChainConfig) -> StateChanges {
    let passer = GenesisAccount::default().with_code(Some(crate::messages::L2_MESSAGE_PASSER_CODE.clone()));
    config
        .genesis
        .alloc
        .iter()
        .filter(|(address, _)| **address != L2_MESSAGE_PASSER)
        .chain(std::iter::once((&L2_MESSAGE_PASSER, &passer)))
        .map(|(address, account)| (*address, genesis_change(account)))
        .collect()
}

/// The state change that creates one genesis account.
fn genesis_change(account: &GenesisAccount) -> AccountChange {
    let code = account.code.clone().filter(|c| !c.is_empty());
    let code_hash = code.as_ref().map(keccak256).unwrap_or(KECCAK_EMPTY);
    let storage = account
        .storage
        .iter()
        .flatten()
        .map(|(slot, value)| (U256::from_be_bytes(slot.0), U256::from_be_bytes(value.0)))
        .collect();
    AccountChange {
        info: Some((account.nonce.unwrap_or_default(), account.balance, code_hash)),
        storage_wiped: false,
        storage,
        new_code: code,
    }
}

/// Accounts per write when a large genesis alloc is streamed in.
const GENESIS_CHUNK: usize = 250_000;

/// Streams a large genesis alloc from `path` into the state, [`GENESIS_CHUNK`] accounts per
/// write (each one an ordinary incremental trie update over the ones before), and returns the
/// state root. The last chunk (with the message passer) goes into `write`, the genesis block's
/// own write, so the genesis block appears only once the whole state is in. A crash midway
/// leaves no head: the next start streams again over the same values.
fn stream_genesis(
    db: &Db,
    path: &std::path::Path,
    write: &mut flashlayer_storage::BlockWrite,
) -> Result<B256> {
    let started = std::time::Instant::now();
    let mut chunk = StateChanges::new();
    let mut written = 0u64;
    crate::genesis::stream_alloc(path, |address, account| {
        if address != L2_MESSAGE_PASSER {
            chunk.insert(address, genesis_change(&account));
        }
        if chunk.len() >= GENESIS_CHUNK {
            let mut chunk_write = db.block_write();
            apply_changes(db, &std::mem::take(&mut chunk), &mut chunk_write, None)?;
            chunk_write.commit()?;
            written += GENESIS_CHUNK as u64;
            tracing::info!(
                accounts = written,
                elapsed_s = started.elapsed().as_secs(),
                "genesis: writing the alloc"
            );
        }
        Ok(())
    })?;
    let passer = GenesisAccount::default().with_code(Some(crate::messages::L2_MESSAGE_PASSER_CODE.clone()));
    chunk.insert(L2_MESSAGE_PASSER, genesis_change(&passer));
    written += chunk.len() as u64;
    let (root, _) = apply_changes(db, &chunk, write, None)?;
    tracing::info!(accounts = written, elapsed_s = started.elapsed().as_secs(), "genesis: alloc written");
    Ok(root)
}
