//! cgroup v1 devices controller: rules written in order to devices.allow / devices.deny.

use std::path::Path;

use super::DeviceRule;
use crate::error::Result;
use crate::fs;

/// Lines to write, in order, as (file, line). A leading deny-all becomes the kernel's short
/// "a", which switches the cgroup to default-deny and drops the inherited exceptions, as runc
/// does.
pub(crate) fn plan(rules: &[DeviceRule]) -> Vec<(&'static str, String)> {
    let mut lines = Vec::new();
    let mut rest = rules;
    if let Some((first, tail)) = rules.split_first() {
        if !first.allow && first.is_all_devices() {
            lines.push(("devices.deny", "a".to_string()));
            rest = tail;
        }
    }
    for rule in rest {
        let file = if rule.allow {
            "devices.allow"
        } else {
            "devices.deny"
        };
        lines.push((file, rule.v1_line()));
    }
    lines
}

pub(crate) fn apply(dir: &Path, rules: &[DeviceRule]) -> Result<()> {
    for (file, line) in plan(rules) {
        fs::write(&dir.join(file), &line)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{DeviceKind, MKNOD, READ, WRITE};
    use super::*;

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

    #[test]
    fn leading_deny_all_becomes_a_and_the_rest_keep_their_order() {
        let rules = [
            rule(false, DeviceKind::All, None, None, READ | WRITE | MKNOD),
            rule(
                true,
                DeviceKind::Char,
                Some(1),
                Some(3),
                READ | WRITE | MKNOD,
            ),
            rule(false, DeviceKind::Char, Some(1), Some(3), WRITE),
            rule(true, DeviceKind::Block, None, None, MKNOD),
        ];
        assert_eq!(
            plan(&rules),
            vec![
                ("devices.deny", "a".to_string()),
                ("devices.allow", "c 1:3 rwm".to_string()),
                ("devices.deny", "c 1:3 w".to_string()),
                ("devices.allow", "b *:* m".to_string()),
            ]
        );
    }

    #[test]
    fn deny_all_that_is_not_first_is_written_verbatim() {
        let rules = [
            rule(true, DeviceKind::Char, Some(1), Some(3), READ),
            rule(false, DeviceKind::All, None, None, READ | WRITE | MKNOD),
        ];
        assert_eq!(
            plan(&rules),
            vec![
                ("devices.allow", "c 1:3 r".to_string()),
                ("devices.deny", "a *:* rwm".to_string()),
            ]
        );
    }
}
