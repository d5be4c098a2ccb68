//! Where the runtime's messages go: stderr, or the `--log` file in text or JSON lines, which is
//! where containerd looks for the reason a call failed.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::args::LogFormat;

pub struct Logger {
    file: Option<PathBuf>,
    format: LogFormat,
}

impl Logger {
    pub fn new(file: Option<&Path>, format: LogFormat) -> Self {
        Logger {
            file: file.map(Path::to_path_buf),
            format,
        }
    }

    pub fn error(&self, msg: &str) {
        // The caller always sees the error on stderr too; containerd reads the log file.
        eprintln!("berth: {msg}");
        let Some(path) = &self.file else { return };
        let time = berth_runtime::time::rfc3339(std::time::SystemTime::now());
        let line = match self.format {
            LogFormat::Json => {
                serde_json::json!({"level": "error", "msg": msg, "time": time}).to_string()
            }
            LogFormat::Text => format!("time=\"{time}\" level=error msg={msg:?}"),
        };
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(f, "{line}");
        }
    }
}
