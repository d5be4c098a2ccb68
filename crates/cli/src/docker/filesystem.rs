//! Commands on a container's filesystem: diff, commit.

use anyhow::{anyhow, Result};
use berth_engine::{CommitRequest, Engine};
use berth_image::Reference;

use super::args::CommitArgs;
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
