//! The crate's error type: every variant names the syscall, arch, action, operator or flag it is
//! about, so the engine can print one clear line.

use std::io;

/// Errors from compiling, parsing or loading a seccomp profile.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The profile JSON is not valid JSON or does not have the profile's shape.
    #[error("invalid seccomp profile JSON: {0}")]
    Json(#[from] serde_json::Error),

    /// The profile has no `defaultAction`.
    #[error("seccomp profile has no defaultAction")]
    NoDefaultAction,

    /// An action name that is not one of `SCMP_ACT_*`.
    #[error("unknown seccomp action {0:?}")]
    UnknownAction(String),

    /// An architecture name that is not one of `SCMP_ARCH_*`.
    #[error("unknown seccomp architecture {0:?}")]
    UnknownArch(String),

    /// An operator name that is not one of `SCMP_CMP_*`.
    #[error("unknown seccomp operator {op:?} in the rule for {syscall}")]
    UnknownOperator { syscall: String, op: String },

    /// A filter flag berth does not support (only LOG, SPEC_ALLOW and TSYNC are).
    #[error("unsupported seccomp flag {0} (supported: SECCOMP_FILTER_FLAG_LOG, SECCOMP_FILTER_FLAG_SPEC_ALLOW, SECCOMP_FILTER_FLAG_TSYNC)")]
    UnsupportedFlag(String),

    /// A Docker-form profile sets both `architectures` and `archMap`.
    #[error("seccomp profile sets both 'architectures' and 'archMap'; use one")]
    ArchitecturesAndArchMap,

    /// A Docker-form rule sets both `name` and `names`.
    #[error("seccomp rule for {name} sets both 'name' and 'names'; use one")]
    NameAndNames { name: String },

    /// A `minKernel` that is not a kernel version like `4.8` or `5.10.1`.
    #[error("invalid minKernel {0:?} in seccomp profile")]
    InvalidMinKernel(String),

    /// `SCMP_ACT_NOTIFY` as the default action would send every syscall of the container (and
    /// of its init, before execve) to the agent.
    #[error("SCMP_ACT_NOTIFY cannot be the default seccomp action")]
    NotifyAsDefault,

    /// `errnoRet` on an action that returns no value.
    #[error("errnoRet is only valid with SCMP_ACT_ERRNO and SCMP_ACT_TRACE, not {action} (rule for {syscall})")]
    ErrnoRetWithAction { syscall: String, action: String },

    /// `errnoRet` does not fit the 16 bits the kernel keeps.
    #[error("errnoRet {value} of {action} (rule for {syscall}) does not fit in 16 bits")]
    ErrnoRetRange {
        syscall: String,
        action: String,
        value: u32,
    },

    /// An argument index outside 0..=5.
    #[error("argument index {index} in the rule for {syscall} is out of range (0..=5)")]
    ArgIndex { syscall: String, index: usize },

    /// libseccomp does not support this architecture.
    #[error("seccomp architecture {arch} is not supported by libseccomp: {source}")]
    UnsupportedArch {
        arch: String,
        source: libseccomp::error::SeccompError,
    },

    /// libseccomp refused an action (e.g. the kernel lacks SCMP_ACT_NOTIFY or SCMP_ACT_LOG).
    #[error("seccomp action {action} is not supported here: {source}")]
    UnsupportedAction {
        action: String,
        source: libseccomp::error::SeccompError,
    },

    /// libseccomp refused a rule.
    #[error("adding seccomp rule {action} for {syscall} failed: {source}")]
    AddRule {
        syscall: String,
        action: String,
        source: libseccomp::error::SeccompError,
    },

    /// libseccomp failed while building or exporting the filter.
    #[error("building the seccomp filter failed: {0}")]
    Libseccomp(#[from] libseccomp::error::SeccompError),

    /// Reading the exported program back failed.
    #[error("exporting the seccomp program failed: {0}")]
    Export(#[source] io::Error),

    /// The program is larger than the kernel accepts (BPF_MAXINSNS).
    #[error("seccomp program has {0} instructions; the kernel accepts at most 4096")]
    ProgramTooLarge(usize),

    /// The kernel refused the filter. `EACCES` means the caller has neither no_new_privs set
    /// nor CAP_SYS_ADMIN.
    #[error("loading the seccomp filter failed: {0}")]
    Load(#[source] io::Error),
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
