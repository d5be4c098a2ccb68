//! OCI lifecycle hooks: each runs with the container's state as JSON on stdin, an exact
//! environment, and an optional timeout.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::Hook;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::state::Status;

/// The state document hooks read on stdin (runtime-spec "State").
#[derive(Debug, Clone, Serialize)]
pub struct HookState<'a> {
    #[serde(rename = "ociVersion")]
    pub oci_version: &'a str,
    pub id: &'a str,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    pub bundle: &'a std::path::Path,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<&'a std::collections::HashMap<String, String>>,
}

pub fn run_all(hooks: &[Hook], state: &HookState<'_>) -> Result<()> {
    let json = serde_json::to_vec(state).expect("state serializes");
    for h in hooks {
        run(h, &json)?;
    }
    Ok(())
}

/// Runs every hook even when some fail (poststart, poststop: the lifecycle goes on), and
/// returns the failures.
pub fn run_each(hooks: &[Hook], state: &HookState<'_>) -> Vec<Error> {
    let json = serde_json::to_vec(state).expect("state serializes");
    hooks.iter().filter_map(|h| run(h, &json).err()).collect()
}

fn run(hook: &Hook, state: &[u8]) -> Result<()> {
    let err = |msg: String| Error::Hook {
        path: hook.path().clone(),
        msg,
    };
    let args = hook.args().clone().unwrap_or_default();
    let mut cmd = Command::new(hook.path());
    if let Some(a0) = args.first() {
        std::os::unix::process::CommandExt::arg0(&mut cmd, a0);
    }
    cmd.args(args.iter().skip(1))
        .env_clear()
        .stdin(Stdio::piped());
    for kv in hook.env().iter().flatten() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    let mut child = cmd.spawn().map_err(|e| err(format!("cannot start: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin is not an error.
        let _ = stdin.write_all(state);
    }
    let deadline = hook
        .timeout()
        .filter(|t| *t > 0)
        .map(|t| Instant::now() + Duration::from_secs(t as u64));
    let status = loop {
        match child.try_wait().map_err(|e| err(e.to_string()))? {
            Some(s) => break s,
            None if deadline.is_some_and(|d| Instant::now() >= d) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(err(format!(
                    "timed out after {}s",
                    hook.timeout().unwrap_or(0)
                )));
            }
            None => std::thread::sleep(Duration::from_millis(2)),
        }
    };
    if !status.success() {
        return Err(err(format!("failed: {status}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(json: &str) -> Hook {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn hooks_get_state_env_args_and_timeouts() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let h = hook(&format!(
            r#"{{"path":"/bin/sh","args":["sh","-c","cat > {0}; echo \"$0 $FOO\" >> {0}"],"env":["FOO=bar"]}}"#,
            out.display()
        ));
        let ann = Default::default();
        let st = HookState {
            oci_version: "1.2.0",
            id: "c1",
            status: Status::Created,
            pid: Some(7),
            bundle: dir.path(),
            annotations: Some(&ann),
        };
        run_all(&[h], &st).unwrap();
        let text = std::fs::read_to_string(&out).unwrap();
        assert!(
            text.contains(r#""id":"c1""#) && text.contains(r#""pid":7"#),
            "{text}"
        );
        assert!(text.ends_with("sh bar\n"), "{text}");

        let slow = hook(r#"{"path":"/bin/sleep","args":["sleep","5"],"timeout":1}"#);
        let e = run_all(&[slow], &st).unwrap_err().to_string();
        assert!(e.contains("timed out"), "{e}");
        let bad = hook(r#"{"path":"/bin/false"}"#);
        assert!(run_all(&[bad], &st)
            .unwrap_err()
            .to_string()
            .contains("failed"));
    }
}
