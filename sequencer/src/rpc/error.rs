//! JSON-RPC errors with geth's codes and messages.

use crate::mempool::AdmitError;
use alloy::primitives::Bytes;
use jsonrpsee::types::ErrorObjectOwned;

/// geth's code for server-side failures (`-32000`).
pub const SERVER_ERROR: i32 = -32000;
/// geth's code for reverted calls, with the revert data attached.
pub const EXECUTION_REVERTED: i32 = 3;
/// Invalid params.
pub const INVALID_PARAMS: i32 = -32602;
/// Internal error.
pub const INTERNAL_ERROR: i32 = -32603;

/// Every error an RPC handler returns.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// A transaction was refused by the mempool.
    #[error(transparent)]
    Admit(#[from] AdmitError),
    /// The named block does not exist.
    #[error("header not found")]
    HeaderNotFound,
    /// State of a block below the history window was asked for.
    #[error(
        "historical state {root} is not available: block {number} is older than this node's history window \
         (oldest block with state: {oldest}, and the last block of each settlement batch; see --state-history)"
    )]
    NoHistoricalState {
        /// The block asked for.
        number: u64,
        /// Its state root.
        root: alloy::primitives::B256,
        /// The oldest block whose state the node keeps.
        oldest: u64,
    },
    /// A call reverted.
    #[error("execution reverted{}", reason.as_ref().map(|r| format!(": {r}")).unwrap_or_default())]
    Reverted {
        /// Decoded `Error(string)` reason, if any.
        reason: Option<String>,
        /// Raw revert data.
        data: Bytes,
    },
    /// A call halted (out of gas, invalid opcode, ...) or was not a valid transaction.
    #[error("{0}")]
    Execution(String),
    /// The request is malformed.
    #[error("{0}")]
    InvalidParams(String),
    /// A limit was hit.
    #[error("{0}")]
    Limit(String),
    /// The layer takes no more transactions (its end is due or past).
    #[error("layer closed: {0}; it takes no more transactions")]
    Closed(String),
    /// Filter id not known (expired or never made).
    #[error("filter not found")]
    FilterNotFound,
    /// Storage failed.
    #[error("internal error: {0}")]
    Storage(#[from] flashlayer_storage::Error),
}

impl From<RpcError> for ErrorObjectOwned {
    fn from(e: RpcError) -> Self {
        match &e {
            RpcError::Admit(AdmitError::Storage(_) | AdmitError::Shutdown) | RpcError::Storage(_) => {
                ErrorObjectOwned::owned(INTERNAL_ERROR, e.to_string(), None::<()>)
            }
            RpcError::Reverted { data, .. } => {
                ErrorObjectOwned::owned(EXECUTION_REVERTED, e.to_string(), Some(data.to_string()))
            }
            RpcError::InvalidParams(_) => ErrorObjectOwned::owned(INVALID_PARAMS, e.to_string(), None::<()>),
            _ => ErrorObjectOwned::owned(SERVER_ERROR, e.to_string(), None::<()>),
        }
    }
}

/// Result of an RPC handler.
pub type RpcResult<T> = Result<T, ErrorObjectOwned>;

/// Decodes the reason of a Solidity `Error(string)` revert, as geth shows it.
pub fn revert_reason(data: &[u8]) -> Option<String> {
    use alloy::sol_types::{Revert, SolError};
    Revert::abi_decode(data).ok().map(|r| r.reason)
}
