//! `save` and `load`: images to and from tar archives (docker-archive by default, OCI archive
//! with `--format oci-archive`; `load` tells them apart by their contents).

use std::fs::File;
use std::io::{BufReader, BufWriter, IsTerminal, Read, Write};
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use berth_engine::Engine;
use berth_image::archive::{write_docker_archive, write_oci_archive, ArchiveImage};
use berth_image::{load_images, ContentStore, Reference};

use super::args::{LoadArgs, SaveArgs};
use super::Failure;

type Writer = fn(&mut dyn Write, &ContentStore, &[ArchiveImage]) -> Result<()>;

fn docker(out: &mut dyn Write, store: &ContentStore, images: &[ArchiveImage]) -> Result<()> {
    Ok(write_docker_archive(out, store, images)?)
}

fn oci(out: &mut dyn Write, store: &ContentStore, images: &[ArchiveImage]) -> Result<()> {
    Ok(write_oci_archive(out, store, images)?)
}

/// The images named on the command line, each once, with the names they were asked by: a
/// name saves that tag, an id saves the image untagged (as Docker 25 does).
fn selected(engine: &Engine, names: &[String]) -> Result<Vec<ArchiveImage>> {
    let mut out: Vec<ArchiveImage> = Vec::new();
    for name in names {
        let record = engine.images.resolve(name)?;
        let tag = Reference::parse(name)
            .ok()
            .map(|r| r.to_string())
            .filter(|full| record.repo_tags.contains(full));
        match out
            .iter_mut()
            .find(|i| i.manifest_digest == record.manifest)
        {
            Some(seen) => seen
                .repo_tags
                .extend(tag.filter(|t| !seen.repo_tags.contains(t))),
            None => out.push(ArchiveImage {
                manifest_digest: record.manifest.clone(),
                repo_tags: tag.into_iter().collect(),
            }),
        }
    }
    Ok(out)
}

pub fn save(engine: &Engine, a: &SaveArgs) -> Result<i32> {
    let write: Writer = match a.format.as_str() {
        "docker-archive" | "docker" => docker,
        "oci-archive" | "oci" => oci,
        other => bail!("unknown --format {other:?}: use docker-archive or oci-archive"),
    };
    let images = selected(engine, &a.images)?;
    let store = engine.images.content();
    match &a.output {
        None => {
            if std::io::stdout().is_terminal() {
                return Err(Failure::new(
                    1,
                    "cowardly refusing to save to a terminal. Use the -o flag or redirect".into(),
                )
                .into());
            }
            let mut out = BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
            write(&mut out, store, &images)?;
            out.flush().context("writing to standard output")?;
        }
        Some(path) => save_to_file(path, |out| write(out, store, &images))?,
    }
    Ok(0)
}

/// Writes the archive beside `path` and renames it into place once complete, so a failed save
/// leaves no partial file (and an existing file stays as it was).
fn save_to_file(path: &Path, write: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let tmp = tempfile::Builder::new()
        .prefix(".berth-save-")
        .tempfile_in(dir)
        .with_context(|| format!("failed to save image: creating a file in {}", dir.display()))?;
    let mut out = BufWriter::with_capacity(1 << 20, tmp);
    write(&mut out)?;
    let tmp = out
        .into_inner()
        .map_err(|e| anyhow!("writing {}: {}", path.display(), e.error()))?;
    tmp.persist(path)
        .map_err(|e| anyhow!("failed to save image: {}: {}", path.display(), e.error))?;
    Ok(())
}

pub fn load(engine: &Engine, a: &LoadArgs) -> Result<i32> {
    let input: Box<dyn Read> = match &a.input {
        Some(path) => {
            Box::new(File::open(path).with_context(|| format!("open {}", path.display()))?)
        }
        None => {
            if std::io::stdin().is_terminal() {
                return Err(Failure::new(
                    1,
                    "requested load from stdin, but stdin is empty".into(),
                )
                .into());
            }
            Box::new(std::io::stdin().lock())
        }
    };
    let (_, loaded) = load_images(&engine.images, BufReader::with_capacity(1 << 20, input))
        .map_err(|e| Failure::new(125, format!("failed to load the archive: {e}")))?;
    for image in loaded {
        if image.tags.is_empty() {
            println!("Loaded image ID: {}", image.record.id);
        }
        for tag in &image.tags {
            let shown = Reference::parse(tag).map_or_else(|_| tag.clone(), |r| r.familiar());
            println!("Loaded image: {shown}");
        }
    }
    Ok(0)
}
