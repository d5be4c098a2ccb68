//! Tests against fake cgroupfs trees: tempdirs with the files a kernel would show, pre-made,
//! so the exact bytes each operation writes can be read back. Plain files keep only the last
//! write, so files written several times are checked through the plan instead.

mod apply_v1;
mod apply_v2;
mod stats;

use std::path::PathBuf;

use oci_spec::runtime::{LinuxResources, LinuxResourcesBuilder};

pub(crate) struct Fake {
    tmp: tempfile::TempDir,
}

impl Fake {
    pub fn new() -> Fake {
        Fake {
            tmp: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.tmp.path().join(rel)
    }

    /// Creates `rel` (and its directories) holding `content`.
    pub fn file(&self, rel: &str, content: &str) -> &Fake {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
        self
    }

    /// Creates empty files `dir/<name>` for each name.
    pub fn files(&self, dir: &str, names: &[&str]) -> &Fake {
        for name in names {
            self.file(&format!("{dir}/{name}"), "");
        }
        self
    }

    pub fn read(&self, rel: &str) -> String {
        let path = self.path(rel);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }
}

pub(crate) fn resources(json: &str) -> LinuxResources {
    serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"))
}

pub(crate) fn empty_resources() -> LinuxResources {
    LinuxResourcesBuilder::default().build().unwrap()
}
