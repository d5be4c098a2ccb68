//! A BPF_PROG_TYPE_CGROUP_DEVICE program built from device rules, with the few instructions it
//! needs encoded here rather than through a BPF crate.
//!
//! The program tracks, per access bit, the verdict of the last rule that matched the device:
//! R0 starts as "nothing allowed", an allow rule sets its access bits, a deny rule clears them.
//! The request passes if every bit it asks for ends up set. This is runc's devicefilter
//! "last match wins" taken per bit, which is also how v1 treats a deny of "w" after an allow
//! of "rwm": the device stays readable.

use super::{DeviceKind, DeviceRule};

/// One eBPF instruction (`struct bpf_insn`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    pub dst: u8,
    pub src: u8,
    pub off: i16,
    pub imm: i32,
}

// Instruction classes, sizes, modes and operations from linux/bpf_common.h and linux/bpf.h.
const BPF_LDX: u8 = 0x01;
const BPF_ALU: u8 = 0x04;
const BPF_JMP: u8 = 0x05;
const BPF_W: u8 = 0x00;
const BPF_MEM: u8 = 0x60;
const BPF_K: u8 = 0x00;
const BPF_X: u8 = 0x08;
pub(crate) const BPF_OR: u8 = 0x40;
pub(crate) const BPF_AND: u8 = 0x50;
pub(crate) const BPF_RSH: u8 = 0x70;
pub(crate) const BPF_XOR: u8 = 0xa0;
pub(crate) const BPF_MOV: u8 = 0xb0;
pub(crate) const BPF_JEQ: u8 = 0x10;
pub(crate) const BPF_JNE: u8 = 0x50;
pub(crate) const BPF_EXIT: u8 = 0x90;

/// Device types as `struct bpf_cgroup_dev_ctx` reports them.
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;

impl Insn {
    /// `dst = *(u32 *)(src + off)`
    pub fn ldx_w(dst: u8, src: u8, off: i16) -> Insn {
        Insn {
            code: BPF_LDX | BPF_MEM | BPF_W,
            dst,
            src,
            off,
            imm: 0,
        }
    }

    /// 32-bit `dst op= imm`
    pub fn alu32_imm(op: u8, dst: u8, imm: i32) -> Insn {
        Insn {
            code: BPF_ALU | op | BPF_K,
            dst,
            src: 0,
            off: 0,
            imm,
        }
    }

    /// 32-bit `dst op= src`
    pub fn alu32_reg(op: u8, dst: u8, src: u8) -> Insn {
        Insn {
            code: BPF_ALU | op | BPF_X,
            dst,
            src,
            off: 0,
            imm: 0,
        }
    }

    /// `if dst op imm goto pc + 1 + off`
    pub fn jmp_imm(op: u8, dst: u8, imm: i32, off: i16) -> Insn {
        Insn {
            code: BPF_JMP | op | BPF_K,
            dst,
            src: 0,
            off,
            imm,
        }
    }

    pub fn exit() -> Insn {
        Insn {
            code: BPF_JMP | BPF_EXIT,
            dst: 0,
            src: 0,
            off: 0,
            imm: 0,
        }
    }

    /// The 8 bytes the kernel reads. The two register numbers share one byte whose nibble
    /// order follows the host's bitfield layout.
    pub fn encode(&self) -> [u8; 8] {
        let regs = if cfg!(target_endian = "little") {
            (self.dst & 0x0f) | (self.src << 4)
        } else {
            (self.dst << 4) | (self.src & 0x0f)
        };
        let off = self.off.to_ne_bytes();
        let imm = self.imm.to_ne_bytes();
        [
            self.code, regs, off[0], off[1], imm[0], imm[1], imm[2], imm[3],
        ]
    }
}

/// Registers holding the request (R1 is the context pointer, R0 the running verdict).
const R_TYPE: u8 = 2;
const R_ACCESS: u8 = 3;
const R_MAJOR: u8 = 4;
const R_MINOR: u8 = 5;

/// The program for `rules`, evaluated in order; returns 1 to allow, 0 to deny.
pub fn device_filter(rules: &[DeviceRule]) -> Vec<Insn> {
    let mut p = vec![
        // bpf_cgroup_dev_ctx { u32 access_type = access << 16 | type; u32 major; u32 minor; }
        Insn::ldx_w(R_TYPE, 1, 0),
        Insn::alu32_imm(BPF_AND, R_TYPE, 0xffff),
        Insn::ldx_w(R_ACCESS, 1, 0),
        Insn::alu32_imm(BPF_RSH, R_ACCESS, 16),
        Insn::ldx_w(R_MAJOR, 1, 4),
        Insn::ldx_w(R_MINOR, 1, 8),
        Insn::alu32_imm(BPF_MOV, 0, 0),
    ];
    for rule in rules {
        let mut checks = Vec::new();
        match rule.kind {
            DeviceKind::All => {}
            DeviceKind::Char => checks.push((R_TYPE, DEV_CHAR)),
            DeviceKind::Block => checks.push((R_TYPE, DEV_BLOCK)),
        }
        if let Some(major) = rule.major {
            checks.push((R_MAJOR, major as i32));
        }
        if let Some(minor) = rule.minor {
            checks.push((R_MINOR, minor as i32));
        }
        // Each failed check jumps past the remaining checks and the verdict update.
        let n = checks.len();
        for (i, (reg, value)) in checks.into_iter().enumerate() {
            p.push(Insn::jmp_imm(BPF_JNE, reg, value, (n - i) as i16));
        }
        let bits = i32::from(rule.access);
        p.push(if rule.allow {
            Insn::alu32_imm(BPF_OR, 0, bits)
        } else {
            Insn::alu32_imm(BPF_AND, 0, !bits & 0x7)
        });
    }
    p.extend([
        // Deny if the request has any bit the verdict lacks: (access & !R0) != 0.
        Insn::alu32_imm(BPF_XOR, 0, -1),
        Insn::alu32_reg(BPF_AND, R_ACCESS, 0),
        Insn::alu32_imm(BPF_MOV, 0, 1),
        Insn::jmp_imm(BPF_JEQ, R_ACCESS, 0, 1),
        Insn::alu32_imm(BPF_MOV, 0, 0),
        Insn::exit(),
    ]);
    p
}

#[cfg(test)]
mod tests {
    use super::super::{MKNOD, READ, WRITE};
    use super::*;

    /// Runs the subset of eBPF `device_filter` emits, so the tests check what the program
    /// decides and not only how it is spelled.
    fn run(prog: &[Insn], dev_type: u32, major: u32, minor: u32, access: u32) -> u64 {
        let ctx = [(access << 16) | dev_type, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        for _ in 0..10_000 {
            let i = prog[pc];
            pc += 1;
            let (d, s) = (usize::from(i.dst), usize::from(i.src));
            match i.code {
                c if c == BPF_LDX | BPF_MEM | BPF_W => {
                    assert_eq!(s, 1, "only the context is read");
                    r[d] = u64::from(ctx[i.off as usize / 4]);
                }
                c if c & 0x07 == BPF_ALU => {
                    let operand = if c & BPF_X != 0 {
                        r[s] as u32
                    } else {
                        i.imm as u32
                    };
                    let a = r[d] as u32;
                    r[d] = u64::from(match c & 0xf0 {
                        BPF_OR => a | operand,
                        BPF_AND => a & operand,
                        BPF_RSH => a >> operand,
                        BPF_XOR => a ^ operand,
                        BPF_MOV => operand,
                        op => panic!("alu op {op:#x}"),
                    });
                }
                c if c == BPF_JMP | BPF_EXIT => return r[0],
                c if c & 0x07 == BPF_JMP => {
                    let taken = match c & 0xf0 {
                        BPF_JEQ => r[d] == i.imm as i64 as u64,
                        BPF_JNE => r[d] != i.imm as i64 as u64,
                        op => panic!("jmp op {op:#x}"),
                    };
                    if taken {
                        pc = (pc as i64 + i64::from(i.off)) as usize;
                    }
                }
                c => panic!("opcode {c:#x}"),
            }
        }
        panic!("program did not terminate");
    }

    fn rule(
        allow: bool,
        kind: DeviceKind,
        major: Option<u32>,
        minor: Option<u32>,
        access: u8,
    ) -> DeviceRule {
        DeviceRule {
            allow,
            kind,
            major,
            minor,
            access,
        }
    }

    const RWM: u8 = READ | WRITE | MKNOD;
    const CHAR: u32 = DEV_CHAR as u32;
    const BLOCK: u32 = DEV_BLOCK as u32;
    const R: u32 = READ as u32;
    const W: u32 = WRITE as u32;

    #[test]
    fn encodes_instructions_in_the_kernel_layout() {
        assert_eq!(
            Insn::ldx_w(2, 1, 4).encode(),
            [0x61, 0x12, 4, 0, 0, 0, 0, 0]
        );
        assert_eq!(
            Insn::alu32_imm(BPF_AND, 2, 0xffff).encode(),
            [0x54, 0x02, 0, 0, 0xff, 0xff, 0, 0]
        );
        assert_eq!(
            Insn::alu32_reg(BPF_AND, 3, 0).encode(),
            [0x5c, 0x03, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(
            Insn::jmp_imm(BPF_JNE, 4, 259, 2).encode(),
            [0x55, 0x04, 2, 0, 3, 1, 0, 0]
        );
        assert_eq!(
            Insn::alu32_imm(BPF_XOR, 0, -1).encode(),
            [0xa4, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]
        );
        assert_eq!(
            Insn::alu32_imm(BPF_MOV, 0, 1).encode(),
            [0xb4, 0, 0, 0, 1, 0, 0, 0]
        );
        assert_eq!(Insn::exit().encode(), [0x95, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn one_rule_compiles_to_checks_that_skip_its_verdict() {
        let prog = device_filter(&[rule(true, DeviceKind::Char, Some(1), Some(3), READ | WRITE)]);
        // 7 prologue + 3 checks + 1 verdict + 6 epilogue
        assert_eq!(prog.len(), 17);
        assert_eq!(
            &prog[7..11],
            &[
                Insn::jmp_imm(BPF_JNE, R_TYPE, DEV_CHAR, 3),
                Insn::jmp_imm(BPF_JNE, R_MAJOR, 1, 2),
                Insn::jmp_imm(BPF_JNE, R_MINOR, 3, 1),
                Insn::alu32_imm(BPF_OR, 0, 6),
            ]
        );
        assert_eq!(prog.last(), Some(&Insn::exit()));
    }

    #[test]
    fn no_rules_denies_everything() {
        let prog = device_filter(&[]);
        assert_eq!(run(&prog, CHAR, 1, 3, R), 0);
    }

    #[test]
    fn docker_style_deny_all_then_allow_list() {
        let prog = device_filter(&[
            rule(false, DeviceKind::All, None, None, RWM),
            rule(true, DeviceKind::Char, Some(1), Some(3), RWM),
            rule(true, DeviceKind::Char, Some(136), None, READ | WRITE),
        ]);
        assert_eq!(run(&prog, CHAR, 1, 3, R | W), 1, "/dev/null");
        assert_eq!(run(&prog, CHAR, 1, 5, R), 0, "/dev/zero is not listed");
        assert_eq!(run(&prog, BLOCK, 1, 3, R), 0, "same numbers, other type");
        assert_eq!(run(&prog, CHAR, 136, 7, W), 1, "pty wildcard minor");
        assert_eq!(
            run(&prog, CHAR, 136, 7, u32::from(MKNOD)),
            0,
            "mknod not granted"
        );
    }

    #[test]
    fn later_rules_win_per_access_bit() {
        let prog = device_filter(&[
            rule(true, DeviceKind::All, None, None, RWM),
            rule(false, DeviceKind::Char, Some(1), Some(3), WRITE),
        ]);
        assert_eq!(run(&prog, CHAR, 1, 3, R), 1);
        assert_eq!(run(&prog, CHAR, 1, 3, W), 0);
        assert_eq!(
            run(&prog, CHAR, 1, 3, R | W),
            0,
            "one denied bit denies the request"
        );
        assert_eq!(
            run(&prog, CHAR, 1, 5, W),
            1,
            "other devices keep the allow-all"
        );

        let prog = device_filter(&[
            rule(false, DeviceKind::Char, Some(1), Some(3), RWM),
            rule(true, DeviceKind::Char, Some(1), None, READ),
        ]);
        assert_eq!(
            run(&prog, CHAR, 1, 3, R),
            1,
            "the later wildcard allow wins"
        );
        assert_eq!(run(&prog, CHAR, 1, 3, W), 0);
    }

    #[test]
    fn split_grants_add_up_like_v1_exceptions() {
        let prog = device_filter(&[
            rule(true, DeviceKind::Char, Some(1), Some(3), READ),
            rule(true, DeviceKind::Char, Some(1), Some(3), WRITE),
        ]);
        assert_eq!(run(&prog, CHAR, 1, 3, R | W), 1);
    }

    #[test]
    fn large_device_numbers_survive_the_immediate() {
        let prog = device_filter(&[rule(
            true,
            DeviceKind::Block,
            Some(259),
            Some(1_048_575),
            RWM,
        )]);
        assert_eq!(run(&prog, BLOCK, 259, 1_048_575, R), 1);
        assert_eq!(run(&prog, BLOCK, 259, 1_048_574, R), 0);
    }
}
