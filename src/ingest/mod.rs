//! The engine's front door: a Unix socket speaking newline-delimited JSON.
//! Workers heartbeat and claim through it; the CLI, scripts and the control
//! room reach a running engine through it.
//!
//! `socket` (path, permissions, stale sockets), `server` (connections),
//! `client` (the other end). What the lines say is the [`crate::wire`]'s.

pub mod client;
pub mod limits;
pub mod server;
pub mod socket;
