use thiserror::Error;

/// Consensus errors.
#[derive(Debug, Error)]
pub enum Error {
    /// The block tree could not be read.
    #[error("block tree: {0}")]
    BlockTree(String),
    /// A committed block's data is not a payload: the block tree is corrupt.
    #[error("committed block at height {height} holds no valid payload: {reason}")]
    BadCommittedPayload {
        /// Consensus height.
        height: u64,
        /// What is wrong.
        reason: String,
    },
    /// The validator set in the layer description is unusable.
    #[error("invalid validator set: {0}")]
    ValidatorSet(String),
}

/// Result with the consensus [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
