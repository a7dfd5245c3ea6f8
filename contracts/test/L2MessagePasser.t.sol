// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {TestBase, Vm} from "./utils/TestBase.sol";
import {LayerTestBase, MessageTarget} from "./utils/LayerTestBase.sol";
import {FlashLayer} from "../src/FlashLayer.sol";
import {L2MessagePasser} from "../src/L2MessagePasser.sol";
import {MessageTree} from "../src/MessageTree.sol";

contract L2MessagePasserTest is TestBase {
    /// Where the tests place the passer, as the L2 genesis does: runtime code only, empty storage.
    address internal constant PREDEPLOY = 0x4200000000000000000000000000000000000016;

    L2MessagePasser internal passer;
    address internal alice;
    address internal l1Target;

    function setUp() public {
        vm.etch(PREDEPLOY, address(new L2MessagePasser()).code);
        passer = L2MessagePasser(PREDEPLOY);
        alice = makeAddr("alice");
        l1Target = makeAddr("l1 target");
        vm.deal(alice, 10 ether);
    }

    function test_RuntimeCodeOnlyStartsAtNonceZero() public view {
        vm.assertEq(passer.messageNonce(), 0, "nonce");
    }

    /// The cluster reads the recipient straight from storage for every account it knows only by
    /// keccak256(address): slot keccak256(abi.encode(keccak256(account), 1)) must hold it.
    function test_SetClaimRecipient_StorageLayoutTheClusterReads() public {
        address treasury = makeAddr("treasury");
        vm.expectEmit(true, true, false, true, PREDEPLOY);
        emit L2MessagePasser.ClaimRecipientSet(alice, treasury);
        vm.prank(alice);
        passer.setClaimRecipient(treasury);
        vm.assertEq(passer.claimRecipient(alice), treasury, "view");
        bytes32 slot = keccak256(abi.encode(keccak256(abi.encodePacked(alice)), uint256(1)));
        vm.assertEq(address(uint160(uint256(vm.load(PREDEPLOY, slot)))), treasury, "slot layout");
        vm.prank(alice);
        passer.setClaimRecipient(address(0));
        vm.assertEq(vm.load(PREDEPLOY, slot), bytes32(0), "cleared");
        vm.assertEq(passer.messageNonce(), 0, "no message");
    }

    function test_SendMessage() public {
        bytes memory data = abi.encodeCall(MessageTarget.ping, (5));
        bytes32 expected = MessageTree.messageHash(1, alice, l1Target, 0.5 ether, data);
        vm.assertEq(expected, keccak256(abi.encode(uint256(1), alice, l1Target, uint256(0.5 ether), data)), "hash");
        vm.expectEmit(true, true, true, true, PREDEPLOY);
        emit L2MessagePasser.MessageSent(1, alice, l1Target, 0.5 ether, data, expected);
        vm.prank(alice);
        bytes32 h = passer.sendMessage{value: 0.5 ether}(l1Target, data);
        vm.assertEq(h, expected, "returned hash");
        vm.assertEq(passer.messageNonce(), 1, "nonce");
        vm.assertEq(PREDEPLOY.balance, 0.5 ether, "value locked on L2");
    }

    function test_NoncesIncrement() public {
        for (uint256 i = 1; i <= 3; ++i) {
            vm.expectEmit(true, true, true, false, PREDEPLOY);
            emit L2MessagePasser.MessageSent(i, address(this), l1Target, 0, "", bytes32(0));
            passer.sendMessage(l1Target, "");
        }
        vm.assertEq(passer.messageNonce(), 3, "nonce");
    }

    function test_Withdraw() public {
        bytes32 expected = MessageTree.messageHash(1, alice, alice, 2 ether, "");
        vm.expectEmit(true, true, true, true, PREDEPLOY);
        emit L2MessagePasser.MessageSent(1, alice, alice, 2 ether, "", expected);
        vm.prank(alice);
        vm.assertEq(passer.withdraw{value: 2 ether}(alice), expected, "returned hash");
        vm.assertEq(alice.balance, 8 ether, "burned from sender");
        vm.assertEq(PREDEPLOY.balance, 2 ether, "locked");
    }

    function test_RevertWhen_SendToZeroTarget() public {
        vm.expectRevert(L2MessagePasser.ZeroTarget.selector);
        passer.sendMessage(address(0), hex"01");
    }

    function test_RevertWhen_WithdrawZeroValue() public {
        vm.expectRevert(L2MessagePasser.ZeroWithdrawal.selector);
        vm.prank(alice);
        passer.withdraw(alice);
    }

    function test_RevertWhen_WithdrawToZero() public {
        vm.expectRevert(L2MessagePasser.ZeroTarget.selector);
        vm.prank(alice);
        passer.withdraw{value: 1 ether}(address(0));
    }

    function test_RevertWhen_PlainEthTransfer() public {
        vm.prank(alice);
        (bool ok,) = PREDEPLOY.call{value: 1 ether}("");
        vm.assertFalse(ok, "plain transfer accepted");
    }
}

/// L2MessagePasser events -> messages root -> signed batch -> relays on FlashLayer.
contract EndToEndMessagingTest is LayerTestBase {
    address internal constant PREDEPLOY = 0x4200000000000000000000000000000000000016;
    bytes32 internal constant MESSAGE_SENT = keccak256("MessageSent(uint256,address,address,uint256,bytes,bytes32)");

    function test_EndToEnd() public {
        vm.etch(PREDEPLOY, address(new L2MessagePasser()).code);
        L2MessagePasser passer = L2MessagePasser(PREDEPLOY);
        MessageTarget target = new MessageTarget();
        address alice = makeAddr("alice");
        address bob = makeAddr("bob");
        address carol = makeAddr("carol");
        vm.deal(alice, 10 ether);
        vm.deal(bob, 10 ether);

        // L1: the bridge holds deposits
        address depositor = makeAddr("depositor");
        vm.deal(depositor, 10 ether);
        vm.prank(depositor);
        layer.deposit{value: 10 ether}(depositor);

        // L2: five messages from three senders
        vm.recordLogs();
        vm.prank(alice);
        passer.withdraw{value: 1 ether}(alice);
        vm.prank(bob);
        passer.sendMessage{value: 0.5 ether}(address(target), abi.encodeCall(MessageTarget.ping, (99)));
        vm.prank(bob);
        passer.withdraw{value: 2 ether}(carol);
        vm.prank(alice);
        passer.sendMessage(carol, hex"c0ffee"); // an EOA target with data and no value
        vm.prank(carol);
        passer.sendMessage(bob, ""); // empty message, no value
        Vm.Log[] memory logs = vm.getRecordedLogs();

        // the cluster's view: decode MessageSent events, check the hashes, build the root
        Message[] memory ms = new Message[](logs.length);
        bytes32[] memory leaves = new bytes32[](logs.length);
        uint256 n = 0;
        for (uint256 i = 0; i < logs.length; ++i) {
            if (logs[i].emitter != PREDEPLOY || logs[i].topics[0] != MESSAGE_SENT) continue;
            (uint256 value, bytes memory data, bytes32 h) = abi.decode(logs[i].data, (uint256, bytes, bytes32));
            ms[n] = Message({
                nonce: uint256(logs[i].topics[1]),
                sender: address(uint160(uint256(logs[i].topics[2]))),
                target: address(uint160(uint256(logs[i].topics[3]))),
                value: value,
                data: data
            });
            vm.assertEq(msgHash(ms[n]), h, "event hash = recomputed hash");
            vm.assertEq(ms[n].nonce, n + 1, "nonces 1..n");
            leaves[n] = MessageTree.leaf(h);
            ++n;
        }
        vm.assertEq(n, 5, "five messages");

        // L1: signed batch with that messages root, then the challenge window, then relays
        FlashLayer.Batch memory b = nextBatch(7);
        credit(b, 1);
        b.messagesRoot = MessageTree.root(leaves);
        submit(b);
        vm.warp(block.timestamp + WINDOW);
        for (uint256 i = 0; i < n; ++i) {
            relay(b.index, ms[i], MessageTree.proof(leaves, i));
        }

        vm.assertEq(alice.balance, 10 ether, "alice withdrew 1 (9 left on L2 + 1 on L1)");
        vm.assertEq(carol.balance, 2 ether, "carol got 2 from bob");
        vm.assertEq(target.x(), 99, "target called");
        vm.assertEq(target.l2Sender(), bob, "target saw the L2 sender");
        vm.assertEq(target.received(), 0.5 ether, "target got the value");
        vm.assertEq(address(layer).balance, 10 ether - 3.5 ether, "bridge paid out");
        vm.assertEq(PREDEPLOY.balance, 3.5 ether, "locked on L2");
    }
}
