//! Docker-style profiles (rules gated on capabilities, architectures and kernel versions) and
//! their resolution into an OCI seccomp section for one target.
//!
//! Both the default profile (`profile.rs`) and user files in Docker form (`docker_json.rs`) are
//! expressed in this model, so both are resolved by the same rules Docker applies:
//! - `excludes` drops a rule when the target's arch is listed, when any listed capability is
//!   held, or when the kernel is at least `minKernel`;
//! - `includes` keeps a rule only when the target's arch is listed, when all listed
//!   capabilities are held, and when the kernel is at least `minKernel`.

use std::fmt;
use std::path::PathBuf;

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompArgBuilder,
    LinuxSeccompFilterFlag, LinuxSeccompOperator, LinuxSyscall,
};

/// A kernel version as compared by `minKernel`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct KernelVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl KernelVersion {
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        KernelVersion {
            major,
            minor,
            patch,
        }
    }

    /// Parses `major.minor[.patch][suffix]`, e.g. `4.8`, `5.10.1`, `6.1.0-13-amd64`.
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.trim().splitn(3, '.');
        let major = parts.next()?.parse().ok()?;
        let minor = leading_number(parts.next()?)?;
        let patch = parts.next().and_then(leading_number).unwrap_or(0);
        Some(KernelVersion::new(major, minor, patch))
    }

    /// The running kernel's version (from uname); `0.0.0` if it cannot be read, which makes
    /// every `minKernel` condition false, the conservative choice.
    pub fn host() -> Self {
        // SAFETY: utsname is plain data; uname fills it.
        let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
        if unsafe { libc::uname(&mut uts) } != 0 {
            return KernelVersion::new(0, 0, 0);
        }
        // SAFETY: uname NUL-terminates release.
        let release = unsafe { std::ffi::CStr::from_ptr(uts.release.as_ptr()) };
        release
            .to_str()
            .ok()
            .and_then(KernelVersion::parse)
            .unwrap_or(KernelVersion::new(0, 0, 0))
    }
}

fn leading_number(text: &str) -> Option<u32> {
    let end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    text[..end].parse().ok()
}

impl fmt::Display for KernelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// What a Docker-form profile is resolved against: the container's capabilities (its bounding
/// set, as Docker uses), the host arch and the host kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// Capability names, with or without the `CAP_` prefix, any case.
    pub caps: Vec<String>,
    /// The arch in Docker's naming (`amd64`, `arm64`, `x86`, `arm`, `ppc64le`, `s390x`,
    /// `riscv64`, ...), the names `includes.arches` and `excludes.arches` use.
    pub arch: String,
    pub kernel: KernelVersion,
}

impl Target {
    /// The running host, with the given capabilities.
    pub fn host(caps: &[String]) -> Self {
        Target {
            caps: caps.to_vec(),
            arch: host_arch_name().to_string(),
            kernel: KernelVersion::host(),
        }
    }

    fn has_cap(&self, cap: &str) -> bool {
        let wanted = normalize_cap(cap);
        self.caps.iter().any(|c| normalize_cap(c) == wanted)
    }

    /// The seccomp arch of the target's native ABI, which selects the `archMap` entry.
    fn seccomp_arch(&self) -> Option<Arch> {
        Some(match self.arch.as_str() {
            "amd64" => Arch::ScmpArchX86_64,
            "x86" => Arch::ScmpArchX86,
            "arm64" => Arch::ScmpArchAarch64,
            "arm" => Arch::ScmpArchArm,
            "ppc64le" => Arch::ScmpArchPpc64le,
            "ppc64" => Arch::ScmpArchPpc64,
            "s390x" => Arch::ScmpArchS390x,
            "s390" => Arch::ScmpArchS390,
            "riscv64" => Arch::ScmpArchRiscv64,
            "loong64" => Arch::ScmpArchLoongarch64,
            "mips64" => Arch::ScmpArchMips64,
            "mipsel64" => Arch::ScmpArchMipsel64,
            _ => return None,
        })
    }
}

fn normalize_cap(cap: &str) -> String {
    let upper = cap.trim().to_ascii_uppercase();
    if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    }
}

/// The build target's arch in Docker's naming.
fn host_arch_name() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "x86",
        "aarch64" => "arm64",
        "arm" => "arm",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
        "powerpc64" => "ppc64",
        "loongarch64" => "loong64",
        other => other,
    }
}

/// An OCI argument condition. (oci-spec's `LinuxSeccompArg` has a builder but no setters.)
pub(crate) fn oci_arg(
    index: usize,
    value: u64,
    value_two: Option<u64>,
    op: LinuxSeccompOperator,
) -> LinuxSeccompArg {
    let builder = LinuxSeccompArgBuilder::default()
        .index(index)
        .value(value)
        .op(op);
    let builder = match value_two {
        Some(v) => builder.value_two(v),
        None => builder,
    };
    builder
        .build()
        .expect("every LinuxSeccompArg field has a default")
}

/// A condition of `includes` or `excludes`. Empty fields do not constrain.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Condition {
    pub caps: Vec<String>,
    pub arches: Vec<String>,
    pub min_kernel: Option<KernelVersion>,
}

/// One Docker-form rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Rule {
    pub names: Vec<String>,
    pub action: LinuxSeccompAction,
    pub errno_ret: Option<u32>,
    pub args: Vec<LinuxSeccompArg>,
    pub includes: Condition,
    pub excludes: Condition,
}

impl Rule {
    fn applies_to(&self, target: &Target) -> bool {
        let ex = &self.excludes;
        if ex.arches.contains(&target.arch)
            || ex.caps.iter().any(|c| target.has_cap(c))
            || ex.min_kernel.is_some_and(|v| target.kernel >= v)
        {
            return false;
        }
        let inc = &self.includes;
        (inc.arches.is_empty() || inc.arches.contains(&target.arch))
            && inc.caps.iter().all(|c| target.has_cap(c))
            && inc.min_kernel.is_none_or(|v| target.kernel >= v)
    }
}

/// A whole Docker-form profile. The OCI form is the special case without conditions and
/// `archMap`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Profile {
    pub default_action: LinuxSeccompAction,
    pub default_errno_ret: Option<u32>,
    /// Used as given (OCI form); exclusive with `arch_map`.
    pub architectures: Vec<Arch>,
    /// Native arch -> the arches its processes may also use (x86_64 -> x86, x32).
    pub arch_map: Vec<(Arch, Vec<Arch>)>,
    pub flags: Vec<LinuxSeccompFilterFlag>,
    pub listener_path: Option<PathBuf>,
    pub listener_metadata: Option<String>,
    pub rules: Vec<Rule>,
}

impl Profile {
    /// The OCI seccomp section this profile means for `target`.
    pub fn resolve(&self, target: &Target) -> LinuxSeccomp {
        let mut arches = self.architectures.clone();
        if let Some(native) = target.seccomp_arch() {
            if let Some((arch, subs)) = self.arch_map.iter().find(|(a, _)| *a == native) {
                arches.push(*arch);
                arches.extend(subs.iter().copied());
            }
        }

        let syscalls: Vec<LinuxSyscall> = self
            .rules
            .iter()
            .filter(|rule| rule.applies_to(target))
            .map(|rule| {
                let mut call = LinuxSyscall::default();
                call.set_names(rule.names.clone())
                    .set_action(rule.action)
                    .set_errno_ret(rule.errno_ret)
                    .set_args((!rule.args.is_empty()).then(|| rule.args.clone()));
                call
            })
            .collect();

        let mut spec = LinuxSeccomp::default();
        spec.set_default_action(self.default_action)
            .set_default_errno_ret(self.default_errno_ret)
            .set_architectures((!arches.is_empty()).then_some(arches))
            .set_flags((!self.flags.is_empty()).then(|| self.flags.clone()))
            .set_listener_path(self.listener_path.clone())
            .set_listener_metadata(self.listener_metadata.clone())
            .set_syscalls((!syscalls.is_empty()).then_some(syscalls));
        spec
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(caps: &[&str], arch: &str, kernel: (u32, u32)) -> Target {
        Target {
            caps: caps.iter().map(|c| c.to_string()).collect(),
            arch: arch.to_string(),
            kernel: KernelVersion::new(kernel.0, kernel.1, 0),
        }
    }

    fn rule(includes: Condition, excludes: Condition) -> Rule {
        Rule {
            names: vec!["x".into()],
            action: LinuxSeccompAction::ScmpActAllow,
            errno_ret: None,
            args: vec![],
            includes,
            excludes,
        }
    }

    #[test]
    fn kernel_versions_parse() {
        assert_eq!(
            KernelVersion::parse("4.8"),
            Some(KernelVersion::new(4, 8, 0))
        );
        assert_eq!(
            KernelVersion::parse("6.1.0-13-amd64"),
            Some(KernelVersion::new(6, 1, 0))
        );
        assert_eq!(
            KernelVersion::parse("6.18.44-fc-v769"),
            Some(KernelVersion::new(6, 18, 44))
        );
        assert_eq!(
            KernelVersion::parse("5.4rc1"),
            Some(KernelVersion::new(5, 4, 0))
        );
        assert_eq!(KernelVersion::parse("5"), None);
        assert_eq!(KernelVersion::parse("x.1"), None);
        assert!(KernelVersion::host() > KernelVersion::new(3, 0, 0));
    }

    #[test]
    fn includes_need_all_caps_and_excludes_any() {
        let inc = rule(
            Condition {
                caps: vec!["CAP_SYS_ADMIN".into(), "CAP_NET_ADMIN".into()],
                ..Default::default()
            },
            Condition::default(),
        );
        assert!(!inc.applies_to(&target(&["CAP_SYS_ADMIN"], "amd64", (6, 1))));
        // Names without CAP_ prefix and in lower case count too.
        assert!(inc.applies_to(&target(&["sys_admin", "NET_ADMIN"], "amd64", (6, 1))));

        let exc = rule(
            Condition::default(),
            Condition {
                caps: vec!["CAP_SYS_ADMIN".into(), "CAP_NET_ADMIN".into()],
                ..Default::default()
            },
        );
        assert!(exc.applies_to(&target(&["CAP_CHOWN"], "amd64", (6, 1))));
        assert!(!exc.applies_to(&target(&["CAP_NET_ADMIN"], "amd64", (6, 1))));
    }

    #[test]
    fn arches_and_min_kernel_gate_rules() {
        let arm_only = rule(
            Condition {
                arches: vec!["arm".into(), "arm64".into()],
                ..Default::default()
            },
            Condition::default(),
        );
        assert!(arm_only.applies_to(&target(&[], "arm64", (6, 1))));
        assert!(!arm_only.applies_to(&target(&[], "amd64", (6, 1))));

        let new_kernels = rule(
            Condition {
                min_kernel: Some(KernelVersion::new(4, 8, 0)),
                ..Default::default()
            },
            Condition::default(),
        );
        assert!(new_kernels.applies_to(&target(&[], "amd64", (4, 8))));
        assert!(!new_kernels.applies_to(&target(&[], "amd64", (4, 4))));

        let old_kernels = rule(
            Condition::default(),
            Condition {
                min_kernel: Some(KernelVersion::new(4, 8, 0)),
                ..Default::default()
            },
        );
        assert!(!old_kernels.applies_to(&target(&[], "amd64", (5, 0))));
        assert!(old_kernels.applies_to(&target(&[], "amd64", (4, 7))));
    }

    #[test]
    fn arch_map_picks_the_target_entry() {
        let profile = Profile {
            default_action: LinuxSeccompAction::ScmpActErrno,
            arch_map: vec![
                (
                    Arch::ScmpArchX86_64,
                    vec![Arch::ScmpArchX86, Arch::ScmpArchX32],
                ),
                (Arch::ScmpArchAarch64, vec![Arch::ScmpArchArm]),
            ],
            ..Default::default()
        };
        let amd = profile.resolve(&target(&[], "amd64", (6, 1)));
        assert_eq!(
            amd.architectures().as_deref(),
            Some(&[Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32][..])
        );
        let arm = profile.resolve(&target(&[], "arm64", (6, 1)));
        assert_eq!(
            arm.architectures().as_deref(),
            Some(&[Arch::ScmpArchAarch64, Arch::ScmpArchArm][..])
        );
        let other = profile.resolve(&target(&[], "sparc64", (6, 1)));
        assert_eq!(other.architectures(), &None);
    }
}
