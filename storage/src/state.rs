//! The latest state as a revm database.

use crate::{
    Db, Error, Result,
    tables::{self, Table},
};
use alloy::primitives::{Address, B256, BlockNumber, keccak256};
use alloy::rlp::Decodable;
use alloy_trie::TrieAccount;
use revm::{
    bytecode::Bytecode,
    database_interface::DatabaseRef,
    primitives::{KECCAK_EMPTY, StorageKey, StorageValue},
    state::AccountInfo,
};

/// Reads the latest executed state. Implements revm's [`DatabaseRef`]: execution wraps it in a
/// `CacheDB` for one block, `eth_call` for one call.
#[derive(Debug, Clone)]
pub struct StateReader {
    db: Db,
    /// The block whose state is read; `None` for the latest.
    at: Option<BlockNumber>,
}

impl StateReader {
    /// A reader over `db`'s latest state.
    pub fn new(db: Db) -> Self {
        Self { db, at: None }
    }

    /// A reader over the state as of block `at` (within the history window: the caller checks
    /// `Db::history_from`).
    pub fn at(db: Db, at: BlockNumber) -> Self {
        Self { db, at: Some(at) }
    }

    /// The database under this reader.
    pub fn db(&self) -> &Db {
        &self.db
    }
}

impl DatabaseRef for StateReader {
    type Error = Error;

    fn basic_ref(&self, address: Address) -> Result<Option<AccountInfo>> {
        let Some(rlp) = self.db.account_rlp_at(&keccak256(address), self.at)? else { return Ok(None) };
        let account = TrieAccount::decode(&mut rlp.as_slice())
            .map_err(|e| Error::corrupt(tables::Accounts::NAME, e))?;
        Ok(Some(AccountInfo {
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
        let Some(rlp) =
            self.db.storage_rlp_at(&keccak256(address), &keccak256(B256::from(index)), self.at)?
        else {
            return Ok(StorageValue::ZERO);
        };
        StorageValue::decode(&mut rlp.as_slice()).map_err(|e| Error::corrupt(tables::Storage::NAME, e))
    }

    fn block_hash_ref(&self, number: u64) -> Result<B256> {
        // BLOCKHASH of an unknown block is zero, as in the EVM.
        Ok(self.db.block_hash(number)?.unwrap_or_default())
    }
}
