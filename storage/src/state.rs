//! The latest state as a revm database, and the ordered scans the state root is built from.

use crate::{
    Db, Error, Result,
    tables::{self, Table},
};
use alloy::primitives::{Address, B256, keccak256};
use revm::{
    bytecode::Bytecode,
    database_interface::DatabaseRef,
    primitives::{KECCAK_EMPTY, StorageKey, StorageValue},
    state::AccountInfo,
};
use rocksdb::{Direction, IteratorMode};
use std::collections::BTreeMap;

/// Reads the latest executed state. Implements revm's [`DatabaseRef`]: execution wraps it in a
/// `CacheDB` for one block, `eth_call` for one call.
#[derive(Debug, Clone)]
pub struct StateReader {
    db: Db,
}

impl StateReader {
    /// A reader over `db`'s latest state.
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// The database under this reader.
    pub fn db(&self) -> &Db {
        &self.db
    }
}

impl DatabaseRef for StateReader {
    type Error = Error;

    fn basic_ref(&self, address: Address) -> Result<Option<AccountInfo>> {
        Ok(self.db.account(&keccak256(address))?.map(|account| AccountInfo {
            balance: account.balance,
            nonce: account.nonce,
            code_hash: account.code_hash,
            account_id: None,
            code: None,
        }))
    }

    fn code_by_hash_ref(&self, code_hash: B256) -> Result<Bytecode> {
        if code_hash == KECCAK_EMPTY {
            return Ok(Bytecode::default());
        }
        let code = self
            .db
            .code(&code_hash)?
            .ok_or_else(|| Error::corrupt(tables::Code::NAME, format!("no code {code_hash}")))?;
        Ok(Bytecode::new_raw(code))
    }

    fn storage_ref(&self, address: Address, index: StorageKey) -> Result<StorageValue> {
        self.db.storage(&keccak256(address), &keccak256(B256::from(index)))
    }

    fn block_hash_ref(&self, number: u64) -> Result<B256> {
        // BLOCKHASH of an unknown block is zero, as in the EVM.
        Ok(self.db.block_hash(number)?.unwrap_or_default())
    }
}

/// Feeds `sink` every `(key suffix, value)` of a table under `prefix`, in key order, with the
/// `overlay` (changes not yet written: `None` deletes) merged over what is on disk. With
/// `skip_disk` only the overlay counts (a wiped storage trie).
///
/// This is how a block's new state root is computed before its one atomic write: the trie
/// leaves are the table rows, already sorted by their hashed keys.
pub fn merged_entries<T: Table>(
    db: &Db,
    prefix: &[u8],
    skip_disk: bool,
    overlay: &BTreeMap<B256, Option<Vec<u8>>>,
    mut sink: impl FnMut(&B256, &[u8]),
) -> Result<()> {
    let mut pending = overlay.iter().peekable();
    let mut flush_until = |bound: Option<&B256>, sink: &mut dyn FnMut(&B256, &[u8])| {
        while let Some((key, value)) = pending.peek() {
            if bound.is_some_and(|bound| *key >= bound) {
                break;
            }
            if let Some(value) = value {
                sink(key, value);
            }
            pending.next();
        }
    };
    if !skip_disk {
        let iter = db.raw().iterator_cf(db.cf::<T>(), IteratorMode::From(prefix, Direction::Forward));
        for item in iter {
            let (key, value) = item?;
            if !key.starts_with(prefix) {
                break;
            }
            let suffix = B256::from_slice(&key[prefix.len()..]);
            flush_until(Some(&suffix), &mut sink);
            if overlay.contains_key(&suffix) {
                // The overlay entry replaces this row; it is emitted by the flush below.
                continue;
            }
            sink(&suffix, &value);
        }
    }
    flush_until(None, &mut sink);
    Ok(())
}
