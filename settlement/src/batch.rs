//! The settlement batch: EIP-712 hashing, signing, recovery and quorum collection.
//!
//! Every node signs the same [`Batch`] with its settlement key; the submitter needs
//! [`FlashLayer::submitBatch`](crate::bindings::FlashLayer::submitBatchCall)'s form of the
//! signatures: 65 bytes `r ++ s ++ v` (v 27/28, low s), at least `threshold` of them, ordered by
//! strictly ascending signer address. [`SignatureSet`] turns gossiped signatures into that.

use crate::{Error, Result};
use alloy::{
    primitives::{Address, B256, Bytes, Signature, U256, keccak256},
    signers::{SignerSync, local::PrivateKeySigner},
    sol_types::{Eip712Domain, SolStruct, SolValue, eip712_domain},
};
use std::collections::{BTreeMap, BTreeSet};

/// A settlement batch, the contract's `FlashLayer.Batch` (generated from its ABI, so it is the
/// exact type `submitBatch` takes). Its EIP-712 type is
/// `Batch(uint64 index,bytes32 prevBatchHash,uint64 firstBlock,uint64 lastBlock,bytes32 lastBlockHash,bytes32 stateRoot,bytes32 txDataHash,bytes32 messagesRoot,uint64 lastDepositNonce,bytes32 depositsHash)`.
pub use crate::bindings::FlashLayer::Batch;

/// The EIP-712 domain name of the FlashLayer contract.
pub const DOMAIN_NAME: &str = "FlashLayer";
/// The EIP-712 domain version of the FlashLayer contract.
pub const DOMAIN_VERSION: &str = "1";

alloy::sol! {
    /// A signer-set change as the outgoing set signs it: installed right after batch
    /// `afterBatch` (the outgoing set's last), applying membership change `membershipNonce`.
    /// `signers` is an `address[]`, which EIP-712 hashes as keccak256 of the 32-byte padded
    /// addresses: the contract's `keccak256(abi.encodePacked(signers))`.
    struct SignerSetUpdate {
        uint64 epoch;
        uint64 afterBatch;
        uint64 membershipNonce;
        address[] signers;
        uint256 threshold;
    }
}

/// The EIP-712 domain of the FlashLayer deployment `contract` on L1 chain `l1_chain_id`.
/// Signatures are bound to it: one over another chain or contract recovers to a non-member.
pub fn domain(l1_chain_id: u64, contract: Address) -> Eip712Domain {
    eip712_domain! {
        name: DOMAIN_NAME,
        version: DOMAIN_VERSION,
        chain_id: l1_chain_id,
        verifying_contract: contract,
    }
}

/// The batch's EIP-712 struct hash: what the contract stores as the batch hash (`batchHash(b)`)
/// and what the next batch's `prevBatchHash` must be.
pub fn batch_hash(batch: &Batch) -> B256 {
    batch.eip712_hash_struct()
}

/// The digest the cluster signs: `keccak256(0x1901 ++ domainSeparator ++ batch_hash)`
/// (the contract's `batchDigest(b)`).
pub fn signing_hash(batch: &Batch, domain: &Eip712Domain) -> B256 {
    batch.eip712_signing_hash(domain)
}

/// The digest the current signer set signs to replace itself (the contract's
/// `signerSetUpdateDigest(newEpoch, afterBatch, membershipNonce, newSigners, newThreshold)`);
/// `new_epoch` is `epoch() + 1`.
pub fn signer_set_update_signing_hash(
    new_epoch: u64,
    after_batch: u64,
    membership_nonce: u64,
    new_signers: &[Address],
    new_threshold: u64,
    domain: &Eip712Domain,
) -> B256 {
    SignerSetUpdate {
        epoch: new_epoch,
        afterBatch: after_batch,
        membershipNonce: membership_nonce,
        signers: new_signers.to_vec(),
        threshold: U256::from(new_threshold),
    }
    .eip712_signing_hash(domain)
}

/// The EIP-712 type of the final batch (the contract's `FINAL_BATCH_TYPEHASH` preimage): the
/// last batch and the root of the final balances ([`crate::balances`]).
pub const FINAL_BATCH_TYPE: &str = "FinalBatch(Batch batch,bytes32 balancesRoot)Batch(uint64 index,bytes32 prevBatchHash,uint64 firstBlock,uint64 lastBlock,bytes32 lastBlockHash,bytes32 stateRoot,bytes32 txDataHash,bytes32 messagesRoot,uint64 lastDepositNonce,bytes32 depositsHash)";

/// The digest the cluster signs for the final batch (the contract's
/// `finalBatchDigest(b, balancesRoot)`). Hand-written rather than a `sol!` struct because
/// `Batch` comes from the contract's ABI, which a second `sol!` block cannot nest.
pub fn final_signing_hash(batch: &Batch, balances_root: B256, domain: &Eip712Domain) -> B256 {
    let struct_hash = keccak256(
        (keccak256(FINAL_BATCH_TYPE.as_bytes()), batch_hash(batch), balances_root).abi_encode_params(),
    );
    let mut preimage = [0u8; 66];
    preimage[..2].copy_from_slice(&[0x19, 0x01]);
    preimage[2..34].copy_from_slice(domain.separator().as_slice());
    preimage[34..].copy_from_slice(struct_hash.as_slice());
    keccak256(preimage)
}

/// Signs `batch` for the deployment of `domain`: 65 bytes `r ++ s ++ v`, v 27/28, low s.
pub fn sign(batch: &Batch, domain: &Eip712Domain, key: &PrivateKeySigner) -> Result<Bytes> {
    sign_digest(&signing_hash(batch, domain), key)
}

/// Signs a digest in the contract's signature format (65 bytes `r ++ s ++ v`, v 27/28, low s).
pub fn sign_digest(digest: &B256, key: &PrivateKeySigner) -> Result<Bytes> {
    // k256 already produces low-s signatures; normalizing anyway costs nothing and makes the
    // contract's malleability rule a local guarantee rather than a property of the signer.
    let signature = key.sign_hash_sync(digest)?.normalized_s();
    // `as_bytes` writes v as 27 + y parity, the form `ecrecover` wants.
    Ok(Bytes::from(signature.as_bytes()))
}

/// The address that signed `batch` with `signature`, under the contract's rules.
pub fn recover(batch: &Batch, domain: &Eip712Domain, signature: &[u8]) -> Result<Address> {
    recover_digest(&signing_hash(batch, domain), signature)
}

/// The address that signed `digest` with `signature`, applying the contract's rules (OpenZeppelin
/// `ECDSA.tryRecover`): exactly 65 bytes, v 27 or 28, s in the lower half. Alloy's parser alone
/// would also take v 0/1 or EIP-155 values and high s, which the contract rejects.
pub fn recover_digest(digest: &B256, signature: &[u8]) -> Result<Address> {
    let raw: &[u8; 65] = signature.try_into().map_err(|_| Error::SignatureLength(signature.len()))?;
    let v = raw[64];
    if v != 27 && v != 28 {
        return Err(Error::SignatureV(v));
    }
    let signature = Signature::from_bytes_and_parity(&raw[..64], v == 28);
    if signature.normalize_s().is_some() {
        return Err(Error::SignatureHighS);
    }
    Ok(signature.recover_address_from_prehash(digest)?)
}

/// The smallest threshold the contract accepts for `n` signers: `floor(2n/3) + 1`, the least `t`
/// with `3t > 2n` (4 -> 3, 7 -> 5, 10 -> 7).
pub const fn threshold_for(n: usize) -> usize {
    2 * n / 3 + 1
}

/// The signatures gathered for one digest (a batch's [`signing_hash`], or a signer-set update)
/// from the members of a signer set.
///
/// Signatures arrive by gossip, so each is checked on arrival: it must recover to the member
/// that claims it. One signature per member is kept (the first). [`quorum`](Self::quorum)
/// gives the contract's form once `threshold` members have signed.
#[derive(Debug, Clone)]
pub struct SignatureSet {
    digest: B256,
    members: BTreeSet<Address>,
    threshold: usize,
    /// Keyed by signer: iteration is in ascending address order, the contract's order.
    signatures: BTreeMap<Address, Bytes>,
}

impl SignatureSet {
    /// An empty set for `digest`, signed by `members` with quorum `threshold`
    /// (`1..=members.len()`; use the contract's `threshold()`).
    pub fn new(digest: B256, members: impl IntoIterator<Item = Address>, threshold: usize) -> Result<Self> {
        let members: BTreeSet<Address> = members.into_iter().collect();
        if threshold == 0 || threshold > members.len() {
            return Err(Error::InvalidThreshold { threshold, members: members.len() });
        }
        Ok(Self { digest, members, threshold, signatures: BTreeMap::new() })
    }

    /// The digest the signatures are over.
    pub fn digest(&self) -> B256 {
        self.digest
    }

    /// Adds `signature`, claimed by `signer`. `Ok(true)` if it is the member's first signature,
    /// `Ok(false)` if the member had already signed (the earlier signature is kept). Errors when
    /// `signer` is not a member or the signature is malformed or does not recover to `signer`.
    pub fn add(&mut self, signer: Address, signature: &[u8]) -> Result<bool> {
        if !self.members.contains(&signer) {
            return Err(Error::NotASigner(signer));
        }
        if self.signatures.contains_key(&signer) {
            return Ok(false);
        }
        let recovered = recover_digest(&self.digest, signature)?;
        if recovered != signer {
            return Err(Error::SignerMismatch { claimed: signer, recovered });
        }
        self.signatures.insert(signer, Bytes::copy_from_slice(signature));
        Ok(true)
    }

    /// Number of members whose signature is held.
    pub fn len(&self) -> usize {
        self.signatures.len()
    }

    /// Whether no signature is held.
    pub fn is_empty(&self) -> bool {
        self.signatures.is_empty()
    }

    /// Whether `threshold` members have signed.
    pub fn has_quorum(&self) -> bool {
        self.signatures.len() >= self.threshold
    }

    /// The signature of `signer`, if held.
    pub fn signature_of(&self, signer: &Address) -> Option<Bytes> {
        self.signatures.get(signer).cloned()
    }

    /// The members that have signed, ascending.
    pub fn signers(&self) -> impl Iterator<Item = Address> + '_ {
        self.signatures.keys().copied()
    }

    /// Once `threshold` members have signed: exactly `threshold` signatures, those of the
    /// lowest signer addresses, in strictly ascending signer order, ready for `submitBatch` /
    /// `updateSigners`. Extra signatures are left out because each costs ~7.7k gas on L1 and
    /// proves nothing more; taking the lowest addresses makes every node that holds the same
    /// signatures submit the same calldata.
    pub fn quorum(&self) -> Option<Vec<Bytes>> {
        self.has_quorum().then(|| self.signatures.values().take(self.threshold).cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::b256;

    fn batch() -> Batch {
        Batch {
            index: 1,
            prevBatchHash: B256::ZERO,
            firstBlock: 1,
            lastBlock: 10,
            lastBlockHash: B256::repeat_byte(1),
            stateRoot: B256::repeat_byte(2),
            txDataHash: B256::repeat_byte(3),
            messagesRoot: B256::repeat_byte(4),
            lastDepositNonce: 0,
            depositsHash: B256::ZERO,
        }
    }

    fn keys(n: usize) -> Vec<PrivateKeySigner> {
        let mut keys: Vec<_> = (0..n).map(|_| PrivateKeySigner::random()).collect();
        keys.sort_by_key(|k| k.address());
        keys
    }

    const HALF_ORDER: U256 =
        U256::from_be_bytes(b256!("7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0").0);

    #[test]
    fn type_hashes_match_the_contract() {
        let b = batch();
        assert_eq!(
            b.eip712_type_hash(),
            b256!("71823b3ddfaeb672c5e96a4e59bf786522ca1492ab67e538ea8a56b256abbdb9")
        );
        assert_eq!(
            Batch::eip712_encode_type(),
            "Batch(uint64 index,bytes32 prevBatchHash,uint64 firstBlock,uint64 lastBlock,\
             bytes32 lastBlockHash,bytes32 stateRoot,bytes32 txDataHash,bytes32 messagesRoot,\
             uint64 lastDepositNonce,bytes32 depositsHash)"
        );
        let update = SignerSetUpdate {
            epoch: 1,
            afterBatch: 0,
            membershipNonce: 1,
            signers: vec![],
            threshold: U256::ZERO,
        };
        assert_eq!(
            update.eip712_type_hash(),
            b256!("a704dab0db70cc17c9007afce1e41e4b0411eb1414d3086430cdbdd2661bc64a")
        );
    }

    #[test]
    fn signing_hash_depends_on_chain_and_contract() {
        let b = batch();
        let d = domain(1, Address::repeat_byte(9));
        let h = signing_hash(&b, &d);
        assert_ne!(h, signing_hash(&b, &domain(2, Address::repeat_byte(9))));
        assert_ne!(h, signing_hash(&b, &domain(1, Address::repeat_byte(8))));
        assert_ne!(batch_hash(&b), h);
    }

    #[test]
    fn sign_recover_round_trip_low_s_v_27_28() {
        let b = batch();
        let d = domain(31337, Address::repeat_byte(7));
        let mut parities = BTreeSet::new();
        for key in keys(16) {
            let sig = sign(&b, &d, &key).unwrap();
            assert_eq!(sig.len(), 65);
            assert!(sig[64] == 27 || sig[64] == 28);
            parities.insert(sig[64]);
            assert!(U256::from_be_slice(&sig[32..64]) <= HALF_ORDER);
            assert_eq!(recover(&b, &d, &sig).unwrap(), key.address());
            // another batch or domain recovers to someone else
            let mut other = b.clone();
            other.lastDepositNonce = 1;
            assert_ne!(recover(&other, &d, &sig).unwrap(), key.address());
            assert_ne!(recover(&b, &domain(1, Address::repeat_byte(7)), &sig).unwrap(), key.address());
        }
        assert_eq!(parities.len(), 2, "16 signatures and one parity only?");
    }

    #[test]
    fn recover_applies_the_contract_rules() {
        let b = batch();
        let d = domain(1, Address::repeat_byte(7));
        let key = PrivateKeySigner::random();
        let sig = sign(&b, &d, &key).unwrap();

        assert!(matches!(recover(&b, &d, &sig[..64]), Err(Error::SignatureLength(64))));
        let mut v01 = sig.to_vec();
        v01[64] -= 27;
        assert!(matches!(recover(&b, &d, &v01), Err(Error::SignatureV(0 | 1))));

        // the malleable twin (n - s, flipped parity) is a valid ECDSA signature of the same
        // key, which the contract rejects
        let parsed = Signature::from_raw(&sig).unwrap();
        let twin = Signature::new(
            parsed.r(),
            U256::from_be_bytes(b256!("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141").0)
                - parsed.s(),
            !parsed.v(),
        );
        assert_eq!(twin.recover_address_from_prehash(&signing_hash(&b, &d)).unwrap(), key.address());
        assert!(matches!(recover(&b, &d, &twin.as_bytes()), Err(Error::SignatureHighS)));
    }

    #[test]
    fn thresholds() {
        let expected = [1, 2, 3, 3, 4, 5, 5, 6, 7, 7];
        for (n, t) in (1..=10).zip(expected) {
            assert_eq!(threshold_for(n), t, "n = {n}");
            assert!(3 * t > 2 * n && t <= n);
            assert!(3 * (t - 1) <= 2 * n, "not the smallest for n = {n}");
        }
    }

    #[test]
    fn signature_set_orders_dedups_and_rejects() {
        let b = batch();
        let d = domain(1, Address::repeat_byte(7));
        let digest = signing_hash(&b, &d);
        let members = keys(4);
        let outsider = PrivateKeySigner::random();
        let mut set =
            SignatureSet::new(digest, members.iter().map(|k| k.address()), threshold_for(4)).unwrap();
        let sig = |k: &PrivateKeySigner| sign(&b, &d, k).unwrap();

        // arrival order: highest address first
        assert!(set.add(members[3].address(), &sig(&members[3])).unwrap());
        assert!(set.add(members[1].address(), &sig(&members[1])).unwrap());
        assert_eq!(set.quorum(), None);
        // duplicate
        assert!(!set.add(members[1].address(), &sig(&members[1])).unwrap());
        // non-member, even with a valid signature of its own
        assert!(matches!(
            set.add(outsider.address(), &sig(&outsider)),
            Err(Error::NotASigner(a)) if a == outsider.address()
        ));
        // a member's name on someone else's signature
        assert!(matches!(
            set.add(members[0].address(), &sig(&members[2])),
            Err(Error::SignerMismatch { recovered, .. }) if recovered == members[2].address()
        ));
        // a signature over another batch
        let mut other = b.clone();
        other.index = 2;
        assert!(matches!(
            set.add(members[0].address(), &sign(&other, &d, &members[0]).unwrap()),
            Err(Error::SignerMismatch { .. })
        ));
        assert_eq!(set.len(), 2);
        assert!(!set.has_quorum());

        assert!(set.add(members[2].address(), &sig(&members[2])).unwrap());
        let quorum = set.quorum().unwrap();
        assert_eq!(quorum, vec![sig(&members[1]), sig(&members[2]), sig(&members[3])]);
        let recovered: Vec<_> = quorum.iter().map(|s| recover(&b, &d, s).unwrap()).collect();
        assert!(recovered.windows(2).all(|w| w[0] < w[1]));

        // all four: still exactly threshold signatures, the lowest addresses
        assert!(set.add(members[0].address(), &sig(&members[0])).unwrap());
        assert_eq!(set.len(), 4);
        assert_eq!(
            set.signers().collect::<Vec<_>>(),
            members.iter().map(|k| k.address()).collect::<Vec<_>>()
        );
        assert_eq!(set.quorum().unwrap(), vec![sig(&members[0]), sig(&members[1]), sig(&members[2])]);
    }

    #[test]
    fn signature_set_threshold_bounds() {
        let members = keys(3).iter().map(|k| k.address()).collect::<Vec<_>>();
        assert!(SignatureSet::new(B256::ZERO, members.clone(), 0).is_err());
        assert!(SignatureSet::new(B256::ZERO, members.clone(), 4).is_err());
        assert!(SignatureSet::new(B256::ZERO, members, 3).is_ok());
    }
}
