// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice A counter that reverts with a reason string and emits an event: what the client
/// suite (tests/clients) and the trace tests need beside an ERC-20. `relay` makes a call tree
/// two frames deep, and a revert that bubbles up through it.
contract Tally {
    event Counted(address indexed by, uint256 amount, uint256 total);

    uint256 public total;

    function count(uint256 amount) public returns (uint256) {
        require(amount > 0, "Tally: nothing to count");
        total += amount;
        emit Counted(msg.sender, amount, total);
        return total;
    }

    /// Counts `amount` on `other`, then once more here.
    function relay(Tally other, uint256 amount) external returns (uint256) {
        other.count(amount);
        return count(amount);
    }
}
