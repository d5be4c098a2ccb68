//! Writer and reader together, on real files in temporary directories.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::*;

/// 2100-01-01T00:00:00Z: later than the clock, so that `until` in a follow has not passed yet.
const T0: u64 = 4_102_444_800;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

struct Log {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

fn log() -> Log {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c-json.log");
    Log { _dir: dir, path }
}

fn unbounded() -> LogPolicy {
    LogPolicy {
        max_size: None,
        max_files: 1,
        compress: false,
    }
}

fn small(max_size: u64, max_files: u32) -> LogPolicy {
    LogPolicy {
        max_size: Some(max_size),
        max_files,
        compress: false,
    }
}

fn read(path: &Path, opts: &ReadOptions) -> Vec<LogEntry> {
    let mut got = Vec::new();
    let mut collect = |e| {
        got.push(e);
        Ok(())
    };
    read_logs(path, opts, &mut collect, &|| false).unwrap();
    got
}

fn lines(entries: &[LogEntry]) -> Vec<String> {
    entries
        .iter()
        .map(|e| String::from_utf8(e.line.clone()).unwrap())
        .collect()
}

fn numbered(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("line {i}\n")).collect()
}

/// Writes `count` lines, line i at T0 + i seconds.
fn write_numbered(w: &mut LogWriter, count: usize) {
    for i in 0..count {
        let stream = if i % 3 == 2 {
            Stream::Stderr
        } else {
            Stream::Stdout
        };
        w.write(stream, format!("line {i}\n").as_bytes(), at(T0 + i as u64))
            .unwrap();
    }
}

#[test]
fn file_holds_dockers_lines() {
    let l = log();
    let mut w = LogWriter::open(&l.path, LogPolicy::default()).unwrap();
    let now = at(1_795_400_000) + Duration::from_nanos(123_456_789);
    w.write(Stream::Stdout, b"hello\nworld\n", now).unwrap();
    w.write(Stream::Stderr, b"oops\n", at(1_795_400_001))
        .unwrap();
    drop(w);
    assert_eq!(
        fs::read_to_string(&l.path).unwrap(),
        concat!(
            r#"{"log":"hello\n","stream":"stdout","time":"2026-11-23T02:13:20.123456789Z"}"#,
            "\n",
            r#"{"log":"world\n","stream":"stdout","time":"2026-11-23T02:13:20.123456789Z"}"#,
            "\n",
            r#"{"log":"oops\n","stream":"stderr","time":"2026-11-23T02:13:21Z"}"#,
            "\n",
        )
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(&l.path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode & !0o640, 0, "mode {mode:o}");
}

#[test]
fn partial_lines_wait_for_their_newline_per_stream() {
    let l = log();
    let mut w = LogWriter::open(&l.path, unbounded()).unwrap();
    w.write(Stream::Stdout, b"hel", at(T0)).unwrap();
    w.write(Stream::Stderr, b"err", at(T0)).unwrap();
    assert_eq!(fs::metadata(&l.path).unwrap().len(), 0);
    w.write(Stream::Stdout, b"lo\nwor", at(T0 + 1)).unwrap();
    w.write(Stream::Stderr, b"or\n", at(T0 + 2)).unwrap();
    w.write(Stream::Stdout, b"ld\n", at(T0 + 3)).unwrap();
    let got = read(&l.path, &ReadOptions::default());
    assert_eq!(lines(&got), ["hello\n", "error\n", "world\n"]);
    assert_eq!(
        got[0].time,
        at(T0 + 1),
        "stamped when the line was complete"
    );
    assert_eq!(got[1].stream, Stream::Stderr);
}

#[test]
fn long_lines_are_split_into_16k_pieces() {
    let l = log();
    let mut w = LogWriter::open(&l.path, unbounded()).unwrap();
    let long = vec![b'x'; 2 * MAX_LINE + 100];
    // Fed in odd-sized reads, as from a pipe.
    for chunk in long.chunks(5000) {
        w.write(Stream::Stdout, chunk, at(T0)).unwrap();
    }
    w.write(Stream::Stdout, b"\n", at(T0)).unwrap();
    let exact = [vec![b'y'; MAX_LINE - 1], b"\n".to_vec()].concat();
    w.write(Stream::Stdout, &exact, at(T0)).unwrap();
    let got = read(&l.path, &ReadOptions::default());
    let sizes: Vec<usize> = got.iter().map(|e| e.line.len()).collect();
    assert_eq!(sizes, [MAX_LINE, MAX_LINE, 101, MAX_LINE]);
    assert!(!got[0].line.ends_with(b"\n") && !got[1].line.ends_with(b"\n"));
    assert!(got[2].line.ends_with(b"\n") && got[3].line.ends_with(b"\n"));
    let joined: Vec<u8> = got[..3].iter().flat_map(|e| e.line.clone()).collect();
    assert_eq!(joined, [long, b"\n".to_vec()].concat());
}

#[test]
fn unfinished_lines_are_logged_at_exit_with_a_newline() {
    let l = log();
    let mut w = LogWriter::open(&l.path, unbounded()).unwrap();
    w.write(Stream::Stdout, b"prompt> ", at(T0)).unwrap();
    w.write(Stream::Stderr, b"no newline", at(T0)).unwrap();
    w.flush_partial(at(T0 + 1)).unwrap();
    w.write(Stream::Stdout, b"after restart", at(T0 + 2))
        .unwrap();
    drop(w);
    let got = read(&l.path, &ReadOptions::default());
    assert_eq!(
        lines(&got),
        ["prompt> \n", "no newline\n", "after restart\n"]
    );
    // A reopened log is appended to.
    let mut w = LogWriter::open(&l.path, unbounded()).unwrap();
    w.write(Stream::Stdout, b"again\n", at(T0 + 3)).unwrap();
    assert_eq!(read(&l.path, &ReadOptions::default()).len(), 4);
}

#[test]
fn invalid_utf8_and_control_bytes_survive_as_go_writes_them() {
    let l = log();
    let mut w = LogWriter::open(&l.path, unbounded()).unwrap();
    w.write(Stream::Stdout, b"bad \xff\xfe byte\x1b[0m\n", at(T0))
        .unwrap();
    let stored = fs::read_to_string(&l.path).unwrap();
    assert!(
        stored.starts_with(r#"{"log":"bad \ufffd\ufffd byte\u001b[0m\n","#),
        "{stored}"
    );
    let got = read(&l.path, &ReadOptions::default());
    assert_eq!(got[0].line, "bad \u{fffd}\u{fffd} byte\x1b[0m\n".as_bytes());
}

#[test]
fn rotation_keeps_max_files_and_loses_no_line() {
    let l = log();
    let mut w = LogWriter::open(&l.path, small(1000, 3)).unwrap();
    write_numbered(&mut w, 200);
    drop(w);
    let names: Vec<String> = fs::read_dir(l.path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let mut names = names;
    names.sort();
    assert_eq!(names, ["c-json.log", "c-json.log.1", "c-json.log.2"]);
    for name in &names {
        let len = fs::metadata(l.path.with_file_name(name)).unwrap().len();
        assert!(len <= 1000, "{name} is {len} bytes");
    }
    // What is kept is the newest lines, in order, without a gap.
    let got = lines(&read(&l.path, &ReadOptions::default()));
    let first = 200 - got.len();
    assert!(got.len() > 20);
    assert_eq!(got, numbered(first..200));

    // With room for every file, every line is there.
    let l = log();
    let mut w = LogWriter::open(&l.path, small(1000, 100)).unwrap();
    write_numbered(&mut w, 200);
    assert!(rotated(&l.path, 10).exists());
    assert_eq!(
        lines(&read(&l.path, &ReadOptions::default())),
        numbered(0..200)
    );
}

fn rotated(path: &Path, n: u32) -> PathBuf {
    berth_relay::log::rotated_path(path, n)
}

#[test]
fn a_single_file_policy_starts_over() {
    let l = log();
    let mut w = LogWriter::open(&l.path, small(500, 1)).unwrap();
    write_numbered(&mut w, 50);
    assert!(!rotated(&l.path, 1).exists());
    let got = lines(&read(&l.path, &ReadOptions::default()));
    assert_eq!(got, numbered(50 - got.len()..50));
}

#[test]
fn tail_counts_back_across_rotated_files() {
    let l = log();
    let mut w = LogWriter::open(&l.path, small(1000, 100)).unwrap();
    write_numbered(&mut w, 200);
    // Two lines in the current file: the tail reaches into path.1 and path.2.
    w.write(Stream::Stdout, b"partial, being writ", at(T0 + 500))
        .unwrap();
    let in_newest = read_current(&l.path);
    assert!(in_newest < 30);
    let tail = |n| ReadOptions {
        tail: Some(n),
        ..ReadOptions::default()
    };
    assert_eq!(lines(&read(&l.path, &tail(30))), numbered(170..200));
    assert_eq!(lines(&read(&l.path, &tail(1))), numbered(199..200));
    assert!(read(&l.path, &tail(0)).is_empty());
    assert_eq!(lines(&read(&l.path, &tail(1000))), numbered(0..200));
    // The tail counts the entries the other options let through.
    let stderr_only = ReadOptions {
        stdout: false,
        ..tail(3)
    };
    let want = ["line 191\n", "line 194\n", "line 197\n"];
    assert_eq!(lines(&read(&l.path, &stderr_only)), want);
}

/// The number of entries in the current (unrotated) file.
fn read_current(path: &Path) -> usize {
    fs::read(path)
        .unwrap()
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
}

#[test]
fn since_and_until_filter_by_time() {
    let l = log();
    let mut w = LogWriter::open(&l.path, small(1000, 100)).unwrap();
    write_numbered(&mut w, 200);
    let window = ReadOptions {
        since: Some(at(T0 + 3)),
        until: Some(at(T0 + 6)),
        ..ReadOptions::default()
    };
    assert_eq!(lines(&read(&l.path, &window)), numbered(3..7));
    let late = ReadOptions {
        since: Some(at(T0 + 150)),
        ..ReadOptions::default()
    };
    assert_eq!(lines(&read(&l.path, &late)), numbered(150..200));
    let tail_in_window = ReadOptions {
        tail: Some(2),
        ..window.clone()
    };
    assert_eq!(lines(&read(&l.path, &tail_in_window)), numbered(5..7));
    let tail_past_since = ReadOptions {
        tail: Some(10),
        since: Some(at(T0 + 195)),
        ..ReadOptions::default()
    };
    assert_eq!(lines(&read(&l.path, &tail_past_since)), numbered(195..200));
}

#[test]
fn streams_can_be_chosen() {
    let l = log();
    let mut w = LogWriter::open(&l.path, unbounded()).unwrap();
    write_numbered(&mut w, 6);
    let only = |stdout, stderr| ReadOptions {
        stdout,
        stderr,
        ..ReadOptions::default()
    };
    assert_eq!(
        lines(&read(&l.path, &only(false, true))),
        ["line 2\n", "line 5\n"]
    );
    assert_eq!(read(&l.path, &only(true, false)).len(), 4);
    assert!(read(&l.path, &only(false, false)).is_empty());
}

#[test]
fn missing_log_is_empty_and_junk_lines_are_skipped() {
    let l = log();
    assert!(read(&l.path, &ReadOptions::default()).is_empty());
    let good = r#"{"log":"ok\n","stream":"stdout","time":"2026-11-18T11:06:40Z"}"#;
    fs::write(&l.path, format!("not json\n{good}\n{{\"log\":\"to")).unwrap();
    assert_eq!(lines(&read(&l.path, &ReadOptions::default())), ["ok\n"]);
    let tail = ReadOptions {
        tail: Some(5),
        ..ReadOptions::default()
    };
    assert_eq!(lines(&read(&l.path, &tail)), ["ok\n"]);
}

#[test]
fn format_entry_prints_like_docker_logs() {
    let entry = LogEntry {
        stream: Stream::Stdout,
        time: at(1_795_000_000) + Duration::from_millis(120),
        time_text: "2026-11-18T11:06:40.12Z".into(),
        line: b"hi\n".to_vec(),
    };
    assert_eq!(format_entry(&entry, false), b"hi\n");
    assert_eq!(
        format_entry(&entry, true),
        b"2026-11-18T11:06:40.120000000Z hi\n"
    );
}

/// A follower on its own thread, collecting lines; `running` is its `still_running`.
struct Follower {
    got: Arc<std::sync::Mutex<Vec<String>>>,
    count: Arc<AtomicUsize>,
    running: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<io::Result<()>>,
}

fn follow(path: &Path, opts: ReadOptions) -> Follower {
    let got = Arc::new(std::sync::Mutex::new(Vec::new()));
    let count = Arc::new(AtomicUsize::new(0));
    let running = Arc::new(AtomicBool::new(true));
    let (path, g, c, r) = (
        path.to_path_buf(),
        got.clone(),
        count.clone(),
        running.clone(),
    );
    let thread = std::thread::spawn(move || {
        let opts = ReadOptions {
            follow: true,
            ..opts
        };
        read_logs(
            &path,
            &opts,
            &mut |e| {
                g.lock().unwrap().push(String::from_utf8(e.line).unwrap());
                c.fetch_add(1, Ordering::SeqCst);
                Ok(())
            },
            &|| r.load(Ordering::SeqCst),
        )
    });
    Follower {
        got,
        count,
        running,
        thread,
    }
}

impl Follower {
    /// Waits until `n` lines have been received (at most 2 s).
    fn wait_for(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(2);
        while self.count.load(Ordering::SeqCst) < n {
            assert!(
                Instant::now() < deadline,
                "follower stuck at {} of {n}",
                self.count.load(Ordering::SeqCst)
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Tells it the writer is gone; returns what it got, once it has returned.
    fn finish(self) -> Vec<String> {
        self.running.store(false, Ordering::SeqCst);
        let started = Instant::now();
        self.thread.join().unwrap().unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "follow did not stop"
        );
        Arc::try_unwrap(self.got).unwrap().into_inner().unwrap()
    }
}

#[test]
fn follow_sees_new_lines_and_stops_with_the_writer() {
    let l = log();
    let mut w = LogWriter::open(&l.path, unbounded()).unwrap();
    write_numbered(&mut w, 3);
    let f = follow(&l.path, ReadOptions::default());
    f.wait_for(3);
    let writer = std::thread::spawn(move || {
        for i in 3..10 {
            std::thread::sleep(Duration::from_millis(5));
            w.write(Stream::Stdout, format!("line {i}\n").as_bytes(), at(T0 + i))
                .unwrap();
        }
        // A torn line is held back until its newline comes.
        w.write(Stream::Stdout, b"li", at(T0 + 10)).unwrap();
        w
    });
    let mut w = writer.join().unwrap();
    f.wait_for(10);
    // The writer's buffer is ours: tear the file's last line by hand.
    let mut file = fs::OpenOptions::new().append(true).open(&l.path).unwrap();
    file.write_all(br#"{"log":"line 10\n","stream":"std"#)
        .unwrap();
    std::thread::sleep(Duration::from_millis(30));
    assert_eq!(
        f.count.load(Ordering::SeqCst),
        10,
        "half a line was handed out"
    );
    file.write_all(br#"out","time":"2100-01-01T00:00:10Z"}"#)
        .unwrap();
    file.write_all(b"\n").unwrap();
    f.wait_for(11);
    w.flush_partial(at(T0 + 11)).unwrap();
    f.wait_for(12);
    let got = f.finish();
    assert_eq!(got[..11], numbered(0..11)[..]);
    assert_eq!(got[11], "li\n");
}

#[test]
fn follow_with_tail_starts_at_the_end() {
    let l = log();
    let mut w = LogWriter::open(&l.path, unbounded()).unwrap();
    write_numbered(&mut w, 5);
    let f = follow(
        &l.path,
        ReadOptions {
            tail: Some(1),
            ..ReadOptions::default()
        },
    );
    f.wait_for(1);
    w.write(Stream::Stdout, b"line 5\n", at(T0 + 5)).unwrap();
    f.wait_for(2);
    assert_eq!(f.finish(), numbered(4..6));
}

#[test]
fn follow_waits_for_the_log_to_appear_and_ends_at_until() {
    let l = log();
    let f = follow(
        &l.path,
        ReadOptions {
            until: Some(at(T0 + 2)),
            ..ReadOptions::default()
        },
    );
    std::thread::sleep(Duration::from_millis(20));
    let mut w = LogWriter::open(&l.path, unbounded()).unwrap();
    write_numbered(&mut w, 5);
    // Ends on its own (the entry after `until`), with the writer still "running".
    let started = Instant::now();
    while !f.thread.is_finished() {
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "until did not end the follow"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(f.finish(), numbered(0..3));
}

/// The writer waits for the follower after each line, so rotations (every few lines) happen
/// while the follower sits at the end of the current file, as when it keeps up in real life.
#[test]
fn follow_continues_across_rotation() {
    for max_files in [1, 2, 3] {
        let l = log();
        let mut w = LogWriter::open(&l.path, small(300, max_files)).unwrap();
        let f = follow(&l.path, ReadOptions::default());
        for i in 0..60 {
            w.write(
                Stream::Stdout,
                format!("line {i}\n").as_bytes(),
                at(T0 + i as u64),
            )
            .unwrap();
            f.wait_for(i + 1);
        }
        drop(w);
        let files = fs::read_dir(l.path.parent().unwrap()).unwrap().count();
        assert_eq!(files, max_files as usize);
        assert_eq!(f.finish(), numbered(0..60), "max_files {max_files}");
    }
}

#[test]
fn follow_catches_up_after_falling_behind_several_rotations() {
    let l = log();
    let mut w = LogWriter::open(&l.path, small(300, 100)).unwrap();
    let f = follow(&l.path, ReadOptions::default());
    // A burst that rotates many times before the follower can look.
    let writer = std::thread::spawn(move || {
        for i in 0..300 {
            w.write(Stream::Stdout, format!("line {i}\n").as_bytes(), at(T0 + i))
                .unwrap();
        }
    });
    writer.join().unwrap();
    f.wait_for(300);
    assert_eq!(f.finish(), numbered(0..300));
}

#[test]
fn tail_of_a_big_log_reads_only_its_end() {
    // 20 MB of log: a tail must not take longer than a blink, even in a debug build.
    let l = log();
    let mut w = LogWriter::open(&l.path, small(10 << 20, 3)).unwrap();
    let chunk: Vec<u8> = (0..1000)
        .flat_map(|i| format!("{i:0>99}\n").into_bytes())
        .collect();
    for _ in 0..200 {
        w.write(Stream::Stdout, &chunk, at(T0)).unwrap();
    }
    let started = Instant::now();
    let got = read(
        &l.path,
        &ReadOptions {
            tail: Some(5),
            ..ReadOptions::default()
        },
    );
    assert!(
        started.elapsed() < Duration::from_millis(200),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(got.len(), 5);
    assert_eq!(got[4].line, format!("{:0>99}\n", 999).into_bytes());
}
