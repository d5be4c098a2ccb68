//! How a pull shows its progress, as docker does: on a terminal one line per layer, redrawn in
//! place (`a1b2c3d4e5f6: Downloading [=====>    ]  12.3MB/45.6MB  21.4MB/s`); elsewhere one
//! plain line per finished step; with `-q` nothing.
//!
//! Events arrive from the download threads; one lock orders them. Byte counts redraw at most
//! every [`REDRAW_EVERY`]; a change of a layer's status redraws at once, so every state a
//! layer passes through is shown.

use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use berth_image::Digest;
use berth_registry::Progress;

use super::format::human_size;

const REDRAW_EVERY: Duration = Duration::from_millis(100);
const BAR_WIDTH: usize = 50;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Quiet,
    Lines,
    Terminal,
}

struct Row {
    digest: Digest,
    status: &'static str,
    done: u64,
    total: u64,
    started: Option<Instant>,
    note: String,
}

struct Board {
    rows: Vec<Row>,
    /// Lines drawn by the last redraw (the cursor is below them).
    drawn: usize,
    last_draw: Option<Instant>,
}

pub struct PullDisplay<W: Write + Send> {
    mode: Mode,
    out: Mutex<(W, Board)>,
}

fn short(d: &Digest) -> &str {
    &d.hex()[..12]
}

/// `[=====>    ]  12.3MB/45.6MB  21.4MB/s`
fn bar(done: u64, total: u64, started: Option<Instant>) -> String {
    let filled = if total == 0 {
        0
    } else {
        ((done.min(total) as f64 / total as f64) * BAR_WIDTH as f64) as usize
    };
    let mut s = String::from("[");
    if filled > 0 {
        s.push_str(&"=".repeat(filled - 1));
        s.push('>');
    }
    s.push_str(&" ".repeat(BAR_WIDTH - filled));
    s.push(']');
    s.push_str(&format!("  {}/{}", human_size(done), human_size(total)));
    if let Some(t) = started.filter(|_| done > 0) {
        let secs = t.elapsed().as_secs_f64();
        if secs > 0.0 {
            s.push_str(&format!("  {}/s", human_size((done as f64 / secs) as u64)));
        }
    }
    s
}

impl Row {
    fn line(&self) -> String {
        let mut l = format!("{}: {}", short(&self.digest), self.status);
        if self.status == "Downloading" {
            l.push(' ');
            l.push_str(&bar(self.done, self.total, self.started));
        } else if !self.note.is_empty() {
            l.push_str(&format!(" ({})", self.note));
        }
        l
    }
}

impl<W: Write + Send> PullDisplay<W> {
    pub fn new(mode: Mode, out: W) -> Self {
        Self {
            mode,
            out: Mutex::new((
                out,
                Board {
                    rows: Vec::new(),
                    drawn: 0,
                    last_draw: None,
                },
            )),
        }
    }

    /// A line that is not about one layer (`latest: Pulling from ...`, `Digest: ...`).
    pub fn say(&self, line: &str) {
        if self.mode == Mode::Quiet {
            return;
        }
        let mut guard = self.out.lock().expect("display lock");
        let (out, board) = &mut *guard;
        let _ = writeln!(out, "{line}");
        // Layer rows are redrawn below this line from now on.
        board.rows.clear();
        board.drawn = 0;
        let _ = out.flush();
    }

    /// A layer was unpacked. The unpacker read it to the end, so it was also downloaded and
    /// verified (the registry client's `Done` comes after, and is then ignored).
    pub fn unpacked(&self, digest: &Digest) {
        self.set(digest, "Download complete", None, String::new());
        self.set(digest, "Pull complete", None, String::new());
    }

    pub fn event(&self, p: &Progress) {
        match p {
            Progress::Waiting { digest } => self.set(digest, "Waiting", None, String::new()),
            Progress::Exists { digest, .. } => {
                self.set(digest, "Already exists", None, String::new())
            }
            Progress::Started { digest, size } => {
                self.set(digest, "Downloading", Some((0, *size)), String::new())
            }
            Progress::Bytes {
                digest,
                done,
                total,
            } => self.set(digest, "Downloading", Some((*done, *total)), String::new()),
            Progress::Retrying { digest, reason, .. } => {
                self.set(digest, "Retrying", None, reason.clone())
            }
            Progress::Done { digest, .. } => {
                self.set(digest, "Download complete", None, String::new())
            }
            Progress::Mounted { .. } => {}
        }
    }

    fn set(&self, digest: &Digest, status: &'static str, bytes: Option<(u64, u64)>, note: String) {
        if self.mode == Mode::Quiet {
            return;
        }
        let mut guard = self.out.lock().expect("display lock");
        let (out, board) = &mut *guard;
        let index = match board.rows.iter().position(|r| r.digest == *digest) {
            Some(i) => i,
            None => {
                board.rows.push(Row {
                    digest: digest.clone(),
                    status: "Waiting",
                    done: 0,
                    total: 0,
                    started: None,
                    note: String::new(),
                });
                board.rows.len() - 1
            }
        };
        let row = &mut board.rows[index];
        let changed = row.status != status;
        // A layer that finished downloading is not taken back to "Downloading" by a late
        // byte count, nor "Pull complete" back to "Download complete".
        if matches!(row.status, "Pull complete" | "Already exists")
            || (row.status == "Download complete" && status == "Downloading")
        {
            return;
        }
        row.status = status;
        row.note = note;
        if let Some((done, total)) = bytes {
            row.started.get_or_insert_with(Instant::now);
            row.done = done;
            row.total = total;
        }
        match self.mode {
            Mode::Quiet => {}
            // Plain output: the steps docker prints when not on a terminal.
            Mode::Lines => {
                if changed && !matches!(status, "Waiting" | "Downloading") {
                    let _ = writeln!(out, "{}", board.rows[index].line());
                }
            }
            Mode::Terminal => {
                let due = board.last_draw.is_none_or(|t| t.elapsed() >= REDRAW_EVERY);
                if changed || due {
                    redraw(out, board);
                }
            }
        }
    }
}

/// Moves up over the rows drawn last time and draws every row again, each line cleared first.
fn redraw(out: &mut impl Write, board: &mut Board) {
    let mut s = String::new();
    if board.drawn > 0 {
        s.push_str(&format!("\x1b[{}A", board.drawn));
    }
    for row in &board.rows {
        s.push_str("\x1b[2K\r");
        s.push_str(&row.line());
        s.push('\n');
    }
    let _ = out.write_all(s.as_bytes());
    let _ = out.flush();
    board.drawn = board.rows.len();
    board.last_draw = Some(Instant::now());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(n: u8) -> Digest {
        Digest::of(&[n])
    }

    #[test]
    fn the_bar_fills_with_the_bytes() {
        let b = bar(0, 100, None);
        assert_eq!(b, format!("[{}]  0B/100B", " ".repeat(50)));
        let b = bar(50, 100, None);
        assert_eq!(
            b,
            format!("[{}>{}]  50B/100B", "=".repeat(24), " ".repeat(25))
        );
        assert!(bar(100, 100, None).starts_with(&format!("[{}>]", "=".repeat(49))));
    }

    #[test]
    fn plain_lines_show_each_step_once() {
        let display = PullDisplay::new(Mode::Lines, Vec::new());
        display.event(&Progress::Waiting { digest: d(1) });
        display.event(&Progress::Started {
            digest: d(1),
            size: 10,
        });
        display.event(&Progress::Bytes {
            digest: d(1),
            done: 10,
            total: 10,
        });
        display.event(&Progress::Done {
            digest: d(1),
            size: 10,
        });
        display.event(&Progress::Exists {
            digest: d(2),
            size: 5,
        });
        display.unpacked(&d(1));
        let out = String::from_utf8(display.out.into_inner().unwrap().0).unwrap();
        let (a, b) = (short(&d(1)).to_string(), short(&d(2)).to_string());
        assert_eq!(
            out,
            format!("{a}: Download complete\n{b}: Already exists\n{a}: Pull complete\n")
        );
    }

    #[test]
    fn a_terminal_gets_rows_redrawn_in_place() {
        let display = PullDisplay::new(Mode::Terminal, Vec::new());
        display.event(&Progress::Waiting { digest: d(1) });
        display.event(&Progress::Waiting { digest: d(2) });
        display.event(&Progress::Bytes {
            digest: d(1),
            done: 5,
            total: 10,
        });
        display.unpacked(&d(1));
        let out = String::from_utf8(display.out.into_inner().unwrap().0).unwrap();
        // The third draw moves up over the two rows of the second.
        assert!(out.contains("\x1b[2A"), "{out:?}");
        let half = format!("Downloading [{}>{}]", "=".repeat(24), " ".repeat(25));
        assert!(out.contains(&half), "{out:?}");
        let last = out.rsplit("\x1b[2A").next().unwrap();
        assert!(
            last.contains(&format!("{}: Pull complete", short(&d(1)))),
            "{out:?}"
        );
        assert!(
            last.contains(&format!("{}: Waiting", short(&d(2)))),
            "{out:?}"
        );
    }
}
