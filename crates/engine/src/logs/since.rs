//! The time arguments of `docker logs --since/--until`, as the docker CLI reads them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Reads a `--since`/`--until` value: a Go duration (`10m`, `1h30m`, `1.5h`, `42s`) meaning that
/// long before `now`; an RFC 3339 timestamp, possibly shortened (`2026-11-23`, `2026-11-23T10`,
/// `2026-11-23T10:00`, `2026-11-23T10:00:00.5`), with a `Z` or `±hh:mm` zone or none; or a Unix
/// time in seconds (`1700000000`, `1700000000.123`).
///
/// Docker reads a timestamp without zone in the client's local zone; berth has no time zone
/// database and reads it as UTC.
pub fn parse_since(text: &str, now: SystemTime) -> Result<SystemTime, String> {
    let text = text.trim();
    let fail = || format!("failed to parse value as time or duration: {text:?}");
    if text != "0" {
        if let Some((negative, d)) = go_duration(text) {
            return if negative {
                now.checked_add(d)
            } else {
                now.checked_sub(d)
            }
            .ok_or_else(fail);
        }
    }
    if text.contains('-') || text.contains('T') {
        return timestamp(text).ok_or_else(fail);
    }
    unix_time(text).ok_or_else(fail)
}

/// Go's `time.ParseDuration`: a sign, then numbers with units `ns`, `us`/`µs`, `ms`, `s`, `m`,
/// `h`, as in `-1h2m3.5s`. `None` for anything else, including a bare number.
fn go_duration(text: &str) -> Option<(bool, Duration)> {
    let (negative, mut rest) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if rest.is_empty() {
        return None;
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int, after) = rest.split_at(int_len);
        let (frac, after) = match after.strip_prefix('.') {
            Some(f) => f.split_at(f.bytes().take_while(u8::is_ascii_digit).count()),
            None => ("", after),
        };
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let unit_nanos: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return None,
        };
        let int: u128 = if int.is_empty() { 0 } else { int.parse().ok()? };
        total = total.checked_add(int.checked_mul(unit_nanos)?)?;
        // The fraction, to nanosecond precision.
        let mut scale = unit_nanos;
        for digit in frac.bytes() {
            scale /= 10;
            total += u128::from(digit - b'0') * scale;
        }
        rest = after;
    }
    let nanos = u64::try_from(total).ok()?;
    Some((negative, Duration::from_nanos(nanos)))
}

/// The shortened RFC 3339 forms Docker accepts, completed to a full timestamp.
fn timestamp(text: &str) -> Option<SystemTime> {
    if text.len() < 10 || !text.is_char_boundary(10) {
        return None;
    }
    let (date, rest) = text.split_at(10);
    let (clock, zone) = match rest.strip_prefix('T') {
        Some(after_t) => {
            let zone_at = after_t.find(['Z', 'z', '+', '-']).unwrap_or(after_t.len());
            after_t.split_at(zone_at)
        }
        None => ("", rest),
    };
    let clock = match clock.len() {
        0 => "00:00:00".to_string(),
        2 => format!("{clock}:00:00"),
        5 => format!("{clock}:00"),
        _ => clock.to_string(),
    };
    let zone = if zone.is_empty() { "Z" } else { zone };
    berth_sys::time::parse_rfc3339(&format!("{date}T{clock}{zone}"))
}

/// `seconds[.fraction]` since the epoch.
fn unix_time(text: &str) -> Option<SystemTime> {
    let (secs, frac) = text.split_once('.').unwrap_or((text, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if secs.is_empty() || !all_digits(secs) || !all_digits(frac) || text.ends_with('.') {
        return None;
    }
    let mut nanos = 0u32;
    for (i, digit) in frac.bytes().take(9).enumerate() {
        nanos += u32::from(digit - b'0') * 10u32.pow(8 - i as u32);
    }
    UNIX_EPOCH.checked_add(Duration::new(secs.parse().ok()?, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64, nanos: u32) -> SystemTime {
        UNIX_EPOCH + Duration::new(secs, nanos)
    }

    #[test]
    fn durations_count_back_from_now() {
        let now = at(1_800_000_000, 0);
        assert_eq!(parse_since("10m", now), Ok(at(1_800_000_000 - 600, 0)));
        assert_eq!(parse_since("1h30m", now), Ok(at(1_800_000_000 - 5400, 0)));
        assert_eq!(parse_since("42s", now), Ok(at(1_800_000_000 - 42, 0)));
        assert_eq!(parse_since("1.5h", now), Ok(at(1_800_000_000 - 5400, 0)));
        assert_eq!(
            parse_since("250ms", now),
            Ok(at(1_799_999_999, 750_000_000))
        );
        assert_eq!(parse_since("-1m", now), Ok(at(1_800_000_060, 0)));
        assert_eq!(parse_since("0s", now), Ok(now));
    }

    #[test]
    fn unix_times() {
        let now = at(1_800_000_000, 0);
        assert_eq!(parse_since("1700000000", now), Ok(at(1_700_000_000, 0)));
        assert_eq!(
            parse_since("1700000000.123", now),
            Ok(at(1_700_000_000, 123_000_000))
        );
        assert_eq!(parse_since("0", now), Ok(UNIX_EPOCH));
    }

    #[test]
    fn rfc3339_in_full_and_shortened() {
        let now = at(0, 0);
        let t = at(1_795_000_000, 0); // 2026-11-18T11:06:40Z
        assert_eq!(parse_since("2026-11-18T11:06:40Z", now), Ok(t));
        assert_eq!(parse_since("2026-11-18T11:06:40", now), Ok(t));
        assert_eq!(parse_since("2026-11-18T12:06:40+01:00", now), Ok(t));
        assert_eq!(parse_since("2026-11-18T10:06:40-01:00", now), Ok(t));
        assert_eq!(
            parse_since("2026-11-18T11:06:40.25Z", now),
            Ok(at(1_795_000_000, 250_000_000))
        );
        assert_eq!(
            parse_since("2026-11-18T11:06", now),
            Ok(at(1_795_000_000 - 40, 0))
        );
        assert_eq!(
            parse_since("2026-11-18T11", now),
            Ok(at(1_795_000_000 - 400, 0))
        );
        assert_eq!(
            parse_since("2026-11-18", now),
            Ok(at(1_795_000_000 - 40_000, 0))
        );
        assert_eq!(
            parse_since("2026-11-18Z", now),
            Ok(at(1_795_000_000 - 40_000, 0))
        );
    }

    #[test]
    fn nonsense_is_refused_by_value() {
        let now = at(1_800_000_000, 0);
        for bad in [
            "",
            "yesterday",
            "10x",
            "1.2.3",
            "2026-13-01",
            "2026-11-18T25:00",
            "12.",
            "-",
            "h",
        ] {
            let err = parse_since(bad, now).unwrap_err();
            assert!(err.contains(&format!("{bad:?}")), "{bad}: {err}");
        }
    }
}
