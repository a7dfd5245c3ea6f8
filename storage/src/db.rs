//! The opened database: reads of the executed chain and the atomic per-block write.

use crate::{
    ConsensusStore, Error, Result,
    tables::{self, Table},
    trie::{TrieId, TrieUpdates},
};
use alloy::{
    consensus::{Header, ReceiptEnvelope, TxEnvelope},
    primitives::{Address, B256, BlockNumber, Bytes, U256},
    rlp::{Decodable, Encodable},
};
use alloy_rlp::{RlpDecodable, RlpEncodable};
use alloy_trie::TrieAccount;
use rocksdb::{ColumnFamilyDescriptor, DB, IteratorMode, Options, WriteOptions};
use std::{path::Path, sync::Arc};

/// RocksDB's block cache, shared by every table.
const BLOCK_CACHE_BYTES: usize = 512 << 20;

/// Version of the on-disk layout; bumped on incompatible changes.
const SCHEMA_VERSION: u32 = 2;

/// A block as the executor stored it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBlock {
    /// The Ethereum header.
    pub header: Header,
    /// Its hash (keccak of the RLP header).
    pub hash: B256,
    /// Transactions in execution order (invalid ones already left out).
    pub transactions: Vec<TxEnvelope>,
    /// Sender of each transaction.
    pub senders: Vec<Address>,
}

#[derive(RlpEncodable, RlpDecodable)]
struct StoredBody {
    transactions: Vec<TxEnvelope>,
    senders: Vec<Address>,
}

/// Where a transaction was included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxLocation {
    /// Block number.
    pub block: BlockNumber,
    /// Index within the block.
    pub index: u32,
}

/// The node's RocksDB.
#[derive(Clone)]
pub struct Db {
    inner: Arc<DB>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("path", &self.inner.path()).finish()
    }
}

impl Db {
    /// Makes what is written durable and stops RocksDB's background work (flushes,
    /// compactions), waiting for it: the last call before the process exits. RocksDB's static
    /// objects are destroyed at exit, and a background thread still using them then aborts the
    /// process ("pthread lock: Invalid argument") instead of letting it exit cleanly.
    pub fn prepare_exit(&self) -> Result<()> {
        self.inner.flush_wal(true)?;
        self.inner.cancel_all_background_work(true);
        Ok(())
    }

    /// Writes a consistent copy of the database as it is now into `path` (a new directory):
    /// what a crash at this instant would leave on disk, for tests that inject one, and a
    /// backup for operators.
    pub fn checkpoint(&self, path: &Path) -> Result<()> {
        rocksdb::checkpoint::Checkpoint::new(&self.inner)?.create_checkpoint(path)?;
        Ok(())
    }

    /// Opens (or creates) the database under `path` with every column family.
    pub fn open(path: &Path) -> Result<Self> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.increase_parallelism(2);
        opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
        // One block cache for every table, and bloom filters: with millions of accounts the
        // state no longer fits RocksDB's 8 MiB default cache, and most reads of a transfer
        // burst are of accounts that do not exist yet (a filter answers those without a
        // disk block). Index and filter blocks live in the cache, so memory stays bounded.
        let cache = rocksdb::Cache::new_lru_cache(BLOCK_CACHE_BYTES);
        let mut table = rocksdb::BlockBasedOptions::default();
        table.set_block_cache(&cache);
        table.set_bloom_filter(10.0, false);
        table.set_cache_index_and_filter_blocks(true);
        table.set_pin_l0_filter_and_index_blocks_in_cache(true);
        let cfs = tables::ALL.iter().map(|name| {
            let mut cf_opts = Options::default();
            cf_opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
            cf_opts.set_block_based_table_factory(&table);
            ColumnFamilyDescriptor::new(*name, cf_opts)
        });
        let inner = DB::open_cf_descriptors(&opts, path, cfs)?;
        let db = Self { inner: Arc::new(inner) };
        match db.meta(tables::META_SCHEMA)? {
            None => db.put_meta(tables::META_SCHEMA, &SCHEMA_VERSION.to_be_bytes())?,
            Some(found) => {
                let found = u32::from_be_bytes(
                    found.as_slice().try_into().map_err(|_| Error::corrupt("meta", "schema"))?,
                );
                if found != SCHEMA_VERSION {
                    return Err(Error::SchemaVersion { found, expected: SCHEMA_VERSION });
                }
            }
        }
        Ok(db)
    }

    /// The HotStuff block tree store on this database.
    pub fn consensus_store(&self) -> ConsensusStore {
        ConsensusStore::new(self.inner.clone())
    }

    pub(crate) fn cf<T: Table>(&self) -> &rocksdb::ColumnFamily {
        self.inner.cf_handle(T::NAME).expect("every table is opened with the db")
    }

    pub(crate) fn raw(&self) -> &DB {
        &self.inner
    }

    pub(crate) fn get<T: Table>(&self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        Ok(self.inner.get_cf(self.cf::<T>(), key)?)
    }

    fn decode<T: Table, V: Decodable>(&self, key: impl AsRef<[u8]>) -> Result<Option<V>> {
        self.get::<T>(key)?
            .map(|bytes| V::decode(&mut bytes.as_slice()).map_err(|e| Error::corrupt(T::NAME, e)))
            .transpose()
    }

    /// Reads a meta value.
    pub fn meta(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.get::<tables::Meta>(key)
    }

    /// Writes a meta value (synced).
    pub fn put_meta(&self, key: &[u8], value: &[u8]) -> Result<()> {
        let mut opts = WriteOptions::default();
        opts.set_sync(true);
        Ok(self.inner.put_cf_opt(self.cf::<tables::Meta>(), key, value, &opts)?)
    }

    /// Number of the last executed block, `None` before genesis is written.
    pub fn head_number(&self) -> Result<Option<BlockNumber>> {
        self.meta(tables::META_HEAD)?
            .map(|v| {
                v.as_slice().try_into().map(u64::from_be_bytes).map_err(|_| Error::corrupt("meta", "head"))
            })
            .transpose()
    }

    /// Header of a canonical block.
    pub fn header(&self, number: BlockNumber) -> Result<Option<Header>> {
        self.decode::<tables::Headers, Header>(tables::number_key(number))
    }

    /// Hash of a canonical block.
    pub fn block_hash(&self, number: BlockNumber) -> Result<Option<B256>> {
        Ok(self.get::<tables::CanonicalHashes>(tables::number_key(number))?.map(|v| B256::from_slice(&v)))
    }

    /// Number of the block with this hash.
    pub fn block_number(&self, hash: &B256) -> Result<Option<BlockNumber>> {
        self.get::<tables::HeaderNumbers>(hash)?
            .map(|v| {
                v.as_slice()
                    .try_into()
                    .map(u64::from_be_bytes)
                    .map_err(|_| Error::corrupt(tables::HeaderNumbers::NAME, "number"))
            })
            .transpose()
    }

    /// A whole block: header, transactions and senders.
    pub fn block(&self, number: BlockNumber) -> Result<Option<StoredBlock>> {
        let Some(header) = self.header(number)? else { return Ok(None) };
        let hash = self
            .block_hash(number)?
            .ok_or_else(|| Error::corrupt(tables::CanonicalHashes::NAME, "missing hash"))?;
        let body: StoredBody = self
            .decode::<tables::Bodies, StoredBody>(tables::number_key(number))?
            .ok_or_else(|| Error::corrupt(tables::Bodies::NAME, "missing body"))?;
        Ok(Some(StoredBlock { header, hash, transactions: body.transactions, senders: body.senders }))
    }

    /// Receipts of a block, in transaction order.
    pub fn receipts(&self, number: BlockNumber) -> Result<Option<Vec<ReceiptEnvelope>>> {
        self.decode::<tables::Receipts, Vec<ReceiptEnvelope>>(tables::number_key(number))
    }

    /// A block's settlement data as the executor encoded it.
    pub fn block_settlement(&self, number: BlockNumber) -> Result<Option<Vec<u8>>> {
        self.get::<tables::BlockSettlement>(&tables::number_key(number))
    }

    /// Where a transaction was included, if it was.
    pub fn tx_location(&self, hash: &B256) -> Result<Option<TxLocation>> {
        self.get::<tables::TxLookup>(hash)?
            .map(|v| {
                if v.len() != 12 {
                    return Err(Error::corrupt(tables::TxLookup::NAME, "length"));
                }
                Ok(TxLocation {
                    block: u64::from_be_bytes(v[..8].try_into().expect("8 bytes")),
                    index: u32::from_be_bytes(v[8..].try_into().expect("4 bytes")),
                })
            })
            .transpose()
    }

    /// The trie account at a hashed address.
    pub fn account(&self, hashed_address: &B256) -> Result<Option<TrieAccount>> {
        self.decode::<tables::Accounts, TrieAccount>(hashed_address)
    }

    /// Every account in the state, by hashed address in key order (a full scan: for the
    /// layer's final balances, once).
    pub fn accounts(&self) -> Result<Vec<(B256, TrieAccount)>> {
        let mut out = Vec::new();
        for item in self.raw().iterator_cf(self.cf::<tables::Accounts>(), rocksdb::IteratorMode::Start) {
            let (key, value) = item?;
            let account = TrieAccount::decode(&mut &value[..])
                .map_err(|e| Error::corrupt(tables::Accounts::NAME, e))?;
            out.push((B256::from_slice(&key), account));
        }
        Ok(out)
    }

    /// A storage value (zero when unset).
    pub fn storage(&self, hashed_address: &B256, hashed_slot: &B256) -> Result<U256> {
        Ok(self
            .decode::<tables::Storage, U256>(tables::storage_key(hashed_address, hashed_slot))?
            .unwrap_or_default())
    }

    /// Contract code by hash.
    pub fn code(&self, code_hash: &B256) -> Result<Option<Bytes>> {
        Ok(self.get::<tables::Code>(code_hash)?.map(Bytes::from))
    }

    /// Appends an acknowledged transaction to the mempool journal. Not fsynced: it survives a
    /// crash of the process (RocksDB's WAL is written before this returns), not of the machine.
    pub fn journal_put(&self, hash: &B256, raw: &[u8]) -> Result<()> {
        Ok(self.inner.put_cf(self.cf::<tables::MempoolJournal>(), hash, raw)?)
    }

    /// Removes transactions from the mempool journal.
    pub fn journal_delete(&self, hashes: impl IntoIterator<Item = B256>) -> Result<()> {
        let cf = self.cf::<tables::MempoolJournal>();
        let mut batch = rocksdb::WriteBatch::default();
        for hash in hashes {
            batch.delete_cf(cf, hash);
        }
        Ok(self.inner.write(batch)?)
    }

    /// Every journaled transaction (raw), for re-admission after a restart.
    pub fn journal_all(&self) -> Result<Vec<(B256, Bytes)>> {
        self.inner
            .iterator_cf(self.cf::<tables::MempoolJournal>(), IteratorMode::Start)
            .map(|item| {
                let (k, v) = item?;
                Ok((B256::from_slice(&k), Bytes::from(v.to_vec())))
            })
            .collect()
    }

    /// Starts the write of one executed block.
    pub fn block_write(&self) -> BlockWrite {
        BlockWrite { db: self.clone(), batch: rocksdb::WriteBatch::default() }
    }
}

/// Everything one executed block changes, committed as one atomic RocksDB write.
pub struct BlockWrite {
    pub(crate) db: Db,
    pub(crate) batch: rocksdb::WriteBatch,
}

impl std::fmt::Debug for BlockWrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockWrite").field("ops", &self.batch.len()).finish()
    }
}

impl BlockWrite {
    /// Sets or clears an account leaf.
    pub fn account(&mut self, hashed_address: &B256, account: Option<&TrieAccount>) {
        let cf = self.db.cf::<tables::Accounts>();
        match account {
            Some(account) => self.batch.put_cf(cf, hashed_address, alloy::rlp::encode(account)),
            None => self.batch.delete_cf(cf, hashed_address),
        }
    }

    /// Removes every storage slot of an account (self-destruct or re-creation).
    pub fn wipe_storage(&mut self, hashed_address: &B256) {
        let cf = self.db.cf::<tables::Storage>();
        let from = tables::storage_key(hashed_address, &B256::ZERO);
        let to = tables::storage_key(hashed_address, &B256::repeat_byte(0xff));
        self.batch.delete_range_cf(cf, from, to);
        self.batch.delete_cf(cf, to);
        // Its stored branch nodes: every key is the address then nibble bytes (< 0x10).
        let mut end = hashed_address.to_vec();
        end.push(0x10);
        self.batch.delete_range_cf(self.db.cf::<tables::StorageTrie>(), hashed_address.to_vec(), end);
    }

    /// Sets or deletes one leaf row of a trie as raw bytes (the account or storage RLP).
    pub fn leaf(&mut self, id: TrieId, key: &B256, value: Option<&[u8]>) {
        let (cf, full_key) = match id {
            TrieId::Accounts => (self.db.cf::<tables::Accounts>(), key.to_vec()),
            TrieId::Storage(address) => {
                (self.db.cf::<tables::Storage>(), tables::storage_key(&address, key).to_vec())
            }
        };
        match value {
            Some(value) => self.batch.put_cf(cf, full_key, value),
            None => self.batch.delete_cf(cf, full_key),
        }
    }

    /// Stores a root computation's branch-node changes for trie `id`.
    pub fn trie_updates(&mut self, id: TrieId, updates: &TrieUpdates) {
        let cf = id.node_cf(&self.db);
        for path in &updates.removed {
            self.batch.delete_cf(cf, id.node_key(path));
        }
        for (path, node) in &updates.updated {
            self.batch.put_cf(cf, id.node_key(path), crate::trie::encode_node(node));
        }
    }

    /// Sets a storage slot; zero deletes it, as in the trie.
    pub fn storage(&mut self, hashed_address: &B256, hashed_slot: &B256, value: U256) {
        let cf = self.db.cf::<tables::Storage>();
        let key = tables::storage_key(hashed_address, hashed_slot);
        if value.is_zero() {
            self.batch.delete_cf(cf, key);
        } else {
            self.batch.put_cf(cf, key, alloy::rlp::encode(value));
        }
    }

    /// Stores contract code.
    pub fn code(&mut self, code_hash: &B256, code: &[u8]) {
        self.batch.put_cf(self.db.cf::<tables::Code>(), code_hash, code);
    }

    /// Stores a block with its receipts and makes it the head.
    pub fn block(&mut self, block: &StoredBlock, receipts: &[ReceiptEnvelope]) {
        let number = block.header.number;
        let key = tables::number_key(number);
        let mut header = Vec::with_capacity(600);
        block.header.encode(&mut header);
        self.batch.put_cf(self.db.cf::<tables::Headers>(), key, header);
        self.batch.put_cf(self.db.cf::<tables::CanonicalHashes>(), key, block.hash);
        self.batch.put_cf(self.db.cf::<tables::HeaderNumbers>(), block.hash, key);
        let body = StoredBody { transactions: block.transactions.clone(), senders: block.senders.clone() };
        self.batch.put_cf(self.db.cf::<tables::Bodies>(), key, alloy::rlp::encode(&body));
        self.batch.put_cf(self.db.cf::<tables::Receipts>(), key, alloy::rlp::encode(receipts.to_vec()));
        let lookup = self.db.cf::<tables::TxLookup>();
        for (index, tx) in block.transactions.iter().enumerate() {
            let mut location = [0u8; 12];
            location[..8].copy_from_slice(&key);
            location[8..].copy_from_slice(&(index as u32).to_be_bytes());
            self.batch.put_cf(lookup, tx.tx_hash(), location);
        }
        self.batch.put_cf(self.db.cf::<tables::Meta>(), tables::META_HEAD, key);
    }

    /// Stores a block's settlement data (opaque here; see `Db::block_settlement`).
    pub fn block_settlement(&mut self, number: BlockNumber, encoded: &[u8]) {
        self.batch.put_cf(self.db.cf::<tables::BlockSettlement>(), tables::number_key(number), encoded);
    }

    /// Drops transactions from the mempool journal in the same write as the block that
    /// included (or finally rejected) them, so none is ever lost or replayed across a crash.
    pub fn journal_delete(&mut self, hash: &B256) {
        self.batch.delete_cf(self.db.cf::<tables::MempoolJournal>(), hash);
    }

    /// Writes the genesis hash marker (genesis block only).
    pub fn genesis_marker(&mut self, hash: &B256) {
        self.batch.put_cf(self.db.cf::<tables::Meta>(), tables::META_GENESIS, hash);
    }

    /// Commits everything atomically.
    pub fn commit(self) -> Result<()> {
        Ok(self.db.raw().write(self.batch)?)
    }
}
