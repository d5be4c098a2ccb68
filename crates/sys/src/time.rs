//! RFC 3339 timestamps without a date library: state files and `state` output need only UTC;
//! parsing also accepts the numeric offsets other tools write.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `t` as `2006-01-02T15:04:05.999999999Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, day) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
        d.subsec_nanos()
    )
}

/// `t` as Go's `time.RFC3339Nano` writes a UTC time, `2006-01-02T15:04:05.999999999Z`, where
/// the nines mean trailing zeros (and a bare dot) are left out: the form of the times in
/// Docker's image configs and json-file logs, which tools compare byte for byte (skopeo keeps
/// a config unchanged only if Go would write it the same).
pub fn rfc3339_nano(t: SystemTime) -> String {
    let mut s = rfc3339(t);
    s.pop(); // the `Z`
    while s.ends_with('0') {
        s.pop();
    }
    if s.ends_with('.') {
        s.pop();
    }
    s.push('Z');
    s
}

/// Parses an RFC 3339 date-time: `2006-01-02T15:04:05Z`, with optional fractional seconds (digits
/// past the ninth are dropped) and a `Z` or `+hh:mm`/`-hh:mm` offset; `t` and `z` may be lower
/// case, and a space may stand for the `T`. `None` for anything else, including out-of-range fields
/// and leap seconds (as Go's parser, which wrote most of the timestamps berth reads).
pub fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let (year, month, day) = (digits(&b[0..4])?, digits(&b[5..7])?, digits(&b[8..10])?);
    let (hour, min, sec) = (
        digits(&b[11..13])?,
        digits(&b[14..16])?,
        digits(&b[17..19])?,
    );
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || min > 59 || sec > 59 {
        return None;
    }
    let mut rest = &b[19..];
    let mut nanos = 0u32;
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        for (i, c) in frac[..n].iter().take(9).enumerate() {
            nanos += u32::from(c - b'0') * 10u32.pow(8 - i as u32);
        }
        rest = &frac[n..];
    }
    let offset = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let (h, m) = (digits(&[*h1, *h2])?, digits(&[*m1, *m2])?);
            if h > 23 || m > 59 {
                return None;
            }
            let off = i64::from(h * 3600 + m * 60);
            if *sign == b'-' {
                -off
            } else {
                off
            }
        }
        _ => return None,
    };
    let days = days_from_civil(i64::from(year), month, day);
    let secs = days * 86_400 + i64::from(hour * 3600 + min * 60 + sec) - offset;
    Some(if secs >= 0 {
        UNIX_EPOCH + Duration::new(secs as u64, nanos)
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs()) + Duration::from_nanos(nanos.into())
    })
}

/// The value of a run of ASCII digits; `None` if any byte is not one.
fn digits(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |acc, c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        // Let the calendar arithmetic decide leap years.
        2 => {
            (days_from_civil(i64::from(year), 3, 1) - days_from_civil(i64::from(year), 2, 1)) as u32
        }
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Howard Hinnant's civil-to-days algorithm, the inverse of [`civil_from_days`].
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from(if m > 2 { m - 3 } else { m + 9 });
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000000000Z");
        let t = UNIX_EPOCH + Duration::new(1_795_000_000, 5);
        assert_eq!(rfc3339(t), "2026-11-18T11:06:40.000000005Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert!(rfc3339(leap).starts_with("2000-02-29T00:00:00"));
    }

    #[test]
    fn nano_form_drops_trailing_zeros_as_go_does() {
        let t = UNIX_EPOCH + Duration::from_secs(1_795_000_000);
        assert_eq!(rfc3339_nano(t), "2026-11-18T11:06:40Z");
        assert_eq!(
            rfc3339_nano(t + Duration::from_millis(120)),
            "2026-11-18T11:06:40.12Z"
        );
        assert_eq!(
            rfc3339_nano(t + Duration::from_nanos(5)),
            "2026-11-18T11:06:40.000000005Z"
        );
        assert_eq!(
            parse_rfc3339(&rfc3339_nano(t + Duration::from_nanos(10))),
            Some(t + Duration::from_nanos(10))
        );
    }

    #[test]
    fn parses_what_it_formats() {
        for t in [
            UNIX_EPOCH,
            UNIX_EPOCH + Duration::new(1_795_000_000, 5),
            UNIX_EPOCH + Duration::new(951_782_400, 999_999_999),
            UNIX_EPOCH + Duration::new(4_102_444_799, 120_000_000),
        ] {
            assert_eq!(parse_rfc3339(&rfc3339(t)), Some(t));
        }
    }

    #[test]
    fn parses_offsets_and_fractions() {
        let base = UNIX_EPOCH + Duration::from_secs(1_795_000_000); // 2026-11-18T11:06:40Z
        assert_eq!(parse_rfc3339("2026-11-18T11:06:40Z"), Some(base));
        assert_eq!(parse_rfc3339("2026-11-18t11:06:40z"), Some(base));
        assert_eq!(parse_rfc3339("2026-11-18 11:06:40Z"), Some(base));
        assert_eq!(parse_rfc3339("2026-11-18T12:36:40+01:30"), Some(base));
        assert_eq!(parse_rfc3339("2026-11-18T06:06:40-05:00"), Some(base));
        let half = base + Duration::from_millis(500);
        assert_eq!(parse_rfc3339("2026-11-18T11:06:40.5Z"), Some(half));
        let long = base + Duration::from_nanos(123_456_789);
        assert_eq!(
            parse_rfc3339("2026-11-18T11:06:40.1234567891234Z"),
            Some(long)
        );
        let before = parse_rfc3339("1969-12-31T23:59:59.25Z").unwrap();
        assert_eq!(
            UNIX_EPOCH.duration_since(before).unwrap(),
            Duration::from_millis(750)
        );
    }

    #[test]
    fn refuses_malformed_and_out_of_range() {
        for bad in [
            "",
            "2026-11-18",
            "2026-11-18T11:06:40",
            "2026-11-18T11:06Z",
            "2026-11-18T11:06:40.Z",
            "2026-11-18T11:06:40+0100",
            "2026-11-18T11:06:40+01:00x",
            "2026-13-18T11:06:40Z",
            "2026-02-29T11:06:40Z",
            "2026-11-31T11:06:40Z",
            "2026-11-18T24:00:00Z",
            "2026-11-18T11:06:60Z",
            "2026-11-18X11:06:40Z",
            "+026-11-18T11:06:40Z",
            "2026-11-18T11:06:40\u{e9}",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad:?}");
        }
        assert!(parse_rfc3339("1900-02-29T00:00:00Z").is_none());
        assert!(parse_rfc3339("2000-02-29T00:00:00Z").is_some());
        assert!(parse_rfc3339("2024-02-29T00:00:00Z").is_some());
    }
}
