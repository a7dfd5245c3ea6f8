//! `hotstuff_rs` `KVStore` backend on the `consensus` column family.

use crate::tables::{Consensus, Table};
use hotstuff_rs::{
    block_tree::pluggables::{KVGet, KVGetError, KVStore, Key, WriteBatch},
    types::data_types::{CryptoHash, Data},
};
use rocksdb::{DB, SnapshotWithThreadMode, WriteOptions};
use std::sync::Arc;

type OnWrite = Arc<dyn Fn() + Send + Sync>;

/// The HotStuff block tree's key-value store.
///
/// Writes are synced to disk before `write` returns: hotstuff_rs writes its state (locked and
/// highest certificates, voted view) before it sends the vote that state backs, so a vote never
/// outlives a crash that forgot it. A failing write panics the consensus thread on purpose: a
/// node that cannot persist must go down loudly, never keep voting half-alive.
#[derive(Clone)]
pub struct ConsensusStore {
    db: Arc<DB>,
    sync: bool,
    on_write: Option<OnWrite>,
}

impl std::fmt::Debug for ConsensusStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsensusStore").field("sync", &self.sync).finish()
    }
}

impl ConsensusStore {
    pub(crate) fn new(db: Arc<DB>) -> Self {
        Self { db, sync: true, on_write: None }
    }

    /// Calls `hook` after every write. The executor uses it as its wake-up: a commit in the
    /// block tree is always one of these writes, so no event handler (and no busy event-bus
    /// thread in hotstuff_rs) is needed.
    pub fn with_write_hook(mut self, hook: impl Fn() + Send + Sync + 'static) -> Self {
        self.on_write = Some(Arc::new(hook));
        self
    }

    /// Turns off fsync of consensus writes (tests and benchmarks on tmpfs only).
    pub fn without_sync(mut self) -> Self {
        self.sync = false;
        self
    }

    fn cf(&self) -> &rocksdb::ColumnFamily {
        self.db.cf_handle(Consensus::NAME).expect("consensus column family is opened with the db")
    }
}

/// A batch of block tree writes, applied atomically by [`ConsensusStore`].
#[derive(Debug, Default)]
pub struct ConsensusWriteBatch {
    ops: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

impl WriteBatch for ConsensusWriteBatch {
    fn new() -> Self {
        Self::default()
    }

    fn set(&mut self, key: &[u8], value: &[u8]) {
        self.ops.push((key.to_vec(), Some(value.to_vec())));
    }

    fn delete(&mut self, key: &[u8]) {
        self.ops.push((key.to_vec(), None));
    }
}

impl KVGet for ConsensusStore {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.db.get_cf(self.cf(), key).expect("consensus store read failed")
    }

    fn block_data(&self, block: &CryptoHash) -> Result<Option<Data>, KVGetError> {
        block_data(self, block)
    }
}

/// hotstuff_rs 0.4.0's default `KVGet::block_data` returns every block's data empty: it runs
/// `find` over its datum iterator to check that none is missing, which consumes the iterator,
/// then collects what is left (nothing). Block sync serves blocks through it, so every store
/// overrides it with this correct version.
fn block_data<S: KVGet + ?Sized>(store: &S, block: &CryptoHash) -> Result<Option<Data>, KVGetError> {
    let Some(len) = store.block_data_len(block)? else { return Ok(None) };
    let data = (0..len.int())
        .map(|i| store.block_datum(block, i))
        .collect::<Option<Vec<_>>>()
        .ok_or(KVGetError::ValueExpectedButNotFound { key: Key::BlockData { block: *block } })?;
    Ok(Some(Data::new(data)))
}

impl KVStore for ConsensusStore {
    type WriteBatch = ConsensusWriteBatch;
    type Snapshot<'a> = ConsensusSnapshot<'a>;

    fn write(&mut self, wb: Self::WriteBatch) {
        let cf = self.cf();
        let mut batch = rocksdb::WriteBatch::default();
        for (key, value) in wb.ops {
            match value {
                Some(value) => batch.put_cf(cf, key, value),
                None => batch.delete_cf(cf, key),
            }
        }
        let mut opts = WriteOptions::default();
        opts.set_sync(self.sync);
        self.db.write_opt(batch, &opts).expect("consensus store write failed");
        if let Some(hook) = &self.on_write {
            hook();
        }
    }

    fn clear(&mut self) {
        let cf = self.cf();
        let mut batch = rocksdb::WriteBatch::default();
        for item in self.db.iterator_cf(cf, rocksdb::IteratorMode::Start) {
            let (key, _) = item.expect("consensus store scan failed");
            batch.delete_cf(cf, key);
        }
        self.db.write(batch).expect("consensus store clear failed");
    }

    fn snapshot(&self) -> Self::Snapshot<'_> {
        ConsensusSnapshot { store: self, snapshot: self.db.snapshot() }
    }
}

/// A consistent read view of the block tree.
pub struct ConsensusSnapshot<'a> {
    store: &'a ConsensusStore,
    snapshot: SnapshotWithThreadMode<'a, DB>,
}

impl KVGet for ConsensusSnapshot<'_> {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.snapshot.get_cf(self.store.cf(), key).expect("consensus snapshot read failed")
    }

    fn block_data(&self, block: &CryptoHash) -> Result<Option<Data>, KVGetError> {
        block_data(self, block)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Db;
    use borsh::BorshSerialize;
    use hotstuff_rs::block_tree::variables::{BLOCK_DATA, BLOCK_DATA_LEN, BLOCKS};
    use hotstuff_rs::types::data_types::{DataLen, Datum};

    /// The block tree's data round-trips through the store (the library default loses it).
    #[test]
    fn block_data_roundtrip() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Db::open(dir.path()).unwrap().consensus_store().without_sync();
        let block = CryptoHash::new([7; 32]);
        // Keys as hotstuff_rs lays them out: BLOCKS ++ hash ++ field (++ index).
        let prefix = |field: &[u8]| [&BLOCKS[..], &block.bytes(), field].concat();
        let mut wb = ConsensusWriteBatch::new();
        wb.set(&prefix(&BLOCK_DATA_LEN), &DataLen::new(2).try_to_vec().unwrap());
        wb.set(&[prefix(&BLOCK_DATA), 0u32.try_to_vec().unwrap()].concat(), b"first");
        wb.set(&[prefix(&BLOCK_DATA), 1u32.try_to_vec().unwrap()].concat(), b"second");
        store.write(wb);
        let data = store.block_data(&block).unwrap().unwrap();
        let datums: Vec<&Datum> = data.iter().collect();
        assert_eq!(datums.len(), 2);
        assert_eq!(datums[1].bytes(), b"second");
        assert_eq!(store.snapshot().block_data(&block).unwrap().unwrap().len().int(), 2);
    }
}
