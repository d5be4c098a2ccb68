//! Compiled filters kept on disk, so libseccomp runs once per profile rather than per container
//! (compiling Docker's default profile takes 10-18 ms; loading the cached program, well under
//! one).
//!
//! An entry is found by a hash of its key and trusted only if the whole key stored in it
//! matches: the OCI section as JSON, the native arch, the libseccomp version and the identity of
//! the running executable (a rebuilt berth may compile differently). A hash collision or a
//! damaged file therefore costs a compile, never a wrong filter. Entries are written with a
//! temp file and rename; the directory belongs in a tmpfs run root, so a reboot (a new kernel, a
//! new libseccomp) empties it.

use std::hash::{Hash, Hasher};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use oci_spec::runtime::LinuxSeccomp;

use crate::error::Result;
use crate::filter::{Filter, Insn};

const MAGIC: &[u8; 8] = b"BSCMP01\n";

/// [`crate::compile`], answered from `dir` when this exact section was compiled before.
/// Failing to read or write the cache is never an error: it only costs a compile.
pub fn compile_cached(spec: &LinuxSeccomp, dir: &Path) -> Result<Filter> {
    let key = cache_key(spec);
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    let path = dir.join(format!("{:016x}", h.finish()));
    if let Some(filter) = std::fs::read(&path).ok().and_then(|b| decode(&b, &key)) {
        return Ok(filter);
    }
    let filter = crate::compile(spec)?;
    prune(dir);
    if std::fs::create_dir_all(dir).is_ok() {
        // Temp file + rename, no fsync: a reader sees a whole entry or none, and a lost one is
        // compiled again.
        let _ = berth_sys::write_replace(&path, &encode(&filter, &key));
    }
    Ok(filter)
}

/// Entries kept: profiles in use are few, but every rebuilt binary keys new ones.
const MAX_ENTRIES: usize = 32;

/// On a miss, makes room by removing the least recently written entries.
fn prune(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut files: Vec<_> = entries
        .flatten()
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    if files.len() < MAX_ENTRIES {
        return;
    }
    files.sort();
    for (_, path) in &files[..=files.len() - MAX_ENTRIES] {
        let _ = std::fs::remove_file(path);
    }
}

fn cache_key(spec: &LinuxSeccomp) -> Vec<u8> {
    let mut key = serde_json::to_vec(spec).expect("a seccomp section serializes");
    let exe = std::fs::metadata("/proc/self/exe")
        .map(|m| format!("{}:{}:{}:{}", m.dev(), m.ino(), m.size(), m.mtime_nsec()))
        .unwrap_or_default();
    let lib = libseccomp::ScmpVersion::current()
        .map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro))
        .unwrap_or_default();
    key.extend_from_slice(format!("\n{}\n{lib}\n{exe}\n", std::env::consts::ARCH).as_bytes());
    key
}

fn encode(f: &Filter, key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + key.len() + f.program.len() * 8);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(key.len() as u64).to_le_bytes());
    out.extend_from_slice(key);
    #[allow(clippy::useless_conversion)] // c_ulong is u32 on 32-bit targets
    out.extend_from_slice(&u64::from(f.flags).to_le_bytes());
    out.push(f.notify as u8);
    for i in &f.program {
        out.extend_from_slice(&i.code.to_le_bytes());
        out.push(i.jt);
        out.push(i.jf);
        out.extend_from_slice(&i.k.to_le_bytes());
    }
    out
}

fn decode(b: &[u8], key: &[u8]) -> Option<Filter> {
    let rest = b.strip_prefix(MAGIC)?;
    let (len, rest) = rest.split_first_chunk::<8>()?;
    let len = usize::try_from(u64::from_le_bytes(*len)).ok()?;
    if rest.get(..len)? != key {
        return None;
    }
    let rest = &rest[len..];
    let (flags, rest) = rest.split_first_chunk::<8>()?;
    let (&notify, rest) = rest.split_first()?;
    if rest.len() % 8 != 0 || notify > 1 {
        return None;
    }
    let program = rest
        .chunks_exact(8)
        .map(|c| Insn {
            code: u16::from_le_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_le_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect();
    let mut f = Filter::new(
        program,
        u64::from_le_bytes(*flags) as libc::c_ulong,
        notify == 1,
    )
    .ok()?;
    // `new` may add flags implied by notify; the stored ones already carry them.
    f.flags = u64::from_le_bytes(*flags) as libc::c_ulong;
    Some(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile() -> LinuxSeccomp {
        crate::default_profile(&["CAP_CHOWN".to_string()])
    }

    #[test]
    fn a_cached_filter_is_the_compiled_one() {
        let dir = tempfile::tempdir().unwrap();
        let spec = profile();
        let first = compile_cached(&spec, dir.path()).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let second = compile_cached(&spec, dir.path()).unwrap();
        assert_eq!(first, second);
        assert_eq!(first, crate::compile(&spec).unwrap());
    }

    #[test]
    fn the_cache_keeps_a_bounded_number_of_entries() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..MAX_ENTRIES + 5 {
            std::fs::write(dir.path().join(format!("old{i}")), b"x").unwrap();
        }
        let spec = profile();
        let f = compile_cached(&spec, dir.path()).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), MAX_ENTRIES);
        assert_eq!(compile_cached(&spec, dir.path()).unwrap(), f);
    }

    #[test]
    fn another_section_or_a_damaged_entry_is_compiled_afresh() {
        let dir = tempfile::tempdir().unwrap();
        let spec = profile();
        let f = compile_cached(&spec, dir.path()).unwrap();
        let entry = std::fs::read_dir(dir.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        // A truncated entry and one whose key differs are both ignored.
        let bytes = std::fs::read(&entry).unwrap();
        std::fs::write(&entry, &bytes[..bytes.len() - 3]).unwrap();
        assert_eq!(compile_cached(&spec, dir.path()).unwrap(), f);
        let mut other = spec.clone();
        other.set_default_errno_ret(Some(libc::ENOSYS as u32));
        assert_ne!(cache_key(&other), cache_key(&spec));
        let g = compile_cached(&other, dir.path()).unwrap();
        assert_eq!(g, crate::compile(&other).unwrap());
        assert_eq!(
            decode(&std::fs::read(&entry).unwrap(), &cache_key(&other)),
            None
        );
    }
}
