//! Where a command goes: to the engine answering on the socket when there
//! is one, else to an engine started here on the database.

use crate::config::Settings;
use crate::engine::{self, Command, Core, Reply, Snapshot};
use crate::error::{Error, Result};
use crate::ingest::client::Client;

fn built(built: std::io::Result<tokio::runtime::Runtime>) -> Result<tokio::runtime::Runtime> {
    built.map_err(|source| Error::Io {
        context: "cannot start the async runtime".into(),
        source,
    })
}

/// One thread: for a one-shot command.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    built(
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
    )
}

/// Two workers (the machine's cores): for the daemon and the control room,
/// which serve the socket while the engine runs on its own thread.
pub fn service_runtime() -> Result<tokio::runtime::Runtime> {
    built(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build(),
    )
}

/// Sends the commands in order and stops at the first refusal.
pub fn send_all(settings: Settings, commands: Vec<Command>) -> Result<Vec<Reply>> {
    runtime()?.block_on(send_all_async(settings, commands))
}

pub async fn send_all_async(settings: Settings, commands: Vec<Command>) -> Result<Vec<Reply>> {
    let mut replies = Vec::with_capacity(commands.len());
    if let Ok(mut client) = Client::connect(&settings.socket_path).await {
        for command in &commands {
            replies.push(client.send(command, &settings.operator).await?);
        }
        return Ok(replies);
    }
    let (handle, task) = engine::spawn(Core::open(settings)?)?;
    for command in commands {
        replies.push(handle.send(command).await?);
    }
    drop(handle);
    let _ = task.await;
    Ok(replies)
}

/// The running engine's snapshot, or one built from the database.
pub fn snapshot(settings: &Settings) -> Result<Snapshot> {
    runtime()?.block_on(async {
        if let Ok(mut client) = Client::connect(&settings.socket_path).await {
            let reply = client
                .request(serde_json::json!({"op": "snapshot"}))
                .await?;
            return serde_json::from_value(reply["result"].clone()).map_err(|e| Error::Io {
                context: "the engine's snapshot".into(),
                source: std::io::Error::other(e),
            });
        }
        let mut core = Core::open(settings.clone())?;
        core.recover()?;
        core.snapshot()
    })
}
