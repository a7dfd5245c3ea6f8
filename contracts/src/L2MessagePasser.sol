// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {MessageTree} from "./MessageTree.sol";

/// @title L2MessagePasser
/// @notice The L2 side of L2->L1 messaging for a flashlayer rollup: a system contract predeployed in
/// the L2 genesis at a fixed address (chosen by the Rust side). Anyone on L2 calls {sendMessage} (or
/// {withdraw} for a plain ETH withdrawal); the contract gives the message the next global nonce and
/// emits {MessageSent}. The sequencer cluster reads these events from the block receipts, builds the
/// Merkle root of the messages of each settled block range (see {MessageTree}) and puts it in the
/// batch it signs and submits to {FlashLayer} on L1 as `messagesRoot`. After the batch's challenge
/// window anyone can relay a message on L1 with `FlashLayer.relayMessage` and a Merkle proof, which
/// calls `target` with `value` and `data` from the FlashLayer contract (paying `value` out of the
/// deposited ETH it holds).
///
/// ETH sent along with a message (`msg.value`) stays locked in this contract on L2 forever: that is
/// the burn side of a withdrawal; the same amount is paid out on L1 when the message is relayed.
///
/// It also keeps, per account, the L1 address its final balance is paid to when the layer ends
/// ({setClaimRecipient}); by default an account's balance is claimable by the same address on L1,
/// which for an L2 contract is usually nobody's (or someone else's).
///
/// Storage: {messageNonce} (slot 0) and {claimRecipientOf} (slot 1, keyed by the account's
/// keccak256, the key the L2 state itself uses, so that the cluster can read it for every account
/// without address preimages). Messages are not stored; the events are the record (the cluster reads
/// them from receipts). The contract is placed into genesis as runtime code only, so it has no
/// constructor, no immutables and no storage that would need initializing: the nonce slot starts at 0
/// and the first message gets nonce 1.
contract L2MessagePasser {
    /// @notice The nonce of the last message sent (0 before the first message). Message nonces are
    /// 1, 2, 3, ... in the order the messages are sent on L2.
    uint256 public messageNonce;
    /// @notice keccak256(account) => the L1 address its final balance is paid to (address(0): the
    /// account's own address on L1).
    mapping(bytes32 hashedAccount => address l1Recipient) public claimRecipientOf;

    /// @notice `account` named `l1Recipient` for its final balance (address(0): itself again).
    event ClaimRecipientSet(address indexed account, address indexed l1Recipient);

    /// @notice A message to L1 was sent. `messageHash` is
    /// `keccak256(abi.encode(nonce, sender, target, value, data))`, the value FlashLayer checks and
    /// records as relayed.
    event MessageSent(
        uint256 indexed nonce,
        address indexed sender,
        address indexed target,
        uint256 value,
        bytes data,
        bytes32 messageHash
    );

    /// @notice `target` was address(0).
    error ZeroTarget();
    /// @notice {withdraw} was called without ETH.
    error ZeroWithdrawal();

    /// @notice Sends a message to L1: once a batch covering this block is settled and its challenge
    /// window has passed, `target` is called on L1 with `data` and `msg.value` wei, from the FlashLayer
    /// contract. `msg.value` stays locked here (burned on L2).
    /// @param target The L1 address to call (not address(0)).
    /// @param data The calldata for `target` (empty for a plain ETH transfer).
    /// @return messageHash The message's hash (see {MessageSent}).
    function sendMessage(address target, bytes calldata data) external payable returns (bytes32 messageHash) {
        return _send(target, data);
    }

    /// @notice Withdraws `msg.value` ETH to `to` on L1: {sendMessage}`(to, "")` requiring a nonzero value.
    /// @param to The L1 recipient.
    /// @return messageHash The message's hash (see {MessageSent}).
    function withdraw(address to) external payable returns (bytes32 messageHash) {
        if (msg.value == 0) revert ZeroWithdrawal();
        return _send(to, "");
    }

    /// @notice Names the L1 address the sender's final ETH balance is paid to when the layer ends
    /// (`FlashLayer.claimTo`); address(0) restores the default (the same address on L1). An L2
    /// contract that may hold ETH at the end calls this (e.g. from its constructor).
    /// @param l1Recipient The L1 recipient.
    function setClaimRecipient(address l1Recipient) external {
        claimRecipientOf[keccak256(abi.encodePacked(msg.sender))] = l1Recipient;
        emit ClaimRecipientSet(msg.sender, l1Recipient);
    }

    /// @notice The L1 recipient of `account`'s final balance (address(0): the account itself).
    function claimRecipient(address account) external view returns (address) {
        return claimRecipientOf[keccak256(abi.encodePacked(account))];
    }

    function _send(address target, bytes memory data) private returns (bytes32 messageHash) {
        if (target == address(0)) revert ZeroTarget();
        uint256 nonce = ++messageNonce;
        messageHash = MessageTree.messageHash(nonce, msg.sender, target, msg.value, data);
        emit MessageSent(nonce, msg.sender, target, msg.value, data, messageHash);
    }
}
