//! auto-assign: the assignment engine for a homelab fleet of AI agent workers.
//!
//! Layers, from the inside out:
//! - [`domain`]: pure types and rules (normalization, scoring, ids, envelopes,
//!   the assignment state machine). No I/O.
//! - [`store`]: the SQLite cache, outbox and audit. The only code that talks SQL.
//! - [`engine`]: one task that owns the store, applies commands and publishes
//!   snapshots.
//! - [`wire`]: the commands and replies every door speaks (serde, protocol v1).
//! - [`ingest`]: the Unix socket, the engine's front door.
//! - [`http`]: the HTTP API, a third door to the same engine.
//! - [`tui`]: the control room.
//! - [`cli`]: the command line, the only place errors become exit codes.

pub mod cli;
pub mod config;
pub mod demo;
pub mod domain;
pub mod engine;
pub mod error;
pub mod host;
pub mod http;
pub mod ingest;
pub mod private;
pub mod store;
pub mod sync;
pub mod tui;
pub mod wire;

pub use error::{Error, Result};

/// A decision pass allocates on a planning thread and frees on the engine
/// thread, tens of thousands of strings a second; glibc's allocator spends a
/// quarter of a 10,000-candidate pass on that, mimalloc little of it. Set
/// here, so the binary, the tests and the benchmarks all measure the same.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
