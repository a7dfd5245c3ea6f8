//! The chain of settlement batches, derived from the executed L2 chain.
//!
//! Every node must sign the very same batch, so where a batch ends is a function of the
//! consensus-agreed chain alone: a batch closes at the first block that makes it
//! [`BatchRules::blocks`] long, or whose timestamp is [`BatchRules::interval_secs`] past the
//! batch's first block (timestamps are chosen by leaders and agreed by consensus, so an idle
//! layer, which still makes an empty block every few seconds, settles on time too), or, on an
//! `l1-blobs` layer, whose data fills half of what a batch's blobs carry. Nothing
//! about batches is stored: a restarted node re-derives them from its blocks.
//!
//! A batch commits to (see `contracts/README.md`):
//! - `lastBlockHash`, `stateRoot`: the last block's header;
//! - `txDataHash`: the commitment to its batch data ([`crate::data`]; keccak256 of the data, or
//!   of its blobs' versioned hashes): everything needed to execute its blocks again, so that
//!   anyone holding the data can check every other field;
//! - `messagesRoot`: the messages tree over every `MessageSent` in its blocks, in order;
//! - `lastDepositNonce`: the last L1 deposit credited up to its last block;
//! - `depositsHash`: the running hash of the deposits credited up to its last block, so that a
//!   batch which credited a deposit L1 no longer has (a reorg deeper than the watcher's
//!   confirmations) never lands.
//!
//! A block that changes the sequencer set closes its batch too: the batches after it are signed
//! by the new set, which the old set installs on L1 first (`updateSigners`).
//!
//! The block that ends the layer closes the **final batch** whatever the rules say; it also
//! commits to the final balances ([`FinalBalances`]), and no batch follows it.

use crate::{
    Batch, Error, L2Message, Result,
    balances::FinalBalances,
    batch_hash,
    data::{BLOB_BATCH_BUDGET, BlockData, DataAvailability, encode_range},
    messages_root,
};
use alloy::primitives::{Address, B256};
use flashlayer_execution::{BlockExecutor, messages::BlockSettlement};
use flashlayer_storage::Db;

/// When a batch closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchRules {
    /// Most blocks in a batch.
    pub blocks: u64,
    /// Longest span of block timestamps in a batch (seconds).
    pub interval_secs: u64,
    /// Where batch data goes: it decides the `txDataHash` commitment, and on an `l1-blobs`
    /// layer a batch also closes once its data nears what its blobs can carry.
    pub data_availability: DataAvailability,
}

/// A batch this node derived from its own executed chain, with what relayers need from it.
#[derive(Debug, Clone)]
pub struct BuiltBatch {
    /// The batch as signed and submitted.
    pub batch: Batch,
    /// Its struct hash (the contract's batch hash; the next batch's `prevBatchHash`).
    pub hash: B256,
    /// The messages it commits to, in tree order.
    pub messages: Vec<L2Message>,
    /// For the final batch (the one ending with the block that ends the layer): the final
    /// balances it commits to besides the batch.
    pub balances: Option<FinalBalances>,
    /// The signer set that signs it (sorted), its threshold and its epoch.
    pub signers: SignerSet,
    /// When its last block changes the sequencer set: the set that signs the batches after it
    /// (installed on L1 by `updateSigners`, signed by [`signers`](Self::signers)).
    pub next_signers: Option<SignerSet>,
}

/// A signer set as the contract holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignerSet {
    /// The contract's epoch of this set (0: the set the layer was created with).
    pub epoch: u64,
    /// Settlement addresses, sorted ascending.
    pub members: Vec<Address>,
    /// Signatures needed.
    pub threshold: usize,
    /// The membership change (its L1 nonce) that made this set from the previous one (0 for the
    /// set the layer was created with).
    pub membership_nonce: u64,
    /// The previous set's last batch, which must land before `updateSigners` installs this set
    /// (0 for the set the layer was created with).
    pub after_batch: u64,
}

impl BuiltBatch {
    /// Whether this is the layer's final batch.
    pub fn is_final(&self) -> bool {
        self.balances.is_some()
    }
}

/// The batches derived so far, and the open one being accumulated.
#[derive(Debug)]
pub struct BatchChain {
    rules: BatchRules,
    built: Vec<BuiltBatch>,
    open: Open,
    /// The signer set of the open batch.
    signers: SignerSet,
    /// Test-only fault: which batches claim a wrong state root.
    corrupt_state_roots: Option<Corrupt>,
}

/// Test-only fault: which batches a faulty node signs with a wrong state root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Corrupt {
    /// Every batch from this index on.
    From(u64),
    /// Every batch ending at or after the L2 block number written in this file, once it
    /// exists: a test decides when the quorum turns, and every faulty node turns at the same
    /// batch.
    FromBlockIn(std::path::PathBuf),
}

impl Corrupt {
    fn applies(&self, index: u64, last_block: u64) -> bool {
        match self {
            Self::From(from) => index >= *from,
            Self::FromBlockIn(path) => std::fs::read_to_string(path)
                .ok()
                .and_then(|n| n.trim().parse::<u64>().ok())
                .is_some_and(|from| last_block >= from),
        }
    }
}

/// The batch under construction.
#[derive(Debug, Default)]
struct Open {
    first_block: u64,
    first_timestamp: u64,
    /// Blocks added so far.
    blocks: u64,
    /// Their batch data before compression (counted on `l1-blobs` layers only).
    raw_bytes: usize,
    messages: Vec<L2Message>,
}

impl BatchChain {
    /// An empty chain: the first batch starts at block 1, signed by `signers` (the set the
    /// layer was created with, epoch 0).
    pub fn new(rules: BatchRules, mut members: Vec<Address>, threshold: usize) -> Self {
        members.sort();
        Self {
            rules,
            built: Vec::new(),
            open: Open { first_block: 1, ..Default::default() },
            signers: SignerSet { epoch: 0, members, threshold, membership_nonce: 0, after_batch: 0 },
            corrupt_state_roots: None,
        }
    }

    /// Test-only fault: the batches `which` names claim their state root with the last bit
    /// flipped (a quorum signing a wrong root, for the verifier's and the escape's tests).
    #[cfg(feature = "fault-injection")]
    pub fn corrupt_state_roots(&mut self, which: Corrupt) {
        self.corrupt_state_roots = Some(which);
    }

    /// The signer set of the next batch.
    pub fn signers(&self) -> &SignerSet {
        &self.signers
    }

    /// The rules.
    pub fn rules(&self) -> BatchRules {
        self.rules
    }

    /// Every batch closed so far, index 1 first.
    pub fn built(&self) -> &[BuiltBatch] {
        &self.built
    }

    /// Batch `index` (1-based), if closed.
    pub fn get(&self, index: u64) -> Option<&BuiltBatch> {
        index.checked_sub(1).and_then(|i| self.built.get(i as usize))
    }

    /// The next block this chain needs.
    pub fn next_block(&self) -> u64 {
        self.open.first_block + self.open.blocks
    }

    /// The final batch, once built.
    pub fn final_batch(&self) -> Option<&BuiltBatch> {
        self.built.last().filter(|b| b.is_final())
    }

    /// Feeds executed blocks from [`next_block`](Self::next_block) up to `head` out of `db`;
    /// returns the batches that closed. Nothing follows the final batch.
    pub fn advance(&mut self, db: &Db, head: u64) -> Result<Vec<BuiltBatch>> {
        let mut closed = Vec::new();
        if self.final_batch().is_some() {
            return Ok(closed);
        }
        for number in self.next_block()..=head {
            let header = db.header(number)?.ok_or(Error::MissingBlock(number))?;
            let hash = db.block_hash(number)?.ok_or(Error::MissingBlock(number))?;
            let settlement = BlockExecutor::settlement_of(db, number)?;
            // Blocks after the end are empty, so the state now is the state at the end.
            let balances =
                if settlement.ended_at == number { Some(FinalBalances::from_state(db)?) } else { None };
            if let Some(batch) = self.push(db, number, &header, hash, &settlement, balances)? {
                let last = batch.is_final();
                closed.push(batch);
                if last {
                    break;
                }
            }
        }
        Ok(closed)
    }

    /// Adds block `number` (the next one); returns the batch it closes, if it closes one.
    fn push(
        &mut self,
        db: &Db,
        number: u64,
        header: &alloy::consensus::Header,
        hash: B256,
        settlement: &BlockSettlement,
        balances: Option<FinalBalances>,
    ) -> Result<Option<BuiltBatch>> {
        debug_assert_eq!(number, self.next_block());
        // What can fail comes before the open batch changes, so a failed push (a block not
        // stored yet, say) can be retried with the same block.
        let raw_bytes = match self.rules.data_availability {
            DataAvailability::L1Blobs => alloy::rlp::Encodable::length(&BlockData::from_db(db, number)?),
            _ => 0,
        };
        // On an l1-blobs layer a batch closes once it holds half of what its blobs carry: no
        // block is larger than the other half (the node caps a blob layer's payloads at
        // BLOB_MAX_BLOCK_BYTES), and compression never makes data much larger.
        let blobs_full = self.open.raw_bytes + raw_bytes >= BLOB_BATCH_BUDGET / 2;
        let first_timestamp =
            if self.open.blocks == 0 { header.timestamp } else { self.open.first_timestamp };
        let length = number - self.open.first_block + 1;
        let span = header.timestamp.saturating_sub(first_timestamp);
        // A sequencer-set change ends the batch: the next one is signed by the new set.
        let next_signers = self.next_signers(settlement);
        let closes = balances.is_some()
            || next_signers.is_some()
            || length >= self.rules.blocks
            || span >= self.rules.interval_secs
            || blobs_full;
        let tx_data_hash = match closes {
            true => Some(self.rules.data_availability.commitment(&encode_range(
                db,
                self.open.first_block,
                number,
            )?)?),
            false => None,
        };
        self.open.first_timestamp = first_timestamp;
        self.open.blocks += 1;
        self.open.raw_bytes += raw_bytes;
        self.open.messages.extend(settlement.messages.iter().map(|m| L2Message {
            nonce: m.nonce,
            sender: m.sender,
            target: m.target,
            value: m.value,
            data: m.data.clone(),
        }));
        let Some(tx_data_hash) = tx_data_hash else { return Ok(None) };
        let open = std::mem::replace(&mut self.open, Open { first_block: number + 1, ..Default::default() });
        let leaves: Vec<B256> = open.messages.iter().map(L2Message::leaf).collect();
        let batch = Batch {
            index: self.built.len() as u64 + 1,
            prevBatchHash: self.built.last().map(|b| b.hash).unwrap_or_default(),
            firstBlock: open.first_block,
            lastBlock: number,
            lastBlockHash: hash,
            // Test-only fault (a quorum signing a wrong root).
            stateRoot: if self
                .corrupt_state_roots
                .as_ref()
                .is_some_and(|c| c.applies(self.built.len() as u64 + 1, number))
            {
                header.state_root ^ B256::with_last_byte(1)
            } else {
                header.state_root
            },
            txDataHash: tx_data_hash,
            messagesRoot: messages_root(&leaves),
            lastDepositNonce: settlement.last_deposit_nonce,
            depositsHash: settlement.deposits_hash,
        };
        let signers = match &next_signers {
            Some(next) => std::mem::replace(&mut self.signers, next.clone()),
            None => self.signers.clone(),
        };
        let built = BuiltBatch {
            hash: batch_hash(&batch),
            batch,
            messages: open.messages,
            balances,
            signers,
            next_signers,
        };
        self.built.push(built.clone());
        Ok(Some(built))
    }

    /// The signer set after the block's membership change, if it makes one. Joining an
    /// existing member or removing a non-member changes nothing (the contract refuses both
    /// before they are announced). A change whose consensus key is not an ed25519 key changes
    /// the signer set all the same (HotStuff ignores it): the contract applies announced
    /// changes strictly in order, and skipping one would block every later change.
    fn next_signers(&self, settlement: &BlockSettlement) -> Option<SignerSet> {
        let change = settlement.membership.first()?;
        let mut members = self.signers.members.clone();
        match (change.joining, members.binary_search(&change.operator)) {
            (true, Err(at)) => members.insert(at, change.operator),
            (false, Ok(at)) if members.len() > 1 => {
                members.remove(at);
            }
            _ => return None,
        }
        let threshold = crate::threshold_for(members.len());
        Some(SignerSet {
            epoch: self.signers.epoch + 1,
            members,
            threshold,
            membership_nonce: change.nonce,
            // The batch this block closes, the outgoing set's last.
            after_batch: self.built.len() as u64 + 1,
        })
    }

    /// The batch that holds the message with hash `message_hash`, and its position there.
    pub fn find_message(&self, message_hash: B256) -> Option<(&BuiltBatch, usize)> {
        self.built
            .iter()
            .find_map(|b| b.messages.iter().position(|m| m.hash() == message_hash).map(|i| (b, i)))
    }
}
