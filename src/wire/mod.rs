//! The wire: what clients send the engine and what it answers, as serde
//! types shared by every door (the socket, `batch`, the control room, and
//! HTTP when it comes). `command` declares each command once, `reply` the
//! answers, `codec` turns them into protocol v1 lines and back.

pub mod codec;
pub mod command;
pub mod decoder;
pub mod delta;
pub mod reply;
pub mod unique;

pub use command::{Action, Command, Completion, Log, Operator};
pub use reply::Reply;
