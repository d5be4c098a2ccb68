//! `system df`: disk usage of images, containers, volumes and the build cache.
//!
//! Image sizes are counted per layer snapshot, not per image: a layer several images share is
//! on disk once, so the Images total counts it once, and `-v` splits each image's size into
//! what it shares with other images and what is its own. RECLAIMABLE for images is what a
//! `image prune -a` would free: the layers no container's image stands on.

use std::collections::{BTreeMap, HashMap, HashSet};

use anyhow::Result;
use berth_engine::{ContainerRecord, Engine, MountConfig};
use berth_image::{ChainId, ImageRecord, Reference};

use super::args::DfArgs;
use super::containers::status_column;
use super::format::{command_column, human_duration, human_size, print_table, since};

struct ImageUsage<'a> {
    image: &'a ImageRecord,
    size: u64,
    shared: u64,
    containers: usize,
}

fn percent(part: u64, whole: u64) -> String {
    format!("{}%", (part * 100).checked_div(whole).unwrap_or(0))
}

fn reclaimable(part: u64, whole: u64) -> String {
    format!("{} ({})", human_size(part), percent(part, whole))
}

fn volume_names(rec: &ContainerRecord) -> Vec<&str> {
    rec.config
        .mounts
        .iter()
        .filter_map(|m| match m {
            MountConfig::Volume { name, .. } => Some(name.as_str()),
            _ => None,
        })
        .collect()
}

pub fn df(engine: &Engine, a: &DfArgs) -> Result<i32> {
    let images = engine.images.list()?;
    let containers = engine.containers.list()?;
    let volumes = engine.volumes.list()?;

    // Layers: size of each snapshot, and how many images stand on it.
    let snapshots = engine.images.snapshots();
    let mut layer_size: HashMap<&ChainId, u64> = HashMap::new();
    let mut layer_images: HashMap<&ChainId, usize> = HashMap::new();
    for image in &images {
        for chain in &image.layers {
            layer_size
                .entry(chain)
                .or_insert_with(|| snapshots.size(chain).unwrap_or(0));
            *layer_images.entry(chain).or_default() += 1;
        }
    }
    let mut users: HashMap<&berth_image::Digest, usize> = HashMap::new();
    for c in &containers {
        *users.entry(&c.image_id).or_default() += 1;
    }
    let usage: Vec<ImageUsage> = images
        .iter()
        .map(|image| ImageUsage {
            image,
            size: image.layers.iter().map(|c| layer_size[c]).sum(),
            shared: image
                .layers
                .iter()
                .filter(|c| layer_images[c] > 1)
                .map(|c| layer_size[c])
                .sum(),
            containers: users.get(&image.id).copied().unwrap_or(0),
        })
        .collect();
    let images_total: u64 = layer_size.values().sum();
    let active_layers: HashSet<&ChainId> = usage
        .iter()
        .filter(|u| u.containers > 0)
        .flat_map(|u| u.image.layers.iter())
        .collect();
    let images_active_size: u64 = active_layers.iter().map(|c| layer_size[c]).sum();

    let container_sizes: Vec<u64> = containers
        .iter()
        .map(|c| engine.writable_layer_size(c))
        .collect();
    let containers_total: u64 = container_sizes.iter().sum();
    let containers_reclaimable: u64 = containers
        .iter()
        .zip(&container_sizes)
        .filter(|(c, _)| !c.is_running())
        .map(|(_, s)| s)
        .sum();

    let mut links: BTreeMap<&str, usize> = BTreeMap::new();
    for c in &containers {
        for v in volume_names(c) {
            *links.entry(v).or_default() += 1;
        }
    }
    let volume_sizes: Vec<u64> = volumes
        .iter()
        .map(|v| engine.volume_size(&v.name))
        .collect();
    let volumes_total: u64 = volume_sizes.iter().sum();
    let volumes_reclaimable: u64 = volumes
        .iter()
        .zip(&volume_sizes)
        .filter(|(v, _)| !links.contains_key(v.name.as_str()))
        .map(|(_, s)| s)
        .sum();

    if !a.verbose {
        let row = |kind: &str, total: usize, active: usize, size: u64, recl: String| {
            vec![
                kind.to_string(),
                total.to_string(),
                active.to_string(),
                human_size(size),
                recl,
            ]
        };
        print_table(&[
            ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
                .map(String::from)
                .to_vec(),
            row(
                "Images",
                images.len(),
                usage.iter().filter(|u| u.containers > 0).count(),
                images_total,
                reclaimable(images_total - images_active_size, images_total),
            ),
            row(
                "Containers",
                containers.len(),
                containers.iter().filter(|c| c.is_running()).count(),
                containers_total,
                reclaimable(containers_reclaimable, containers_total),
            ),
            row(
                "Local Volumes",
                volumes.len(),
                volumes
                    .iter()
                    .filter(|v| links.contains_key(v.name.as_str()))
                    .count(),
                volumes_total,
                reclaimable(volumes_reclaimable, volumes_total),
            ),
            row("Build Cache", 0, 0, 0, "0B".into()),
        ]);
        return Ok(0);
    }

    println!("Images space usage:\n");
    let mut table = vec![[
        "REPOSITORY",
        "TAG",
        "IMAGE ID",
        "CREATED",
        "SIZE",
        "SHARED SIZE",
        "UNIQUE SIZE",
        "CONTAINERS",
    ]
    .map(String::from)
    .to_vec()];
    for u in &usage {
        let created = engine
            .images
            .config(u.image)
            .ok()
            .and_then(|c| c.created)
            .map_or_else(
                || "N/A".to_string(),
                |c| format!("{} ago", human_duration(since(&c))),
            );
        let names: Vec<(String, String)> = if u.image.repo_tags.is_empty() {
            vec![("<none>".into(), "<none>".into())]
        } else {
            u.image
                .repo_tags
                .iter()
                .filter_map(|t| Reference::parse(t).ok())
                .map(|r| (r.familiar_name(), r.tag().unwrap_or("<none>").to_string()))
                .collect()
        };
        for (repo, tag) in names {
            table.push(vec![
                repo,
                tag,
                u.image.short_id().to_string(),
                created.clone(),
                human_size(u.size),
                human_size(u.shared),
                human_size(u.size - u.shared),
                u.containers.to_string(),
            ]);
        }
    }
    print_table(&table);

    println!("\nContainers space usage:\n");
    let mut table = vec![[
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "LOCAL VOLUMES",
        "SIZE",
        "CREATED",
        "STATUS",
        "NAMES",
    ]
    .map(String::from)
    .to_vec()];
    for (c, size) in containers.iter().zip(&container_sizes) {
        table.push(vec![
            c.short_id().to_string(),
            c.image.clone(),
            command_column(&c.path, &c.args, true),
            volume_names(c).len().to_string(),
            human_size(*size),
            format!("{} ago", human_duration(since(&c.created))),
            status_column(c),
            c.name.clone(),
        ]);
    }
    print_table(&table);

    println!("\nLocal Volumes space usage:\n");
    let mut table = vec![["VOLUME NAME", "LINKS", "SIZE"].map(String::from).to_vec()];
    for (v, size) in volumes.iter().zip(&volume_sizes) {
        table.push(vec![
            v.name.clone(),
            links.get(v.name.as_str()).copied().unwrap_or(0).to_string(),
            human_size(*size),
        ]);
    }
    print_table(&table);

    println!("\nBuild cache usage: 0B\n");
    print_table(&[[
        "CACHE ID",
        "CACHE TYPE",
        "SIZE",
        "CREATED",
        "LAST USED",
        "USAGE",
        "SHARED",
    ]
    .map(String::from)
    .to_vec()]);
    Ok(0)
}
