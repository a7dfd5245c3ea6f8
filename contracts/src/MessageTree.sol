// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Hashes} from "@openzeppelin/contracts/utils/cryptography/Hashes.sol";

/// @title MessageTree
/// @notice The one definition of how an L2->L1 message is hashed and how a batch's messages are
/// committed to in `Batch.messagesRoot`. Used by {L2MessagePasser} (message hash), {FlashLayer}
/// (message hash + leaf; proofs are checked with OpenZeppelin's `MerkleProof.verify`) and the
/// tests (root + proof builders). The Rust side must match these rules exactly:
///
/// - `messageHash = keccak256(abi.encode(uint256 nonce, address sender, address target, uint256 value, bytes data))`
/// - `leaf = keccak256(abi.encodePacked(messageHash))` (a second hash of the 32-byte message hash, so a
///   leaf can never be mistaken for an inner node, as OpenZeppelin recommends)
/// - leaves are in message (nonce) order; every level pairs neighbours left to right, `parent =
///   commutativeKeccak256(a, b) = keccak256(min(a, b) ++ max(a, b))`; an odd last node is carried up to
///   the next level unchanged; the root of a single leaf is that leaf; the root of no message is
///   {EMPTY_ROOT} = `keccak256("")`.
/// - a proof lists the sibling of the node on the path at each level, bottom up, skipping levels where
///   the node was carried up without a sibling.
/// @dev `root` and `proof` are O(n) memory helpers meant for tests and off-chain reference; only
/// `messageHash` and `leaf` are used on chain.
library MessageTree {
    /// @notice The messages root of a batch without L2->L1 messages: `keccak256("")`.
    bytes32 internal constant EMPTY_ROOT = 0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470;

    /// @notice The hash identifying a message (and keying its replay protection on L1).
    function messageHash(uint256 nonce, address sender, address target, uint256 value, bytes memory data)
        internal
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(nonce, sender, target, value, data));
    }

    /// @notice The Merkle leaf of a message: `keccak256(abi.encodePacked(messageHash))`.
    function leaf(bytes32 msgHash) internal pure returns (bytes32 result) {
        assembly ("memory-safe") {
            mstore(0x00, msgHash)
            result := keccak256(0x00, 0x20)
        }
    }

    /// @notice The root over `leaves` (already leaf-hashed, in message order).
    function root(bytes32[] memory leaves) internal pure returns (bytes32) {
        uint256 n = leaves.length;
        if (n == 0) return EMPTY_ROOT;
        bytes32[] memory level = new bytes32[](n);
        for (uint256 i = 0; i < n; ++i) {
            level[i] = leaves[i];
        }
        while (n > 1) {
            uint256 m = (n + 1) / 2;
            for (uint256 i = 0; i < m; ++i) {
                uint256 l = 2 * i;
                level[i] = l + 1 < n ? Hashes.commutativeKeccak256(level[l], level[l + 1]) : level[l];
            }
            n = m;
        }
        return level[0];
    }

    /// @notice The proof of `leaves[index]` against {root}`(leaves)`, for `MerkleProof.verify`.
    function proof(bytes32[] memory leaves, uint256 index) internal pure returns (bytes32[] memory path) {
        uint256 n = leaves.length;
        require(index < n, "MessageTree: index out of range");
        bytes32[] memory level = new bytes32[](n);
        for (uint256 i = 0; i < n; ++i) {
            level[i] = leaves[i];
        }
        // at most ceil(log2(n)) siblings
        bytes32[] memory buf = new bytes32[](256);
        uint256 len = 0;
        while (n > 1) {
            uint256 sibling = index ^ 1;
            if (sibling < n) buf[len++] = level[sibling];
            uint256 m = (n + 1) / 2;
            for (uint256 i = 0; i < m; ++i) {
                uint256 l = 2 * i;
                level[i] = l + 1 < n ? Hashes.commutativeKeccak256(level[l], level[l + 1]) : level[l];
            }
            n = m;
            index /= 2;
        }
        path = new bytes32[](len);
        for (uint256 i = 0; i < len; ++i) {
            path[i] = buf[i];
        }
    }
}
