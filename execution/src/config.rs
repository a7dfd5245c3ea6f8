//! Execution parameters of a layer.

use alloy::{
    eips::eip1559::BaseFeeParams,
    genesis::Genesis,
    primitives::{Address, B256},
};
use revm::primitives::hardfork::SpecId;
use serde::{Deserialize, Serialize};

/// The EVM rules every layer runs: the current Ethereum hardfork.
pub const SPEC: SpecId = SpecId::OSAKA;

/// How transaction fees work on a layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum FeeMode {
    /// Ethereum's EIP-1559 base fee, adjusted block by block from the genesis base fee.
    #[default]
    Eip1559,
    /// Base fee fixed at zero: transactions may pay nothing (pre-funded accounts, mint events).
    Gasless,
}

/// What execution needs to know about a layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainConfig {
    /// L2 chain id (EIP-155).
    pub chain_id: u64,
    /// Fee rules.
    pub fee_mode: FeeMode,
    /// Receives priority fees.
    pub fee_recipient: Address,
    /// Genesis in geth's format: alloc, gas limit, timestamp, base fee. A parsed alloc larger
    /// than [`crate::genesis::KEEP_ALLOC_UP_TO`] is left out (see `alloc_file`).
    pub genesis: Genesis,
    /// The file the genesis alloc is streamed from at genesis, when it was too large to keep
    /// (set by whoever read the description from that file; see [`crate::genesis`]).
    #[serde(skip)]
    pub alloc_file: Option<std::path::PathBuf>,
    /// Number of alloc entries left out of `genesis` when parsing (`None`: all kept).
    #[serde(skip)]
    pub alloc_dropped: Option<u64>,
}

impl<'de> Deserialize<'de> for ChainConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        /// The serialized shape; the genesis goes through the alloc-bounding parse.
        #[derive(Deserialize)]
        struct Repr {
            chain_id: u64,
            #[serde(default)]
            fee_mode: FeeMode,
            #[serde(default)]
            fee_recipient: Address,
            #[serde(deserialize_with = "crate::genesis::deserialize_genesis")]
            genesis: (Genesis, Option<u64>),
        }
        let repr = Repr::deserialize(d)?;
        Ok(Self {
            chain_id: repr.chain_id,
            fee_mode: repr.fee_mode,
            fee_recipient: repr.fee_recipient,
            genesis: repr.genesis.0,
            alloc_file: None,
            alloc_dropped: repr.genesis.1,
        })
    }
}

impl ChainConfig {
    /// Block gas limit (fixed for the layer's life).
    pub fn gas_limit(&self) -> u64 {
        self.genesis.gas_limit
    }

    /// Base fee of the genesis block.
    pub fn genesis_base_fee(&self) -> u64 {
        match self.fee_mode {
            FeeMode::Gasless => 0,
            FeeMode::Eip1559 => self.genesis.base_fee_per_gas.unwrap_or(1_000_000_000) as u64,
        }
    }

    /// Base fee of the block after one with these figures.
    pub fn next_base_fee(&self, parent_gas_used: u64, parent_base_fee: u64) -> u64 {
        match self.fee_mode {
            FeeMode::Gasless => 0,
            FeeMode::Eip1559 => BaseFeeParams::ethereum().next_block_base_fee(
                parent_gas_used,
                self.gas_limit(),
                parent_base_fee,
            ),
        }
    }

    /// Largest gas limit a single transaction may have: the block limit, capped by Osaka's
    /// per-transaction cap (EIP-7825).
    pub fn max_tx_gas(&self) -> u64 {
        self.gas_limit().min(revm::primitives::eip7825::TX_GAS_LIMIT_CAP)
    }

    /// Sum of the genesis balances (what an L1 contract must back), streamed from
    /// `alloc_file` when the alloc was too large to keep.
    pub fn genesis_supply(&self) -> crate::Result<alloy::primitives::U256> {
        match &self.alloc_file {
            Some(path) if self.alloc_dropped.is_some() => {
                let mut supply = alloy::primitives::U256::ZERO;
                crate::genesis::stream_alloc(path, |_, account| {
                    supply += account.balance;
                    Ok(())
                })?;
                Ok(supply)
            }
            _ => Ok(self.genesis.alloc.values().map(|a| a.balance).sum()),
        }
    }

    /// Placeholder for the parent beacon root: a layer has no beacon chain.
    pub fn beacon_root(&self) -> B256 {
        B256::ZERO
    }
}
