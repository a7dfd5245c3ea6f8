//! The EVM environment of a block, and calls simulated against the latest state.

use crate::{ChainConfig, SPEC};
use alloy::primitives::{B256, U256};
use alloy_evm::{Evm, EvmEnv, EvmFactory, eth::EthEvmFactory};
use flashlayer_storage::StateReader;
use revm::{
    context::{BlockEnv, CfgEnv, TxEnv},
    context_interface::{
        block::BlobExcessGasAndPrice,
        result::{EVMError, ExecutionResult, HaltReason},
    },
    database::CacheDB,
};

/// The EVM environment for block `number`: chain id, hardfork, fee recipient and limits.
pub fn evm_env(config: &ChainConfig, number: u64, timestamp: u64, base_fee: u64, prevrandao: B256) -> EvmEnv {
    let mut cfg = CfgEnv::new_with_spec(SPEC);
    cfg.chain_id = config.chain_id;
    let block = BlockEnv {
        number: U256::from(number),
        beneficiary: config.fee_recipient,
        timestamp: U256::from(timestamp),
        gas_limit: config.gas_limit(),
        basefee: base_fee,
        difficulty: U256::ZERO,
        prevrandao: Some(prevrandao),
        blob_excess_gas_and_price: Some(BlobExcessGasAndPrice::new(0, 1)),
        ..Default::default()
    };
    EvmEnv { cfg_env: cfg, block_env: block }
}

/// Why a simulated call could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    /// The call is not a valid transaction (funds, nonce, fee, gas).
    #[error("{0}")]
    Invalid(String),
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] flashlayer_storage::Error),
    /// Internal EVM failure.
    #[error("evm: {0}")]
    Evm(String),
}

/// Runs `tx` against the latest state in the environment `env` and discards its changes:
/// `eth_call` and `eth_estimateGas`.
pub fn simulate(
    state: &StateReader,
    env: EvmEnv,
    tx: TxEnv,
) -> Result<ExecutionResult<HaltReason>, SimulateError> {
    let env = call_env(env, &tx);
    let mut evm = EthEvmFactory::default().create_evm(CacheDB::new(state.clone()), env);
    match evm.transact(tx) {
        Ok(out) => Ok(out.result),
        Err(EVMError::Transaction(e)) => Err(SimulateError::Invalid(e.to_string())),
        Err(EVMError::Database(e)) => Err(e.into()),
        Err(e) => Err(SimulateError::Evm(e.to_string())),
    }
}

/// The environment a call runs in (`eth_call`, `eth_estimateGas`, `debug_traceCall`): `env`
/// with the checks that do not apply to a call turned off.
pub(crate) fn call_env(mut env: EvmEnv, tx: &TxEnv) -> EvmEnv {
    // As geth: a call that names no gas price is not held to the base fee.
    if tx.gas_price == 0 && tx.gas_priority_fee.unwrap_or_default() == 0 {
        env.cfg_env.disable_base_fee = true;
    }
    // Calls default to nonce checks off: the caller's nonce is not what is being asked about.
    env.cfg_env.disable_nonce_check = true;
    env
}
