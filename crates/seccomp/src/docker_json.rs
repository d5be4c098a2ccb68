//! Seccomp profile files as given to `--security-opt seccomp=<file>`: Docker's form
//! (`archMap`, `includes`/`excludes`, `name`, `comment`) and the plain OCI form, which is
//! Docker's form without the conditions. Names are parsed here so that an unknown action, arch
//! or operator is reported by name rather than as a serde position.

use std::path::PathBuf;

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator,
};
use serde::{Deserialize, Deserializer};

use crate::error::{Error, Result};
use crate::resolve::{oci_arg, Condition, KernelVersion, Profile, Rule, Target};

/// Parses a profile file (OCI or Docker form) and resolves it for the running host and the
/// container's capabilities (its bounding set, as Docker uses).
pub fn parse_profile_json(text: &str, caps: &[String]) -> Result<LinuxSeccomp> {
    parse_profile_json_for(text, &Target::host(caps))
}

/// Like [`parse_profile_json`], for an explicit target (arch, kernel, capabilities).
pub fn parse_profile_json_for(text: &str, target: &Target) -> Result<LinuxSeccomp> {
    let file: ProfileFile = serde_json::from_str(text)?;
    Ok(file.into_profile()?.resolve(target))
}

/// `null` and a missing field both mean "empty"; Docker writes `"subArchitectures": null`.
fn null_as_default<'de, D, T>(de: D) -> std::result::Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(de)?.unwrap_or_default())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProfileFile {
    #[serde(default, deserialize_with = "null_as_default")]
    default_action: String,
    #[serde(default)]
    default_errno_ret: Option<u32>,
    #[serde(default, deserialize_with = "null_as_default")]
    architectures: Vec<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    arch_map: Vec<ArchMapEntry>,
    #[serde(default, deserialize_with = "null_as_default")]
    flags: Vec<String>,
    #[serde(default)]
    listener_path: Option<PathBuf>,
    #[serde(default)]
    listener_metadata: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    syscalls: Vec<SyscallEntry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArchMapEntry {
    architecture: String,
    #[serde(default, deserialize_with = "null_as_default")]
    sub_architectures: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SyscallEntry {
    #[serde(default, deserialize_with = "null_as_default")]
    name: String,
    #[serde(default, deserialize_with = "null_as_default")]
    names: Vec<String>,
    action: String,
    #[serde(default)]
    errno_ret: Option<u32>,
    #[serde(default, deserialize_with = "null_as_default")]
    args: Vec<ArgEntry>,
    #[serde(default, deserialize_with = "null_as_default")]
    includes: ConditionEntry,
    #[serde(default, deserialize_with = "null_as_default")]
    excludes: ConditionEntry,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArgEntry {
    index: usize,
    value: u64,
    #[serde(default)]
    value_two: u64,
    op: String,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConditionEntry {
    #[serde(default, deserialize_with = "null_as_default")]
    caps: Vec<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    arches: Vec<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    min_kernel: String,
}

impl ProfileFile {
    fn into_profile(self) -> Result<Profile> {
        if self.default_action.is_empty() {
            return Err(Error::NoDefaultAction);
        }
        if !self.architectures.is_empty() && !self.arch_map.is_empty() {
            return Err(Error::ArchitecturesAndArchMap);
        }
        let architectures = self
            .architectures
            .iter()
            .map(|a| parse_arch(a))
            .collect::<Result<_>>()?;
        let arch_map = self
            .arch_map
            .iter()
            .map(|entry| {
                let subs = entry
                    .sub_architectures
                    .iter()
                    .map(|a| parse_arch(a))
                    .collect::<Result<_>>()?;
                Ok((parse_arch(&entry.architecture)?, subs))
            })
            .collect::<Result<_>>()?;
        let flags = self
            .flags
            .iter()
            .map(|f| {
                f.parse::<LinuxSeccompFilterFlag>()
                    .map_err(|_| Error::UnsupportedFlag(f.clone()))
            })
            .collect::<Result<_>>()?;
        let rules = self
            .syscalls
            .into_iter()
            .map(SyscallEntry::into_rule)
            .collect::<Result<_>>()?;
        Ok(Profile {
            default_action: parse_action(&self.default_action)?,
            default_errno_ret: self.default_errno_ret,
            architectures,
            arch_map,
            flags,
            listener_path: self.listener_path,
            listener_metadata: self.listener_metadata,
            rules,
        })
    }
}

impl SyscallEntry {
    fn into_rule(self) -> Result<Rule> {
        let names = match (self.name.is_empty(), self.names.is_empty()) {
            (true, _) => self.names,
            (false, true) => vec![self.name],
            (false, false) => return Err(Error::NameAndNames { name: self.name }),
        };
        let label = names.join(",");
        let args = self
            .args
            .iter()
            .map(|a| {
                let op =
                    a.op.parse::<LinuxSeccompOperator>()
                        .map_err(|_| Error::UnknownOperator {
                            syscall: label.clone(),
                            op: a.op.clone(),
                        })?;
                Ok(oci_arg(
                    a.index,
                    a.value,
                    (a.value_two != 0).then_some(a.value_two),
                    op,
                ))
            })
            .collect::<Result<_>>()?;
        Ok(Rule {
            names,
            action: parse_action(&self.action)?,
            errno_ret: self.errno_ret,
            args,
            includes: self.includes.into_condition()?,
            excludes: self.excludes.into_condition()?,
        })
    }
}

impl ConditionEntry {
    fn into_condition(self) -> Result<Condition> {
        let min_kernel = if self.min_kernel.is_empty() {
            None
        } else {
            Some(
                KernelVersion::parse(&self.min_kernel)
                    .ok_or(Error::InvalidMinKernel(self.min_kernel))?,
            )
        };
        Ok(Condition {
            caps: self.caps,
            arches: self.arches,
            min_kernel,
        })
    }
}

fn parse_action(name: &str) -> Result<LinuxSeccompAction> {
    name.parse()
        .map_err(|_| Error::UnknownAction(name.to_string()))
}

fn parse_arch(name: &str) -> Result<Arch> {
    name.parse()
        .map_err(|_| Error::UnknownArch(name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxSyscall;

    fn amd64(caps: &[&str]) -> Target {
        Target {
            caps: caps.iter().map(|c| c.to_string()).collect(),
            arch: "amd64".into(),
            kernel: KernelVersion::new(6, 1, 0),
        }
    }

    fn names_of(spec: &LinuxSeccomp) -> Vec<&str> {
        spec.syscalls()
            .iter()
            .flatten()
            .flat_map(LinuxSyscall::names)
            .map(String::as_str)
            .collect()
    }

    const DOCKER_FORM: &str = r#"{
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "archMap": [
            {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
            {"architecture": "SCMP_ARCH_RISCV64", "subArchitectures": null}
        ],
        "syscalls": [
            {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW", "args": null, "comment": "", "includes": {}, "excludes": {}},
            {"name": "mount", "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
            {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}],
             "excludes": {"caps": ["CAP_SYS_ADMIN"], "arches": ["s390", "s390x"]}},
            {"names": ["arm_only"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["arm", "arm64"]}},
            {"names": ["new_kernel_only"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "7.0"}},
            {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38, "excludes": {"caps": ["CAP_SYS_ADMIN"]}}
        ]
    }"#;

    #[test]
    fn docker_form_without_caps() {
        let spec = parse_profile_json_for(DOCKER_FORM, &amd64(&["CAP_CHOWN"])).unwrap();
        assert_eq!(spec.default_action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(spec.default_errno_ret(), Some(1));
        assert_eq!(
            spec.architectures().as_deref(),
            Some(&[Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32][..])
        );
        assert_eq!(names_of(&spec), ["read", "write", "clone", "clone3"]);
        let calls = spec.syscalls().as_ref().unwrap();
        let clone = &calls[1];
        let arg = clone.args().as_ref().unwrap()[0];
        assert_eq!(arg.op(), LinuxSeccompOperator::ScmpCmpMaskedEq);
        assert_eq!(arg.value(), 0x7E02_0000);
        assert_eq!(arg.value_two(), None);
        assert_eq!(calls[2].errno_ret(), Some(38));
    }

    #[test]
    fn docker_form_with_sys_admin() {
        let spec = parse_profile_json_for(DOCKER_FORM, &amd64(&["CAP_SYS_ADMIN"])).unwrap();
        assert_eq!(names_of(&spec), ["read", "write", "mount"]);
    }

    #[test]
    fn docker_form_on_another_arch() {
        let target = Target {
            arch: "riscv64".into(),
            ..amd64(&[])
        };
        let spec = parse_profile_json_for(DOCKER_FORM, &target).unwrap();
        assert_eq!(
            spec.architectures().as_deref(),
            Some(&[Arch::ScmpArchRiscv64][..])
        );
        let arm = Target {
            arch: "arm64".into(),
            kernel: KernelVersion::new(7, 1, 0),
            ..amd64(&[])
        };
        let spec = parse_profile_json_for(DOCKER_FORM, &arm).unwrap();
        assert_eq!(spec.architectures(), &None);
        assert_eq!(
            names_of(&spec),
            [
                "read",
                "write",
                "clone",
                "arm_only",
                "new_kernel_only",
                "clone3"
            ]
        );
    }

    #[test]
    fn oci_form_is_accepted() {
        let text = r#"{
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"],
            "flags": ["SECCOMP_FILTER_FLAG_LOG"],
            "listenerPath": "/run/agent.sock",
            "syscalls": [
                {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
                {"names": ["personality"], "action": "SCMP_ACT_KILL_PROCESS",
                 "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}
            ]
        }"#;
        let spec = parse_profile_json_for(text, &amd64(&[])).unwrap();
        assert_eq!(spec.default_action(), LinuxSeccompAction::ScmpActAllow);
        assert_eq!(
            spec.architectures().as_deref(),
            Some(&[Arch::ScmpArchX86_64, Arch::ScmpArchAarch64][..])
        );
        assert_eq!(
            spec.flags().as_deref(),
            Some(&[LinuxSeccompFilterFlag::SeccompFilterFlagLog][..])
        );
        assert_eq!(
            spec.listener_path().as_deref(),
            Some(std::path::Path::new("/run/agent.sock"))
        );
        assert_eq!(names_of(&spec), ["mkdir", "mkdirat", "personality"]);
        let calls = spec.syscalls().as_ref().unwrap();
        assert_eq!(calls[0].errno_ret(), Some(13));
        assert_eq!(calls[1].action(), LinuxSeccompAction::ScmpActKillProcess);
        // The result is what an OCI config.json carries: it round-trips through oci-spec.
        let json = serde_json::to_string(&spec).unwrap();
        let back: LinuxSeccomp = serde_json::from_str(&json).unwrap();
        assert_eq!(back, spec);
    }

    #[test]
    fn bad_names_are_reported_by_name() {
        let err = |text: &str| parse_profile_json_for(text, &amd64(&[])).unwrap_err();
        let e = err(r#"{"defaultAction": "SCMP_ACT_EXPLODE"}"#);
        assert!(
            matches!(&e, Error::UnknownAction(a) if a == "SCMP_ACT_EXPLODE"),
            "{e}"
        );
        let e = err(r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_Z80"]}"#);
        assert!(
            matches!(&e, Error::UnknownArch(a) if a == "SCMP_ARCH_Z80"),
            "{e}"
        );
        let e = err(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["kill"], "action": "SCMP_ACT_ERRNO",
                "args": [{"index": 1, "value": 9, "op": "SCMP_CMP_ROUGHLY"}]}]}"#,
        );
        assert!(
            matches!(&e, Error::UnknownOperator { syscall, op } if syscall == "kill" && op == "SCMP_CMP_ROUGHLY"),
            "{e}"
        );
        assert!(e.to_string().contains("SCMP_CMP_ROUGHLY"));
        let e =
            err(r#"{"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_FAST"]}"#);
        assert!(matches!(e, Error::UnsupportedFlag(_)), "{e}");
        let e = err(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
                "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}"#,
        );
        assert!(matches!(e, Error::ArchitecturesAndArchMap), "{e}");
        let e = err(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"name": "a", "names": ["b"], "action": "SCMP_ACT_ALLOW"}]}"#,
        );
        assert!(matches!(e, Error::NameAndNames { .. }), "{e}");
        let e = err(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "new"}}]}"#,
        );
        assert!(
            matches!(&e, Error::InvalidMinKernel(v) if v == "new"),
            "{e}"
        );
        assert!(matches!(err(r#"{"syscalls": []}"#), Error::NoDefaultAction));
        assert!(matches!(err("{"), Error::Json(_)));
    }
}
