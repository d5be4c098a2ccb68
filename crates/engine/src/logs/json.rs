//! One log entry read back from its line of JSON (`berth_relay::log::json` writes them).

use std::borrow::Cow;

use super::{LogEntry, Stream};

/// The fields berth reads back; others (Docker's `attrs`) are ignored.
#[derive(serde::Deserialize)]
struct Stored<'a> {
    #[serde(borrow, default)]
    log: Cow<'a, str>,
    #[serde(borrow)]
    stream: Cow<'a, str>,
    #[serde(borrow)]
    time: Cow<'a, str>,
}

/// The entry one stored line holds (with or without its newline); `None` if the line is not a
/// log entry (torn by a crash, or written by something else).
pub(super) fn decode(line: &[u8]) -> Option<LogEntry> {
    let stored: Stored = serde_json::from_slice(line).ok()?;
    let stream = match &*stored.stream {
        "stdout" => Stream::Stdout,
        "stderr" => Stream::Stderr,
        _ => return None,
    };
    let time = berth_sys::time::parse_rfc3339(&stored.time)?;
    Some(LogEntry {
        stream,
        time,
        time_text: stored.time.into_owned(),
        line: stored.log.into_owned().into_bytes(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_relay::log::json::encode;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn replaced_invalid_utf8_reads_back_as_replacement_characters() {
        // What the writer makes of invalid UTF-8 (berth_relay's json tests): one U+FFFD a byte.
        let r = "\\ufffd";
        let got = format!("\"a{r}b{r}{r}c{r}{r}{r}d{r}{r}\"");
        let back = decode(
            format!("{{\"log\":{got},\"stream\":\"stdout\",\"time\":\"2026-01-01T00:00:00Z\"}}")
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(
            back.line,
            "a\u{fffd}b\u{fffd}\u{fffd}c\u{fffd}\u{fffd}\u{fffd}d\u{fffd}\u{fffd}".as_bytes()
        );
    }

    #[test]
    fn decode_round_trips_and_refuses_other_lines() {
        let mut out = Vec::new();
        let log = "tab\t<é>\u{2028}\x01\n".as_bytes();
        encode(&mut out, Stream::Stderr, log, "2026-11-18T11:06:40.12Z");
        let e = decode(&out).unwrap();
        assert_eq!(e.stream, Stream::Stderr);
        assert_eq!(e.line, log);
        assert_eq!(e.time_text, "2026-11-18T11:06:40.12Z");
        let t = UNIX_EPOCH + Duration::new(1_795_000_000, 120_000_000);
        assert_eq!(e.time, t);
        // Docker's optional attrs are ignored.
        let with_attrs =
            br#"{"log":"x\n","stream":"stdout","attrs":{"tag":"a"},"time":"2026-11-18T11:06:40Z"}"#;
        assert_eq!(decode(with_attrs).unwrap().line, b"x\n");
        assert!(decode(&out[..out.len() / 2]).is_none());
        assert!(decode(br#"{"log":"x","stream":"stdin","time":"2026-11-18T11:06:40Z"}"#).is_none());
        assert!(decode(br#"{"log":"x","stream":"stdout","time":"yesterday"}"#).is_none());
    }
}
