//! `history`: an image's build steps, newest first, from its config's `history` and the sizes of
//! its layers.
//!
//! As Docker shows it for an image it did not build itself: the top row carries the image id,
//! every row below is `<missing>` (no local image exists for those intermediate steps); a step
//! that made no layer (`empty_layer`) is 0 bytes; the others take their layer's size in order.

use anyhow::Result;
use berth_engine::Engine;
use serde_json::{json, Value};

use super::args::HistoryArgs;
use super::format::{human_duration, human_size, print_table, render, since};

/// One row, newest first.
struct Step {
    id: String,
    created: String,
    created_by: String,
    size: u64,
    comment: String,
}

fn steps(engine: &Engine, name: &str) -> Result<Vec<Step>> {
    let image = engine.images.resolve(name)?;
    let config = engine.images.config(&image)?;
    let mut sizes = Vec::new();
    for chain in &image.layers {
        sizes.push(engine.images.snapshots().size(chain)?);
    }
    let mut sizes = sizes.into_iter();
    let mut out: Vec<Step> = config
        .history
        .iter()
        .map(|h| Step {
            id: "<missing>".into(),
            created: h.created.clone().unwrap_or_default(),
            created_by: h.created_by.clone().unwrap_or_default(),
            size: if h.empty_layer {
                0
            } else {
                sizes.next().unwrap_or(0)
            },
            comment: h.comment.clone().unwrap_or_default(),
        })
        .collect();
    // Layers the history does not mention (an image made by a tool that writes no history).
    for size in sizes {
        out.push(Step {
            id: "<missing>".into(),
            created: config.created.clone().unwrap_or_default(),
            created_by: String::new(),
            size,
            comment: String::new(),
        });
    }
    out.reverse();
    if let Some(top) = out.first_mut() {
        top.id = image.id_string();
    }
    Ok(out)
}

/// Docker's `Ellipsis`: at most `max` characters, the last one `…` when cut.
fn ellipsis(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

pub fn history(engine: &Engine, a: &HistoryArgs) -> Result<i32> {
    let steps = steps(engine, &a.image)?;
    let trunc = !a.no_trunc;
    let value = |s: &Step| -> Value {
        let id = if trunc && s.id != "<missing>" {
            s.id.trim_start_matches("sha256:")[..12].to_string()
        } else {
            s.id.clone()
        };
        let created_since = match (s.created.is_empty(), a.human) {
            (true, _) => "N/A".to_string(),
            (false, true) => format!("{} ago", human_duration(since(&s.created))),
            (false, false) => s.created.clone(),
        };
        let created_by = s.created_by.replace('\t', " ");
        json!({
            "ID": id,
            "CreatedSince": created_since,
            "CreatedAt": s.created,
            "CreatedBy": if trunc { ellipsis(&created_by, 45) } else { created_by },
            "Size": if a.human { human_size(s.size) } else { s.size.to_string() },
            "Comment": s.comment,
        })
    };
    if a.quiet {
        for s in &steps {
            println!("{}", value(s)["ID"].as_str().unwrap_or_default());
        }
        return Ok(0);
    }
    if let Some(fmt) = &a.format {
        for s in &steps {
            if fmt == "json" {
                println!("{}", value(s));
            } else {
                println!("{}", render(fmt, &value(s)));
            }
        }
        return Ok(0);
    }
    let columns = ["ID", "CreatedSince", "CreatedBy", "Size", "Comment"];
    let mut table = vec![["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"]
        .map(String::from)
        .to_vec()];
    for s in &steps {
        let v = value(s);
        table.push(
            columns
                .iter()
                .map(|k| v[k].as_str().unwrap_or_default().to_string())
                .collect(),
        );
    }
    print_table(&table);
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_commands_end_in_an_ellipsis() {
        assert_eq!(ellipsis("short", 45), "short");
        let long = "/bin/sh -c #(nop)  CMD [\"sh\" \"-c\" \"echo a very long command\"]";
        let cut = ellipsis(long, 45);
        assert_eq!(cut.chars().count(), 45);
        assert!(cut.ends_with('…'));
    }
}
