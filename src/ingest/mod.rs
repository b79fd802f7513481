//! The engine's front door: a Unix socket speaking newline-delimited JSON.
//! Workers heartbeat and claim through it; the CLI, scripts and the control
//! room reach a running engine through it.
//!
//! `decoder` (bytes → lines, limits), `protocol` (lines → engine commands,
//! replies), `socket` (path, permissions, stale sockets), `server`
//! (connections), `client` (the other end).

pub mod client;
pub mod decoder;
pub mod protocol;
pub mod server;
pub mod socket;
