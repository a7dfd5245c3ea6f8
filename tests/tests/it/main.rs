//! End-to-end scenarios against real node processes. One binary, a module per story.

mod admission;
mod adversary;
mod cast_flow;
mod clients;
mod cluster;
mod contracts;
mod crash;
mod devnet;
mod escape;
mod history;
mod lifecycle;
mod loadgen;
mod nemesis;
mod restart;
mod rpc_surface;
mod settlement;
mod tokens;
mod trace;
mod verify;
