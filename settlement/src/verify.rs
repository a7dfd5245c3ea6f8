//! Re-execution of settled batches from their data: the check behind `flashlayer verify`.
//!
//! A [`Verifier`] holds its own chain (a fresh RocksDB, the layer's genesis, none of a node's
//! consensus state) and takes the accepted batches in order, each with the data its
//! `txDataHash` names. For each one it checks, in this order, and stops at the first
//! [`Mismatch`]:
//! 1. the data matches the batch's `txDataHash` (its hash, or on an `l1-blobs` layer its blobs'
//!    versioned hashes) and decodes;
//! 2. its blocks are exactly the batch's range, continuing the verified chain;
//! 3. each deposit it credits is the L1 deposit of that nonce (from the L1's own events);
//! 4. each block, executed with the node's own [`BlockExecutor`], has the hash, state root and
//!    receipts root its producers claim in the data;
//! 5. the batch this chain derives with the node's own [`BatchChain`] is the one L1 accepted:
//!    range, last block hash, state root, messages root, and its EIP-712 hash (which also
//!    covers the previous batch, the deposit nonce and the deposits hash); for the final batch,
//!    the balances root as well.
//!
//! The I/O (L1 events, data from an operator, an archive or L1) is the caller's: this is the
//! plain state machine, so it can be driven by the command and by tests alike.

use crate::{
    BatchChain, BatchRules, Result,
    data::{self, BlockData},
};
use alloy::{
    consensus::{Transaction as _, TrieAccount},
    primitives::{Address, B256, Bytes, TxKind, keccak256},
};
use flashlayer_execution::{BlockExecutor, ChainConfig, Deposit};
use flashlayer_storage::Db;
use std::collections::HashMap;

/// A batch as L1 accepted it (`BatchAccepted`, and `Settled` for the final one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedBatch {
    /// Batch index.
    pub index: u64,
    /// Its EIP-712 struct hash.
    pub batch_hash: B256,
    /// First L2 block.
    pub first_block: u64,
    /// Last L2 block.
    pub last_block: u64,
    /// Hash of the last block.
    pub last_block_hash: B256,
    /// State root after the last block.
    pub state_root: B256,
    /// Root of its L2->L1 messages.
    pub messages_root: B256,
    /// Commitment to its data.
    pub tx_data_hash: B256,
    /// The final balances root, when this is the final batch.
    pub balances_root: Option<B256>,
}

/// Where a batch and the chain rebuilt from its data disagree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "batch {batch}{}: {field}: {claimed}, re-execution gives {computed}",
    block.map(|b| format!(", block {b}")).unwrap_or_default()
)]
pub struct Mismatch {
    /// The batch index.
    pub batch: u64,
    /// The L2 block, when one block is at fault.
    pub block: Option<u64>,
    /// What differs.
    pub field: String,
    /// What the batch (or its data) claims.
    pub claimed: String,
    /// What the verifier computed.
    pub computed: String,
    /// The data matched the batch's signed commitment (`txDataHash`), so the mismatch is the
    /// signers' doing, not the data source's: grounds for a dispute.
    pub signed_data: bool,
}

/// What a verified batch held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// Batch index.
    pub index: u64,
    /// Blocks re-executed.
    pub blocks: u64,
    /// Transactions re-executed.
    pub transactions: u64,
    /// Deposits checked against L1.
    pub deposits: u64,
}

/// The outcome of checking one batch: a verdict, or a failure of the verifier itself.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The batch does not match its data.
    #[error(transparent)]
    Mismatch(#[from] Mismatch),
    /// The verifier could not do its work (storage, execution).
    #[error(transparent)]
    Failed(#[from] crate::Error),
}

/// Rebuilds a layer's chain batch by batch (see the module docs).
#[derive(Debug)]
pub struct Verifier {
    db: Db,
    executor: BlockExecutor,
    chain: BatchChain,
    /// The addresses seen so far by hashed address (the state knows accounts by hashed address
    /// only): genesis accounts, senders, recipients, deposit recipients and contracts created
    /// by a transaction. They name the accounts of [`account_proofs`](Self::account_proofs).
    addresses: HashMap<B256, Address>,
}

/// One account's EIP-1186 proof at a verified batch boundary (see
/// [`Verifier::account_proofs`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateProof {
    /// The account's address, when the verifier saw it (a transaction's sender or recipient, a
    /// deposit, the genesis); `None` for one only ever reached inside a call.
    pub address: Option<Address>,
    /// keccak256 of the address: the account's key in the state trie.
    pub hashed_address: B256,
    /// The account.
    pub account: TrieAccount,
    /// Nodes from the state root to the account's leaf.
    pub account_proof: Vec<Bytes>,
}

impl Verifier {
    /// A verifier over a fresh `db`, starting from the layer's genesis; `members` and
    /// `threshold` are the signer set it was created with.
    pub fn new(
        db: Db,
        config: ChainConfig,
        rules: BatchRules,
        members: Vec<Address>,
        threshold: usize,
    ) -> Result<Self> {
        let addresses = config.genesis.alloc.keys().map(|a| (keccak256(a), *a)).collect();
        let executor = BlockExecutor::open(db.clone(), config)?;
        if executor.head().number != 0 {
            return Err(crate::Error::Data(format!(
                "the verifier's database already holds blocks up to {}: start from an empty one",
                executor.head().number
            )));
        }
        Ok(Self { db, executor, chain: BatchChain::new(rules, members, threshold), addresses })
    }

    /// An EIP-1186 account proof of every account at the verified head, the last block of the
    /// last verified batch: the state an exit without operators proves against, each proof
    /// leading to that batch's accepted `stateRoot`. `progress(done, total)` is called as it
    /// goes.
    pub fn account_proofs(&self, mut progress: impl FnMut(usize, usize)) -> Result<Vec<StateProof>> {
        let head = self.executor.head().number;
        let accounts = self.db.accounts()?;
        let total = accounts.len();
        let mut proofs = Vec::with_capacity(total);
        for (done, (hashed_address, account)) in accounts.into_iter().enumerate() {
            let proof = self.db.account_proof(&hashed_address, &[], head, head)?;
            proofs.push(StateProof {
                address: self.addresses.get(&hashed_address).copied(),
                hashed_address,
                account,
                account_proof: proof.account_proof,
            });
            if done % 10_000 == 0 {
                progress(done, total);
            }
        }
        progress(total, total);
        Ok(proofs)
    }

    /// Records the addresses `executed` names (see `addresses`).
    fn learn_addresses(&mut self, executed: &flashlayer_execution::ExecutedBlock, block: &BlockData) {
        let mut learn = |a: Address| {
            self.addresses.entry(keccak256(a)).or_insert(a);
        };
        let stored = &executed.block;
        for (tx, sender) in stored.transactions.iter().zip(&stored.senders) {
            learn(*sender);
            match tx.kind() {
                TxKind::Call(to) => learn(to),
                TxKind::Create => learn(sender.create(tx.nonce())),
            }
        }
        for deposit in &block.deposits {
            learn(deposit.to);
        }
    }

    /// The genesis block hash (to compare with the contract's).
    pub fn genesis_hash(&self) -> Result<B256> {
        self.db.block_hash(0)?.ok_or(crate::Error::MissingBlock(0))
    }

    /// The state root of the rebuilt genesis (what an escape before the first batch proves
    /// against: the contract's `batch(0).stateRoot`).
    pub fn genesis_state_root(&self) -> Result<B256> {
        Ok(self.db.header(0)?.ok_or(crate::Error::MissingBlock(0))?.state_root)
    }

    /// The last batch verified (0: none yet).
    pub fn verified_batches(&self) -> u64 {
        self.chain.built().len() as u64
    }

    /// The verifier's database (the rebuilt chain: state, blocks, receipts).
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Checks `accepted` against `data`; `l1_deposit(nonce)` is deposit `nonce` as the L1
    /// contract's events show it. On success the batch's blocks are part of the verified chain;
    /// after a [`Mismatch`] the verifier is spent (its chain may hold the bad batch's blocks).
    pub fn check(
        &mut self,
        accepted: &AcceptedBatch,
        batch_data: &[u8],
        l1_deposit: &dyn Fn(u64) -> Option<Deposit>,
    ) -> Result<Verified, VerifyError> {
        let batch = accepted.index;
        // Until the data matches the commitment, a mismatch blames whoever served the data.
        let served = |field: &str, claimed: String, computed: String| Mismatch {
            batch,
            block: None,
            field: field.into(),
            claimed,
            computed,
            signed_data: false,
        };
        let hash = self
            .chain
            .rules()
            .data_availability
            .commitment(batch_data)
            .map_err(|e| served("data", "data that fits the layer's blobs".into(), e.to_string()))?;
        if hash != accepted.tx_data_hash {
            return Err(served(
                "txDataHash (the data served for it hashes otherwise)",
                accepted.tx_data_hash.to_string(),
                hash.to_string(),
            )
            .into());
        }
        let mismatch = |block: Option<u64>, field: &str, claimed: String, computed: String| Mismatch {
            batch,
            block,
            field: field.into(),
            claimed,
            computed,
            signed_data: true,
        };
        let blocks = data::decode(batch_data)
            .map_err(|e| mismatch(None, "data", "decodable batch data".into(), e.to_string()))?;
        let next = self.executor.head().number + 1;
        let numbers: Vec<u64> = blocks.iter().map(|b| b.number).collect();
        let expected: Vec<u64> = (accepted.first_block..=accepted.last_block).collect();
        if accepted.first_block != next || numbers != expected {
            return Err(mismatch(
                None,
                "blocks",
                format!(
                    "{}..={} (the verified chain continues at {next})",
                    accepted.first_block, accepted.last_block
                ),
                format!("{numbers:?}"),
            )
            .into());
        }
        let mut verified = Verified { index: batch, blocks: 0, transactions: 0, deposits: 0 };
        // A deposit that differs from the verifier's view of L1 is reported only once the batch
        // itself checks out: the contract already held the batch to L1's deposits (its
        // depositsHash), so a batch that credited other deposits fails the batch hash below
        // (grounds for a dispute), while one that passes it means the verifier's view of L1 is
        // what is wrong (a reorg, a lagging RPC): no ground for a dispute.
        let mut deposit_mismatch = None;
        for block in &blocks {
            if deposit_mismatch.is_none() {
                deposit_mismatch = self.check_deposits(batch, block, l1_deposit).err();
            }
            let executed = self
                .executor
                .execute(&block.payload(), block.consensus_hash, &|_: &B256| None::<Address>)
                .map_err(crate::Error::from)?;
            let header = &executed.block.header;
            let at = Some(block.number);
            if !executed.skipped.is_empty() {
                return Err(mismatch(
                    at,
                    "transactions",
                    "every transaction in the data included".into(),
                    format!("{} skipped (first {:?})", executed.skipped.len(), executed.skipped[0]),
                )
                .into());
            }
            let claims = [
                ("stateRoot", block.state_root, header.state_root),
                ("receiptsRoot", block.receipts_root, header.receipts_root),
                ("block hash", block.hash, executed.block.hash),
            ];
            for (field, claimed, computed) in claims {
                if claimed != computed {
                    return Err(mismatch(at, field, claimed.to_string(), computed.to_string()).into());
                }
            }
            self.learn_addresses(&executed, block);
            verified.blocks += 1;
            verified.transactions += block.transactions.len() as u64;
            verified.deposits += block.deposits.len() as u64;
        }
        let head = self.executor.head().number;
        let built = self.chain.advance(&self.db, head)?;
        let last = Some(accepted.last_block);
        let [derived] = built.as_slice() else {
            return Err(mismatch(
                last,
                "batch boundary",
                format!("one batch ending at block {}", accepted.last_block),
                format!("{} batches closing in its range", built.len()),
            )
            .into());
        };
        let b = &derived.batch;
        let fields = [
            (
                "index",
                B256::left_padding_from(&accepted.index.to_be_bytes()),
                B256::left_padding_from(&b.index.to_be_bytes()),
            ),
            ("lastBlockHash", accepted.last_block_hash, b.lastBlockHash),
            ("stateRoot", accepted.state_root, b.stateRoot),
            ("messagesRoot", accepted.messages_root, b.messagesRoot),
            ("txDataHash", accepted.tx_data_hash, b.txDataHash),
            (
                "batch hash (prevBatchHash, lastDepositNonce or depositsHash)",
                accepted.batch_hash,
                derived.hash,
            ),
        ];
        for (field, claimed, computed) in fields {
            if claimed != computed {
                return Err(mismatch(last, field, claimed.to_string(), computed.to_string()).into());
            }
        }
        if let Some(mismatch) = deposit_mismatch {
            return Err(mismatch.into());
        }
        match (accepted.balances_root, &derived.balances) {
            (None, None) => {}
            (Some(claimed), Some(balances)) if claimed == balances.root => {}
            (claimed, balances) => {
                return Err(mismatch(
                    last,
                    "balancesRoot",
                    claimed.map_or("not the final batch".into(), |r| r.to_string()),
                    balances.as_ref().map_or("not the final batch".into(), |b| b.root.to_string()),
                )
                .into());
            }
        }
        Ok(verified)
    }

    fn check_deposits(
        &self,
        batch: u64,
        block: &BlockData,
        l1_deposit: &dyn Fn(u64) -> Option<Deposit>,
    ) -> Result<(), Mismatch> {
        for deposit in &block.deposits {
            let on_l1 = l1_deposit(deposit.nonce);
            if on_l1.as_ref() != Some(deposit) {
                return Err(Mismatch {
                    batch,
                    block: Some(block.number),
                    field: format!("deposit {}", deposit.nonce),
                    claimed: format!("{deposit:?}"),
                    computed: on_l1.map_or("no such deposit on L1 as the verifier reads it".into(), |d| {
                        format!("{d:?} on L1 as the verifier reads it (a reorg or a lagging L1 RPC?)")
                    }),
                    signed_data: false,
                });
            }
        }
        Ok(())
    }
}
