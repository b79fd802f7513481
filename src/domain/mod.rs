//! The pure core: every rule of the contract as plain functions over plain
//! data. Nothing here reads a clock, a file or a socket; callers pass `now`.

pub mod alerts;
pub mod backpressure;
pub mod bounded;
pub mod candidate;
pub mod control;
pub mod decision;
pub mod delivery;
pub mod envelope;
pub mod events;
pub mod fleet;
pub mod ids;
pub mod lane;
pub mod lifecycle;
pub mod names;
pub mod printable;
pub mod router;
pub mod scorer;
pub mod task_node;
pub mod time;
pub mod truthy;
pub mod worker;
