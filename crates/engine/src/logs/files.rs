//! The reader's view of the log files: a consistent snapshot of `path.N` .. `path.1`, `path`
//! while the writer may be rotating them, and reading lines forwards or backwards.

use std::fs::{self, File};
use std::io::{self, Read};
use std::ops::ControlFlow;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;
use std::time::Duration;

/// A file's identity, which survives renames; while we hold the file open it cannot be reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    fn of(meta: &fs::Metadata) -> Self {
        Self {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }
}

/// The identity of the file now at `path`, `None` if there is none.
pub(super) fn id_at(path: &Path) -> io::Result<Option<FileId>> {
    match fs::metadata(path) {
        Ok(meta) => Ok(Some(FileId::of(&meta))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// One open log file.
#[derive(Debug)]
pub(super) struct Segment {
    pub file: File,
    pub id: FileId,
    /// 0 for `path` itself, n for `path.n`.
    pub number: u32,
}

/// Opens every log file, oldest first.
///
/// The writer rotates by renames (`path.(n-1)` -> `path.n` ... `path` -> `path.1`), each atomic
/// and each moving one file to a higher number, so at every instant the existing names sorted by
/// number are in age order (a mid-rotation gap does not break that). We list the names, open
/// them, and list again: if every name still holds the file we opened, no rename happened in
/// between (a moved file never comes back, and an open file's identity is not reused), so what we
/// opened is one such instant. Otherwise we try again.
pub(super) fn open_set(path: &Path) -> io::Result<Vec<Segment>> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let numbers = list(path)?;
        let mut set = Vec::with_capacity(numbers.len());
        let mut moved = false;
        for &number in &numbers {
            match File::open(numbered(path, number)) {
                Ok(file) => {
                    let id = FileId::of(&file.metadata()?);
                    set.push(Segment { file, id, number });
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    moved = true;
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        if !moved && list(path)? == numbers {
            let mut same = true;
            for seg in &set {
                same &= id_at(&numbered(path, seg.number))? == Some(seg.id);
            }
            // A writer that rotates without pause could keep us here; after many tries its
            // files are still in order, only maybe one rotation apart.
            if same || attempt >= 100 {
                return Ok(set);
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The numbers of the log files that exist, highest (oldest) first, 0 standing for `path`.
fn list(path: &Path) -> io::Result<Vec<u32>> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let Some(name) = path.file_name() else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "log path has no file name",
        ));
    };
    let name = name.as_encoded_bytes();
    let mut numbers = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry_name = entry?.file_name();
        let Some(rest) = entry_name.as_encoded_bytes().strip_prefix(name) else {
            continue;
        };
        if rest.is_empty() {
            numbers.push(0);
        } else if let Some(digits) = rest.strip_prefix(b".") {
            let canonical = !digits.is_empty() && digits[0] != b'0';
            if canonical && digits.iter().all(u8::is_ascii_digit) {
                if let Ok(n) = std::str::from_utf8(digits).unwrap_or("").parse::<u32>() {
                    numbers.push(n);
                }
            }
        }
    }
    numbers.sort_unstable_by(|a, b| b.cmp(a));
    Ok(numbers)
}

fn numbered(path: &Path, number: u32) -> std::path::PathBuf {
    if number == 0 {
        path.to_path_buf()
    } else {
        berth_relay::log::rotated_path(path, number)
    }
}

const BLOCK: usize = 64 * 1024;

/// Reads a file forwards from its current offset, line by line; what follows the last newline
/// waits in `pending` until the rest of it is written.
#[derive(Debug)]
pub(super) struct Cursor {
    pub file: File,
    pub id: FileId,
    pending: Vec<u8>,
}

impl Cursor {
    pub fn new(seg: Segment) -> Self {
        Self {
            file: seg.file,
            id: seg.id,
            pending: Vec::new(),
        }
    }

    /// Hands `line` every complete line (newline included) up to the end of the file as it is
    /// now; stops early when `line` breaks.
    pub fn drain(
        &mut self,
        line: &mut dyn FnMut(&[u8]) -> io::Result<ControlFlow<()>>,
    ) -> io::Result<ControlFlow<()>> {
        let mut buf = vec![0u8; BLOCK];
        loop {
            let n = match self.file.read(&mut buf) {
                Ok(0) => return Ok(ControlFlow::Continue(())),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let mut data = &buf[..n];
            while let Some(i) = data.iter().position(|&b| b == b'\n') {
                let flow = if self.pending.is_empty() {
                    line(&data[..=i])?
                } else {
                    self.pending.extend_from_slice(&data[..=i]);
                    let flow = line(&self.pending)?;
                    self.pending.clear();
                    flow
                };
                if flow.is_break() {
                    return Ok(flow);
                }
                data = &data[i + 1..];
            }
            self.pending.extend_from_slice(data);
        }
    }
}

/// Hands `line` the complete lines of `file` from the last one backwards, reading blocks from the
/// end, until `line` breaks or the start of the file. Bytes after the last newline (a line being
/// written) are skipped. Returns the offset just past the last newline: where a forward reader
/// continues.
pub(super) fn scan_back(
    file: &File,
    line: &mut dyn FnMut(&[u8]) -> io::Result<ControlFlow<()>>,
) -> io::Result<u64> {
    let mut pos = file.metadata()?.len();
    // Pieces of the line being assembled that lie after `pos`, the latest piece first.
    let mut pieces: Vec<Vec<u8>> = Vec::new();
    let mut complete_end: Option<u64> = None;
    let mut block = vec![0u8; BLOCK];
    let assemble = |head: &[u8], pieces: &mut Vec<Vec<u8>>| {
        let mut whole = head.to_vec();
        for piece in pieces.drain(..).rev() {
            whole.extend_from_slice(&piece);
        }
        whole
    };
    while pos > 0 {
        let start = pos.saturating_sub(BLOCK as u64);
        let block = &mut block[..(pos - start) as usize];
        file.read_exact_at(block, start)?;
        // `block[..hi]` is not yet part of a line handed out.
        let mut hi = block.len();
        for i in (0..block.len()).rev() {
            if block[i] != b'\n' {
                continue;
            }
            if complete_end.is_none() {
                complete_end = Some(start + i as u64 + 1);
                pieces.clear();
            } else {
                let whole = assemble(&block[i + 1..hi], &mut pieces);
                if line(&whole)?.is_break() {
                    return Ok(complete_end.unwrap_or(0));
                }
            }
            hi = i + 1;
        }
        pieces.push(block[..hi].to_vec());
        pos = start;
    }
    if complete_end.is_some() {
        let whole = assemble(&[], &mut pieces);
        if !whole.is_empty() {
            // The first line of the file: nothing is left to stop early for.
            let _ = line(&whole)?;
        }
    }
    Ok(complete_end.unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn lines_back(content: &[u8]) -> (Vec<Vec<u8>>, u64) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        File::create(&p).unwrap().write_all(content).unwrap();
        let mut got = Vec::new();
        let end = scan_back(&File::open(&p).unwrap(), &mut |l| {
            got.push(l.to_vec());
            Ok(ControlFlow::Continue(()))
        })
        .unwrap();
        (got, end)
    }

    #[test]
    fn scan_back_yields_complete_lines_newest_first() {
        let (got, end) = lines_back(b"a\nbb\n\nccc\ntorn");
        assert_eq!(got, [&b"ccc\n"[..], b"\n", b"bb\n", b"a\n"]);
        assert_eq!(end, 10);
        assert_eq!(lines_back(b"no newline yet"), (vec![], 0));
        assert_eq!(lines_back(b""), (vec![], 0));
    }

    #[test]
    fn scan_back_joins_lines_across_blocks() {
        let long: Vec<u8> = (0..BLOCK * 2 + 10).map(|i| b'a' + (i % 26) as u8).collect();
        let mut content = b"first\n".to_vec();
        content.extend_from_slice(&long);
        content.extend_from_slice(b"\nlast\n");
        let (got, end) = lines_back(&content);
        let mut long_line = long.clone();
        long_line.push(b'\n');
        assert_eq!(
            got,
            vec![b"last\n".to_vec(), long_line, b"first\n".to_vec()]
        );
        assert_eq!(end, content.len() as u64);
    }

    #[test]
    fn snapshot_lists_rotated_files_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c-json.log");
        for name in [
            "c-json.log",
            "c-json.log.1",
            "c-json.log.2",
            "c-json.log.10",
            "c-json.log.01",
            "c-json.logx",
            "other",
        ] {
            fs::write(dir.path().join(name), name).unwrap();
        }
        let set = open_set(&p).unwrap();
        let numbers: Vec<u32> = set.iter().map(|s| s.number).collect();
        assert_eq!(numbers, [10, 2, 1, 0]);
    }
}
