// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {TrieProof} from "@openzeppelin/contracts/utils/cryptography/TrieProof.sol";
import {RLP} from "@openzeppelin/contracts/utils/RLP.sol";
import {Memory} from "@openzeppelin/contracts/utils/Memory.sol";

/// @title StateProofs
/// @notice Reads an account, or one storage slot, of an L2 state from a Merkle-Patricia proof as
/// `eth_getProof` returns it (EIP-1186: nodes from the root down, each RLP-encoded), for
/// {FlashLayer}'s escape. OpenZeppelin's TrieProof walks the proof. Stateless and pure; each
/// FlashLayer deploys its own copy at construction, kept apart from the layer's code so that the
/// layer fits EIP-170's code-size limit.
contract StateProofs {
    /// @notice `account`'s fields in the state with root `stateRoot`, or why the proof does not show
    /// them (`err` other than NO_ERROR; then the fields are zero).
    /// @param proof The account proof, root node first.
    function account(bytes32 stateRoot, address account_, bytes[] calldata proof)
        external
        pure
        returns (TrieProof.ProofError err, uint256 balance, bytes32 codeHash, bytes32 storageRoot)
    {
        bytes memory leaf;
        (leaf, err) = TrieProof.tryTraverse(stateRoot, abi.encodePacked(keccak256(abi.encodePacked(account_))), proof);
        if (err != TrieProof.ProofError.NO_ERROR) return (err, 0, 0, 0);
        // [nonce, balance, storageRoot, codeHash]
        Memory.Slice[] memory fields = RLP.decodeList(leaf);
        if (fields.length != 4) return (TrieProof.ProofError.UNPARSEABLE_NODE, 0, 0, 0);
        balance = RLP.readUint256(fields[1]);
        storageRoot = RLP.readBytes32(fields[2]);
        codeHash = RLP.readBytes32(fields[3]);
    }

    /// @notice The value of storage slot `slot` in the storage trie with root `storageRoot`, or why
    /// the proof does not show it (inclusion only: a zero slot is absent from the trie).
    /// @param proof The slot's `storageProof` nodes, root node first.
    function slot(bytes32 storageRoot, bytes32 slot_, bytes[] calldata proof)
        external
        pure
        returns (TrieProof.ProofError err, uint256 value)
    {
        bytes memory encoded;
        (encoded, err) = TrieProof.tryTraverse(storageRoot, abi.encodePacked(keccak256(abi.encodePacked(slot_))), proof);
        if (err != TrieProof.ProofError.NO_ERROR) return (err, 0);
        value = RLP.decodeUint256(encoded);
    }
}
