//! Commands on running containers' processes and cgroups: top, stats, update.

use std::collections::BTreeSet;
use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use berth_engine::{ContainerRecord, Engine, RestartPolicy, UpdateRequest};
use serde_json::{json, Value};

use super::args::{StatsArgs, TopArgs, UpdateArgs};
use super::containers::each;
use super::format::{human_size, render};
use super::run::{engine_failure, parse_bytes};

/// `top`: the host's `ps` with the given options (default `-ef`), narrowed to the rows whose
/// PID is in the container's cgroup.
pub fn top(engine: &Engine, a: &TopArgs) -> Result<i32> {
    let id = engine.containers.resolve(&a.container)?;
    let pids: BTreeSet<i32> = engine
        .top_pids(&id)
        .map_err(engine_failure)?
        .into_iter()
        .collect();
    let options = if a.ps_options.is_empty() {
        vec!["-ef".to_string()]
    } else {
        a.ps_options.clone()
    };
    let out = Command::new("ps")
        .args(&options)
        .output()
        .context("running ps")?;
    if !out.status.success() {
        bail!(
            "ps {}: {}",
            options.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let column = header
        .split_whitespace()
        .position(|f| f == "PID")
        .ok_or_else(|| anyhow!("Couldn't find PID field in ps output"))?;
    println!("{header}");
    for line in lines {
        let pid = line
            .split_whitespace()
            .nth(column)
            .and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            println!("{line}");
        }
    }
    Ok(0)
}

/// One reading of a container's counters.
#[derive(Debug, Clone, Default)]
struct Sample {
    cpu_ns: u64,
    system_ns: u64,
    mem_usage: u64,
    mem_limit: u64,
    net_rx: u64,
    net_tx: u64,
    blk_read: u64,
    blk_write: u64,
    pids: u64,
}

fn sample(engine: &Engine, rec: &ContainerRecord) -> Sample {
    let mut s = Sample {
        system_ns: system_cpu_ns(),
        ..Default::default()
    };
    let Ok(Some(st)) = engine.cgroup_stats(rec) else {
        return s;
    };
    if let Some(c) = &st.cpu {
        s.cpu_ns = c.usage_ns;
    }
    if let Some(m) = &st.memory {
        // Docker leaves the inactive page cache out of the usage.
        let inactive = m
            .raw
            .get("total_inactive_file")
            .or_else(|| m.raw.get("inactive_file"))
            .copied()
            .unwrap_or(0);
        s.mem_usage = m.usage.saturating_sub(inactive);
        s.mem_limit = m
            .limit
            .filter(|l| *l < host_memory() || host_memory() == 0)
            .unwrap_or_else(host_memory);
    }
    if let Some(p) = &st.pids {
        s.pids = p.current;
    }
    if let Some(b) = &st.blkio {
        for e in &b.bytes {
            match e.op.as_str() {
                "Read" | "read" => s.blk_read += e.value,
                "Write" | "write" => s.blk_write += e.value,
                _ => {}
            }
        }
    }
    (s.net_rx, s.net_tx) = net_io(rec.state.pid);
    s
}

/// Total CPU time of the host (all CPUs), from /proc/stat, in nanoseconds.
fn system_cpu_ns() -> u64 {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: u64 = text
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .take(7)
        .filter_map(|f| f.parse::<u64>().ok())
        .sum();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    ticks * (1_000_000_000 / hz)
}

fn host_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Bytes received and sent by the container's interfaces other than loopback.
fn net_io(pid: i32) -> (u64, u64) {
    if pid <= 0 {
        return (0, 0);
    }
    let text = std::fs::read_to_string(format!("/proc/{pid}/net/dev")).unwrap_or_default();
    let mut rx = 0;
    let mut tx = 0;
    for line in text.lines().skip(2) {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        if name.trim() == "lo" {
            continue;
        }
        let f: Vec<u64> = rest
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        rx += f.first().copied().unwrap_or(0);
        tx += f.get(8).copied().unwrap_or(0);
    }
    (rx, tx)
}

fn online_cpus() -> u64 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u64)
}

/// "1.516MiB": four significant digits in binary units (Docker's units.BytesSize).
pub fn binary_size(bytes: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1024.0 && i < units.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    let digits = if v >= 1000.0 {
        0
    } else if v >= 100.0 {
        1
    } else if v >= 10.0 {
        2
    } else {
        3
    };
    let t = format!("{v:.digits$}");
    let t = if t.contains('.') {
        t.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        t
    };
    format!("{t}{}", units[i])
}

/// The row of one container from two samples.
fn row(
    rec: &ContainerRecord,
    shown_as: &str,
    before: &Sample,
    now: &Sample,
    no_trunc: bool,
) -> Value {
    let cpu_delta = now.cpu_ns.saturating_sub(before.cpu_ns) as f64;
    let sys_delta = now.system_ns.saturating_sub(before.system_ns) as f64;
    let cpu = if sys_delta > 0.0 && rec.is_running() {
        cpu_delta / sys_delta * online_cpus() as f64 * 100.0
    } else {
        0.0
    };
    let mem_pct = if now.mem_limit > 0 {
        now.mem_usage as f64 / now.mem_limit as f64 * 100.0
    } else {
        0.0
    };
    json!({
        "Container": shown_as,
        "ID": if no_trunc { rec.id.clone() } else { rec.short_id().to_string() },
        "Name": rec.name,
        "CPUPerc": format!("{cpu:.2}%"),
        "MemUsage": format!("{} / {}", binary_size(now.mem_usage), binary_size(now.mem_limit)),
        "MemPerc": format!("{mem_pct:.2}%"),
        "NetIO": format!("{} / {}", human_size(now.net_rx), human_size(now.net_tx)),
        "BlockIO": format!("{} / {}", human_size(now.blk_read), human_size(now.blk_write)),
        "PIDs": now.pids.to_string(),
    })
}

const STATS_COLUMNS: [(&str, &str); 8] = [
    ("ID", "CONTAINER ID"),
    ("Name", "NAME"),
    ("CPUPerc", "CPU %"),
    ("MemUsage", "MEM USAGE / LIMIT"),
    ("MemPerc", "MEM %"),
    ("NetIO", "NET I/O"),
    ("BlockIO", "BLOCK I/O"),
    ("PIDs", "PIDS"),
];

/// `stats`: two samples a second apart per round; one round with `--no-stream`, else the
/// table is redrawn every second.
pub fn stats(engine: &Engine, a: &StatsArgs) -> Result<i32> {
    let pick = || -> Result<Vec<(ContainerRecord, String)>> {
        if a.containers.is_empty() {
            Ok(engine
                .containers
                .list()?
                .into_iter()
                .filter(|r| a.all || r.is_running())
                .map(|r| {
                    let shown = r.short_id().to_string();
                    (r, shown)
                })
                .collect())
        } else {
            a.containers
                .iter()
                .map(|n| {
                    let id = engine.containers.resolve(n)?;
                    Ok((engine.containers.load(&id)?, n.clone()))
                })
                .collect()
        }
    };
    let mut previous: Vec<(String, Sample)> = Vec::new();
    loop {
        let recs = pick()?;
        if previous.is_empty() {
            previous = recs
                .iter()
                .map(|(r, _)| (r.id.clone(), sample(engine, r)))
                .collect();
            std::thread::sleep(Duration::from_secs(1));
        }
        let started = Instant::now();
        let mut rows = Vec::new();
        let mut now_samples = Vec::new();
        for (rec, shown) in &recs {
            let rec = engine
                .containers
                .load(&rec.id)
                .unwrap_or_else(|_| rec.clone());
            let now = sample(engine, &rec);
            let before = previous
                .iter()
                .find(|(id, _)| *id == rec.id)
                .map(|(_, s)| s.clone())
                .unwrap_or_else(|| now.clone());
            rows.push(row(&rec, shown, &before, &now, a.no_trunc));
            now_samples.push((rec.id.clone(), now));
        }
        previous = now_samples;
        let mut out = String::new();
        if !a.no_stream {
            // Clear the screen and go home, as Docker redraws.
            out.push_str("\x1b[2J\x1b[H");
        }
        out.push_str(&render_stats(a.format.as_deref(), &rows));
        let mut stdout = std::io::stdout().lock();
        if stdout
            .write_all(out.as_bytes())
            .and_then(|()| stdout.flush())
            .is_err()
        {
            return Ok(0);
        }
        if a.no_stream {
            return Ok(0);
        }
        std::thread::sleep(Duration::from_secs(1).saturating_sub(started.elapsed()));
    }
}

fn render_stats(format: Option<&str>, rows: &[Value]) -> String {
    let mut out = String::new();
    match format {
        Some("json") => {
            for r in rows {
                out.push_str(&format!("{r}\n"));
            }
        }
        Some(f) if !f.starts_with("table") => {
            for r in rows {
                out.push_str(&render(f, r));
                out.push('\n');
            }
        }
        other => {
            let body = other
                .and_then(|f| f.strip_prefix("table"))
                .map(str::trim)
                .filter(|b| !b.is_empty());
            let mut table: Vec<Vec<String>> = Vec::new();
            match body {
                Some(body) => {
                    let header: serde_json::Map<String, Value> = STATS_COLUMNS
                        .iter()
                        .map(|(k, h)| (k.to_string(), json!(h)))
                        .chain([("Container".to_string(), json!("CONTAINER"))])
                        .collect();
                    table.push(cells(&render(body, &Value::Object(header))));
                    table.extend(rows.iter().map(|r| cells(&render(body, r))));
                }
                None => {
                    table.push(STATS_COLUMNS.iter().map(|(_, h)| h.to_string()).collect());
                    for r in rows {
                        table.push(
                            STATS_COLUMNS
                                .iter()
                                .map(|(k, _)| r[*k].as_str().unwrap_or("").to_string())
                                .collect(),
                        );
                    }
                }
            }
            out.push_str(&table_text(&table));
        }
    }
    out
}

fn cells(line: &str) -> Vec<String> {
    line.split('\t').map(str::to_string).collect()
}

/// `format::print_table`'s layout, as a string (the streaming view writes a frame at once).
fn table_text(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .map(|r| r.get(c).map_or(0, |s| s.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, cell) in r.iter().enumerate() {
            line.push_str(cell);
            if i + 1 < r.len() {
                line.push_str(&" ".repeat(widths[i] - cell.chars().count() + 3));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `update`: new limits for each container, in its cgroup while it runs.
pub fn update(engine: &Engine, a: &UpdateArgs) -> Result<i32> {
    let req = UpdateRequest {
        memory: a.memory.as_deref().map(parse_bytes).transpose()?,
        memory_swap: a
            .memory_swap
            .as_deref()
            .map(|s| if s == "-1" { Ok(-1) } else { parse_bytes(s) })
            .transpose()?,
        nano_cpus: a.cpus.map(|c| (c * 1e9) as i64),
        cpu_shares: a.cpu_shares,
        cpuset_cpus: a.cpuset_cpus.clone(),
        cpuset_mems: a.cpuset_mems.clone(),
        pids_limit: a.pids_limit,
        restart: a
            .restart
            .as_deref()
            .map(RestartPolicy::parse)
            .transpose()
            .map_err(|e| anyhow!(e))?,
    };
    each(&a.containers, |n| {
        let id = engine.containers.resolve(n)?;
        engine.update(&id, &req).map_err(engine_failure)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_sizes_read_like_docker() {
        assert_eq!(binary_size(64 << 20), "64MiB");
        assert_eq!(binary_size(1_589_248), "1.516MiB");
        assert_eq!(binary_size(0), "0B");
        assert_eq!(binary_size(2 * 1024 * 1024 * 1024), "2GiB");
    }
}
