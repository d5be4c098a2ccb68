//! The ENOSYS stub: a few BPF instructions placed in front of libseccomp's program that answer
//! `ENOSYS` for syscall numbers above the highest one the profile mentions.
//!
//! Why: an allowlist profile written before a syscall existed would answer `EPERM` for it, and
//! programs treat `EPERM` as "forbidden" but `ENOSYS` as "not implemented here, use the old
//! call" (glibc falls back from clone3, faccessat2, fchmodat2, ... only on `ENOSYS`). runc does
//! the same (its "patchbpf"). Numbers up to the highest known one keep the profile's answer.
//!
//! Only used when the default action denies; with an allowing default, unknown syscalls are
//! allowed anyway.

use crate::filter::Insn;

/// Bit set in the syscall number of x32 calls (they share AUDIT_ARCH_X86_64 with x86_64).
pub(crate) const X32_SYSCALL_BIT: u32 = 0x4000_0000;
/// ARM's private syscalls (cacheflush, set_tls, ...) live from here up; they are not "newer".
pub(crate) const ARM_PRIVATE_BASE: u32 = 0x000f_0000;

const AUDIT_ARCH_I386: u32 = 0x4000_0003;
const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const AUDIT_ARCH_ARM: u32 = 0x4000_0028;
const AUDIT_ARCH_AARCH64: u32 = 0xc000_00b7;
const AUDIT_ARCH_PPC64LE: u32 = 0xc000_0015;
const AUDIT_ARCH_RISCV64: u32 = 0xc000_00f3;

/// The ABIs the stub knows. Others get no stub (they keep the profile's answer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Abi {
    X86_64,
    X32,
    I386,
    Arm,
    Aarch64,
    Ppc64le,
    Riscv64,
}

impl Abi {
    pub(crate) fn of(arch: libseccomp::ScmpArch) -> Option<Abi> {
        use libseccomp::ScmpArch as A;
        let arch = if arch == A::Native { A::native() } else { arch };
        Some(match arch {
            A::X8664 => Abi::X86_64,
            A::X32 => Abi::X32,
            A::X86 => Abi::I386,
            A::Arm => Abi::Arm,
            A::Aarch64 => Abi::Aarch64,
            A::Ppc64Le => Abi::Ppc64le,
            A::Riscv64 => Abi::Riscv64,
            _ => return None,
        })
    }

    /// Whether `nr` (as libseccomp resolves it for this ABI) counts towards the highest known
    /// syscall number.
    pub(crate) fn counts(self, nr: u32) -> bool {
        match self {
            Abi::Arm => nr < ARM_PRIVATE_BASE,
            Abi::X32 => nr & X32_SYSCALL_BIT != 0,
            _ => true,
        }
    }
}

/// A jump target, resolved to an offset when the stub is assembled.
#[derive(Clone, Copy, Debug)]
enum To {
    Section(usize),
    Enosys,
    Main,
}

#[derive(Clone, Copy, Debug)]
enum Op {
    LoadArch,
    LoadNr,
    /// Jump to `To` when the condition holds, else fall through.
    JumpEq(u32, To),
    JumpGt(u32, To),
    JumpGe(u32, To),
    JumpSet(u32, To),
    Goto(To),
    RetEnosys,
}

// Classic BPF encodings (linux/bpf_common.h).
const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const JMP_JA: u16 = 0x05;
const JMP_JEQ_K: u16 = 0x15;
const JMP_JGT_K: u16 = 0x25;
const JMP_JGE_K: u16 = 0x35;
const JMP_JSET_K: u16 = 0x45;
const RET_K: u16 = 0x06;
// Offsets in struct seccomp_data.
const OFFSET_NR: u32 = 0;
const OFFSET_ARCH: u32 = 4;

pub(crate) const RET_ENOSYS: u32 = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;

/// Builds the stub for the highest known syscall number of each ABI in the filter. Returns
/// an empty program when no ABI has one. The stub falls through to the instruction after it.
pub(crate) fn stub(highest: &[(Abi, u32)]) -> Vec<Insn> {
    let max_of = |abi: Abi| {
        highest
            .iter()
            .filter(|(a, _)| *a == abi)
            .map(|(_, nr)| *nr)
            .max()
    };

    // Section 0 is the arch dispatch; its jumps are filled in once the sections exist.
    let mut sections: Vec<Vec<Op>> = vec![vec![Op::LoadArch]];
    let mut dispatch = Vec::new();
    let mut plain = |audit: u32, max: Option<u32>, sections: &mut Vec<Vec<Op>>| {
        if let Some(max) = max {
            dispatch.push(Op::JumpEq(audit, To::Section(sections.len())));
            sections.push(vec![
                Op::LoadNr,
                Op::JumpGt(max, To::Enosys),
                Op::Goto(To::Main),
            ]);
        }
    };
    plain(AUDIT_ARCH_I386, max_of(Abi::I386), &mut sections);
    plain(AUDIT_ARCH_AARCH64, max_of(Abi::Aarch64), &mut sections);
    plain(AUDIT_ARCH_PPC64LE, max_of(Abi::Ppc64le), &mut sections);
    plain(AUDIT_ARCH_RISCV64, max_of(Abi::Riscv64), &mut sections);

    if let Some(max) = max_of(Abi::Arm) {
        dispatch.push(Op::JumpEq(AUDIT_ARCH_ARM, To::Section(sections.len())));
        sections.push(vec![
            Op::LoadNr,
            Op::JumpGe(ARM_PRIVATE_BASE, To::Main),
            Op::JumpGt(max, To::Enosys),
            Op::Goto(To::Main),
        ]);
    }

    let (x86_64, x32) = (max_of(Abi::X86_64), max_of(Abi::X32));
    if x86_64.is_some() || x32.is_some() {
        let here = sections.len();
        dispatch.push(Op::JumpEq(AUDIT_ARCH_X86_64, To::Section(here)));
        let mut native = vec![
            Op::LoadNr,
            Op::JumpSet(X32_SYSCALL_BIT, To::Section(here + 1)),
        ];
        native.extend(x86_64.map(|max| Op::JumpGt(max, To::Enosys)));
        native.push(Op::Goto(To::Main));
        let mut compat: Vec<Op> = x32
            .map(|max| Op::JumpGt(max, To::Enosys))
            .into_iter()
            .collect();
        compat.push(Op::Goto(To::Main));
        sections.push(native);
        sections.push(compat);
    }

    if dispatch.is_empty() {
        return Vec::new();
    }
    sections[0].extend(dispatch);
    sections[0].push(Op::Goto(To::Main));
    sections.push(vec![Op::RetEnosys]);
    assemble(&sections)
}

fn assemble(sections: &[Vec<Op>]) -> Vec<Insn> {
    let mut starts = Vec::with_capacity(sections.len());
    let mut len = 0;
    for section in sections {
        starts.push(len);
        len += section.len();
    }
    let enosys = starts[sections.len() - 1];
    let main = len;
    let target = |to: To| match to {
        To::Section(i) => starts[i],
        To::Enosys => enosys,
        To::Main => main,
    };

    let mut out = Vec::with_capacity(len);
    for op in sections.iter().flatten() {
        let pos = out.len();
        // Jumps are relative to the next instruction, and only go forward.
        let rel = |to: To| (target(to) - pos - 1) as u32;
        let cond = |code: u16, k: u32, to: To| {
            // The stub is a few dozen instructions at most, far below the 255 a
            // conditional jump can span.
            let jt = u8::try_from(rel(to)).expect("ENOSYS stub jump fits in 8 bits");
            Insn { code, jt, jf: 0, k }
        };
        out.push(match *op {
            Op::LoadArch => Insn {
                code: LD_W_ABS,
                jt: 0,
                jf: 0,
                k: OFFSET_ARCH,
            },
            Op::LoadNr => Insn {
                code: LD_W_ABS,
                jt: 0,
                jf: 0,
                k: OFFSET_NR,
            },
            Op::JumpEq(k, to) => cond(JMP_JEQ_K, k, to),
            Op::JumpGt(k, to) => cond(JMP_JGT_K, k, to),
            Op::JumpGe(k, to) => cond(JMP_JGE_K, k, to),
            Op::JumpSet(k, to) => cond(JMP_JSET_K, k, to),
            Op::Goto(to) => Insn {
                code: JMP_JA,
                jt: 0,
                jf: 0,
                k: rel(to),
            },
            Op::RetEnosys => Insn {
                code: RET_K,
                jt: 0,
                jf: 0,
                k: RET_ENOSYS,
            },
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const RET_MAIN: u32 = libc::SECCOMP_RET_ALLOW;

    /// Runs the stub followed by a one-instruction "main" program that returns RET_MAIN.
    fn run(program: &[Insn], arch: u32, nr: u32) -> u32 {
        let mut program = program.to_vec();
        program.push(Insn {
            code: RET_K,
            jt: 0,
            jf: 0,
            k: RET_MAIN,
        });
        let (mut pc, mut acc) = (0usize, 0u32);
        loop {
            let insn = program[pc];
            pc += 1;
            let jump = |taken: bool| {
                if taken {
                    insn.jt as usize
                } else {
                    insn.jf as usize
                }
            };
            match insn.code {
                LD_W_ABS => acc = if insn.k == OFFSET_ARCH { arch } else { nr },
                JMP_JA => pc += insn.k as usize,
                JMP_JEQ_K => pc += jump(acc == insn.k),
                JMP_JGT_K => pc += jump(acc > insn.k),
                JMP_JGE_K => pc += jump(acc >= insn.k),
                JMP_JSET_K => pc += jump(acc & insn.k != 0),
                RET_K => return insn.k,
                other => panic!("unexpected opcode {other:#x}"),
            }
        }
    }

    #[test]
    fn no_known_abi_means_no_stub() {
        assert!(stub(&[]).is_empty());
    }

    #[test]
    fn numbers_above_the_highest_get_enosys_per_abi() {
        let program = stub(&[
            (Abi::X86_64, 450),
            (Abi::X32, X32_SYSCALL_BIT | 540),
            (Abi::I386, 460),
            (Abi::Aarch64, 440),
            (Abi::Arm, 450),
        ]);
        let x86_64 = |nr| run(&program, AUDIT_ARCH_X86_64, nr);
        assert_eq!(x86_64(0), RET_MAIN);
        assert_eq!(x86_64(450), RET_MAIN);
        assert_eq!(x86_64(451), RET_ENOSYS);
        assert_eq!(x86_64(X32_SYSCALL_BIT | 540), RET_MAIN);
        assert_eq!(x86_64(X32_SYSCALL_BIT | 541), RET_ENOSYS);
        assert_eq!(run(&program, AUDIT_ARCH_I386, 460), RET_MAIN);
        assert_eq!(run(&program, AUDIT_ARCH_I386, 461), RET_ENOSYS);
        assert_eq!(run(&program, AUDIT_ARCH_AARCH64, 441), RET_ENOSYS);
        assert_eq!(run(&program, AUDIT_ARCH_ARM, 451), RET_ENOSYS);
        // ARM's private calls are not "newer syscalls".
        assert_eq!(
            run(&program, AUDIT_ARCH_ARM, ARM_PRIVATE_BASE + 5),
            RET_MAIN
        );
        // Arches without a section go straight to the profile (which rejects bad arches).
        assert_eq!(run(&program, AUDIT_ARCH_RISCV64, 9999), RET_MAIN);
    }

    #[test]
    fn x32_without_its_own_maximum_keeps_the_profile_answer() {
        let program = stub(&[(Abi::X86_64, 450)]);
        assert_eq!(run(&program, AUDIT_ARCH_X86_64, 451), RET_ENOSYS);
        assert_eq!(
            run(&program, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 9999),
            RET_MAIN
        );
    }

    #[test]
    fn abi_filters_what_counts() {
        assert!(!Abi::Arm.counts(ARM_PRIVATE_BASE + 2));
        assert!(Abi::Arm.counts(400));
        assert!(!Abi::X32.counts(12));
        assert!(Abi::X32.counts(X32_SYSCALL_BIT | 12));
    }
}
