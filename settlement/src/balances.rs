//! The final balances: what the layer's last batch commits to so that every account can take
//! its remaining ETH back on L1 once the layer is thrown away (`FlashLayer.claim`).
//!
//! The L2 state keys accounts by `keccak256(address)` and the node keeps no preimages, so the
//! tree is built over hashed addresses: leaf = `keccak256(keccak256(abi.encode(keccak256(address),
//! balance)))`, leaves in hashed-address order (the state table's order), combined by the
//! messages tree's rules ([`messages_root`]). The contract hashes the claimant's address itself
//! (`FlashLayer.balanceLeaf`).
//!
//! Left out: accounts with no ETH, `address(0)` (no one can claim for it) and the
//! `L2MessagePasser`, whose balance is ETH already withdrawn through messages (relayed from the
//! contract's funds, so counting it would pay it twice).

use crate::{Result, messages_root, proof};
use alloy::{
    primitives::{Address, B256, U256, keccak256},
    sol_types::SolValue,
};
use flashlayer_execution::messages::L2_MESSAGE_PASSER;
use flashlayer_storage::Db;
use serde::{Deserialize, Serialize};

/// One account's final balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FinalBalance {
    /// `keccak256(address)`.
    pub hashed_address: B256,
    /// Wei.
    pub balance: U256,
}

/// Every claimable balance at the layer's end and their root.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FinalBalances {
    /// The tree root (`balancesRoot` of the final batch).
    pub root: B256,
    /// The leaves' data, in tree order.
    pub accounts: Vec<FinalBalance>,
}

/// A claim's data: the balance and its proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceProof {
    /// Wei to claim.
    pub balance: U256,
    /// Siblings from leaf to root.
    pub proof: Vec<B256>,
}

/// The leaf of a balance (the contract's `balanceLeaf(account, amount)` with
/// `hashed_address = keccak256(account)`).
pub fn balance_leaf(hashed_address: B256, balance: U256) -> B256 {
    keccak256(keccak256((hashed_address, balance).abi_encode_params()))
}

impl FinalBalances {
    /// The balances in `db`'s current state.
    pub fn from_state(db: &Db) -> Result<Self> {
        let excluded = [keccak256(Address::ZERO), keccak256(L2_MESSAGE_PASSER)];
        let mut accounts = Vec::new();
        for (hashed_address, account) in db.accounts()? {
            if account.balance.is_zero() || excluded.contains(&hashed_address) {
                continue;
            }
            accounts.push(FinalBalance { hashed_address, balance: account.balance });
        }
        Ok(Self::from_accounts(accounts))
    }

    /// The tree over `accounts` (sorted by hashed address).
    pub fn from_accounts(mut accounts: Vec<FinalBalance>) -> Self {
        accounts.sort_by_key(|a| a.hashed_address);
        let leaves: Vec<B256> = accounts.iter().map(|a| balance_leaf(a.hashed_address, a.balance)).collect();
        Self { root: messages_root(&leaves), accounts }
    }

    /// The balance of `account` and its proof (`None`: nothing to claim).
    pub fn proof_of(&self, account: Address) -> Option<BalanceProof> {
        let hashed = keccak256(account);
        let position = self.accounts.binary_search_by_key(&hashed, |a| a.hashed_address).ok()?;
        let leaves: Vec<B256> =
            self.accounts.iter().map(|a| balance_leaf(a.hashed_address, a.balance)).collect();
        Some(BalanceProof { balance: self.accounts[position].balance, proof: proof(&leaves, position).ok()? })
    }

    /// Total wei claimable.
    pub fn total(&self) -> U256 {
        self.accounts.iter().map(|a| a.balance).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify;

    #[test]
    fn every_account_proves_against_the_root() {
        let addresses: Vec<Address> = (1..=7u8).map(Address::repeat_byte).collect();
        let accounts = addresses
            .iter()
            .enumerate()
            .map(|(i, a)| FinalBalance { hashed_address: keccak256(a), balance: U256::from(i + 1) })
            .collect();
        let balances = FinalBalances::from_accounts(accounts);
        for (i, a) in addresses.iter().enumerate() {
            let p = balances.proof_of(*a).unwrap();
            assert_eq!(p.balance, U256::from(i + 1));
            assert!(verify(&p.proof, balances.root, balance_leaf(keccak256(a), p.balance)));
            assert!(!verify(&p.proof, balances.root, balance_leaf(keccak256(a), p.balance + U256::from(1))));
        }
        assert!(balances.proof_of(Address::repeat_byte(9)).is_none());
        assert_eq!(balances.total(), U256::from(28));
    }
}
