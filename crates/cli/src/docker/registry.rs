//! `pull`, `push`, `login`, `logout`: the registry client feeding the image store. A pull
//! unpacks each layer while it downloads (the registry client tees the stream into the content
//! store and into the snapshot unpacker), all layers at once.

use std::io::{BufRead, IsTerminal};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use berth_engine::Engine;
use berth_image::{ChainId, ImageRecord, Platform, Reference};
use berth_registry::{
    credentials::default_auth_file, Client, ClientConfig, CredentialStore, LayerInfo, Progress,
    PullOptions, PushOptions,
};

use super::progress::{Mode, PullDisplay};
use super::Failure;

/// Where registries are configured: `/etc/berth/registries.json`, then `<root>/registries.json`
/// (both read; either may be missing). The format is docker's daemon.json key:
/// `{"insecure-registries": ["host:port", ...]}`.
const SYSTEM_REGISTRIES_CONFIG: &str = "/etc/berth/registries.json";

#[derive(serde::Deserialize, Default)]
struct RegistriesConfig {
    #[serde(default, rename = "insecure-registries")]
    insecure_registries: Vec<String>,
}

fn insecure_registries(engine: &Engine) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for path in [
        std::path::PathBuf::from(SYSTEM_REGISTRIES_CONFIG),
        engine.paths.root().join("registries.json"),
    ] {
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(anyhow!("registries config {}: {e}", path.display())),
        };
        let config: RegistriesConfig = serde_json::from_slice(&data)
            .map_err(|e| anyhow!("registries config {}: {e}", path.display()))?;
        out.extend(config.insecure_registries);
    }
    Ok(out)
}

/// A client for talking to `registry`. `tls_verify` is the command line's `--tls-verify`:
/// `false` lets this registry be spoken to over plain HTTP or unverified HTTPS, `true` insists
/// on verified HTTPS even where the config or loopback would allow less; unset, the registries
/// config and Docker's loopback rule decide.
fn client(engine: &Engine, registry: &str, tls_verify: Option<bool>) -> Result<Client> {
    let mut config = ClientConfig {
        timeout: std::env::var("BERTH_REGISTRY_TIMEOUT")
            .ok()
            .and_then(|s| s.parse().ok())
            .map(Duration::from_secs)
            .unwrap_or(Duration::from_secs(30)),
        ..Default::default()
    };
    match tls_verify {
        None => config.insecure_registries = insecure_registries(engine)?,
        Some(false) => config.insecure_registries = vec![registry.to_string()],
        Some(true) => config.insecure_loopback = false,
    }
    Ok(Client::new(config, CredentialStore::from_env()))
}

fn short(d: &berth_image::Digest) -> &str {
    &d.hex()[..12]
}

/// Pulls `name` into the store and records it; prints Docker's progress lines unless `quiet`.
/// `tls_verify` is the command line's `--tls-verify` (see [`client`]).
pub fn pull_image(
    engine: &Engine,
    name: &str,
    platform: Option<&str>,
    quiet: bool,
    tls_verify: Option<bool>,
) -> Result<ImageRecord> {
    let reference = Reference::parse(name).map_err(|e| anyhow!("invalid reference format: {e}"))?;
    let platform = platform
        .map(Platform::parse)
        .transpose()
        .map_err(|e| anyhow!("{e}"))?
        .unwrap_or_else(berth_image::host_platform);
    let mode = if quiet {
        Mode::Quiet
    } else if std::io::stdout().is_terminal() {
        Mode::Terminal
    } else {
        Mode::Lines
    };
    let display = PullDisplay::new(mode, std::io::stdout());
    let say = |line: String| display.say(&line);
    if let Some(tag) = reference.tag() {
        say(format!(
            "{tag}: Pulling from {}",
            reference.familiar_name().trim_start_matches("library/")
        ));
    }
    let progress = |p: &Progress| display.event(p);
    let client = client(engine, reference.registry(), tls_verify)?;
    // Until the image is registered, nothing it stores may be collected by a concurrent rmi.
    let _hold = engine.images.hold()?;
    let resolved = client
        .resolve(&reference, &platform, Some(engine.images.content()))
        .map_err(|e| Failure::new(125, e.to_string()))?;
    let chains = ChainId::chain(
        &resolved
            .layers
            .iter()
            .map(|l| l.diff_id.clone())
            .collect::<Vec<_>>(),
    );
    let snapshots = engine.images.snapshots();
    let hook = |info: &LayerInfo<'_>, reader: &mut dyn std::io::Read| {
        let i = info.index;
        let parent = i.checked_sub(1).map(|p| &chains[p]);
        if !snapshots.can_unpack_on(parent) {
            // vfs copies the parent's tree: this layer is unpacked from its blob once the
            // download is done (`unpack_layers`, in order).
            return Ok(());
        }
        snapshots
            .unpack(&chains[i], parent, &info.layer.diff_id, reader)
            .map_err(|e| Box::new(e) as berth_registry::HookError)?;
        display.unpacked(&info.layer.digest);
        Ok(())
    };
    let options = PullOptions {
        platform,
        progress: &progress,
        lock_dir: None,
    };
    client
        .download_layers(&resolved, engine.images.content(), &options, &hook)
        .map_err(|e| Failure::new(125, e.to_string()))?;
    resolved
        .store_metadata(engine.images.content())
        .map_err(|e| Failure::new(125, e.to_string()))?;
    let pending: Vec<_> = (resolved.layers.iter().zip(&chains))
        .filter(|(_, c)| !snapshots.exists(c))
        .map(|(l, _)| &l.digest)
        .collect();
    if !pending.is_empty() {
        engine
            .images
            .unpack_layers(&resolved.manifest.digest)
            .map_err(|e| Failure::new(125, e.to_string()))?;
        for digest in pending {
            display.unpacked(digest);
        }
    }
    let tags: Vec<Reference> = reference
        .tag()
        .map(|_| reference.clone())
        .into_iter()
        .collect();
    let record = engine.images.register(
        &resolved.manifest.digest,
        &resolved.manifest.media_type,
        &tags,
        Some((&reference, &resolved.digest)),
    )?;
    say(format!("Digest: {}", resolved.digest));
    say(format!(
        "Status: Downloaded newer image for {}",
        reference.familiar()
    ));
    Ok(record)
}

pub fn pull(
    engine: &Engine,
    name: &str,
    platform: Option<&str>,
    quiet: bool,
    tls_verify: Option<bool>,
) -> Result<i32> {
    pull_image(engine, name, platform, quiet, tls_verify)?;
    let reference = Reference::parse(name).map_err(|e| anyhow!("{e}"))?;
    println!("{reference}");
    Ok(0)
}

pub fn push(engine: &Engine, name: &str, quiet: bool, tls_verify: Option<bool>) -> Result<i32> {
    let reference = Reference::parse(name).map_err(|e| anyhow!("invalid reference format: {e}"))?;
    let image = engine.images.resolve(name).map_err(|_| {
        Failure::new(
            1,
            format!(
                "An image does not exist locally with the tag: {}",
                reference.familiar_name()
            ),
        )
    })?;
    if !quiet {
        println!("The push refers to repository [{}]", reference.name());
    }
    let progress = |p: &Progress| {
        if quiet {
            return;
        }
        match p {
            Progress::Exists { digest, .. } => println!("{}: Layer already exists", short(digest)),
            Progress::Mounted { digest, from } => {
                println!("{}: Mounted from {from}", short(digest))
            }
            Progress::Done { digest, .. } => println!("{}: Pushed", short(digest)),
            _ => {}
        }
    };
    let mount_from = image
        .repo_digests
        .iter()
        .chain(&image.repo_tags)
        .filter_map(|r| Reference::parse(r).ok())
        .find(|r| r.registry() == reference.registry() && r.repository() != reference.repository());
    let digest = client(engine, reference.registry(), tls_verify)?
        .push(
            &reference,
            engine.images.content(),
            &image.manifest,
            &PushOptions {
                progress: &progress,
                mount_from,
            },
        )
        .map_err(|e| Failure::new(125, e.to_string()))?;
    let size = engine
        .images
        .content()
        .get(&image.manifest)
        .map_or(0, |m| m.len());
    println!(
        "{}: digest: {digest} size: {size}",
        reference.tag().unwrap_or("latest")
    );
    Ok(0)
}

pub fn login(
    engine: &Engine,
    tls_verify: Option<bool>,
    registry: Option<&str>,
    username: Option<&str>,
    password: Option<&str>,
    password_stdin: bool,
) -> Result<i32> {
    let registry = registry.unwrap_or("docker.io");
    let username = match username {
        Some(u) => u.to_string(),
        None => bail!("username is required (use --username)"),
    };
    let password = match (password, password_stdin) {
        (Some(p), false) => p.to_string(),
        (None, true) => {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .context("reading the password from standard input")?;
            line.trim_end_matches(['\n', '\r']).to_string()
        }
        (Some(_), true) => bail!("--password and --password-stdin are mutually exclusive"),
        (None, false) if std::io::stdin().is_terminal() => {
            bail!("password is required (use --password-stdin)")
        }
        (None, false) => bail!("password is required (use --password or --password-stdin)"),
    };
    let file = default_auth_file()
        .ok_or_else(|| anyhow!("no place for credentials: set HOME or BERTH_AUTH_FILE"))?;
    client(engine, registry, tls_verify)?
        .login(registry, &username, &password, &file)
        .map_err(|e| Failure::new(1, e.to_string()))?;
    println!("Login Succeeded");
    Ok(0)
}

pub fn logout(registry: Option<&str>) -> Result<i32> {
    let registry = registry.unwrap_or("docker.io");
    let file = default_auth_file()
        .ok_or_else(|| anyhow!("no credentials file: set HOME or BERTH_AUTH_FILE"))?;
    if berth_registry::logout(registry, &file).map_err(|e| anyhow!("{e}"))? {
        println!("Removing login credentials for {registry}");
    } else {
        println!("Not logged in to {registry}");
    }
    Ok(0)
}
