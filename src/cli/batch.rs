//! `auto-assign batch`: protocol v1 lines in, one reply line out for each,
//! for scripts. The lines and replies are the socket's (docs/protocol.md);
//! they go to the daemon when one runs. Each reply is written (and flushed)
//! only after its change is committed, so a script that saw a reply knows
//! the change is durable.

use super::input;
use crate::config::Settings;
use crate::error::{Error, Result};
use crate::host::{Link, runtime, with_engine};
use crate::wire::codec::{ProtocolError, Request, engine_error, error_reply, ok_reply, parse_line};
use serde_json::Value;
use std::io::{BufRead, Write};

pub fn run(settings: Settings, file: &str) -> Result<()> {
    let reader: Box<dyn BufRead> = if file == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let text = input::read_text(file)?;
        Box::new(std::io::Cursor::new(text.into_bytes()))
    };
    runtime()?.block_on(with_engine(&settings, |link| serve(link, reader)))
}

async fn serve(link: Link, reader: Box<dyn BufRead>) -> Result<()> {
    let mut out = std::io::stdout().lock();
    for line in reader.split(b'\n') {
        let line = line.map_err(|source| Error::Io {
            context: "cannot read commands".into(),
            source,
        })?;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let reply = answer(&link, &line).await;
        writeln!(out, "{reply}")
            .and_then(|_| out.flush())
            .map_err(|source| Error::Io {
                context: "cannot write replies".into(),
                source,
            })?;
    }
    Ok(())
}

async fn answer(link: &Link, line: &[u8]) -> Value {
    let parsed = parse_line(line);
    let (id, op) = (parsed.id, parsed.op);
    match parsed.request {
        Err(error) => error_reply(&id, &error),
        Ok(Request::Hello) => match link.hello().await {
            Ok(hello) => ok_reply(&id, "hello", hello),
            Err(error) => error_reply(&id, &engine_error(&error)),
        },
        Ok(Request::Subscribe) => error_reply(
            &id,
            &ProtocolError::new(
                "bad_request",
                "subscribe needs the socket; batch answers one line at a time",
            ),
        ),
        Ok(Request::Command(command)) => match link.send(*command).await {
            Ok(reply) => ok_reply(&id, &op, serde_json::to_value(reply).unwrap_or(Value::Null)),
            Err(error) => error_reply(&id, &engine_error(&error)),
        },
    }
}
