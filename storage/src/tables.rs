//! Column families as typed tables.
//!
//! Each table names its column family and documents its key and value encodings. Ethereum
//! objects are stored in their canonical RLP / EIP-2718 encodings; numbers as big-endian so that
//! RocksDB's byte order is numeric order.

use alloy::primitives::{B256, BlockNumber};

/// A column family: its name, and the Rust types its keys and values stand for.
pub trait Table {
    /// Column family name.
    const NAME: &'static str;
}

macro_rules! table {
    ($(#[$doc:meta])* $name:ident = $cf:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $name;
        impl Table for $name {
            const NAME: &'static str = $cf;
        }
    };
}

table!(
    /// hotstuff_rs block tree: raw keys and values chosen by the library.
    Consensus = "consensus"
);
table!(
    /// Block number (u64 BE) -> RLP Ethereum header.
    Headers = "headers"
);
table!(
    /// Block number (u64 BE) -> block hash: the canonical chain.
    CanonicalHashes = "canonical"
);
table!(
    /// Block hash -> block number (u64 BE).
    HeaderNumbers = "header_numbers"
);
table!(
    /// Block number (u64 BE) -> RLP list of EIP-2718 transactions, then the senders (20 bytes
    /// each, same order) so that RPC never recovers a signature twice.
    Bodies = "bodies"
);
table!(
    /// Block number (u64 BE) -> RLP list of EIP-2718 receipts.
    Receipts = "receipts"
);
table!(
    /// Transaction hash -> block number (u64 BE) ++ index in block (u32 BE).
    TxLookup = "tx_lookup"
);
table!(
    /// keccak(address) -> RLP trie account (nonce, balance, storage root, code hash): the leaf
    /// of the state trie, so the state root is a scan in key order.
    Accounts = "accounts"
);
table!(
    /// keccak(address) ++ keccak(slot) -> RLP value: the leaves of every storage trie.
    Storage = "storage"
);
table!(
    /// Nibble path (one byte per nibble) -> branch node of the account trie, in the encoding of
    /// `trie::encode_node`: the stored nodes that make the state root incremental.
    AccountTrie = "account_trie"
);
table!(
    /// keccak(address) ++ nibble path -> branch node of that account's storage trie.
    StorageTrie = "storage_trie"
);
table!(
    /// keccak(address) ++ block number (u64 BE) -> the RLP account before that block changed it
    /// (empty: it did not exist). See `history`.
    AccountHistory = "account_history"
);
table!(
    /// keccak(address) ++ keccak(slot) ++ block number (u64 BE) -> the RLP value before that
    /// block changed it (empty: zero).
    StorageHistory = "storage_history"
);
table!(
    /// Block number (u64 BE) ++ kind (0 account, 1 storage) ++ hashed key -> nothing: the keys
    /// each block of the history window changed, to prune and to build past tries.
    ChangeSets = "change_sets"
);
table!(
    /// Code hash -> contract bytecode.
    Code = "code"
);
table!(
    /// Transaction hash -> raw EIP-2718 transaction: the mempool journal of acknowledged
    /// transactions not yet executed.
    MempoolJournal = "mempool"
);
table!(
    /// Block number (u64 BE) -> the block's settlement data (L1 origin, deposits credited,
    /// L2->L1 messages sent), encoded by the execution crate: what batches commit to.
    BlockSettlement = "block_settlement"
);
table!(
    /// Named node metadata: schema version, head block number.
    Meta = "meta"
);

/// Every column family the node opens.
pub const ALL: &[&str] = &[
    Consensus::NAME,
    Headers::NAME,
    CanonicalHashes::NAME,
    HeaderNumbers::NAME,
    Bodies::NAME,
    Receipts::NAME,
    TxLookup::NAME,
    Accounts::NAME,
    Storage::NAME,
    AccountTrie::NAME,
    StorageTrie::NAME,
    AccountHistory::NAME,
    StorageHistory::NAME,
    ChangeSets::NAME,
    Code::NAME,
    MempoolJournal::NAME,
    BlockSettlement::NAME,
    Meta::NAME,
];

/// Big-endian key for a block number.
pub fn number_key(number: BlockNumber) -> [u8; 8] {
    number.to_be_bytes()
}

/// Key of one storage slot: hashed address then hashed slot.
pub fn storage_key(hashed_address: &B256, hashed_slot: &B256) -> [u8; 64] {
    let mut key = [0u8; 64];
    key[..32].copy_from_slice(hashed_address.as_slice());
    key[32..].copy_from_slice(hashed_slot.as_slice());
    key
}

/// Meta key of the executed head block number.
pub const META_HEAD: &[u8] = b"head";
/// Meta key of the schema version.
pub const META_SCHEMA: &[u8] = b"schema";
/// Meta key of the oldest block whose state is kept (the history window's bottom).
pub const META_HISTORY_FROM: &[u8] = b"history_from";
/// Meta key prefix of a retained state (`retain/` ++ block number, big-endian): a settlement
/// batch boundary whose state stays readable and provable below the history window.
pub const META_RETAINED: &[u8] = b"retain/";
/// Meta key of the prune floor: the highest block the history window may pass, the last
/// retained batch boundary of a node that retains them (`Db::hold_pruning_at`).
pub const META_PRUNE_FLOOR: &[u8] = b"prune_floor";
/// Meta key of the genesis hash, to refuse a datadir of another chain.
pub const META_GENESIS: &[u8] = b"genesis";
