//! One log entry as one line of JSON, byte for byte as Docker's json-file driver writes it:
//! fields in the order `log`, `stream`, `time`; strings escaped as Go's encoding/json does with
//! HTML escaping on (`<`, `>`, `&` as `\u003c`...), each byte of invalid UTF-8 replaced by
//! U+FFFD; the time in Go's RFC 3339 with nanoseconds, trailing zeros dropped. (Reading lines
//! back is the engine's: it needs a JSON parser, which this crate goes without.)

use super::Stream;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends `{"log":"...","stream":"...","time":"..."}` and a newline to `out`.
pub fn encode(out: &mut Vec<u8>, stream: Stream, log: &[u8], time_text: &str) {
    out.extend_from_slice(b"{\"log\":");
    push_string(out, log);
    out.extend_from_slice(b",\"stream\":\"");
    out.extend_from_slice(stream.as_str().as_bytes());
    out.extend_from_slice(b"\",\"time\":\"");
    out.extend_from_slice(time_text.as_bytes());
    out.extend_from_slice(b"\"}\n");
}

/// A JSON string of `s`. Valid UTF-8 passes through except what Go escapes: `"` and `\`,
/// control characters (`\n` and `\r` by name, the rest as `\u00XX`), `<` `>` `&`, and U+2028/9.
fn push_string(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for chunk in s.utf8_chunks() {
        let v = chunk.valid().as_bytes();
        let mut start = 0;
        let mut i = 0;
        while i < v.len() {
            let b = v[i];
            if b >= 0x80 {
                // U+2028 and U+2029 are E2 80 A8 and E2 80 A9; `v` is valid UTF-8, so a lead
                // byte E2 always has its two continuation bytes.
                if b == 0xE2 && v[i + 1] == 0x80 && matches!(v[i + 2], 0xA8 | 0xA9) {
                    out.extend_from_slice(&v[start..i]);
                    out.extend_from_slice(b"\\u202");
                    out.push(HEX[usize::from(v[i + 2] & 0xF)]);
                    i += 3;
                    start = i;
                } else {
                    i += 1;
                }
                continue;
            }
            if b >= 0x20 && !matches!(b, b'\\' | b'"' | b'<' | b'>' | b'&') {
                i += 1;
                continue;
            }
            out.extend_from_slice(&v[start..i]);
            match b {
                b'\\' | b'"' => out.extend_from_slice(&[b'\\', b]),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                _ => out.extend_from_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[usize::from(b >> 4)],
                    HEX[usize::from(b & 0xF)],
                ]),
            }
            i += 1;
            start = i;
        }
        out.extend_from_slice(&v[start..]);
        // Go decodes invalid UTF-8 one byte at a time, each byte becoming one U+FFFD.
        for _ in chunk.invalid() {
            out.extend_from_slice(b"\\ufffd");
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(log: &[u8]) -> String {
        let mut out = Vec::new();
        encode(&mut out, Stream::Stdout, log, "T");
        let s = String::from_utf8(out).unwrap();
        let start = "{\"log\":".len();
        let end = s.len() - ",\"stream\":\"stdout\",\"time\":\"T\"}\n".len();
        s[start..end].to_string()
    }

    #[test]
    fn line_is_dockers() {
        let mut out = Vec::new();
        encode(
            &mut out,
            Stream::Stderr,
            b"hello\n",
            "2026-11-23T10:00:00.123456789Z",
        );
        assert_eq!(
            out,
            b"{\"log\":\"hello\\n\",\"stream\":\"stderr\",\"time\":\"2026-11-23T10:00:00.123456789Z\"}\n"
        );
    }

    #[test]
    fn escapes_as_go_does() {
        assert_eq!(encoded(b"a\"b\\c\n"), r#""a\"b\\c\n""#);
        assert_eq!(
            encoded(b"\r\t\x00\x1b\x7f"),
            "\"\\r\\u0009\\u0000\\u001b\x7f\""
        );
        assert_eq!(
            encoded(b"<a href='x'>&</a>"),
            r#""\u003ca href='x'\u003e\u0026\u003c/a\u003e""#
        );
        assert_eq!(
            encoded("\u{2028}é\u{2029}日本".as_bytes()),
            "\"\\u2028é\\u2029日本\""
        );
    }

    #[test]
    fn invalid_utf8_is_one_replacement_per_byte() {
        // A lone continuation byte, a truncated three-byte sequence, an encoded surrogate, and a
        // truncated sequence at the very end.
        let got = encoded(b"a\x80b\xe2\x82c\xed\xa0\x80d\xf0\x9f");
        let r = "\\ufffd";
        assert_eq!(got, format!("\"a{r}b{r}{r}c{r}{r}{r}d{r}{r}\""));
    }
}
