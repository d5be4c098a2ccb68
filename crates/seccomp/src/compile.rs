//! OCI seccomp section -> [`Filter`], the way runc and crun do it:
//! - the native arch and every listed arch are in the filter;
//! - syscall names this libseccomp does not know are skipped, not an error (a profile names
//!   syscalls of newer kernels and other arches);
//! - `SCMP_ACT_ERRNO` without `errnoRet` returns `EPERM`;
//! - conditions on distinct argument indexes are ANDed in one rule; when an index repeats, each
//!   condition becomes a rule of its own, so they are ORed (libseccomp cannot AND two conditions
//!   on one argument);
//! - rules whose action equals the default are dropped (libseccomp refuses them).
//!
//! libseccomp never sets no_new_privs here, nor loads anything: the program is exported and
//! loaded later by [`Filter::load`].

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::fd::FromRawFd;

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag,
    LinuxSeccompOperator, LinuxSyscall,
};

use crate::enosys::{self, Abi};
use crate::error::{Error, Result};
use crate::filter::{Filter, Insn};

/// Arguments a syscall can have, hence the valid `index` range.
const MAX_ARGS: usize = 6;

/// Compiles an OCI seccomp section into a loadable filter.
pub fn compile(spec: &LinuxSeccomp) -> Result<Filter> {
    let default_action = spec.default_action();
    if default_action == LinuxSeccompAction::ScmpActNotify {
        return Err(Error::NotifyAsDefault);
    }
    let default = scmp_action(default_action, spec.default_errno_ret(), None)?;
    let mut ctx = ScmpFilterContext::new(default).map_err(|source| Error::UnsupportedAction {
        action: default_action.to_string(),
        source,
    })?;
    // The runtime decides no_new_privileges from the spec; we load without touching it.
    ctx.set_ctl_nnp(false)?;
    // A binary tree of syscall numbers instead of a linear chain: the kernel runs the filter on
    // every syscall and, when loading it, once per syscall number to build its allow-cache, so
    // a profile of ~350 calls costs ~10 comparisons instead of up to ~700 (the load of Docker's
    // profile dropped from ~0.8 ms). libseccomp before 2.5 has no such level: keep its chain.
    let _ = ctx.set_ctl_optimize(2);

    let mut arches = vec![ScmpArch::native()];
    for arch in spec.architectures().iter().flatten() {
        let scmp = scmp_arch(*arch);
        ctx.add_arch(scmp)
            .map_err(|source| Error::UnsupportedArch {
                arch: arch.to_string(),
                source,
            })?;
        if !arches.contains(&scmp) {
            arches.push(scmp);
        }
    }

    let flags = filter_flags(spec.flags().as_deref().unwrap_or_default())?;
    let calls = spec.syscalls().as_deref().unwrap_or_default();
    let mut notify = false;
    for call in calls {
        notify |= add_call(&mut ctx, call, default)?;
    }

    let mut program = export(&ctx)?;
    if !allows_unknown(default_action) {
        let stub = enosys::stub(&highest_syscalls(&arches, calls));
        program.splice(0..0, stub);
    }
    Filter::new(program, flags, notify)
}

/// Adds the rules of one OCI syscall entry. Returns whether a notify rule was added.
fn add_call(ctx: &mut ScmpFilterContext, call: &LinuxSyscall, default: ScmpAction) -> Result<bool> {
    let label = call.names().join(",");
    let action = scmp_action(call.action(), call.errno_ret(), Some(&label))?;
    let args = call.args().as_deref().unwrap_or_default();
    let conditions = args
        .iter()
        .map(|arg| condition(arg, &label))
        .collect::<Result<Vec<_>>>()?;
    if action == default {
        return Ok(false);
    }
    // One rule with all conditions (ANDed), or, when an index repeats, one rule per condition.
    let mut counts = [0usize; MAX_ARGS];
    for arg in args {
        counts[arg.index()] += 1;
    }
    let rules: Vec<&[ScmpArgCompare]> = if counts.iter().any(|&n| n > 1) {
        conditions.chunks(1).collect()
    } else {
        vec![&conditions[..]]
    };

    let mut added = false;
    for name in call.names() {
        let Ok(syscall) = ScmpSyscall::from_name(name) else {
            // Unknown to this libseccomp on every arch: not a syscall we could filter.
            continue;
        };
        for rule in &rules {
            let result = if rule.is_empty() {
                ctx.add_rule(action, syscall)
            } else {
                ctx.add_rule_conditional(action, syscall, rule)
            };
            result.map_err(|source| Error::AddRule {
                syscall: name.clone(),
                action: call.action().to_string(),
                source,
            })?;
        }
        added = true;
    }
    Ok(added && action == ScmpAction::Notify)
}

/// `rule` names the syscall entry for errors; `None` for the default action, whose errno is
/// taken as given (a defaultErrnoRet with a non-errno default is ignored, as runc does).
fn scmp_action(
    action: LinuxSeccompAction,
    errno_ret: Option<u32>,
    rule: Option<&str>,
) -> Result<ScmpAction> {
    use LinuxSeccompAction as A;
    let ret = |errno_ret: Option<u32>| -> Result<u16> {
        let value = errno_ret.unwrap_or(libc::EPERM as u32);
        u16::try_from(value).map_err(|_| Error::ErrnoRetRange {
            syscall: rule.unwrap_or("the default action").to_string(),
            action: action.to_string(),
            value,
        })
    };
    if let (Some(rule), Some(_)) = (rule, errno_ret) {
        if !matches!(action, A::ScmpActErrno | A::ScmpActTrace) {
            return Err(Error::ErrnoRetWithAction {
                syscall: rule.to_string(),
                action: action.to_string(),
            });
        }
    }
    Ok(match action {
        A::ScmpActKill | A::ScmpActKillThread => ScmpAction::KillThread,
        A::ScmpActKillProcess => ScmpAction::KillProcess,
        A::ScmpActTrap => ScmpAction::Trap,
        A::ScmpActErrno => ScmpAction::Errno(i32::from(ret(errno_ret)?)),
        A::ScmpActTrace => ScmpAction::Trace(ret(errno_ret)?),
        A::ScmpActNotify => ScmpAction::Notify,
        A::ScmpActLog => ScmpAction::Log,
        A::ScmpActAllow => ScmpAction::Allow,
    })
}

fn condition(arg: &LinuxSeccompArg, syscall: &str) -> Result<ScmpArgCompare> {
    use LinuxSeccompOperator as O;
    if arg.index() >= MAX_ARGS {
        return Err(Error::ArgIndex {
            syscall: syscall.to_string(),
            index: arg.index(),
        });
    }
    let (op, datum) = match arg.op() {
        O::ScmpCmpNe => (ScmpCompareOp::NotEqual, arg.value()),
        O::ScmpCmpLt => (ScmpCompareOp::Less, arg.value()),
        O::ScmpCmpLe => (ScmpCompareOp::LessOrEqual, arg.value()),
        O::ScmpCmpEq => (ScmpCompareOp::Equal, arg.value()),
        O::ScmpCmpGe => (ScmpCompareOp::GreaterEqual, arg.value()),
        O::ScmpCmpGt => (ScmpCompareOp::Greater, arg.value()),
        // OCI: `value` is the mask, `valueTwo` what the masked argument must equal.
        O::ScmpCmpMaskedEq => (
            ScmpCompareOp::MaskedEqual(arg.value()),
            arg.value_two().unwrap_or(0),
        ),
    };
    Ok(ScmpArgCompare::new(arg.index() as u32, op, datum))
}

fn scmp_arch(arch: Arch) -> ScmpArch {
    match arch {
        Arch::ScmpArchNative => ScmpArch::Native,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchMips => ScmpArch::Mips,
        Arch::ScmpArchMips64 => ScmpArch::Mips64,
        Arch::ScmpArchMips64n32 => ScmpArch::Mips64N32,
        Arch::ScmpArchMipsel => ScmpArch::Mipsel,
        Arch::ScmpArchMipsel64 => ScmpArch::Mipsel64,
        Arch::ScmpArchMipsel64n32 => ScmpArch::Mipsel64N32,
        Arch::ScmpArchPpc => ScmpArch::Ppc,
        Arch::ScmpArchPpc64 => ScmpArch::Ppc64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390 => ScmpArch::S390,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchParisc => ScmpArch::Parisc,
        Arch::ScmpArchParisc64 => ScmpArch::Parisc64,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
        Arch::ScmpArchLoongarch64 => ScmpArch::Loongarch64,
        Arch::ScmpArchM68k => ScmpArch::M68k,
        Arch::ScmpArchSh => ScmpArch::Sh,
        Arch::ScmpArchSheb => ScmpArch::Sheb,
    }
}

fn filter_flags(flags: &[LinuxSeccompFilterFlag]) -> Result<libc::c_ulong> {
    flags.iter().try_fold(0, |acc, flag| {
        Ok(acc
            | match flag {
                LinuxSeccompFilterFlag::SeccompFilterFlagLog => libc::SECCOMP_FILTER_FLAG_LOG,
                LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => {
                    libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW
                }
                LinuxSeccompFilterFlag::SeccompFilterFlagTsync => libc::SECCOMP_FILTER_FLAG_TSYNC,
                other => return Err(Error::UnsupportedFlag(other.to_string())),
            })
    })
}

/// Defaults under which an unknown syscall should not become ENOSYS. TRACE counts as allowing:
/// a tracer handles new syscalls itself (runc's reasoning).
fn allows_unknown(action: LinuxSeccompAction) -> bool {
    matches!(
        action,
        LinuxSeccompAction::ScmpActAllow
            | LinuxSeccompAction::ScmpActLog
            | LinuxSeccompAction::ScmpActTrace
    )
}

/// The highest syscall number the profile names, per ABI in the filter.
fn highest_syscalls(arches: &[ScmpArch], calls: &[LinuxSyscall]) -> Vec<(Abi, u32)> {
    arches
        .iter()
        .filter_map(|&arch| {
            let abi = Abi::of(arch)?;
            let highest = calls
                .iter()
                .flat_map(LinuxSyscall::names)
                .filter_map(|name| ScmpSyscall::from_name_by_arch(name, arch).ok())
                .filter_map(|nr| u32::try_from(nr.as_raw_syscall()).ok())
                .filter(|&nr| abi.counts(nr))
                .max()?;
            Some((abi, highest))
        })
        .collect()
}

/// Asks libseccomp for the BPF program (through a memfd: it only writes to fds).
fn export(ctx: &ScmpFilterContext) -> Result<Vec<Insn>> {
    // SAFETY: plain syscall; the name is NUL-terminated.
    let fd = unsafe { libc::memfd_create(c"berth-seccomp".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(Error::Export(io::Error::last_os_error()));
    }
    // SAFETY: fd is new and owned by nobody else.
    let mut file = unsafe { File::from_raw_fd(fd) };
    ctx.export_bpf(&file)?;
    let mut bytes = Vec::new();
    file.seek(SeekFrom::Start(0))
        .and_then(|_| file.read_to_end(&mut bytes))
        .map_err(Error::Export)?;
    let insn_size = std::mem::size_of::<Insn>();
    if bytes.len() % insn_size != 0 {
        return Err(Error::Export(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{} bytes is not a whole number of instructions",
                bytes.len()
            ),
        )));
    }
    // libseccomp writes `struct sock_filter` in host byte order.
    Ok(bytes
        .chunks_exact(insn_size)
        .map(|b| Insn {
            code: u16::from_ne_bytes([b[0], b[1]]),
            jt: b[2],
            jf: b[3],
            k: u32::from_ne_bytes([b[4], b[5], b[6], b[7]]),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> LinuxSeccomp {
        serde_json::from_str(json).unwrap()
    }

    fn allow_default_with(rule: &str) -> LinuxSeccomp {
        spec(&format!(
            r#"{{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{rule}]}}"#
        ))
    }

    #[test]
    fn unknown_syscall_names_are_skipped() {
        let with_unknown = compile(&allow_default_with(
            r#"{"names": ["berth_no_such_syscall", "mkdir"], "action": "SCMP_ACT_ERRNO"}"#,
        ))
        .unwrap();
        let without = compile(&allow_default_with(
            r#"{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}"#,
        ))
        .unwrap();
        assert_eq!(with_unknown, without);
        // A rule of only unknown names compiles to the bare default.
        let only_unknown = compile(&allow_default_with(
            r#"{"names": ["berth_no_such_syscall"], "action": "SCMP_ACT_ERRNO"}"#,
        ))
        .unwrap();
        let empty = compile(&spec(r#"{"defaultAction": "SCMP_ACT_ALLOW"}"#)).unwrap();
        assert_eq!(only_unknown, empty);
        assert!(without.instruction_count() > empty.instruction_count());
    }

    #[test]
    fn bad_argument_index_names_the_syscall() {
        let err = compile(&allow_default_with(
            r#"{"names": ["kill"], "action": "SCMP_ACT_ERRNO",
                "args": [{"index": 6, "value": 9, "op": "SCMP_CMP_EQ"}]}"#,
        ))
        .unwrap_err();
        assert!(
            matches!(&err, Error::ArgIndex { syscall, index: 6 } if syscall == "kill"),
            "{err}"
        );
    }

    #[test]
    fn errno_ret_only_with_errno_and_trace() {
        let err = compile(&allow_default_with(
            r#"{"names": ["kill"], "action": "SCMP_ACT_KILL_PROCESS", "errnoRet": 5}"#,
        ))
        .unwrap_err();
        assert!(
            matches!(&err, Error::ErrnoRetWithAction { syscall, action }
                if syscall == "kill" && action == "SCMP_ACT_KILL_PROCESS"),
            "{err}"
        );
        let err = compile(&allow_default_with(
            r#"{"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 70000}"#,
        ))
        .unwrap_err();
        assert!(
            matches!(err, Error::ErrnoRetRange { value: 70000, .. }),
            "{err}"
        );
        compile(&allow_default_with(
            r#"{"names": ["kill"], "action": "SCMP_ACT_TRACE", "errnoRet": 5}"#,
        ))
        .unwrap();
    }

    #[test]
    fn notify_cannot_be_the_default() {
        let err = compile(&spec(r#"{"defaultAction": "SCMP_ACT_NOTIFY"}"#)).unwrap_err();
        assert!(matches!(err, Error::NotifyAsDefault), "{err}");
    }

    #[test]
    fn supported_flags_and_a_clear_error_for_the_others() {
        let filter = compile(&spec(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_LOG",
                "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_TSYNC"]}"#,
        ))
        .unwrap();
        assert_eq!(filter.flags(), 0b111);
        let err = compile(&spec(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]}"#,
        ))
        .unwrap_err();
        assert!(
            matches!(&err, Error::UnsupportedFlag(f) if f == "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"),
            "{err}"
        );
    }

    #[test]
    fn notify_rules_ask_for_a_listener() {
        let filter = compile(&allow_default_with(
            r#"{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}"#,
        ))
        .unwrap();
        assert!(filter.uses_notify());
        assert_eq!(filter.flags(), libc::SECCOMP_FILTER_FLAG_NEW_LISTENER);
        let tsync = compile(&spec(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_TSYNC"],
                "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}"#,
        ))
        .unwrap();
        assert_eq!(
            tsync.flags(),
            (libc::SECCOMP_FILTER_FLAG_TSYNC
                | libc::SECCOMP_FILTER_FLAG_NEW_LISTENER
                | libc::SECCOMP_FILTER_FLAG_TSYNC_ESRCH)
        );
        let no_listener = compile(&allow_default_with(
            r#"{"names": ["berth_no_such_syscall"], "action": "SCMP_ACT_NOTIFY"}"#,
        ))
        .unwrap();
        assert!(!no_listener.uses_notify());
    }

    #[test]
    fn arches_libseccomp_lacks_are_named() {
        let m68k =
            spec(r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_M68K"]}"#);
        let version = libseccomp::ScmpVersion::current().unwrap();
        if (version.major, version.minor) < (2, 6) {
            // m68k arrived in libseccomp 2.6.
            let err = compile(&m68k).unwrap_err();
            assert!(
                matches!(&err, Error::UnsupportedArch { arch, .. } if arch == "SCMP_ARCH_M68K"),
                "{err}"
            );
        } else {
            compile(&m68k).unwrap();
        }
        compile(&spec(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures":
                ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]}"#,
        ))
        .unwrap();
    }

    #[test]
    fn the_enosys_stub_only_for_denying_defaults() {
        let rules = r#"[{"names": ["getpid"], "action": "SCMP_ACT_ALLOW"},
                        {"names": ["mkdir"], "action": "SCMP_ACT_LOG"}]"#;
        let with_default = |action: &str| {
            compile(&spec(&format!(
                r#"{{"defaultAction": "{action}", "syscalls": {rules}}}"#
            )))
            .unwrap()
        };
        let calls: Vec<LinuxSyscall> = serde_json::from_str(rules).unwrap();
        let stub = enosys::stub(&highest_syscalls(&[ScmpArch::native()], &calls));
        assert!(!stub.is_empty());
        for action in ["SCMP_ACT_ERRNO", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_TRAP"] {
            let filter = with_default(action);
            assert_eq!(filter.program()[..stub.len()], stub[..], "{action}");
        }
        for action in ["SCMP_ACT_ALLOW", "SCMP_ACT_TRACE"] {
            let filter = with_default(action);
            let has_enosys = filter.program().iter().any(|i| i.k == enosys::RET_ENOSYS);
            assert!(!has_enosys, "{action}");
        }
    }

    #[test]
    fn highest_syscalls_per_abi() {
        let calls: Vec<LinuxSyscall> = serde_json::from_str(
            r#"[{"names": ["read", "getpid", "berth_no_such_syscall"], "action": "SCMP_ACT_ALLOW"}]"#,
        )
        .unwrap();
        let highest =
            highest_syscalls(&[ScmpArch::X8664, ScmpArch::X32, ScmpArch::Aarch64], &calls);
        // getpid is 39 on x86_64 (x32: with the x32 bit), 172 on aarch64; read is lower.
        assert_eq!(
            highest,
            [
                (Abi::X86_64, 39),
                (Abi::X32, enosys::X32_SYSCALL_BIT | 39),
                (Abi::Aarch64, 172)
            ]
        );
    }

    /// Runs a classic BPF program on a `seccomp_data` the way the kernel does; returns the
    /// action and how many instructions ran.
    fn run(prog: &[Insn], arch: u32, nr: u32) -> (u32, usize) {
        let mut data = [0u8; 64];
        data[0..4].copy_from_slice(&nr.to_ne_bytes());
        data[4..8].copy_from_slice(&arch.to_ne_bytes());
        let (mut a, mut x, mut mem, mut pc, mut steps) = (0u32, 0u32, [0u32; 16], 0usize, 0);
        loop {
            let i = prog[pc];
            steps += 1;
            pc += 1;
            match i.code {
                0x20 => {
                    let o = i.k as usize;
                    a = u32::from_ne_bytes(data[o..o + 4].try_into().unwrap());
                }
                0x60 => a = mem[i.k as usize],
                0x61 => x = mem[i.k as usize],
                0x02 => mem[i.k as usize] = a,
                0x03 => mem[i.k as usize] = x,
                0x54 => a &= i.k,
                0x44 => a |= i.k,
                0x14 => a = a.wrapping_sub(i.k),
                0x05 => pc += i.k as usize,
                0x15 | 0x25 | 0x35 | 0x45 => {
                    let taken = match i.code {
                        0x15 => a == i.k,
                        0x25 => a > i.k,
                        0x35 => a >= i.k,
                        _ => a & i.k != 0,
                    };
                    pc += if taken { i.jt } else { i.jf } as usize;
                }
                0x06 => return (i.k, steps),
                c => panic!("instruction {c:#x} at {} not emulated", pc - 1),
            }
        }
    }

    #[test]
    fn the_default_profile_is_a_tree_not_a_chain() {
        // Docker's profile allows ~350 calls. The kernel runs the filter on every syscall of
        // the container and, at load, once per syscall number for its allow-cache: a linear
        // chain takes up to ~700 instructions per call, a tree of syscall numbers ~10.
        let filter = compile(&crate::default_profile(&[])).unwrap();
        let prog = filter.program();
        const X86_64: u32 = 0xc000_003e;
        const ALLOW: u32 = 0x7fff_0000;
        let mut longest = 0;
        for nr in 0..460 {
            longest = longest.max(run(prog, X86_64, nr).1);
        }
        assert!(longest < 64, "{longest} instructions for one syscall");
        // And it still answers as the profile says.
        assert_eq!(run(prog, X86_64, libc::SYS_write as u32).0, ALLOW);
        assert_eq!(run(prog, X86_64, libc::SYS_getpid as u32).0, ALLOW);
        let errno = |e: i32| 0x0005_0000 | e as u32;
        assert_eq!(
            run(prog, X86_64, libc::SYS_reboot as u32).0,
            errno(libc::EPERM)
        );
        assert_eq!(run(prog, X86_64, 2000).0, errno(libc::ENOSYS));
    }
}
