//! Seccomp user notification: the descriptor a `SCMP_ACT_NOTIFY` filter returns is handed, with
//! the container's process state, to the listener socket the spec names (`listenerPath`), where a
//! supervisor answers the container's intercepted syscalls.

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use serde_json::json;

use crate::error::{Context, Result};
use crate::hooks::HookState;
use crate::sync::send_fd;
use crate::OCI_VERSION;

/// Sends `fd` to the listener at `path` with the runtime-spec `ContainerProcessState` document.
pub fn forward(
    path: &Path,
    metadata: Option<&str>,
    fd: OwnedFd,
    state: &HookState<'_>,
) -> Result<()> {
    let doc = json!({
        "ociVersion": OCI_VERSION,
        "fds": ["seccompFd"],
        "pid": state.pid,
        "metadata": metadata.unwrap_or(""),
        "state": state,
    });
    let sock = UnixStream::connect(path)
        .ctx(|| format!("connecting to seccomp listener {}", path.display()))?;
    send_fd(sock.as_raw_fd(), fd.as_raw_fd(), doc.to_string().as_bytes()).ctx(|| {
        format!(
            "sending the seccomp notify descriptor to {}",
            path.display()
        )
    })
}

/// A filter with notify rules needs somewhere to send its descriptor.
pub fn check(spec: &oci_spec::runtime::LinuxSeccomp, filter: &berth_seccomp::Filter) -> Result<()> {
    if filter.uses_notify() && spec.listener_path().is_none() {
        return Err(crate::Error::Spec(
            "seccomp rules with SCMP_ACT_NOTIFY need linux.seccomp.listenerPath".into(),
        ));
    }
    Ok(())
}

/// Forwards a descriptor the child sent with [`crate::sync::Message::SeccompFd`].
pub fn forward_from_spec(
    spec: Option<&oci_spec::runtime::LinuxSeccomp>,
    fd: Option<OwnedFd>,
    state: &HookState<'_>,
) -> Result<()> {
    let (Some(spec), Some(fd)) = (spec, fd) else {
        return Err(crate::Error::Init(
            "seccomp notify message without a descriptor or a filter".into(),
        ));
    };
    let path = spec.listener_path().as_ref().expect("checked before fork");
    forward(path, spec.listener_metadata().as_deref(), fd, state)
}
