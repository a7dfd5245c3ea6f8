//! The final balances: what the layer's last batch commits to so that every account can take
//! its remaining ETH back on L1 once the layer is thrown away (`FlashLayer.claim`).
//!
//! The L2 state keys accounts by `keccak256(address)` and the node keeps no preimages, so the
//! tree is built over hashed addresses: leaf = `keccak256(keccak256(abi.encode(keccak256(address),
//! balance)))`, leaves in hashed-address order (the state table's order), combined by the
//! messages tree's rules ([`messages_root`]). The contract hashes the claimant's address itself
//! (`FlashLayer.balanceLeaf`). An account that named an L1 recipient on L2
//! (`L2MessagePasser.setClaimRecipient`, stored under its hashed address) gets the leaf
//! `keccak256(keccak256(abi.encode(keccak256(address), balance, recipient)))` instead
//! (`FlashLayer.balanceLeafTo`), payable only to that recipient (`claimTo`).
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
    /// The L1 address the balance is paid to, when the account named one on L2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<Address>,
}

impl FinalBalance {
    /// Its leaf in the balances tree.
    pub fn leaf(&self) -> B256 {
        match self.recipient {
            Some(recipient) => balance_leaf_to(self.hashed_address, self.balance, recipient),
            None => balance_leaf(self.hashed_address, self.balance),
        }
    }
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
    /// Where it is paid (`claimTo`), when the account named an L1 recipient; else to the
    /// account itself (`claim`).
    pub recipient: Option<Address>,
    /// Siblings from leaf to root.
    pub proof: Vec<B256>,
}

/// The leaf of a balance (the contract's `balanceLeaf(account, amount)` with
/// `hashed_address = keccak256(account)`).
pub fn balance_leaf(hashed_address: B256, balance: U256) -> B256 {
    keccak256(keccak256((hashed_address, balance).abi_encode_params()))
}

/// The leaf of a balance paid to a named L1 recipient (the contract's
/// `balanceLeafTo(account, amount, recipient)`).
pub fn balance_leaf_to(hashed_address: B256, balance: U256, recipient: Address) -> B256 {
    keccak256(keccak256((hashed_address, balance, recipient).abi_encode_params()))
}

/// The `L2MessagePasser` storage slot (already hashed, as the state stores it) holding the
/// claim recipient of the account with `hashed_address`: `claimRecipientOf` is the mapping at
/// slot 1, keyed by the hashed address.
pub fn claim_recipient_slot(hashed_address: B256) -> B256 {
    keccak256(keccak256((hashed_address, U256::from(1)).abi_encode_params()))
}

impl FinalBalances {
    /// The balances in `db`'s current state.
    pub fn from_state(db: &Db) -> Result<Self> {
        let passer = keccak256(L2_MESSAGE_PASSER);
        let excluded = [keccak256(Address::ZERO), passer];
        let mut accounts = Vec::new();
        for (hashed_address, account) in db.accounts()? {
            if account.balance.is_zero() || excluded.contains(&hashed_address) {
                continue;
            }
            let named = db.storage(&passer, &claim_recipient_slot(hashed_address))?;
            let recipient = (!named.is_zero()).then(|| Address::from_word(B256::from(named)));
            accounts.push(FinalBalance { hashed_address, balance: account.balance, recipient });
        }
        Ok(Self::from_accounts(accounts))
    }

    /// The tree over `accounts` (sorted by hashed address).
    pub fn from_accounts(mut accounts: Vec<FinalBalance>) -> Self {
        accounts.sort_by_key(|a| a.hashed_address);
        let leaves: Vec<B256> = accounts.iter().map(FinalBalance::leaf).collect();
        Self { root: messages_root(&leaves), accounts }
    }

    /// The balance of `account` and its proof (`None`: nothing to claim).
    pub fn proof_of(&self, account: Address) -> Option<BalanceProof> {
        let hashed = keccak256(account);
        let position = self.accounts.binary_search_by_key(&hashed, |a| a.hashed_address).ok()?;
        let leaves: Vec<B256> = self.accounts.iter().map(FinalBalance::leaf).collect();
        let account = &self.accounts[position];
        Some(BalanceProof {
            balance: account.balance,
            recipient: account.recipient,
            proof: proof(&leaves, position).ok()?,
        })
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
            .map(|(i, a)| FinalBalance {
                hashed_address: keccak256(a),
                balance: U256::from(i + 1),
                // every other account named an L1 recipient
                recipient: (i % 2 == 1).then(|| Address::repeat_byte(0xee)),
            })
            .collect();
        let balances = FinalBalances::from_accounts(accounts);
        for (i, a) in addresses.iter().enumerate() {
            let p = balances.proof_of(*a).unwrap();
            assert_eq!(p.balance, U256::from(i + 1));
            assert_eq!(p.recipient.is_some(), i % 2 == 1);
            let leaf = |balance| match p.recipient {
                Some(to) => balance_leaf_to(keccak256(a), balance, to),
                None => balance_leaf(keccak256(a), balance),
            };
            assert!(verify(&p.proof, balances.root, leaf(p.balance)));
            assert!(!verify(&p.proof, balances.root, leaf(p.balance + U256::from(1))));
            // a recipient's leaf does not prove as a plain one, nor the other way round
            let other = match p.recipient {
                Some(_) => balance_leaf(keccak256(a), p.balance),
                None => balance_leaf_to(keccak256(a), p.balance, Address::repeat_byte(0xee)),
            };
            assert!(!verify(&p.proof, balances.root, other));
        }
        assert!(balances.proof_of(Address::repeat_byte(9)).is_none());
        assert_eq!(balances.total(), U256::from(28));
    }
}
