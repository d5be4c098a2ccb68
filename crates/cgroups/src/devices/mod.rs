//! Device access rules: on v1 the devices controller's allow/deny files, on v2 an eBPF
//! program attached to the cgroup. Both evaluate the same normalised rule list.

mod bpf;
mod v1;
mod v2;

use std::path::PathBuf;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use crate::cgroup::Cgroup;
use crate::error::{Error, Result};

pub(crate) use bpf::{device_filter, Insn};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceKind {
    All,
    Char,
    Block,
}

/// Access bits as the kernel numbers them for device cgroup programs.
pub const MKNOD: u8 = 1;
pub const READ: u8 = 2;
pub const WRITE: u8 = 4;

/// One normalised rule: `None` numbers are wildcards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceRule {
    pub allow: bool,
    pub kind: DeviceKind,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    pub access: u8,
}

impl DeviceRule {
    /// `None` for FIFO rules: the device cgroup never sees FIFOs, so such a rule can neither
    /// allow nor deny anything.
    pub fn from_oci(rule: &LinuxDeviceCgroup) -> Result<Option<DeviceRule>> {
        let kind = match rule.typ().unwrap_or(LinuxDeviceType::A) {
            LinuxDeviceType::A => DeviceKind::All,
            LinuxDeviceType::C | LinuxDeviceType::U => DeviceKind::Char,
            LinuxDeviceType::B => DeviceKind::Block,
            LinuxDeviceType::P => return Ok(None),
        };
        let number = |n: Option<i64>, what: &str| -> Result<Option<u32>> {
            match n {
                None => Ok(None),
                Some(n) if n < 0 => Ok(None),
                Some(n) => u32::try_from(n).map(Some).map_err(|_| Error::InvalidValue {
                    setting: format!("linux.resources.devices[].{what}"),
                    value: n.to_string(),
                    reason: "out of range".into(),
                }),
            }
        };
        let access = parse_access(rule.access().as_deref().unwrap_or(""))?;
        // The kernel reads "a" as every device whatever numbers follow; keep both backends in
        // line with that.
        let (major, minor) = if kind == DeviceKind::All {
            (None, None)
        } else {
            (
                number(rule.major(), "major")?,
                number(rule.minor(), "minor")?,
            )
        };
        Ok(Some(DeviceRule {
            allow: rule.allow(),
            kind,
            major,
            minor,
            access,
        }))
    }

    pub fn is_all_devices(&self) -> bool {
        self.kind == DeviceKind::All && self.access == MKNOD | READ | WRITE
    }

    /// The devices.allow/deny line: `c 1:3 rwm`.
    pub fn v1_line(&self) -> String {
        let kind = match self.kind {
            DeviceKind::All => 'a',
            DeviceKind::Char => 'c',
            DeviceKind::Block => 'b',
        };
        let num = |n: Option<u32>| n.map_or("*".to_string(), |n| n.to_string());
        let mut access = String::new();
        for (bit, c) in [(READ, 'r'), (WRITE, 'w'), (MKNOD, 'm')] {
            if self.access & bit != 0 {
                access.push(c);
            }
        }
        format!("{kind} {}:{} {access}", num(self.major), num(self.minor))
    }
}

/// An empty access string means all access, as a rule that grants nothing is never meant.
fn parse_access(s: &str) -> Result<u8> {
    if s.is_empty() {
        return Ok(MKNOD | READ | WRITE);
    }
    let mut bits = 0;
    for c in s.chars() {
        bits |= match c {
            'r' => READ,
            'w' => WRITE,
            'm' => MKNOD,
            _ => {
                return Err(Error::InvalidValue {
                    setting: "linux.resources.devices[].access".into(),
                    value: s.into(),
                    reason: "expected letters from \"rwm\"".into(),
                })
            }
        };
    }
    Ok(bits)
}

pub(crate) fn normalise(rules: &[LinuxDeviceCgroup]) -> Result<Vec<DeviceRule>> {
    let mut out = Vec::new();
    for r in rules {
        out.extend(DeviceRule::from_oci(r)?);
    }
    Ok(out)
}

/// Device rules checked against the host and ready to apply, so a spec that cannot be honoured
/// fails before any other limit is written.
pub(crate) enum Prepared {
    /// No rules: the inherited access stays untouched, on both versions.
    Nothing,
    V1(PathBuf, Vec<DeviceRule>),
    V2(PathBuf, Vec<Insn>),
}

pub(crate) fn prepare(cg: &Cgroup, rules: &[LinuxDeviceCgroup]) -> Result<Prepared> {
    if rules.is_empty() {
        return Ok(Prepared::Nothing);
    }
    let rules = normalise(rules)?;
    if let Some(h) = cg.find_v1("devices") {
        Ok(Prepared::V1(h.dir.clone(), rules))
    } else if let Some(u) = cg.unified() {
        Ok(Prepared::V2(u.dir.clone(), device_filter(&rules)))
    } else {
        Err(Error::ControllerMissing {
            controller: "devices".into(),
            setting: "linux.resources.devices".into(),
        })
    }
}

impl Prepared {
    pub(crate) fn apply(&self) -> Result<()> {
        match self {
            Prepared::Nothing => Ok(()),
            Prepared::V1(dir, rules) => v1::apply(dir, rules),
            Prepared::V2(dir, program) => v2::attach(dir, program),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxDeviceCgroupBuilder;

    #[test]
    fn oci_rules_normalise_wildcards_and_access() {
        let r = LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .typ(LinuxDeviceType::C)
            .major(1)
            .minor(-1)
            .access("wr")
            .build()
            .unwrap();
        let rule = DeviceRule::from_oci(&r).unwrap().unwrap();
        assert_eq!(rule.major, Some(1));
        assert_eq!(rule.minor, None);
        assert_eq!(rule.access, READ | WRITE);
        assert_eq!(rule.v1_line(), "c 1:* rw");

        let deny_all = LinuxDeviceCgroupBuilder::default()
            .allow(false)
            .major(5)
            .access("rwm")
            .build()
            .unwrap();
        let rule = DeviceRule::from_oci(&deny_all).unwrap().unwrap();
        assert!(rule.is_all_devices());
        assert_eq!(rule.v1_line(), "a *:* rwm");
    }

    #[test]
    fn fifo_rules_are_dropped_and_bad_access_is_refused() {
        let fifo = LinuxDeviceCgroupBuilder::default()
            .typ(LinuxDeviceType::P)
            .build()
            .unwrap();
        assert_eq!(DeviceRule::from_oci(&fifo).unwrap(), None);
        let bad = LinuxDeviceCgroupBuilder::default()
            .access("rx")
            .build()
            .unwrap();
        let err = DeviceRule::from_oci(&bad).unwrap_err();
        assert!(err.to_string().contains("\"rx\""), "{err}");
    }
}
