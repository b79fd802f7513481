//! `auto-assign batch`: engine commands as JSON lines, for scripts. Each
//! reply line is written (and flushed) only after its change is committed,
//! so a script that saw a reply knows the change is durable.

use super::input;
use crate::config::Settings;
use crate::engine::{self, Command, Core};
use crate::error::{Error, Result};
use serde_json::{Value, json};
use std::io::{BufRead, Write};

pub fn run(settings: Settings, file: &str) -> Result<()> {
    let reader: Box<dyn BufRead> = if file == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let text = input::read_text(file)?;
        Box::new(std::io::Cursor::new(text.into_bytes()))
    };
    let runtime = super::route::runtime()?;
    runtime.block_on(async move {
        let (handle, task) = engine::spawn(Core::open(settings)?)?;
        let mut out = std::io::stdout().lock();
        for (index, line) in reader.lines().enumerate() {
            let line = line.map_err(|source| Error::Io {
                context: "cannot read commands".into(),
                source,
            })?;
            if line.trim().is_empty() {
                continue;
            }
            let reply = match serde_json::from_str::<Value>(&line) {
                Err(e) => error_line(None, "bad_json", &format!("line {}: {e}", index + 1)),
                Ok(value) => {
                    let id = value.get("id").cloned();
                    match serde_json::from_value::<Command>(value) {
                        Err(e) => {
                            error_line(id, "bad_command", &format!("line {}: {e}", index + 1))
                        }
                        Ok(command) => match handle.send(command).await {
                            Ok(reply) => json!({"id": id, "ok": true, "reply": reply}),
                            Err(e) => error_line(id, e.code(), &e.to_string()),
                        },
                    }
                }
            };
            writeln!(out, "{reply}")
                .and_then(|_| out.flush())
                .map_err(|source| Error::Io {
                    context: "cannot write replies".into(),
                    source,
                })?;
        }
        drop(handle);
        let _ = task.await;
        Ok(())
    })
}

fn error_line(id: Option<Value>, code: &str, message: &str) -> Value {
    json!({"id": id, "ok": false, "error": {"code": code, "message": message}})
}
