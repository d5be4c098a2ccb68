//! How docker prints things: relative times, sizes, truncated commands, and a small subset of
//! Go templates for `--format` (`{{.Field}}`, `{{json .}}`, `table`).

use std::time::{Duration, SystemTime};

/// "3 seconds", "About a minute", "2 hours" (Docker's units.HumanDuration).
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => "Less than a second".into(),
        1 => "1 second".into(),
        2..=59 => format!("{s} seconds"),
        60..=119 => "About a minute".into(),
        120..=3599 => format!("{} minutes", s / 60),
        3600..=7199 => "About an hour".into(),
        7200..=172_799 => format!("{} hours", s / 3600),
        172_800..=1_209_599 => format!("{} days", s / 86_400),
        1_209_600..=5_183_999 => format!("{} weeks", s / 604_800),
        5_184_000..=63_071_999 => format!("{} months", s / 2_592_000),
        _ => format!("{} years", s / 31_536_000),
    }
}

/// Time since an RFC 3339 stamp.
pub fn since(stamp: &str) -> Duration {
    berth_sys::time::parse_rfc3339(stamp)
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .unwrap_or_default()
}

/// "4.26MB" (decimal units, three significant digits, as Docker's units.HumanSize).
pub fn human_size(bytes: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1000.0 && i < units.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    let digits: String = {
        // Three significant digits, trailing zeros trimmed.
        let p = if v >= 100.0 {
            0
        } else if v >= 10.0 {
            1
        } else {
            2
        };
        let t = format!("{v:.p$}");
        if t.contains('.') {
            t.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            t
        }
    };
    format!("{digits}{}", units[i])
}

/// Docker's `ps` COMMAND column: the quoted command, truncated to 20 chars with an ellipsis.
pub fn command_column(path: &str, args: &[String], trunc: bool) -> String {
    let mut cmd = path.to_string();
    for a in args {
        cmd.push(' ');
        cmd.push_str(a);
    }
    if trunc && cmd.chars().count() > 20 {
        let short: String = cmd.chars().take(19).collect();
        cmd = format!("{short}…");
    }
    format!("\"{cmd}\"")
}

/// Renders a Go-template-like `--format` against a JSON object: `{{.Field}}`,
/// `{{.Nested.Field}}`, `{{json .}}`, `{{json .Field}}`; `\t` and `\n` escapes.
pub fn render(template: &str, value: &serde_json::Value) -> String {
    let t = template.replace("\\t", "\t").replace("\\n", "\n");
    let mut out = String::new();
    let mut rest = t.as_str();
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let expr = rest[start + 2..start + end].trim();
        out.push_str(&eval(expr, value));
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    out
}

fn eval(expr: &str, value: &serde_json::Value) -> String {
    let (json, path) = match expr.strip_prefix("json ") {
        Some(p) => (true, p.trim()),
        None => (false, expr),
    };
    let mut v = value;
    for part in path
        .trim_start_matches('.')
        .split('.')
        .filter(|p| !p.is_empty())
    {
        v = v.get(part).unwrap_or(&serde_json::Value::Null);
    }
    if json {
        return serde_json::to_string(v).unwrap_or_default();
    }
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "<no value>".into(),
        other => other.to_string(),
    }
}

/// Prints rows as Docker's tables: columns padded to the widest cell plus three spaces.
pub fn print_table(rows: &[Vec<String>]) {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .map(|r| r.get(c).map_or(0, |s| s.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    for r in rows {
        let mut line = String::new();
        for (i, cell) in r.iter().enumerate() {
            if i + 1 == r.len() {
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&" ".repeat(widths[i] - cell.chars().count() + 3));
            }
        }
        println!("{}", line.trim_end());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_read_like_docker() {
        assert_eq!(human_size(4_261_000), "4.26MB");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(1_234_567_890), "1.23GB");
        assert_eq!(human_duration(Duration::from_secs(5)), "5 seconds");
        assert_eq!(human_duration(Duration::from_secs(90)), "About a minute");
        assert_eq!(human_duration(Duration::from_secs(7300)), "2 hours");
    }

    #[test]
    fn templates_render_fields_and_json() {
        let v = serde_json::json!({"Names": "web", "State": {"Pid": 42}, "Labels": {"a": "b"}});
        assert_eq!(render("{{.Names}}\\t{{.State.Pid}}", &v), "web\t42");
        assert_eq!(render("{{json .Labels}}", &v), r#"{"a":"b"}"#);
        assert_eq!(render("{{.Missing}}", &v), "<no value>");
    }

    #[test]
    fn long_commands_are_truncated() {
        assert_eq!(
            command_column("sh", &["-c".into(), "x".into()], true),
            "\"sh -c x\""
        );
        let long = command_column("/bin/sh", &["-c".into(), "sleep 1000000".into()], true);
        assert_eq!(long.chars().count(), 22);
    }
}
