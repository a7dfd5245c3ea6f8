// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {LayerTestBase, MessageTarget} from "./utils/LayerTestBase.sol";
import {FlashLayer, MessageForwarder} from "../src/FlashLayer.sol";
import {MessageTree} from "../src/MessageTree.sol";
import {TestToken} from "../src/test/TestToken.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";

/// The trust findings of the security review (issue 15), one or more tests each, showing that the
/// attack now fails; plus an honest-path test of the same mechanisms. Each attack test starts with a
/// `///` line stating the attack.

/// @notice Holds ETH credited to accounts; an account withdraws its credit to any address. Stands for
/// any L1 contract in which the FlashLayer address has rights (ETH, WETH, allowances...).
contract CreditVault {
    mapping(address => uint256) public credit;

    error NoCredit(address account, uint256 have, uint256 want);

    function depositFor(address account) external payable {
        credit[account] += msg.value;
    }

    function withdrawTo(address to, uint256 amount) external {
        uint256 have = credit[msg.sender];
        if (have < amount) revert NoCredit(msg.sender, have, amount);
        credit[msg.sender] = have - amount;
        (bool ok,) = to.call{value: amount}("");
        require(ok, "payment failed");
    }
}

/// @notice Fixtures: every operator's settlement key is known, so any current set can sign.
abstract contract TrustTestBase is LayerTestBase {
    mapping(address => uint256) internal pkOf;

    function setUp() public virtual override {
        super.setUp();
        for (uint256 i = 0; i < addrs.length; ++i) {
            pkOf[addrs[i]] = keys[i];
        }
    }

    /// A new operator (settlement address with a known key).
    function newOperator(string memory name) internal returns (address a) {
        uint256 k = uint256(keccak256(bytes(name))) % (SECP256K1_N - 1) + 1;
        a = vm.addr(k);
        pkOf[a] = k;
        vm.label(a, name);
    }

    /// Signatures of `digest` by the lowest `threshold()` members of the current set (ascending).
    function quorumSigs(bytes32 digest) internal view returns (bytes[] memory out) {
        address[] memory current = layer.signers();
        out = new bytes[](layer.threshold());
        for (uint256 i = 0; i < out.length; ++i) {
            out[i] = sig(pkOf[current[i]], digest);
        }
    }

    /// Signatures of `digest` by `who` (ascending).
    function sigsOf(address[] memory who, bytes32 digest) internal view returns (bytes[] memory out) {
        out = new bytes[](who.length);
        for (uint256 i = 0; i < who.length; ++i) {
            out[i] = sig(pkOf[who[i]], digest);
        }
    }

    function minThreshold(uint256 n) internal pure returns (uint256) {
        return 2 * n / 3 + 1;
    }

    /// `op` asks to join with `key`; the owner (this contract) approves.
    function announceJoin(address op, bytes32 key) internal {
        vm.prank(op);
        layer.requestJoin(key, new bytes(64));
        layer.approveJoin(op);
    }

    /// The cluster applies the next change: the current quorum signs `set` after the last batch.
    function applyNext(address[] memory set) internal {
        (uint256 th, uint64 afterBatch, bytes[] memory sigs) = signNext(set);
        layer.updateSigners(set, th, afterBatch, sigs);
    }

    /// The current quorum's update to `set` for the next change, after the last batch.
    function signNext(address[] memory set) internal view returns (uint256 th, uint64 afterBatch, bytes[] memory sigs) {
        uint64 nonce = layer.appliedMembershipNonce() + 1;
        th = minThreshold(set.length);
        afterBatch = layer.lastBatchIndex();
        sigs = quorumSigs(layer.signerSetUpdateDigest(layer.epoch() + 1, afterBatch, nonce, set, th));
    }

    /// Submits `b` signed by the current quorum.
    function submitByQuorum(FlashLayer.Batch memory b) internal {
        layer.submitBatch(b, quorumSigs(layer.batchDigest(b)));
    }

    /// Sorted copy of `a`.
    function sorted(address[] memory a) internal pure returns (address[] memory c) {
        c = new address[](a.length);
        for (uint256 i = 0; i < a.length; ++i) {
            c[i] = a[i];
            for (uint256 j = i; j > 0 && c[j - 1] > c[j]; --j) {
                (c[j - 1], c[j]) = (c[j], c[j - 1]);
            }
        }
    }
}

// ====================================================================== (1) owner takeover

contract FlashLayerTrustOwnerTakeoverTest is TrustTestBase {
    address[] internal evil; // operators the owner controls
    address internal user;

    function setUp() public override {
        super.setUp();
        for (uint256 i = 0; i < 4; ++i) {
            evil.push(newOperator(string.concat("owner's operator ", vm.toString(i))));
        }
        user = makeAddr("user");
        vm.deal(user, 10 ether);
        vm.prank(user);
        layer.deposit{value: 10 ether}(user);
        vm.warp(1_000_000);
    }

    function evilSeats() internal view returns (uint256 n) {
        for (uint256 i = 0; i < evil.length; ++i) {
            if (layer.isSigner(evil[i])) ++n;
        }
    }

    /// Attack (1): the owner alone approves its own operators and evicts honest ones to take over the
    /// signer set, then signs batches that pay out the bridge. Each change now waits membershipDelay
    /// (>= the challenge window) and at most f = max(1, (n-1)/3) wait at once, so the fastest takeover
    /// of a 4-member set needs five delays; a user who sees the first announcement withdraws, and the
    /// withdrawal, in a batch accepted before the first change applies, is relayed while the owner's
    /// operators are still far from the threshold.
    function test_OwnerTakeover_WithdrawalRelayableBeforeOwnerControlsSet() public {
        uint256 t0 = block.timestamp;
        uint256 w = layer.membershipDelay();
        vm.assertTrue(w >= layer.challengeWindow(), "membership delay >= challenge window");

        // t0: the owner announces its first operator; users see when it can apply
        vm.prank(evil[0]);
        layer.requestJoin(keccak256("evil key 0"), new bytes(64));
        vm.expectEmit(true, true, false, true, address(layer));
        // forge-lint: disable-next-line(unsafe-typecast)
        emit FlashLayer.MembershipChanged(1, evil[0], keccak256("evil key 0"), true, uint64(t0 + w));
        layer.approveJoin(evil[0]);

        // the user withdraws everything on L2; the batch carrying it is accepted before the change applies
        Message[] memory ms = new Message[](1);
        ms[0] = Message({nonce: 1, sender: user, target: user, value: 10 ether, data: ""});
        vm.warp(t0 + w - 1);
        FlashLayer.Batch memory b = nextBatch(3);
        credit(b, 1);
        b.messagesRoot = MessageTree.root(leavesOf(ms));
        submitByQuorum(b);

        // round 1: the first change applies at t0 + w, the owner announces the next one at once
        address[] memory set = layer.signers();
        vm.warp(t0 + w);
        applyNext(set = plus(set, evil[0]));
        announceJoin(evil[1], keccak256("evil key 1"));

        // the withdrawal is relayable at its batch's acceptance + window, while the owner holds 1 seat
        vm.warp(t0 + 2 * w - 1);
        vm.assertLt(evilSeats(), layer.threshold(), "owner below threshold at relay time");
        relay(b.index, ms[0], MessageTree.proof(leavesOf(ms), 0));
        vm.assertEq(user.balance, 10 ether, "withdrawn in time");
        vm.assertEq(address(layer).balance, 0, "nothing left to steal");

        // the owner's fastest path to the threshold (each change applied the moment it is due)
        vm.warp(t0 + 2 * w);
        applyNext(set = plus(set, evil[1])); // 6 members, 2 owner's
        announceJoin(evil[2], keccak256("evil key 2"));
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.TooManyPendingChanges.selector, 1, 1));
        layer.requestLeave(addrs[0]); // 6 members: one change at a time
        vm.warp(t0 + 3 * w);
        applyNext(set = plus(set, evil[2])); // 7 members, 3 owner's, threshold 5
        vm.assertLt(evilSeats(), layer.threshold(), "round 3");
        layer.requestLeave(addrs[0]);
        layer.requestLeave(addrs[1]); // 7 members: two changes may wait
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.TooManyPendingChanges.selector, 2, 2));
        layer.requestLeave(addrs[2]);
        vm.warp(t0 + 4 * w);
        applyNext(set = minus(set, addrs[0]));
        applyNext(set = minus(set, addrs[1])); // 5 members, 3 owner's, threshold 4
        vm.assertLt(evilSeats(), layer.threshold(), "round 4");
        layer.requestLeave(addrs[2]);
        vm.warp(t0 + 5 * w - 1);
        (uint256 th, uint64 afterBatch, bytes[] memory sigs) = signNext(minus(set, addrs[2]));
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.ChangeNotDue.selector, 6, t0 + 5 * w));
        layer.updateSigners(minus(set, addrs[2]), th, afterBatch, sigs);
        vm.warp(t0 + 5 * w);
        applyNext(set = minus(set, addrs[2])); // 4 members, 3 owner's, threshold 3: taken over
        vm.assertEq(evilSeats(), layer.threshold(), "owner at threshold only after five delays");
        vm.assertEq(uint256(layer.appliedMembershipNonce()), 6, "six announced changes");
    }

    /// Attack (1): the owner installs its own set in one step (its operators in, honest members out).
    /// Only the next announced change can be applied, one operator at a time; more changes cannot even
    /// be announced while one waits, and the owner's keys are not signers.
    function test_OwnerTakeover_CannotInstallItsSetInOneStep() public {
        announceJoin(evil[0], keccak256("evil key 0"));
        vm.prank(evil[1]);
        layer.requestJoin(keccak256("evil key 1"), new bytes(64));
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.TooManyPendingChanges.selector, 1, 1));
        layer.approveJoin(evil[1]);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.TooManyPendingChanges.selector, 1, 1));
        layer.requestLeave(addrs[0]);

        // the owner's set: its four operators; three of them plus one honest member
        address[] memory ownerSet = sorted(evil);
        address[] memory mixed = sorted(_four(evil[0], evil[1], evil[2], addrs[3]));
        vm.warp(block.timestamp + layer.membershipDelay());
        bytes[] memory sigs = quorumSigs(layer.signerSetUpdateDigest(1, 0, 1, ownerSet, 3));
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.SetDoesNotApplyChange.selector, 1));
        layer.updateSigners(ownerSet, 3, 0, sigs); // even with the honest quorum's signatures
        sigs = quorumSigs(layer.signerSetUpdateDigest(1, 0, 1, mixed, 3));
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.SetDoesNotApplyChange.selector, 1));
        layer.updateSigners(mixed, 3, 0, sigs);
        // the owner's keys sign the one set that applies the change: not signers
        address[] memory next = plus(addrs, evil[0]);
        address[] memory evilSigners = sorted(_four(evil[0], evil[1], evil[2], evil[3]));
        sigs = sigsOf(evilSigners, layer.signerSetUpdateDigest(1, 0, 1, next, 4));
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.NotASigner.selector, 0, evilSigners[0]));
        layer.updateSigners(next, 4, 0, sigs);

        applyNext(next); // what the cluster does: one operator in
        vm.assertEq(evilSeats(), 1, "one seat after one delay");
    }

    /// Attack (1): a quorum (colluding members, or the owner with their keys) installs an arbitrary
    /// set. No update installs a set the announced, delayed changes do not make.
    function test_OwnerTakeover_QuorumCannotInstallArbitrarySet() public {
        address[] memory arbitrary = sorted(evil);
        bytes[] memory all = sigsFirst(keys, 4, layer.signerSetUpdateDigest(1, 0, 1, arbitrary, 3));
        vm.expectRevert(FlashLayer.NoPendingChange.selector);
        layer.updateSigners(arbitrary, 3, 0, all); // all four members sign: nothing announced

        layer.requestLeave(addrs[0]);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.ChangeNotDue.selector, 1, block.timestamp + WINDOW));
        layer.updateSigners(arbitrary, 3, 0, all); // not before the delay either
        vm.warp(block.timestamp + WINDOW);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.SetDoesNotApplyChange.selector, 1));
        layer.updateSigners(arbitrary, 3, 0, all);
        // nor a leave of another member than the announced one
        address[] memory wrongLeave = minus(addrs, addrs[1]);
        all = sigsFirst(keys, 4, layer.signerSetUpdateDigest(1, 0, 1, wrongLeave, 3));
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.SetDoesNotApplyChange.selector, 1));
        layer.updateSigners(wrongLeave, 3, 0, all);
        vm.assertEq(layer.signers(), addrs, "set unchanged");
    }

    function _four(address a, address b, address c, address d) internal pure returns (address[] memory s) {
        s = new address[](4);
        (s[0], s[1], s[2], s[3]) = (a, b, c, d);
    }
}

// ====================================================================== (2) early signer-set update

contract FlashLayerTrustEarlyUpdateTest is TrustTestBase {
    address internal joiner;
    address[] internal next;

    function setUp() public override {
        super.setUp();
        joiner = newOperator("joiner");
        announceJoin(joiner, keccak256("joiner key"));
        vm.warp(block.timestamp + layer.membershipDelay());
        next = plus(addrs, joiner);
        submitByQuorum(nextBatch(3)); // batch 1
    }

    /// Attack (2): the outgoing set signs its last batch and the signer-set update that follows it;
    /// someone (a member, or anyone who saw the update gossiped) submits the update before that batch
    /// lands, so the batch, signed by the old set, can no longer meet the new set's threshold. The
    /// update now names the batch it follows and fails until that batch has landed.
    function test_EarlyUpdate_FailsUntilTheOldSetsLastBatchLands() public {
        FlashLayer.Batch memory last = nextBatch(3); // batch 2, the old set's last
        bytes[] memory batchSigs = quorumSigs(layer.batchDigest(last));
        bytes[] memory updateSigs = quorumSigs(layer.signerSetUpdateDigest(1, 2, 1, next, 4));

        vm.prank(makeAddr("front-runner"));
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.UpdateNotAfterBatch.selector, 1, 2));
        layer.updateSigners(next, 4, 2, updateSigs);

        layer.submitBatch(last, batchSigs); // the old set's last batch still lands
        layer.updateSigners(next, 4, 2, updateSigs); // then the update
        vm.assertEq(layer.signers(), next, "new set installed after batch 2");

        // from now on the new set signs
        FlashLayer.Batch memory b3 = nextBatch(3);
        bytes[] memory oldSigs = sigsFirst(keys, 3, layer.batchDigest(b3));
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.BelowThreshold.selector, 3, 4));
        layer.submitBatch(b3, oldSigs);
        submitByQuorum(b3);
        vm.assertEq(uint256(layer.lastBatchIndex()), 3, "batch 3 by the new set");
    }

    /// Attack (2), the other way round: an update signed to follow batch 1 is held back and submitted
    /// only after the old set's batch 2 (a late replay of gossiped signatures). It fails too; the
    /// cluster re-signs the update after batch 2.
    function test_EarlyUpdate_StaleUpdateFailsAfterLaterBatch() public {
        bytes[] memory updateSigs = quorumSigs(layer.signerSetUpdateDigest(1, 1, 1, next, 4));
        submitByQuorum(nextBatch(3)); // batch 2
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.UpdateNotAfterBatch.selector, 2, 1));
        layer.updateSigners(next, 4, 1, updateSigs);
        applyNext(next); // re-signed after batch 2
        vm.assertTrue(layer.isSigner(joiner), "applied");
    }
}

// ====================================================================== (3) reorged deposits

contract FlashLayerTrustDepositsHashTest is TrustTestBase {
    address internal alice;
    address internal bob;

    function setUp() public override {
        super.setUp();
        alice = makeAddr("alice");
        bob = makeAddr("bob");
        vm.deal(alice, 10 ether);
        vm.deal(bob, 10 ether);
    }

    /// Attack (3): the cluster's watcher saw deposit 1 as bob's 5 ETH and credited it on L2; an L1
    /// reorg replaced it with alice's 1 ETH deposit under the same nonce. A batch that counts only
    /// nonces would land and bob's phantom 5 ETH would be withdrawable from other users' deposits; the
    /// batch commits to the deposits' content and fails.
    function test_ReorgedDeposit_BatchFailsWrongDepositsHash() public {
        vm.prank(alice);
        layer.deposit{value: 1 ether}(alice); // the canonical deposit 1
        bytes32 seen = keccak256(abi.encode(bytes32(0), bob, bob, 5 ether)); // the reorged-away one
        FlashLayer.Batch memory b = nextBatch(3);
        b.lastDepositNonce = 1;
        b.depositsHash = seen;
        bytes[] memory sigs = quorumSigs(layer.batchDigest(b));
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.WrongDepositsHash.selector, layer.depositsHash(1), seen));
        layer.submitBatch(b, sigs);

        // same sender and recipient, different amount: refused too
        bytes32 inflated = keccak256(abi.encode(bytes32(0), alice, alice, 100 ether));
        b.depositsHash = inflated;
        sigs = quorumSigs(layer.batchDigest(b));
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.WrongDepositsHash.selector, layer.depositsHash(1), inflated));
        layer.submitBatch(b, sigs);

        credit(b, 1); // what the canonical chain holds
        submitByQuorum(b);
        vm.assertEq(uint256(layer.batch(1).lastDepositNonce), 1, "the right content lands");
    }

    /// Attack (3): a reorg changes a later deposit (nonce 2) while the earlier one stays; the running
    /// hash differs from nonce 2 on, so a batch crediting the reorged-away deposit 2 fails.
    function test_ReorgedLaterDeposit_BatchFailsWrongDepositsHash() public {
        vm.prank(alice);
        layer.deposit{value: 1 ether}(alice);
        vm.prank(alice);
        layer.deposit{value: 2 ether}(bob);
        bytes32 seen = keccak256(abi.encode(layer.depositsHash(1), bob, bob, 2 ether)); // bob sent it, not alice
        FlashLayer.Batch memory b = nextBatch(3);
        b.lastDepositNonce = 2;
        b.depositsHash = seen;
        bytes[] memory sigs = quorumSigs(layer.batchDigest(b));
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.WrongDepositsHash.selector, layer.depositsHash(2), seen));
        layer.submitBatch(b, sigs);
        credit(b, 1); // the cluster re-executes from the common deposit 1
        submitByQuorum(b);
        b = nextBatch(3);
        credit(b, 2);
        submitByQuorum(b);
        vm.assertEq(uint256(layer.batch(2).lastDepositNonce), 2, "canonical deposit 2 credited");
    }
}

// ====================================================================== (4) assets at the layer address

contract FlashLayerTrustForwarderTest is TrustTestBase {
    address internal attacker;
    TestToken internal token;
    CreditVault internal vault;
    MessageTarget internal target;

    function setUp() public override {
        super.setUp();
        attacker = makeAddr("l2 attacker");
        token = new TestToken("Stuck", "STK", 1_000 ether);
        vault = new CreditVault();
        target = new MessageTarget();
        // assets that reached the FlashLayer address outside deposits
        vm.assertTrue(token.transfer(address(layer), 1_000 ether), "transfer");
        vm.deal(address(this), 8 ether);
        vault.depositFor{value: 5 ether}(address(layer));
        layer.deposit{value: 3 ether}(address(this)); // bridged ETH, owed to L2 users
    }

    function relayAt(uint64 b, Message[] memory ms, uint256 i) internal {
        relay(b, ms[i], MessageTree.proof(leavesOf(ms), i));
    }

    /// Attack (4): an L2 account sends messages whose target is a token (or any contract) in which the
    /// FlashLayer address holds assets, with calldata that moves them to itself (`transfer`,
    /// `transferFrom`, a vault withdrawal). Relayed calls now come from the forwarder, which holds
    /// nothing and has no rights, so each of them reverts and the assets stay.
    function test_Message_CannotMoveAssetsAtTheLayerAddress() public {
        Message[] memory ms = new Message[](3);
        ms[0] = Message({
            nonce: 1,
            sender: attacker,
            target: address(token),
            value: 0,
            data: abi.encodeCall(token.transfer, (attacker, 1_000 ether))
        });
        ms[1] = Message({
            nonce: 2,
            sender: attacker,
            target: address(token),
            value: 0,
            data: abi.encodeCall(token.transferFrom, (address(layer), attacker, 1_000 ether))
        });
        ms[2] = Message({
            nonce: 3,
            sender: attacker,
            target: address(vault),
            value: 0,
            data: abi.encodeCall(CreditVault.withdrawTo, (attacker, 5 ether))
        });
        uint64 b = submitWithMessages(ms);
        vm.warp(block.timestamp + WINDOW);
        address fwd = address(layer.forwarder());

        vm.expectRevert(abi.encodeWithSelector(IERC20Errors.ERC20InsufficientBalance.selector, fwd, 0, 1_000 ether));
        relayAt(b, ms, 0);
        vm.expectRevert(abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, fwd, 0, 1_000 ether));
        relayAt(b, ms, 1);
        vm.expectRevert(abi.encodeWithSelector(CreditVault.NoCredit.selector, fwd, 0, 5 ether));
        relayAt(b, ms, 2);

        vm.assertEq(token.balanceOf(address(layer)), 1_000 ether, "tokens stay");
        vm.assertEq(token.balanceOf(attacker), 0, "attacker got no tokens");
        vm.assertEq(vault.credit(address(layer)), 5 ether, "vault credit stays");
        vm.assertEq(attacker.balance, 0, "attacker got no ETH");
        vm.assertEq(address(layer).balance, 3 ether, "bridged ETH untouched");
    }

    /// Attack (4): a message targets the forwarder itself (to make it call out with the layer's
    /// authority, or to reach `forward` with a chosen L2 sender). Refused like the layer as target.
    function test_Message_CannotTargetTheForwarder() public {
        MessageForwarder fwd = layer.forwarder();
        Message[] memory ms = new Message[](1);
        ms[0] = Message({
            nonce: 1,
            sender: attacker,
            target: address(fwd),
            value: 1 ether,
            data: abi.encodeCall(MessageForwarder.forward, (attacker, address(0xB0B), ""))
        });
        uint64 b = submitWithMessages(ms);
        vm.warp(block.timestamp + WINDOW);
        vm.expectRevert(FlashLayer.TargetIsLayer.selector);
        relayAt(b, ms, 0);
        vm.assertEq(address(layer).balance, 3 ether, "nothing paid");
    }

    /// Attack (4): messages spend the bridge's ETH only up to their own value; after relays the
    /// forwarder keeps nothing that a later message could take.
    function test_Message_ForwarderHoldsNothingAfterRelays() public {
        Message[] memory ms = new Message[](3);
        ms[0] = Message({
            nonce: 1,
            sender: attacker,
            target: address(target),
            value: 1 ether,
            data: abi.encodeCall(MessageTarget.ping, (7))
        });
        ms[1] = Message({nonce: 2, sender: attacker, target: attacker, value: 0.5 ether, data: ""});
        // tries to have the forwarder pay out ETH it does not hold
        ms[2] = Message({
            nonce: 3,
            sender: attacker,
            target: address(vault),
            value: 0,
            data: abi.encodeCall(CreditVault.withdrawTo, (attacker, 1 ether))
        });
        uint64 b = submitWithMessages(ms);
        vm.warp(block.timestamp + WINDOW);
        address fwd = address(layer.forwarder());
        relayAt(b, ms, 0);
        relayAt(b, ms, 1);
        vm.assertEq(target.caller(), fwd, "calls come from the forwarder");
        vm.assertEq(target.l2Sender(), attacker, "which names the L2 sender");
        vm.assertEq(target.received(), 1 ether, "exactly the message's value");
        vm.assertEq(fwd.balance, 0, "forwarder keeps no ETH");
        vm.assertEq(token.balanceOf(fwd), 0, "nor tokens");
        vm.assertEq(address(layer).balance, 1.5 ether, "the bridge paid the two values only");
        vm.expectRevert(abi.encodeWithSelector(CreditVault.NoCredit.selector, fwd, 0, 1 ether));
        relayAt(b, ms, 2);
    }
}

// ====================================================================== (5) refunds after the window

contract FlashLayerTrustRefundWindowTest is TrustTestBase {
    /// Attack (5): a bad final batch (signed by a compromised quorum) states a lastDepositNonce below
    /// a deposit that was credited on L2; the depositor refunds it at once and also claims the L2
    /// balance it got from it, before the operators can react. Refunds now wait for the final batch's
    /// challenge window like claims do.
    function test_RefundBeforeFinalBatchWindow_Fails() public {
        address alice = makeAddr("alice");
        vm.deal(alice, 2 ether);
        vm.prank(alice);
        layer.deposit{value: 2 ether}(alice); // credited on L2 in reality
        vm.warp(1_000_000);
        FlashLayer.Batch memory fb = nextBatch(3); // states lastDepositNonce 0
        bytes32 root = keccak256("balances");
        layer.settle(fb, root, quorumSigs(layer.finalBatchDigest(fb, root)));

        vm.expectRevert(abi.encodeWithSelector(FlashLayer.ClaimWindowOpen.selector, 1_000_000 + WINDOW));
        layer.refundDeposit(1, alice, alice, 2 ether);
        vm.warp(1_000_000 + WINDOW - 1);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.ClaimWindowOpen.selector, 1_000_000 + WINDOW));
        layer.refundDeposit(1, alice, alice, 2 ether);
        vm.assertEq(alice.balance, 0, "nothing refunded during the window");

        vm.warp(1_000_000 + WINDOW);
        layer.refundDeposit(1, alice, alice, 2 ether); // an honest refund after the window
        vm.assertEq(alice.balance, 2 ether, "refunded after the window");
        vm.assertTrue(layer.refunded(1), "marked refunded");
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.NotRefundable.selector, 1));
        layer.refundDeposit(1, alice, alice, 2 ether);
    }
}

// ====================================================================== (6) consensus keys

contract FlashLayerTrustConsensusKeyTest is TrustTestBase {
    bytes32 internal constant KEY_A = keccak256("operator A's key");

    address internal opA;
    address internal opB;

    function setUp() public override {
        super.setUp();
        opA = newOperator("operator A");
        opB = newOperator("operator B");
    }

    /// Attack (6): a joiner registers an initial member's consensus key as its own; when it leaves
    /// (or is evicted), the cluster removes that key, i.e. the honest member, from the validator set.
    function test_JoinWithInitialMembersKey_FailsConsensusKeyInUse() public {
        bytes32 memberKey = layer.consensusKeyOf(addrs[1]);
        vm.prank(opA);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.ConsensusKeyInUse.selector, memberKey, addrs[1]));
        layer.requestJoin(memberKey, new bytes(64));
        vm.assertEq(layer.pendingJoin(opA), bytes32(0), "no request recorded");
    }

    /// Attack (6): the same with an approved joiner's key, whether the join is applied or not, and with
    /// two requests for one key approved one after the other.
    function test_JoinWithApprovedJoinersKey_FailsConsensusKeyInUse() public {
        vm.prank(opB);
        layer.requestJoin(KEY_A, new bytes(64)); // requested first, before anyone owns it
        announceJoin(opA, KEY_A); // opA's approval gives it the key
        vm.assertEq(layer.operatorOfKey(KEY_A), opA, "owned by opA");
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.ConsensusKeyInUse.selector, KEY_A, opA));
        layer.approveJoin(opB);
        vm.prank(opB);
        layer.cancelJoin();
        vm.prank(opB);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.ConsensusKeyInUse.selector, KEY_A, opA));
        layer.requestJoin(KEY_A, new bytes(64));

        vm.warp(block.timestamp + layer.membershipDelay());
        applyNext(plus(addrs, opA));
        vm.prank(opB);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.ConsensusKeyInUse.selector, KEY_A, opA));
        layer.requestJoin(KEY_A, new bytes(64));
    }

    /// A member that left may come back with its own key (initial member or joiner); nobody else may
    /// take the key in between.
    function test_RejoinWithOwnKey_Works() public {
        bytes32 memberKey = layer.consensusKeyOf(addrs[0]);
        layer.requestLeave(addrs[0]);
        vm.warp(block.timestamp + layer.membershipDelay());
        address[] memory three = minus(addrs, addrs[0]);
        applyNext(three);
        vm.prank(opA);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.ConsensusKeyInUse.selector, memberKey, addrs[0]));
        layer.requestJoin(memberKey, new bytes(64)); // still addrs[0]'s after it left

        announceJoin(addrs[0], memberKey);
        vm.warp(block.timestamp + layer.membershipDelay());
        applyNext(addrs);
        vm.assertTrue(layer.isSigner(addrs[0]), "back with its own key");
        vm.assertEq(layer.consensusKeyOf(addrs[0]), memberKey, "same key");
        vm.assertEq(layer.operatorOfKey(memberKey), addrs[0], "still its key");

        // a joiner too
        announceJoin(opA, KEY_A);
        vm.warp(block.timestamp + layer.membershipDelay());
        applyNext(plus(addrs, opA));
        vm.prank(opA);
        layer.requestLeave(opA);
        vm.warp(block.timestamp + layer.membershipDelay());
        applyNext(addrs);
        announceJoin(opA, KEY_A);
        vm.assertTrue(layer.joining(opA), "opA rejoins with its key");
    }
}

// ====================================================================== (7) system recipient, zero root

contract FlashLayerTrustLockedFundsTest is TrustTestBase {
    /// Attack (7): a deposit to the L2MessagePasser credits a system contract whose balance the final
    /// balances leave out, so the ETH is locked forever (by mistake, or by a front-end tricking users).
    function test_DepositToMessagePasser_Fails() public {
        address passer = layer.L2_MESSAGE_PASSER();
        address alice = makeAddr("alice");
        vm.deal(alice, 1 ether);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.RecipientIsSystemContract.selector, passer));
        layer.deposit{value: 1 ether}(passer);
        vm.assertEq(alice.balance, 1 ether, "kept");
        vm.assertEq(uint256(layer.depositCount()), 0, "no deposit");
    }

    /// Attack (7): a final batch with a zero balances root settles the layer with no claimable
    /// balance at all (every L2 balance locked). Refused.
    function test_SettleWithZeroBalancesRoot_Fails() public {
        FlashLayer.Batch memory fb = nextBatch(3);
        bytes[] memory sigs = quorumSigs(layer.finalBatchDigest(fb, bytes32(0)));
        vm.expectRevert(FlashLayer.ZeroBalancesRoot.selector);
        layer.settle(fb, bytes32(0), sigs);
        vm.assertFalse(layer.settled(), "not settled");
        bytes32 root = keccak256("balances");
        layer.settle(fb, root, quorumSigs(layer.finalBatchDigest(fb, root)));
        vm.assertTrue(layer.settled(), "settled with a real root");
    }
}

// ====================================================================== honest path

contract FlashLayerTrustHonestPathTest is TrustTestBase {
    address internal alice;
    address internal bob;
    address internal carol;
    address internal joiner;
    MessageTarget internal target;
    // the two batches with messages, and their messages
    uint64 internal b1;
    uint64 internal b2;
    Message internal m1;
    Message internal m2;

    function setUp() public override {
        super.setUp();
        alice = makeAddr("alice");
        bob = makeAddr("bob");
        carol = makeAddr("carol");
        joiner = newOperator("joiner");
        target = new MessageTarget();
        vm.deal(alice, 3 ether);
        vm.deal(bob, 2 ether);
        vm.deal(carol, 1 ether);
        vm.warp(1_000_000);
    }

    /// The honest life of a layer under the new rules: deposits credited with their running hash, a
    /// join and a leave announced, waited out and applied after the last batch of each set, batches
    /// by each set, relays through the forwarder, then the final batch, and claims and refunds after
    /// its window. Every wei paid out exactly once.
    function test_HonestPath_RotationRelaysClaimsRefunds() public {
        vm.prank(alice);
        layer.deposit{value: 3 ether}(alice); // nonce 1
        vm.prank(bob);
        layer.deposit{value: 2 ether}(bob); // nonce 2

        _batchOneThenJoin();
        _batchTwoThenLeave();

        // a late deposit, then the end: the final batch (newest set) does not credit it
        vm.prank(carol);
        layer.deposit{value: 1 ether}(carol); // nonce 3
        layer.close();
        bytes32[] memory leaves = new bytes32[](2);
        leaves[0] = layer.balanceLeaf(alice, 2 ether);
        leaves[1] = layer.balanceLeaf(bob, 1.5 ether);
        bytes32 root = MessageTree.root(leaves);
        FlashLayer.Batch memory fb = nextBatch(5);
        credit(fb, 2);
        layer.settle(fb, root, quorumSigs(layer.finalBatchDigest(fb, root)));
        uint256 settledAt = block.timestamp;

        // relays: the windows of batches 1 and 2 have passed (the membership delays were as long)
        _relay(b1, m1);
        _relay(b2, m2);
        vm.assertEq(target.caller(), address(layer.forwarder()), "via the forwarder");
        vm.assertEq(target.l2Sender(), bob, "from bob");
        vm.assertEq(target.received(), 0.5 ether, "with its value");

        // the refund and the claims after the final window
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.ClaimWindowOpen.selector, settledAt + WINDOW));
        layer.refundDeposit(3, carol, carol, 1 ether);
        vm.warp(settledAt + WINDOW);
        layer.refundDeposit(3, carol, carol, 1 ether);
        layer.claim(alice, 2 ether, MessageTree.proof(leaves, 0));
        layer.claim(bob, 1.5 ether, MessageTree.proof(leaves, 1));

        vm.assertEq(address(layer).balance, 0, "every wei paid out");
        vm.assertEq(address(layer.forwarder()).balance, 0, "forwarder empty");
        vm.assertEq(alice.balance, 3 ether, "alice: 1 withdrawn + 2 claimed");
        vm.assertEq(bob.balance, 1.5 ether, "bob: 0.5 sent to the target, 1.5 claimed");
        vm.assertEq(carol.balance, 1 ether, "carol refunded");
        vm.assertEq(address(target).balance, 0.5 ether, "target");
    }

    /// Batch 1 (initial set) credits both deposits and carries alice's 1 ETH withdrawal; then a join
    /// is announced, waited out and applied after batch 1.
    function _batchOneThenJoin() internal {
        m1 = Message({nonce: 1, sender: alice, target: alice, value: 1 ether, data: ""});
        FlashLayer.Batch memory b = nextBatch(5);
        credit(b, 2);
        b.messagesRoot = MessageTree.leaf(msgHash(m1));
        submitByQuorum(b);
        b1 = b.index;

        announceJoin(joiner, keccak256("joiner key"));
        vm.warp(block.timestamp + layer.membershipDelay());
        applyNext(plus(addrs, joiner));
        vm.assertEq(layer.threshold(), 4, "5 members, threshold 4");
    }

    /// Batch 2 (the new set, the joiner co-signing): bob calls an L1 contract with 0.5 ETH; then a
    /// member leaves, applied after batch 2.
    function _batchTwoThenLeave() internal {
        m2 = Message({
            nonce: 2,
            sender: bob,
            target: address(target),
            value: 0.5 ether,
            data: abi.encodeCall(MessageTarget.ping, (42))
        });
        FlashLayer.Batch memory b = nextBatch(5);
        b.messagesRoot = MessageTree.leaf(msgHash(m2));
        address[] memory five = layer.signers();
        address[] memory withJoiner = new address[](4); // the joiner and three others, ascending
        uint256 k = 0;
        uint256 others = 0;
        for (uint256 i = 0; i < 5; ++i) {
            if (five[i] == joiner) withJoiner[k++] = five[i];
            else if (others < 3) (withJoiner[k++], others) = (five[i], others + 1);
        }
        layer.submitBatch(b, sigsOf(withJoiner, layer.batchDigest(b)));
        b2 = b.index;

        vm.prank(addrs[0]);
        layer.requestLeave(addrs[0]);
        vm.warp(block.timestamp + layer.membershipDelay());
        applyNext(minus(five, addrs[0]));
        vm.assertFalse(layer.isSigner(addrs[0]), "left");
        vm.assertTrue(layer.isSigner(joiner), "joiner stays");
        vm.assertEq(uint256(layer.appliedMembershipNonce()), 2, "both changes applied");
    }

    /// Relays single-message batch `b`'s message `m` (the root is the leaf: empty proof).
    function _relay(uint64 b, Message memory m) internal {
        relay(b, m, new bytes32[](0));
    }
}

// ====================================================================== (4b) claims to a named L1 recipient

contract FlashLayerTrustClaimRecipientTest is TrustTestBase {
    /// Attack (4b): an L2 contract (a pool, a vault) holds ETH when the layer ends. Its final balance
    /// was claimable only by "the same address on L1", which is usually nobody's (locked forever) or
    /// someone else's (a CREATE of the same deployer and nonce on L1 takes it). An account that named
    /// an L1 recipient on L2 (L2MessagePasser.setClaimRecipient) gets a leaf that binds the recipient:
    /// it is paid only to that recipient, and the same-address claim of it fails.
    function test_ClaimOfAContractBalance_GoesToTheNamedRecipientOnly() public {
        address pool = makeAddr("L2 pool contract"); // the same address on L1 belongs to someone else
        address treasury = makeAddr("pool's L1 treasury");
        address alice = makeAddr("alice");
        vm.deal(address(this), 5 ether);
        layer.deposit{value: 5 ether}(alice); // backs the balances below
        bytes32[] memory leaves = new bytes32[](2);
        leaves[0] = layer.balanceLeafTo(pool, 3 ether, treasury);
        leaves[1] = layer.balanceLeaf(alice, 2 ether);
        bytes32 root = MessageTree.root(leaves);
        FlashLayer.Batch memory b = nextBatch(3);
        credit(b, 1);
        layer.settle(b, root, quorumSigs(layer.finalBatchDigest(b, root)));
        vm.warp(block.timestamp + WINDOW);

        bytes32[] memory poolProof = MessageTree.proof(leaves, 0);
        // the same-address claim does not prove: the leaf names the treasury
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.InvalidBalanceProof.selector, pool, 3 ether));
        layer.claim(pool, 3 ether, poolProof);
        // nor can anyone name another recipient
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.InvalidBalanceProof.selector, pool, 3 ether));
        layer.claimTo(pool, 3 ether, address(this), poolProof);
        layer.claimTo(pool, 3 ether, treasury, poolProof);
        vm.assertEq(treasury.balance, 3 ether, "paid to the named recipient");
        vm.assertEq(pool.balance, 0, "not to the same address on L1");
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.AlreadyClaimed.selector, pool));
        layer.claimTo(pool, 3 ether, treasury, poolProof);
        // an account without a recipient claims as before, and not through claimTo
        bytes32[] memory aliceProof = MessageTree.proof(leaves, 1);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.InvalidBalanceProof.selector, alice, 2 ether));
        layer.claimTo(alice, 2 ether, alice, aliceProof);
        layer.claim(alice, 2 ether, aliceProof);
        vm.assertEq(alice.balance, 2 ether, "default claim");
    }
}

// ====================================================================== (6b) consensus key proof

contract FlashLayerTrustKeyProofTest is TrustTestBase {
    /// Attack (6b): an operator names a consensus key it does not hold (someone else's future key,
    /// or a key nobody runs). L1 cannot check ed25519, so a join request carries the key's
    /// signature over joinProofMessage(operator, key) (bound to chain, contract, operator and key),
    /// kept until approval for the owner's tooling to verify (`flashlayer membership approve`
    /// refuses a proof that does not verify); a request without a 64-byte proof is refused here.
    function test_JoinRequestCarriesAKeyProofUntilDecided() public {
        address op = newOperator("proving operator");
        bytes32 key = keccak256("op key");
        vm.prank(op);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.KeyProofWrongLength.selector, 0));
        layer.requestJoin(key, "");
        vm.prank(op);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.KeyProofWrongLength.selector, 65));
        layer.requestJoin(key, new bytes(65));
        bytes memory proof = abi.encodePacked(keccak256("r"), keccak256("s"));
        vm.prank(op);
        layer.requestJoin(key, proof);
        vm.assertEq(layer.pendingJoinProof(op), proof, "kept for the owner");
        // the message binds operator, key, chain and contract
        bytes32 m = layer.joinProofMessage(op, key);
        vm.assertTrue(m != layer.joinProofMessage(addrs[0], key), "operator");
        vm.assertTrue(m != layer.joinProofMessage(op, keccak256("other")), "key");
        vm.chainId(block.chainid + 1);
        vm.assertTrue(m != layer.joinProofMessage(op, key), "chain");
        vm.chainId(block.chainid - 1);
        FlashLayer other = new FlashLayer(addrs, 3, GENESIS, WINDOW, 0, 0, ckeys(addrs), 0, recourse());
        vm.assertTrue(m != other.joinProofMessage(op, key), "contract");
        // cleared once decided (approval here; cancelJoin likewise)
        layer.approveJoin(op);
        vm.assertEq(layer.pendingJoinProof(op), "", "cleared on approval");
        address op2 = newOperator("cancelling operator");
        vm.prank(op2);
        layer.requestJoin(keccak256("op2 key"), proof);
        vm.prank(op2);
        layer.cancelJoin();
        vm.assertEq(layer.pendingJoinProof(op2), "", "cleared on cancel");
    }
}
