//! Freezing and thawing: the v1 freezer controller (freezer.state) when the host mounts it,
//! else the v2 core files (cgroup.freeze, confirmed through cgroup.events).

use std::path::Path;
use std::time::{Duration, Instant};

use crate::cgroup::Cgroup;
use crate::error::{Error, Result};
use crate::fs;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    Thawed,
    Freezing,
    Frozen,
}

pub(crate) fn parse_v1_state(path: &Path, text: &str) -> Result<State> {
    match text.trim() {
        "THAWED" => Ok(State::Thawed),
        "FREEZING" => Ok(State::Freezing),
        "FROZEN" => Ok(State::Frozen),
        _ => Err(Error::Parse {
            path: path.to_path_buf(),
            content: text.to_string(),
        }),
    }
}

/// The `frozen` field of cgroup.events.
pub(crate) fn parse_v2_frozen(path: &Path, text: &str) -> Result<bool> {
    let frozen = text.lines().find_map(|l| l.strip_prefix("frozen "));
    match frozen.map(str::trim) {
        Some("1") => Ok(true),
        Some("0") => Ok(false),
        _ => Err(Error::Parse {
            path: path.to_path_buf(),
            content: text.to_string(),
        }),
    }
}

/// Long enough for busy cgroups, short enough that a task stuck in the kernel does not hang
/// `pause` forever.
const TIMEOUT: Duration = Duration::from_secs(5);

enum Backend<'a> {
    V1(&'a Path),
    V2(&'a Path),
}

fn backend(cg: &Cgroup) -> Result<Backend<'_>> {
    if let Some(h) = cg.find_v1("freezer") {
        Ok(Backend::V1(&h.dir))
    } else if let Some(u) = cg.unified() {
        Ok(Backend::V2(&u.dir))
    } else {
        Err(Error::ControllerMissing {
            controller: "freezer".into(),
            setting: "freeze/thaw".into(),
        })
    }
}

pub(crate) fn available(cg: &Cgroup) -> bool {
    backend(cg).is_ok()
}

pub(crate) fn set(cg: &Cgroup, freeze: bool) -> Result<()> {
    match backend(cg)? {
        Backend::V1(dir) => set_v1(dir, freeze),
        Backend::V2(dir) => set_v2(dir, freeze),
    }
}

pub(crate) fn is_frozen(cg: &Cgroup) -> Result<bool> {
    match backend(cg)? {
        Backend::V1(dir) => {
            let path = dir.join("freezer.state");
            Ok(parse_v1_state(&path, &fs::read(&path)?)? == State::Frozen)
        }
        Backend::V2(dir) => {
            let path = dir.join("cgroup.events");
            parse_v2_frozen(&path, &fs::read(&path)?)
        }
    }
}

/// The v1 freezer may stop in FREEZING when a task is busy in the kernel; writing FROZEN again
/// retries those tasks. If it never settles, the cgroup is thawed so it is not left half-frozen.
fn set_v1(dir: &Path, freeze: bool) -> Result<()> {
    let path = dir.join("freezer.state");
    let (value, want) = if freeze {
        ("FROZEN", State::Frozen)
    } else {
        ("THAWED", State::Thawed)
    };
    let settled = poll(|| {
        fs::write(&path, value)?;
        Ok(parse_v1_state(&path, &fs::read(&path)?)? == want)
    })?;
    if settled {
        return Ok(());
    }
    if freeze {
        fs::write(&path, "THAWED")?;
    }
    Err(Error::Timeout {
        path,
        state: value.into(),
    })
}

fn set_v2(dir: &Path, freeze: bool) -> Result<()> {
    fs::write(&dir.join("cgroup.freeze"), if freeze { "1" } else { "0" })?;
    let events = dir.join("cgroup.events");
    let settled = poll(|| Ok(parse_v2_frozen(&events, &fs::read(&events)?)? == freeze))?;
    if settled {
        return Ok(());
    }
    if freeze {
        fs::write(&dir.join("cgroup.freeze"), "0")?;
    }
    Err(Error::Timeout {
        path: events,
        state: format!("frozen {}", u8::from(freeze)),
    })
}

/// Calls `done` with a growing pause until it returns true or TIMEOUT passes.
fn poll(mut done: impl FnMut() -> Result<bool>) -> Result<bool> {
    let start = Instant::now();
    let mut pause = Duration::from_micros(500);
    loop {
        if done()? {
            return Ok(true);
        }
        if start.elapsed() > TIMEOUT {
            return Ok(false);
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Layout;

    #[test]
    fn v1_states_parse_and_garbage_is_an_error() {
        let p = Path::new("freezer.state");
        assert_eq!(parse_v1_state(p, "FROZEN\n").unwrap(), State::Frozen);
        assert_eq!(parse_v1_state(p, "FREEZING\n").unwrap(), State::Freezing);
        assert_eq!(parse_v1_state(p, "THAWED\n").unwrap(), State::Thawed);
        assert!(parse_v1_state(p, "frozen").is_err());
    }

    #[test]
    fn v2_events_frozen_field() {
        let p = Path::new("cgroup.events");
        assert!(parse_v2_frozen(p, "populated 1\nfrozen 1\n").unwrap());
        assert!(!parse_v2_frozen(p, "populated 0\nfrozen 0\n").unwrap());
        assert!(parse_v2_frozen(p, "populated 1\n").is_err());
    }

    #[test]
    fn fake_v1_freezer_reports_what_it_holds() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("freezer/c1");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("freezer.state"), "THAWED\n").unwrap();
        let layout = Layout::v1([("freezer", tmp.path().join("freezer"))]);
        let cg = Cgroup::new(&layout, "/c1").unwrap();
        assert!(!cg.is_frozen().unwrap());
        // A plain file echoes the write back, which is what a settled freezer does.
        cg.freeze().unwrap();
        assert!(cg.is_frozen().unwrap());
        cg.thaw().unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("freezer.state")).unwrap(),
            "THAWED"
        );
    }

    #[test]
    fn without_any_freezer_the_error_names_it() {
        let layout = Layout::v1([("memory", "/nonexistent/memory")]);
        let cg = Cgroup::new(&layout, "/c1").unwrap();
        let err = cg.freeze().unwrap_err();
        assert!(err.to_string().contains("\"freezer\""), "{err}");
    }
}
