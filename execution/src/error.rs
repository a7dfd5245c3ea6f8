use thiserror::Error;

/// Execution errors. Invalid transactions are not errors (they are skipped); these are the
/// failures that must stop the node.
#[derive(Debug, Error)]
pub enum Error {
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] flashlayer_storage::Error),
    /// The EVM reported an internal (non-transaction) error.
    #[error("evm: {0}")]
    Evm(String),
    /// The payload does not extend the executed head.
    #[error("payload at height {got} does not follow executed head {head}")]
    OutOfOrder {
        /// Height the payload was meant for.
        got: u64,
        /// Current executed head.
        head: u64,
    },
    /// The genesis stored differs from the layer's.
    #[error("datadir holds genesis {stored}, layer genesis is {expected}: wrong --datadir?")]
    GenesisMismatch {
        /// Stored genesis hash.
        stored: alloy::primitives::B256,
        /// Genesis hash of the layer description.
        expected: alloy::primitives::B256,
    },
    /// The node has no genesis yet.
    #[error("no genesis block in the database")]
    NoGenesis,
    /// A stored record does not decode.
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// The genesis alloc could not be read.
    #[error("genesis: {0}")]
    Genesis(String),
}

/// Result with the execution [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
