// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @notice The ERC-20 that `flashlayer loadgen` deploys for its `erc20` workload: an
/// OpenZeppelin token whose supply goes to the deployer, who hands it to the sender accounts
/// with `airdrop` (one transaction per few hundred senders instead of one each).
contract LoadToken is ERC20 {
    constructor(uint256 initialSupply) ERC20("Flashlayer Load Token", "LOAD") {
        _mint(msg.sender, initialSupply);
    }

    /// @notice Transfers `amount` from the caller to each of `to`.
    function airdrop(address[] calldata to, uint256 amount) external {
        for (uint256 i = 0; i < to.length; i++) {
            _transfer(msg.sender, to[i], amount);
        }
    }
}
