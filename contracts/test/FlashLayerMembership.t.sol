// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {LayerTestBase} from "./utils/LayerTestBase.sol";
import {Vm} from "./utils/TestBase.sol";
import {FlashLayer} from "../src/FlashLayer.sol";

/// @notice Fixtures for the membership tests: operators with keys (so that joined members can sign),
/// consensus keys, and signer-set updates signed by the current set's quorum.
abstract contract MembershipTestBase is LayerTestBase {
    bytes32 internal constant CK_A = keccak256("consensus key A");
    bytes32 internal constant CK_B = keccak256("consensus key B");
    bytes32 internal constant CK_C = keccak256("consensus key C");

    uint256[] internal opKeys; // sorted by address
    address[] internal ops; // operators that are not in the initial set, ascending
    address internal stranger;

    function setUp() public virtual override {
        super.setUp();
        (opKeys, ops) = sortedKeys("operator", 3);
        stranger = makeAddr("stranger");
    }

    function requestJoinAs(FlashLayer l, address op, bytes32 key) internal {
        vm.prank(op);
        l.requestJoin(key, new bytes(64));
    }

    /// `op` asks to join `layer` with `key` and the owner (this contract) approves.
    function joinApproved(address op, bytes32 key) internal {
        requestJoinAs(layer, op, key);
        layer.approveJoin(op);
    }

    /// The private key of a fixture address (initial signer or operator).
    function keyFor(address a) internal view returns (uint256) {
        for (uint256 i = 0; i < addrs.length; ++i) {
            if (addrs[i] == a) return keys[i];
        }
        for (uint256 i = 0; i < ops.length; ++i) {
            if (ops[i] == a) return opKeys[i];
        }
        revert("no key for address");
    }

    /// Signatures of `digest` by the lowest `threshold()` members of `l`'s current set (ascending).
    function quorumSigs(FlashLayer l, bytes32 digest) internal view returns (bytes[] memory out) {
        address[] memory current = l.signers();
        out = new bytes[](l.threshold());
        for (uint256 i = 0; i < out.length; ++i) {
            out[i] = sig(keyFor(current[i]), digest);
        }
    }

    /// The smallest threshold `updateSigners` accepts for `n` signers (3t > 2n).
    function minThreshold(uint256 n) internal pure returns (uint256) {
        return 2 * n / 3 + 1;
    }

    /// Installs `set` on `l` through `updateSigners`, signed by the current set's quorum (the way the
    /// cluster applies a membership change).
    /// Waits until the next change is due, as the cluster does.
    function install(FlashLayer l, address[] memory set) internal {
        uint64 nonce = l.appliedMembershipNonce() + 1;
        uint64 due = l.membershipChange(nonce).effectiveAt;
        // forge-lint: disable-next-line(block-timestamp)
        if (block.timestamp < due) vm.warp(due);
        uint256 th = minThreshold(set.length);
        uint64 after_ = l.lastBatchIndex();
        bytes[] memory sigs = quorumSigs(l, l.signerSetUpdateDigest(l.epoch() + 1, after_, nonce, set, th));
        l.updateSigners(set, th, after_, sigs);
    }

    /// The consensus key the fixture gave initial member `a` at deployment.
    function initialKey(address a) internal pure returns (bytes32) {
        return keccak256(abi.encode("consensus key", a));
    }

    /// When a change announced now becomes applicable.
    function dueFromNow() internal view returns (uint64) {
        return uint64(block.timestamp) + WINDOW;
    }

    /// The first `n` fixture signers (sorted).
    function firstSigners(uint256 n) internal view returns (address[] memory out) {
        out = new address[](n);
        for (uint256 i = 0; i < n; ++i) {
            out[i] = addrs[i];
        }
    }

    /// How many of the logs recorded since `vm.recordLogs()` `emitter` emitted (the `emit`s that
    /// `vm.expectEmit` checks against are recorded too, from the test contract).
    function logsFrom(address emitter) internal returns (uint256 n) {
        Vm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 i = 0; i < logs.length; ++i) {
            if (logs[i].emitter == emitter) ++n;
        }
    }

    /// Settles `layer` with its next batch.
    function settleLayer() internal {
        FlashLayer.Batch memory b = nextBatch(3);
        bytes32 root = keccak256("balances");
        layer.settle(b, root, sigsFirst(keys, 3, layer.finalBatchDigest(b, root)));
    }
}

// ====================================================================== join requests

contract FlashLayerJoinTest is MembershipTestBase {
    function test_InitialMembershipState() public view {
        vm.assertEq(uint256(layer.membershipNonce()), 0, "membershipNonce");
        vm.assertEq(uint256(layer.appliedMembershipNonce()), 0, "appliedMembershipNonce");
        for (uint256 i = 0; i < addrs.length; ++i) {
            vm.assertEq(layer.consensusKeyOf(addrs[i]), initialKey(addrs[i]), "initial members' keys recorded");
            vm.assertEq(layer.operatorOfKey(initialKey(addrs[i])), addrs[i], "and owned by them");
            vm.assertFalse(layer.leaving(addrs[i]), "leaving");
            vm.assertFalse(layer.joining(addrs[i]), "joining");
        }
        vm.assertEq(layer.pendingJoin(ops[0]), bytes32(0), "pendingJoin");
        vm.assertFalse(layer.joining(ops[0]), "joining");
    }

    function test_RequestJoin() public {
        vm.recordLogs();
        vm.expectEmit(true, false, false, true, address(layer));
        emit FlashLayer.JoinRequested(ops[0], CK_A);
        requestJoinAs(layer, ops[0], CK_A);
        vm.assertEq(logsFrom(address(layer)), 1, "only JoinRequested (no MembershipChanged)");

        vm.assertEq(layer.pendingJoin(ops[0]), CK_A, "pendingJoin");
        vm.assertEq(layer.pendingJoin(ops[1]), bytes32(0), "others have none");
        vm.assertEq(uint256(layer.membershipNonce()), 0, "a request is not a change");
        vm.assertFalse(layer.isSigner(ops[0]), "not a signer");
        vm.assertFalse(layer.joining(ops[0]), "not approved");
        vm.assertEq(layer.consensusKeyOf(ops[0]), bytes32(0), "key recorded only on approval");
    }

    function test_RequestJoin_SeveralOperators() public {
        requestJoinAs(layer, ops[0], CK_A);
        requestJoinAs(layer, ops[1], CK_B);
        vm.assertEq(layer.pendingJoin(ops[0]), CK_A, "ops[0]");
        vm.assertEq(layer.pendingJoin(ops[1]), CK_B, "ops[1]");
    }

    function test_RevertWhen_RequestJoinWithZeroKey() public {
        vm.expectRevert(FlashLayer.ZeroConsensusKey.selector);
        requestJoinAs(layer, ops[0], bytes32(0));
    }

    function test_RevertWhen_RequestJoinByMember() public {
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.AlreadyMember.selector, addrs[2]));
        requestJoinAs(layer, addrs[2], CK_A);
    }

    function test_RevertWhen_RequestJoinTwice() public {
        requestJoinAs(layer, ops[0], CK_A);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.JoinPending.selector, ops[0]));
        requestJoinAs(layer, ops[0], CK_B);
        vm.assertEq(layer.pendingJoin(ops[0]), CK_A, "first request kept");
    }

    function test_RevertWhen_RequestJoinWhileApprovedJoinNotApplied() public {
        joinApproved(ops[0], CK_A);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.JoinApproved.selector, ops[0]));
        requestJoinAs(layer, ops[0], CK_B);
    }

    function test_RevertWhen_RequestJoinAfterClose() public {
        layer.close();
        vm.expectRevert(FlashLayer.LayerClosing.selector);
        requestJoinAs(layer, ops[0], CK_A);
    }

    function test_RevertWhen_RequestJoinAfterDeadline() public {
        uint64 deadline = uint64(block.timestamp + 1 days);
        FlashLayer l = new FlashLayer(addrs, 3, GENESIS, WINDOW, deadline, 0, ckeys(addrs), 0, recourse());
        vm.warp(deadline - 1);
        requestJoinAs(l, ops[0], CK_A); // still open
        vm.warp(deadline);
        vm.expectRevert(FlashLayer.LayerClosing.selector);
        requestJoinAs(l, ops[1], CK_B);
    }

    function test_RevertWhen_RequestJoinAfterSettle() public {
        settleLayer();
        vm.expectRevert(FlashLayer.LayerClosing.selector);
        requestJoinAs(layer, ops[0], CK_A);
    }

    function test_CheckOrder_RequestJoin() public {
        layer.close();
        // zero key before closing; closing before membership
        vm.expectRevert(FlashLayer.ZeroConsensusKey.selector);
        requestJoinAs(layer, addrs[0], bytes32(0));
        vm.expectRevert(FlashLayer.LayerClosing.selector);
        requestJoinAs(layer, addrs[0], CK_A);
    }

    function test_CancelJoin() public {
        requestJoinAs(layer, ops[0], CK_A);
        vm.expectEmit(true, false, false, true, address(layer));
        emit FlashLayer.JoinCancelled(ops[0]);
        vm.prank(ops[0]);
        layer.cancelJoin();
        vm.assertEq(layer.pendingJoin(ops[0]), bytes32(0), "request cleared");

        // the owner cannot approve a withdrawn request ...
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.NoJoinRequest.selector, ops[0]));
        layer.approveJoin(ops[0]);
        // ... and the operator may ask again, with another key
        requestJoinAs(layer, ops[0], CK_B);
        vm.assertEq(layer.pendingJoin(ops[0]), CK_B, "new request");
        vm.assertEq(uint256(layer.membershipNonce()), 0, "no change announced");
    }

    function test_CancelJoin_OnlyOwnRequest() public {
        requestJoinAs(layer, ops[0], CK_A);
        // someone else (the owner included) cancelling cancels their own request, which they lack
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.NoJoinRequest.selector, address(this)));
        layer.cancelJoin();
        vm.prank(ops[1]);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.NoJoinRequest.selector, ops[1]));
        layer.cancelJoin();
        vm.assertEq(layer.pendingJoin(ops[0]), CK_A, "untouched");
    }

    function test_CancelJoin_WhileClosing() public {
        requestJoinAs(layer, ops[0], CK_A);
        layer.close();
        vm.prank(ops[0]);
        layer.cancelJoin();
        vm.assertEq(layer.pendingJoin(ops[0]), bytes32(0), "withdrawing is always possible");
    }

    function test_RevertWhen_CancelJoinWithoutRequest() public {
        vm.prank(ops[0]);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.NoJoinRequest.selector, ops[0]));
        layer.cancelJoin();
    }

    function test_RevertWhen_CancelJoinAfterApproval() public {
        joinApproved(ops[0], CK_A);
        vm.prank(ops[0]);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.NoJoinRequest.selector, ops[0]));
        layer.cancelJoin();
    }

    function test_RevertWhen_CancelJoinTwice() public {
        requestJoinAs(layer, ops[0], CK_A);
        vm.startPrank(ops[0]);
        layer.cancelJoin();
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.NoJoinRequest.selector, ops[0]));
        layer.cancelJoin();
        vm.stopPrank();
    }
}

// ====================================================================== join approval

contract FlashLayerApproveJoinTest is MembershipTestBase {
    function test_ApproveJoin() public {
        requestJoinAs(layer, ops[0], CK_A);
        vm.recordLogs();
        vm.expectEmit(true, true, false, true, address(layer));
        emit FlashLayer.MembershipChanged(1, ops[0], CK_A, true, dueFromNow());
        layer.approveJoin(ops[0]);
        vm.assertEq(logsFrom(address(layer)), 1, "only MembershipChanged (no SignerSetUpdated)");
        FlashLayer.Change memory c = layer.membershipChange(1);
        vm.assertEq(c.operator, ops[0], "queued operator");
        vm.assertTrue(c.joining, "queued as a join");
        vm.assertEq(uint256(c.effectiveAt), block.timestamp + layer.membershipDelay(), "due after the delay");
        vm.assertEq(layer.operatorOfKey(CK_A), ops[0], "key now owned by the operator");

        vm.assertEq(uint256(layer.membershipNonce()), 1, "membershipNonce");
        vm.assertEq(layer.pendingJoin(ops[0]), bytes32(0), "request cleared");
        vm.assertEq(layer.consensusKeyOf(ops[0]), CK_A, "consensusKeyOf");
        vm.assertTrue(layer.joining(ops[0]), "joining");
        // the contract does not change the signer set: the cluster does, through updateSigners
        vm.assertFalse(layer.isSigner(ops[0]), "not a signer yet");
        vm.assertEq(layer.signers(), addrs, "signers unchanged");
        vm.assertEq(uint256(layer.epoch()), 0, "epoch unchanged");
        vm.assertEq(layer.threshold(), 3, "threshold unchanged");
    }

    function test_ApproveJoin_NoncesCount() public {
        requestJoinAs(layer, ops[0], CK_A);
        requestJoinAs(layer, ops[1], CK_B);
        requestJoinAs(layer, ops[2], CK_C);
        // approved in any order; nonces follow the approvals. A set of 4-6 lets one change wait at
        // a time, so each is applied before the next is announced.
        address[] memory set = addrs;
        vm.expectEmit(true, true, false, true, address(layer));
        emit FlashLayer.MembershipChanged(1, ops[1], CK_B, true, dueFromNow());
        layer.approveJoin(ops[1]);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.TooManyPendingChanges.selector, 1, 1));
        layer.approveJoin(ops[0]);
        install(layer, set = plus(set, ops[1]));
        vm.expectEmit(true, true, false, true, address(layer));
        emit FlashLayer.MembershipChanged(2, ops[0], CK_A, true, dueFromNow());
        layer.approveJoin(ops[0]);
        install(layer, set = plus(set, ops[0]));
        vm.expectEmit(true, true, false, true, address(layer));
        emit FlashLayer.MembershipChanged(3, addrs[3], initialKey(addrs[3]), false, dueFromNow());
        layer.requestLeave(addrs[3]);
        install(layer, set = minus(set, addrs[3]));
        vm.expectEmit(true, true, false, true, address(layer));
        emit FlashLayer.MembershipChanged(4, ops[2], CK_C, true, dueFromNow());
        layer.approveJoin(ops[2]);
        vm.assertEq(uint256(layer.membershipNonce()), 4, "membershipNonce");
        vm.assertEq(uint256(layer.appliedMembershipNonce()), 3, "three applied");
    }

    function test_RevertWhen_ApproveJoinNotOwner() public {
        requestJoinAs(layer, ops[0], CK_A);
        // not the operator itself ...
        vm.prank(ops[0]);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.NotOwner.selector, ops[0]));
        layer.approveJoin(ops[0]);
        // ... not a member ...
        vm.prank(addrs[0]);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.NotOwner.selector, addrs[0]));
        layer.approveJoin(ops[0]);
        // ... nor anyone else
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.NotOwner.selector, stranger));
        layer.approveJoin(ops[0]);
        vm.assertEq(layer.pendingJoin(ops[0]), CK_A, "still pending");
    }

    function test_ApproveJoin_OwnerOfAnotherDeployment() public {
        address creator = makeAddr("creator");
        vm.prank(creator);
        FlashLayer l = new FlashLayer(addrs, 3, GENESIS, WINDOW, 0, 0, ckeys(addrs), 0, recourse());
        requestJoinAs(l, ops[0], CK_A);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.NotOwner.selector, address(this)));
        l.approveJoin(ops[0]);
        vm.prank(creator);
        l.approveJoin(ops[0]);
        vm.assertTrue(l.joining(ops[0]), "approved by its owner");
    }

    function test_RevertWhen_ApproveJoinWithoutRequest() public {
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.NoJoinRequest.selector, ops[0]));
        layer.approveJoin(ops[0]);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.NoJoinRequest.selector, address(0)));
        layer.approveJoin(address(0));
    }

    function test_RevertWhen_ApproveJoinTwice() public {
        joinApproved(ops[0], CK_A);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.NoJoinRequest.selector, ops[0]));
        layer.approveJoin(ops[0]);
        vm.assertEq(uint256(layer.membershipNonce()), 1, "one change");
    }

    function test_RevertWhen_ApproveJoinAfterClose() public {
        requestJoinAs(layer, ops[0], CK_A);
        layer.close();
        vm.expectRevert(FlashLayer.LayerClosing.selector);
        layer.approveJoin(ops[0]);
    }

    function test_RevertWhen_ApproveJoinAfterDeadline() public {
        uint64 deadline = uint64(block.timestamp + 1 days);
        FlashLayer l = new FlashLayer(addrs, 3, GENESIS, WINDOW, deadline, 0, ckeys(addrs), 0, recourse());
        requestJoinAs(l, ops[0], CK_A);
        vm.warp(deadline);
        vm.expectRevert(FlashLayer.LayerClosing.selector);
        l.approveJoin(ops[0]);
    }

    function test_RevertWhen_ApproveJoinAfterSettle() public {
        requestJoinAs(layer, ops[0], CK_A);
        settleLayer();
        vm.expectRevert(FlashLayer.LayerClosing.selector);
        layer.approveJoin(ops[0]);
    }

    /// A pending request does not let the cluster add the operator: without the owner's approval
    /// there is no change to apply, so no update can make it a member.
    function test_RevertWhen_UpdateAddsRequestedButUnapprovedOperator() public {
        requestJoinAs(layer, ops[0], CK_A);
        address[] memory next = plus(addrs, ops[0]);
        bytes[] memory sigs = sigsFirst(keys, 4, layer.signerSetUpdateDigest(1, 0, 1, next, 4));
        vm.expectRevert(FlashLayer.NoPendingChange.selector);
        layer.updateSigners(next, 4, 0, sigs);
        vm.assertFalse(layer.isSigner(ops[0]), "not a member");
        // another operator's approved join does not let it in either
        joinApproved(ops[1], CK_B);
        vm.warp(block.timestamp + WINDOW);
        sigs = sigsFirst(keys, 4, layer.signerSetUpdateDigest(1, 0, 1, next, 4));
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.SetDoesNotApplyChange.selector, 1));
        layer.updateSigners(next, 4, 0, sigs);
        vm.assertEq(layer.pendingJoin(ops[0]), CK_A, "still just a request");
    }

    function test_CheckOrder_ApproveJoin() public {
        layer.close();
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.NotOwner.selector, stranger));
        layer.approveJoin(ops[0]);
        vm.expectRevert(FlashLayer.LayerClosing.selector); // before NoJoinRequest
        layer.approveJoin(ops[0]);
    }

    /// The whole join: request -> approval -> the old set's quorum installs the set with the operator
    /// -> it is a signer and co-signs batches.
    function test_JoinAppliedByUpdateSigners() public {
        joinApproved(ops[0], CK_A);
        vm.warp(block.timestamp + layer.membershipDelay());
        address[] memory next = plus(addrs, ops[0]);
        bytes32 digest = layer.signerSetUpdateDigest(1, 0, 1, next, 4);
        // the newcomer cannot sign its own admission: only the outgoing set counts
        address[] memory mixed = plus(firstSigners(2), ops[0]);
        bytes[] memory mixedSigs = new bytes[](3);
        uint256 pos;
        for (uint256 i = 0; i < 3; ++i) {
            mixedSigs[i] = sig(keyFor(mixed[i]), digest);
            if (mixed[i] == ops[0]) pos = i;
        }
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.NotASigner.selector, pos, ops[0]));
        layer.updateSigners(next, 4, 0, mixedSigs);
        vm.expectEmit(true, false, false, true, address(layer));
        emit FlashLayer.SignerSetUpdated(1, next, 4);
        layer.updateSigners(next, 4, 0, sigsFirst(keys, 3, digest)); // signed by the OLD set

        vm.assertTrue(layer.isSigner(ops[0]), "joined");
        vm.assertFalse(layer.joining(ops[0]), "join applied");
        vm.assertEq(layer.consensusKeyOf(ops[0]), CK_A, "key kept");
        vm.assertEq(layer.signers(), next, "signers");
        vm.assertEq(uint256(layer.epoch()), 1, "epoch");
        vm.assertEq(uint256(layer.membershipNonce()), 1, "updateSigners announces no change");
        vm.assertEq(uint256(layer.appliedMembershipNonce()), 1, "it applies one");

        // the new member signs batches with the rest
        FlashLayer.Batch memory b = nextBatch(3);
        layer.submitBatch(b, quorumSigs(layer, layer.batchDigest(b)));
        vm.assertEq(uint256(layer.lastBatchIndex()), 1, "batch accepted");

        // and cannot ask to join again
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.AlreadyMember.selector, ops[0]));
        requestJoinAs(layer, ops[0], CK_B);
    }

    /// An update that leaves an approved operator out (an earlier change applied first) keeps its
    /// join pending; the next one, which includes it, applies it. Changes apply in nonce order.
    function test_JoinStaysPendingUntilApplied() public {
        (keys, addrs) = sortedKeys("seven", 7); // 7 members: two changes may wait at once
        layer = new FlashLayer(addrs, 5, GENESIS, WINDOW, 0, 0, ckeys(addrs), 0, recourse());
        joinApproved(ops[0], CK_A);
        joinApproved(ops[1], CK_B);
        vm.warp(block.timestamp + WINDOW);
        // not out of order: change 1 (ops[0]) comes first
        address[] memory wrong = plus(addrs, ops[1]);
        uint256 th = minThreshold(8);
        bytes[] memory sigs = quorumSigs(layer, layer.signerSetUpdateDigest(1, 0, 1, wrong, th));
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.SetDoesNotApplyChange.selector, 1));
        layer.updateSigners(wrong, th, 0, sigs);
        install(layer, plus(addrs, ops[0]));
        vm.assertTrue(layer.joining(ops[1]), "ops[1] still joining");
        vm.assertFalse(layer.joining(ops[0]), "ops[0] applied");
        vm.assertFalse(layer.isSigner(ops[1]), "ops[1] not yet");
        install(layer, plus(plus(addrs, ops[0]), ops[1]));
        vm.assertFalse(layer.joining(ops[1]), "ops[1] applied");
        vm.assertTrue(layer.isSigner(ops[0]), "ops[0] signer");
        vm.assertTrue(layer.isSigner(ops[1]), "ops[1] signer");
    }
}

// ====================================================================== leaving

contract FlashLayerLeaveTest is MembershipTestBase {
    function test_RequestLeaveByOperator() public {
        vm.recordLogs();
        vm.expectEmit(true, true, false, true, address(layer));
        emit FlashLayer.MembershipChanged(1, addrs[1], initialKey(addrs[1]), false, dueFromNow()); // its initial key
        vm.prank(addrs[1]);
        layer.requestLeave(addrs[1]);
        vm.assertEq(logsFrom(address(layer)), 1, "only MembershipChanged");

        vm.assertEq(uint256(layer.membershipNonce()), 1, "membershipNonce");
        vm.assertTrue(layer.leaving(addrs[1]), "leaving");
        vm.assertFalse(layer.leaving(addrs[0]), "others not");
        // it stays a signer until the cluster installs a set without it
        vm.assertTrue(layer.isSigner(addrs[1]), "still a signer");
        vm.assertEq(layer.signers(), addrs, "signers unchanged");
        vm.assertEq(uint256(layer.epoch()), 0, "epoch unchanged");
        FlashLayer.Batch memory b = nextBatch(3);
        layer.submitBatch(b, sigsFirst(keys, 3, layer.batchDigest(b)));
    }

    function test_RequestLeaveByOwner() public {
        vm.expectEmit(true, true, false, true, address(layer));
        emit FlashLayer.MembershipChanged(1, addrs[2], initialKey(addrs[2]), false, dueFromNow());
        layer.requestLeave(addrs[2]);
        vm.assertTrue(layer.leaving(addrs[2]), "leaving");
    }

    function test_RequestLeave_EmitsApprovedKey() public {
        joinApproved(ops[0], CK_A);
        install(layer, plus(addrs, ops[0]));
        vm.expectEmit(true, true, false, true, address(layer));
        emit FlashLayer.MembershipChanged(2, ops[0], CK_A, false, dueFromNow());
        vm.prank(ops[0]);
        layer.requestLeave(ops[0]);
    }

    function test_RequestLeave_WhileClosing() public {
        layer.close();
        layer.requestLeave(addrs[0]);
        vm.assertTrue(layer.leaving(addrs[0]), "leaves may still be announced while closing");
    }

    function test_RevertWhen_RequestLeaveAfterSettle() public {
        settleLayer();
        vm.expectRevert(FlashLayer.LayerSettled.selector);
        layer.requestLeave(addrs[0]);
        vm.prank(addrs[0]);
        vm.expectRevert(FlashLayer.LayerSettled.selector);
        layer.requestLeave(addrs[0]);
    }

    function test_RevertWhen_RequestLeaveByOther() public {
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.NotOperatorOrOwner.selector, stranger));
        layer.requestLeave(addrs[0]);
        // a fellow member cannot announce someone else's leave either
        vm.prank(addrs[1]);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.NotOperatorOrOwner.selector, addrs[1]));
        layer.requestLeave(addrs[0]);
        vm.assertFalse(layer.leaving(addrs[0]), "not leaving");
        vm.assertEq(uint256(layer.membershipNonce()), 0, "no change");
    }

    function test_RevertWhen_RequestLeaveOfNonMember() public {
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.NotMember.selector, stranger));
        layer.requestLeave(stranger);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.NotMember.selector, stranger));
        layer.requestLeave(stranger);
        // approved but not applied yet: not a member
        joinApproved(ops[0], CK_A);
        vm.prank(ops[0]);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.NotMember.selector, ops[0]));
        layer.requestLeave(ops[0]);
    }

    function test_RevertWhen_RequestLeaveTwice() public {
        vm.prank(addrs[0]);
        layer.requestLeave(addrs[0]);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.AlreadyLeaving.selector, addrs[0]));
        layer.requestLeave(addrs[0]); // by the owner
        vm.prank(addrs[0]);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.AlreadyLeaving.selector, addrs[0]));
        layer.requestLeave(addrs[0]);
        vm.assertEq(uint256(layer.membershipNonce()), 1, "announced once");
    }

    function test_RevertWhen_LeaveOfOnlySigner() public {
        address[] memory one = firstSigners(1);
        FlashLayer l = new FlashLayer(one, 1, GENESIS, WINDOW, 0, 0, ckeys(one), 0, recourse());
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.WouldEmptySignerSet.selector, one[0]));
        l.requestLeave(one[0]);
        vm.prank(one[0]);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.WouldEmptySignerSet.selector, one[0]));
        l.requestLeave(one[0]);
    }

    /// Leaves announced but not applied count: the last remaining member cannot leave.
    function test_RevertWhen_LeavesWouldEmptySet() public {
        address[] memory two = firstSigners(2);
        FlashLayer l = new FlashLayer(two, 2, GENESIS, WINDOW, 0, 0, ckeys(two), 0, recourse());
        l.requestLeave(two[0]);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.WouldEmptySignerSet.selector, two[1]));
        l.requestLeave(two[1]);
        vm.assertEq(uint256(l.membershipNonce()), 1, "one leave");
    }

    /// On a larger set, leaves are bounded by the pending-change limit long before the set empties.
    function test_RevertWhen_LeavesExceedPendingChanges() public {
        layer.requestLeave(addrs[0]);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.TooManyPendingChanges.selector, 1, 1));
        layer.requestLeave(addrs[1]);
        vm.prank(addrs[1]); // the operator itself waits too
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.TooManyPendingChanges.selector, 1, 1));
        layer.requestLeave(addrs[1]);
        vm.assertFalse(layer.leaving(addrs[1]), "not leaving");
        install(layer, minus(addrs, addrs[0]));
        layer.requestLeave(addrs[1]); // fine once the first is applied
        vm.assertEq(uint256(layer.membershipNonce()), 2, "two leaves");
    }

    function test_CheckOrder_RequestLeave() public {
        settleLayer();
        vm.prank(stranger);
        vm.expectRevert(FlashLayer.LayerSettled.selector);
        layer.requestLeave(stranger);
        FlashLayer l = new FlashLayer(firstSigners(1), 1, GENESIS, WINDOW, 0, 0, ckeys(firstSigners(1)), 0, recourse());
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.NotOperatorOrOwner.selector, stranger));
        l.requestLeave(addrs[0]);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.NotMember.selector, stranger));
        l.requestLeave(stranger);
    }

    /// The cluster applies the leave: the old set's quorum installs the set without the operator,
    /// which clears `leaving`.
    function test_LeaveAppliedByUpdateSigners() public {
        vm.prank(addrs[0]);
        layer.requestLeave(addrs[0]);
        address[] memory next = minus(addrs, addrs[0]);
        vm.warp(block.timestamp + layer.membershipDelay());
        // the leaving member may still sign its own removal
        layer.updateSigners(next, 3, 0, sigsFirst(keys, 3, layer.signerSetUpdateDigest(1, 0, 1, next, 3)));

        vm.assertFalse(layer.isSigner(addrs[0]), "removed");
        vm.assertFalse(layer.leaving(addrs[0]), "leave applied");
        vm.assertEq(layer.signers(), next, "signers");
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.NotMember.selector, addrs[0]));
        layer.requestLeave(addrs[0]);

        // its leave no longer counts: of the 3 remaining members 2 may leave, not 3 (one at a time)
        layer.requestLeave(next[0]);
        install(layer, minus(next, next[0]));
        layer.requestLeave(next[1]); // would be refused if the two applied leaves still counted
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.WouldEmptySignerSet.selector, next[2]));
        layer.requestLeave(next[2]);
    }

    /// An update that keeps a leaving member (an earlier change applied first) keeps its leave
    /// pending.
    function test_LeaveStaysPendingUntilApplied() public {
        (keys, addrs) = sortedKeys("seven", 7); // 7 members: two changes may wait at once
        layer = new FlashLayer(addrs, 5, GENESIS, WINDOW, 0, 0, ckeys(addrs), 0, recourse());
        joinApproved(ops[0], CK_A); // change 1
        layer.requestLeave(addrs[0]); // change 2
        // the join is applied first: 8 members, threshold 6
        address[] memory eight = plus(addrs, ops[0]);
        install(layer, eight);
        vm.assertTrue(layer.leaving(addrs[0]), "leave still pending");
        vm.assertTrue(layer.isSigner(addrs[0]), "still a signer");
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.AlreadyLeaving.selector, addrs[0]));
        layer.requestLeave(addrs[0]);
        // 8 members allow 2 waiting changes: one more leave is fine, a third change is not
        layer.requestLeave(addrs[1]); // change 3
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.TooManyPendingChanges.selector, 2, 2));
        layer.requestLeave(ops[0]);
        // the leaves applied one by one
        address[] memory seven = minus(eight, addrs[0]);
        install(layer, seven);
        vm.assertFalse(layer.leaving(addrs[0]), "applied");
        vm.assertTrue(layer.leaving(addrs[1]), "the other still pending");
        install(layer, minus(seven, addrs[1]));
        vm.assertFalse(layer.leaving(addrs[1]), "applied");
        vm.assertTrue(layer.isSigner(ops[0]), "the newcomer remains");
        vm.assertEq(uint256(layer.appliedMembershipNonce()), 3, "all three applied");
    }

    /// A member that left and is admitted again starts with a clean slate (no stale leave).
    function test_RejoinAfterLeave() public {
        vm.prank(addrs[0]);
        layer.requestLeave(addrs[0]);
        install(layer, minus(addrs, addrs[0]));

        requestJoinAs(layer, addrs[0], CK_B);
        vm.expectEmit(true, true, false, true, address(layer));
        emit FlashLayer.MembershipChanged(2, addrs[0], CK_B, true, dueFromNow());
        layer.approveJoin(addrs[0]);
        install(layer, addrs);

        vm.assertTrue(layer.isSigner(addrs[0]), "member again");
        vm.assertFalse(layer.leaving(addrs[0]), "no stale leave");
        vm.assertFalse(layer.joining(addrs[0]), "join applied");
        vm.assertEq(layer.consensusKeyOf(addrs[0]), CK_B, "new key");
        vm.expectEmit(true, true, false, true, address(layer));
        emit FlashLayer.MembershipChanged(3, addrs[0], CK_B, false, dueFromNow());
        vm.prank(addrs[0]);
        layer.requestLeave(addrs[0]);
    }

    /// The cluster cannot drop a member on its own: a removal needs an announced leave of that
    /// member (another member's leave does not do).
    function test_RevertWhen_RemovedWithoutLeave() public {
        address[] memory without3 = minus(addrs, addrs[3]);
        bytes[] memory sigs = sigsFirst(keys, 3, layer.signerSetUpdateDigest(1, 0, 1, without3, 3));
        vm.expectRevert(FlashLayer.NoPendingChange.selector);
        layer.updateSigners(without3, 3, 0, sigs);
        layer.requestLeave(addrs[2]);
        vm.warp(block.timestamp + WINDOW);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.SetDoesNotApplyChange.selector, 1));
        layer.updateSigners(without3, 3, 0, sigs);
        vm.assertTrue(layer.isSigner(addrs[3]), "still a member");
        install(layer, minus(addrs, addrs[2]));
        vm.assertFalse(layer.isSigner(addrs[2]), "the announced leave applies");
    }
}
