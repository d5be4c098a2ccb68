//! `attach`: this terminal joins a running container through its monitor, as Docker's does:
//! the output streams, input goes in (unless `--no-stdin`), with a tty the terminal is raw, and
//! the detach keys end the attachment, not the container.

use anyhow::Result;
use berth_engine::attach::{AttachOptions, End};
use berth_engine::Engine;

use super::args::AttachArgs;
use super::run::{detach_keys, engine_failure};
use super::{terminal, Failure};

pub fn attach(engine: &Engine, a: &AttachArgs) -> Result<i32> {
    let id = engine.containers.resolve(&a.container)?;
    let rec = engine.containers.load(&id)?;
    let tty = rec.config.tty;
    let stdin = !a.no_stdin && rec.config.open_stdin;
    let opts = AttachOptions {
        stdin: stdin.then_some(0),
        stdout: Some(1),
        stderr: Some(2),
        detach_keys: detach_keys(a.detach_keys.as_deref())?,
        // Only the client that started the container closes its input (Docker's StdinOnce).
        close_stdin_on_eof: false,
        size: if tty { terminal::own_size() } else { None },
    };
    let session = engine.attach(&id, &opts).map_err(engine_failure)?;
    // After the attach: as with Docker, a stopped container's error comes first.
    terminal::check_tty(stdin, tty)?;
    let raw = if tty && stdin {
        terminal::RawMode::enter()
    } else {
        None
    };
    let end = terminal::follow(&session, rec.state.pid, tty, a.sig_proxy);
    drop(raw);
    match end.map_err(engine_failure)? {
        End::Exited(code) => Ok(code),
        // Docker's attach reports the detach as an error (exit 1).
        End::Detached => Err(Failure::new(1, "read escape sequence".into()).into()),
        End::Lost => Ok(engine
            .containers
            .load(&id)
            .map(|r| r.state.exit_code)
            .unwrap_or(125)),
    }
}
