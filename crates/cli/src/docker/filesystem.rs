//! Commands on a container's filesystem: diff, commit, export, cp.
//!
//! `cp` follows Docker's client: the source becomes a tar whose entries are named after its
//! base name, and the destination decides where that tar is unpacked and under which name.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use berth_engine::archive::{self, DirTree, ExtractOptions, Kind, PathStat};
use berth_engine::container_fs::Access;
use berth_engine::{CommitRequest, Engine};
use berth_image::Reference;

use super::args::{CommitArgs, CpArgs, ExportArgs};
use super::images::apply_changes;
use super::run::engine_failure;

pub fn diff(engine: &Engine, container: &str) -> Result<i32> {
    let id = engine.containers.resolve(container)?;
    let found = engine.changes(&id).map_err(engine_failure)?;
    for c in found.changes {
        println!("{} {}", c.kind.letter(), c.path.display());
    }
    Ok(0)
}

pub fn commit(engine: &Engine, a: &CommitArgs) -> Result<i32> {
    let id = engine.containers.resolve(&a.container)?;
    let tag = a
        .repository
        .as_deref()
        .map(|r| Reference::parse(r).map_err(|e| anyhow!("invalid reference format: {e}")))
        .transpose()?;
    let req = CommitRequest {
        changes: apply_changes(&a.change)?,
        author: a.author.clone(),
        message: a.message.clone(),
        pause: a.pause,
        tag,
    };
    let image = engine.commit(&id, &req).map_err(engine_failure)?;
    println!("{}", image.id);
    Ok(0)
}

pub fn export(engine: &Engine, a: &ExportArgs) -> Result<i32> {
    let id = engine.containers.resolve(&a.container)?;
    match &a.output {
        Some(path) => {
            let file = File::create(path).with_context(|| format!("open {}", path.display()))?;
            let mut out = engine
                .export(&id, io::BufWriter::new(file))
                .map_err(engine_failure)?;
            out.flush()?;
        }
        None => {
            if io::stdout().is_terminal() {
                bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
            }
            let mut out = engine
                .export(&id, io::BufWriter::new(io::stdout().lock()))
                .map_err(engine_failure)?;
            out.flush()?;
        }
    }
    Ok(0)
}

/// One side of `cp`.
enum Location {
    Stdio,
    Host(String),
    Container { name: String, path: String },
}

/// Docker's rule: an absolute path, or anything before a `:` that starts with `.`, is local.
fn location(arg: &str) -> Location {
    if arg == "-" {
        return Location::Stdio;
    }
    if arg.starts_with('/') {
        return Location::Host(arg.into());
    }
    match arg.split_once(':') {
        Some((name, path)) if !name.starts_with('.') && !name.is_empty() => Location::Container {
            name: name.into(),
            path: if path.is_empty() {
                "/".into()
            } else {
                path.into()
            },
        },
        _ => Location::Host(arg.into()),
    }
}

pub fn cp(engine: &Engine, a: &CpArgs) -> Result<i32> {
    match (location(&a.source), location(&a.destination)) {
        (Location::Container { name, path }, Location::Host(dest)) => {
            cp_out(engine, a, &name, &path, Some(&dest))
        }
        (Location::Container { name, path }, Location::Stdio) => {
            cp_out(engine, a, &name, &path, None)
        }
        (Location::Host(src), Location::Container { name, path }) => {
            cp_in(engine, a, Some(&src), &name, &path)
        }
        (Location::Stdio, Location::Container { name, path }) => {
            cp_in(engine, a, None, &name, &path)
        }
        (Location::Container { .. }, Location::Container { .. }) => {
            bail!("copying between containers is not supported")
        }
        _ => bail!("must specify at least one container source"),
    }
}

/// Where a copy lands: the directory its tar is unpacked in and the rename of its top entry.
struct Landing {
    dir: String,
    rebase: Option<(OsString, OsString)>,
}

/// Docker's destination rules, given what the source is (`src_is_dir`, `contents`: a source
/// ending in `/.`) and what is at the destination.
fn landing(
    base: &OsString,
    src_is_dir: bool,
    contents: bool,
    dest: &str,
    dest_stat: Option<&PathStat>,
    parent_is_dir: impl FnOnce(&str) -> bool,
) -> Result<Landing> {
    let dest_is_dir = dest_stat.is_some_and(|s| s.kind == Kind::Dir);
    match dest_stat {
        Some(_) if dest_is_dir => Ok(Landing {
            dir: dest.to_string(),
            rebase: contents.then(|| (base.clone(), OsString::new())),
        }),
        Some(_) if src_is_dir => bail!("cannot copy a directory to a file: {dest}"),
        Some(_) if dest.ends_with('/') => bail!("{dest}: not a directory"),
        _ => {
            if dest_stat.is_none() && dest.ends_with('/') && !src_is_dir {
                bail!("destination directory {dest} does not exist");
            }
            let trimmed = dest.trim_end_matches('/');
            let p = Path::new(trimmed);
            let parent = match p.parent().map(|p| p.to_string_lossy().into_owned()) {
                Some(p) if !p.is_empty() => p,
                _ if trimmed.starts_with('/') => "/".into(),
                _ => ".".into(),
            };
            if !parent_is_dir(&parent) {
                bail!("no such directory: {parent}");
            }
            let name = p
                .file_name()
                .map(|n| n.to_os_string())
                .ok_or_else(|| anyhow!("invalid destination {dest}"))?;
            Ok(Landing {
                dir: parent,
                rebase: Some((base.clone(), name)),
            })
        }
    }
}

/// The source's base name (what its tar entries are named after) and whether only its
/// contents are copied (`dir/.`).
fn source_name(path: &str) -> (OsString, bool) {
    let contents = path.ends_with("/.") || path == ".";
    let clean = archive::normalize(Path::new(path));
    let base = clean
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| OsString::from("rootfs"));
    (base, contents || clean == Path::new("/"))
}

/// Copies out of a container to a host path, or to stdout as a tar with `dest` `None`.
fn cp_out(engine: &Engine, a: &CpArgs, name: &str, src: &str, dest: Option<&str>) -> Result<i32> {
    let id = engine.containers.resolve(name)?;
    let fs = engine
        .container_fs(&id, Access::Read)
        .map_err(engine_failure)?;
    let src_path = archive::normalize(Path::new(src));
    let st = archive::stat(&fs, &src_path, a.follow_link)
        .map_err(|_| anyhow!("Could not find the file {src} in container {name}"))?;
    if (src.ends_with('/') || src.ends_with("/.")) && st.kind != Kind::Dir {
        bail!("{src}: not a directory");
    }
    let (base, contents) = source_name(src);
    let Some(dest) = dest else {
        let out = io::BufWriter::new(io::stdout().lock());
        let mut out = archive::write_tar(&fs, &src_path, a.follow_link, Path::new(&base), out)?;
        out.flush()?;
        return Ok(0);
    };
    let dest_stat = archive::stat(&DirTree::open(Path::new("/"))?, &absolute(dest)?, true).ok();
    let land = landing(
        &base,
        st.kind == Kind::Dir,
        contents,
        dest,
        dest_stat.as_ref(),
        |p| Path::new(p).is_dir(),
    )?;
    let host =
        DirTree::open(Path::new(&land.dir)).with_context(|| format!("opening {}", land.dir))?;
    let opts = ExtractOptions {
        owner: (!a.archive).then(|| {
            (
                nix::unistd::getuid().as_raw(),
                nix::unistd::getgid().as_raw(),
            )
        }),
        rebase: land.rebase,
        xattrs: false,
    };
    let copied = stream(
        |w| archive::write_tar(&fs, &src_path, a.follow_link, Path::new(&base), w).map(drop),
        |r| archive::extract(&host, Path::new("/"), r, &opts),
    )?;
    if !a.quiet {
        eprintln!(
            "Successfully copied {} to {dest}",
            super::format::human_size(copied)
        );
    }
    Ok(0)
}

/// Copies a host path, or a tar on stdin with `src` `None`, into a container.
fn cp_in(engine: &Engine, a: &CpArgs, src: Option<&str>, name: &str, dest: &str) -> Result<i32> {
    let id = engine.containers.resolve(name)?;
    let fs = engine
        .container_fs(&id, Access::Write)
        .map_err(engine_failure)?;
    let dest_path = archive::normalize(Path::new(dest));
    let dest_stat = archive::stat(&fs, &dest_path, true).ok();
    let owner = (!a.archive).then_some((0, 0));
    let Some(src) = src else {
        if dest_stat.as_ref().is_none_or(|s| s.kind != Kind::Dir) {
            bail!("destination \"{name}:{dest}\" must be a directory");
        }
        check_writable(&fs, &dest_path)?;
        let opts = ExtractOptions {
            owner,
            rebase: None,
            xattrs: false,
        };
        archive::extract(&fs, &dest_path, io::stdin().lock(), &opts)
            .with_context(|| format!("extracting into {name}:{dest}"))?;
        return Ok(0);
    };
    let host = DirTree::open(Path::new("/"))?;
    let src_path = absolute(src)?;
    let st =
        archive::stat(&host, &src_path, a.follow_link).with_context(|| format!("lstat {src}"))?;
    if (src.ends_with('/') || src.ends_with("/.")) && st.kind != Kind::Dir {
        bail!("{src}: not a directory");
    }
    let (base, _) = source_name(&src_path.to_string_lossy());
    let (_, contents) = source_name(src);
    let land = landing(
        &base,
        st.kind == Kind::Dir,
        contents,
        dest,
        dest_stat.as_ref(),
        |p| archive::stat(&fs, Path::new(p), true).is_ok_and(|s| s.kind == Kind::Dir),
    )?;
    let land_path = archive::normalize(Path::new(&land.dir));
    check_writable(&fs, &land_path)?;
    let opts = ExtractOptions {
        owner,
        rebase: land.rebase,
        xattrs: false,
    };
    let copied = stream(
        |w| archive::write_tar(&host, &src_path, a.follow_link, Path::new(&base), w).map(drop),
        |r| archive::extract(&fs, &land_path, r, &opts),
    )
    .with_context(|| format!("copying into {name}:{dest}"))?;
    if !a.quiet {
        eprintln!(
            "Successfully copied {} to {name}:{dest}",
            super::format::human_size(copied)
        );
    }
    Ok(0)
}

fn check_writable(fs: &berth_engine::container_fs::ContainerFs, path: &Path) -> Result<()> {
    if fs.read_only_at(path) {
        bail!("mounted volume is marked read-only");
    }
    Ok(())
}

fn absolute(path: &str) -> Result<PathBuf> {
    let p = Path::new(path);
    Ok(if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()?.join(p)
    })
}

/// Runs `produce` writing a tar into a pipe on a thread while `consume` reads it; returns the
/// bytes that went through.
fn stream(
    produce: impl FnOnce(&mut dyn Write) -> io::Result<()> + Send,
    consume: impl FnOnce(&mut dyn Read) -> io::Result<()>,
) -> Result<u64> {
    let (r, w) = nix::unistd::pipe()?;
    let mut reader = Counting {
        inner: File::from(r),
        count: 0,
    };
    std::thread::scope(|s| {
        let producer = s.spawn(move || {
            let mut w = io::BufWriter::new(File::from(w));
            produce(&mut w).and_then(|()| w.flush())
        });
        let consumed = consume(&mut reader);
        // Drain what the consumer left (a tar's trailing blocks) so the producer finishes.
        let _ = io::copy(&mut reader, &mut io::sink());
        let produced = producer.join().expect("the tar writer does not panic");
        produced.context("reading the source")?;
        consumed.context("writing the destination")?;
        Ok(reader.count)
    })
}

struct Counting<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}
