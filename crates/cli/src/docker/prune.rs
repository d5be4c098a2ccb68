//! `image prune`: removes dangling images (no name left), or with `-a` every image no container
//! uses, then collects the blobs and snapshots nothing references any more. Also the pieces
//! every prune command shares: the question, the `until` filter, the "Deleted ..." sections.

use std::io::{BufRead, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Result};
use berth_engine::Engine;
use berth_image::{ImageRecord, Reference, Removal};

use super::args::PruneArgs;
use super::format::human_size;

/// Which images a prune may take, from `--filter`.
#[derive(Debug, Default)]
struct Filters {
    /// Only images created before this.
    until: Option<SystemTime>,
    /// `label=k` / `label=k=v`: the image must carry it.
    labels: Vec<(String, Option<String>)>,
    /// `label!=k` / `label!=k=v`: the image must not carry it.
    not_labels: Vec<(String, Option<String>)>,
}

fn parse_label(s: &str) -> (String, Option<String>) {
    match s.split_once('=') {
        Some((k, v)) => (k.to_string(), Some(v.to_string())),
        None => (s.to_string(), None),
    }
}

/// A Go duration (`90s`, `24h`, `1h30m`, `1.5h`).
fn parse_duration(s: &str) -> Option<Duration> {
    let mut total = 0f64;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let value: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += value * scale;
        rest = &rest[unit_len..];
    }
    Some(Duration::from_secs_f64(total))
}

/// `until`: an RFC 3339 time, Unix seconds, or a Go duration before now.
pub(super) fn parse_until(v: &str) -> Result<SystemTime> {
    if let Some(t) = berth_sys::time::parse_rfc3339(v) {
        return Ok(t);
    }
    if let Ok(secs) = v.parse::<f64>() {
        return Ok(UNIX_EPOCH + Duration::from_secs_f64(secs));
    }
    parse_duration(v)
        .and_then(|d| SystemTime::now().checked_sub(d))
        .ok_or_else(|| anyhow!("invalid until filter: {v:?}"))
}

impl Filters {
    fn parse(args: &[String]) -> Result<Self> {
        let mut f = Filters::default();
        for arg in args {
            let (k, v) = arg
                .split_once('=')
                .ok_or_else(|| anyhow!("bad format of filter (expected name=value): {arg}"))?;
            match k {
                "until" => f.until = Some(parse_until(v)?),
                "label" => f.labels.push(parse_label(v)),
                "label!" => f.not_labels.push(parse_label(v)),
                _ => bail!("invalid filter '{k}'"),
            }
        }
        Ok(f)
    }

    fn admits(&self, engine: &Engine, image: &ImageRecord) -> bool {
        let Ok(config) = engine.images.config(image) else {
            return false;
        };
        if let Some(until) = self.until {
            let created = config
                .created
                .as_deref()
                .and_then(berth_sys::time::parse_rfc3339);
            if created.is_none_or(|c| c >= until) {
                return false;
            }
        }
        let labels = config.config.labels.unwrap_or_default();
        let has = |(k, v): &(String, Option<String>)| {
            labels
                .get(k)
                .is_some_and(|actual| v.as_ref().is_none_or(|v| v == actual))
        };
        self.labels.iter().all(has) && !self.not_labels.iter().any(has)
    }
}

/// Asks Docker's question (`warning`, then "Are you sure...") on the terminal; true for yes.
pub(super) fn confirm(warning: &str) -> bool {
    print!("{warning}\nAre you sure you want to continue? [y/N] ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes")
}

/// A "Deleted ...:" section, nothing when nothing was deleted.
pub(super) fn print_deleted(title: &str, items: &[String]) {
    if items.is_empty() {
        return;
    }
    println!("{title}");
    for i in items {
        println!("{i}");
    }
    println!();
}

/// Removes the dangling images (or with `all` every image no container uses) that `filters`
/// admit, then collects what nothing references. Returns Docker's `untagged:`/`deleted:` lines
/// and the bytes freed.
pub(super) fn remove_images(
    engine: &Engine,
    all: bool,
    filters: &[String],
) -> Result<(Vec<String>, u64)> {
    let filters = Filters::parse(filters)?;
    let in_use = engine.images_in_use()?;
    let candidates: Vec<ImageRecord> = engine
        .images
        .list()?
        .into_iter()
        .filter(|i| all || i.repo_tags.is_empty())
        .filter(|i| !in_use.contains(&i.id))
        .filter(|i| filters.admits(engine, i))
        .collect();
    let mut lines = Vec::new();
    for image in &candidates {
        // By full id, forced: every name goes with it; a container that started using the
        // image meanwhile keeps it (`remove` refuses).
        match engine
            .images
            .remove(&image.id_string(), true, &|id| in_use.contains(id))
        {
            Ok(events) => lines.extend(events.into_iter().map(|e| match e {
                Removal::Untagged(t) => format!(
                    "untagged: {}",
                    Reference::parse(&t).map(|r| r.familiar()).unwrap_or(t)
                ),
                Removal::Deleted(d) => format!("deleted: {d}"),
            })),
            Err(berth_image::ImageError::NotFound(_)) => {}
            Err(e) => eprintln!("berth: {e}"),
        }
    }
    let freed = engine.images.collect(&engine.layers_in_use()?)?;
    Ok((lines, freed))
}

pub fn prune(engine: &Engine, a: &PruneArgs) -> Result<i32> {
    // Filters are checked before the question, so a typo is an error, not a prompt.
    Filters::parse(&a.filter)?;
    let what = if a.all {
        "all images without at least one container associated to them"
    } else {
        "all dangling images"
    };
    if !a.force && !confirm(&format!("WARNING! This will remove {what}.")) {
        return Ok(0);
    }
    let (lines, freed) = remove_images(engine, a.all, &a.filter)?;
    print_deleted("Deleted Images:", &lines);
    println!("Total reclaimed space: {}", human_size(freed));
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("10"), None);
        assert_eq!(parse_duration("3d"), None);
    }

    #[test]
    fn until_takes_times_seconds_and_durations() {
        assert_eq!(
            parse_until("2026-01-01T00:00:00Z").ok(),
            berth_sys::time::parse_rfc3339("2026-01-01T00:00:00Z")
        );
        assert_eq!(
            parse_until("100").ok(),
            Some(UNIX_EPOCH + Duration::from_secs(100))
        );
        let t = parse_until("1h").unwrap();
        let ago = SystemTime::now().duration_since(t).unwrap();
        assert!(ago >= Duration::from_secs(3599) && ago < Duration::from_secs(3700));
        assert!(parse_until("soon").is_err());
    }
}
