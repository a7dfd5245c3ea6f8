//! State changes and the state root they lead to.
//!
//! A block's changes are folded over the stored state (hashed-key tables, already in trie
//! order) to build the new storage and account tries with alloy-trie's `HashBuilder`, and are
//! added to the block's atomic write at the same time.

use crate::Result;
use alloy::primitives::{Address, B256, Bytes, U256, keccak256};
use alloy_trie::{EMPTY_ROOT_HASH, HashBuilder, KECCAK_EMPTY, Nibbles, TrieAccount};
use flashlayer_storage::{BlockWrite, Db, merged_entries, tables};
use std::collections::{BTreeMap, HashMap};

/// What a block did to one account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountChange {
    /// New nonce, balance and code hash; `None` deletes the account (self-destruct, or an
    /// empty account touched under EIP-161).
    pub info: Option<(u64, U256, B256)>,
    /// All previous storage is gone (self-destruct or creation over an old address).
    pub storage_wiped: bool,
    /// Slot -> new value (zero deletes).
    pub storage: HashMap<U256, U256>,
    /// Code to store for a newly created contract.
    pub new_code: Option<Bytes>,
}

/// A block's state changes, by account.
pub type StateChanges = HashMap<Address, AccountChange>;

fn trie_root(mut leaves: impl FnMut(&mut dyn FnMut(&B256, &[u8])) -> Result<()>) -> Result<B256> {
    let mut builder = HashBuilder::default();
    let mut any = false;
    leaves(&mut |key, value| {
        any = true;
        builder.add_leaf(Nibbles::unpack(key), value);
    })?;
    Ok(if any { builder.root() } else { EMPTY_ROOT_HASH })
}

/// Adds `changes` to `write` and returns the resulting state root.
pub fn apply_changes(db: &Db, changes: &StateChanges, write: &mut BlockWrite) -> Result<B256> {
    let mut account_overlay: BTreeMap<B256, Option<Vec<u8>>> = BTreeMap::new();
    for (address, change) in changes {
        let hashed = keccak256(address);
        let Some((nonce, balance, code_hash)) = change.info else {
            account_overlay.insert(hashed, None);
            write.account(&hashed, None);
            write.wipe_storage(&hashed);
            continue;
        };
        if change.storage_wiped {
            write.wipe_storage(&hashed);
        }
        let storage_root = if change.storage_wiped || !change.storage.is_empty() {
            let overlay: BTreeMap<B256, Option<Vec<u8>>> = change
                .storage
                .iter()
                .map(|(slot, value)| {
                    let hashed_slot = keccak256(B256::from(*slot));
                    write.storage(&hashed, &hashed_slot, *value);
                    (hashed_slot, (!value.is_zero()).then(|| alloy::rlp::encode(value)))
                })
                .collect();
            trie_root(|sink| {
                merged_entries::<tables::Storage>(db, hashed.as_slice(), change.storage_wiped, &overlay, sink)
                    .map_err(Into::into)
            })?
        } else {
            db.account(&hashed)?.map(|a| a.storage_root).unwrap_or(EMPTY_ROOT_HASH)
        };
        if let Some(code) = &change.new_code
            && code_hash != KECCAK_EMPTY
        {
            write.code(&code_hash, code);
        }
        let account = TrieAccount::new(nonce, balance, storage_root, code_hash);
        write.account(&hashed, Some(&account));
        account_overlay.insert(hashed, Some(alloy::rlp::encode(account)));
    }
    trie_root(|sink| {
        merged_entries::<tables::Accounts>(db, &[], false, &account_overlay, sink).map_err(Into::into)
    })
}
