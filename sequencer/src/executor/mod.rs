//! The executor actor: executes committed blocks as consensus commits them.
//!
//! A thin actix shell (a `SyncActor` on its own thread, since execution is CPU-bound) around
//! [`BlockExecutor`](flashlayer_execution::BlockExecutor). It is woken by a [`CatchUp`]
//! message, sent by the consensus store's write hook whenever hotstuff_rs writes (a commit is
//! always such a write), and executes every committed block it has not executed yet.

mod actor;

pub use actor::ExecutorActor;
