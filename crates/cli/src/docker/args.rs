//! The docker-compatible command line, as clap definitions only (behaviour lives in the
//! sibling modules).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "berth",
    about = "A fast, daemonless, Docker-compatible container engine",
    version
)]
pub struct Cli {
    /// Persistent state (images, containers, volumes) [env: BERTH_ROOT; default /var/lib/berth]
    #[arg(long, global = true)]
    pub root: Option<PathBuf>,
    /// Runtime state [env: BERTH_RUNROOT; default /run/berth]
    #[arg(long, global = true)]
    pub runroot: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create and run a new container from an image
    Run(RunArgs),
    /// Create a new container
    Create(RunArgs),
    /// Start one or more stopped containers
    Start(StartArgs),
    /// Stop one or more running containers
    Stop(StopArgs),
    /// Restart one or more containers
    Restart(StopArgs),
    /// Kill one or more running containers
    Kill(KillArgs),
    /// Remove one or more containers
    Rm(RmArgs),
    /// List containers
    Ps(PsArgs),
    /// Fetch the logs of a container
    Logs(LogsArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(NamesArgs),
    /// Pause all processes within one or more containers
    Pause(NamesArgs),
    /// Unpause all processes within one or more containers
    Unpause(NamesArgs),
    /// Rename a container
    Rename { container: String, new_name: String },
    /// Run a command in a running container
    Exec(ExecArgs),
    /// Return low-level information on containers or images
    Inspect(InspectArgs),
    /// List images
    Images(ImagesArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag { source: String, target: String },
    /// Remove one or more images
    Rmi(RmiArgs),
    /// Download an image from a registry
    Pull {
        #[arg(short, long)]
        quiet: bool,
        #[arg(long)]
        platform: Option<String>,
        /// Require HTTPS with a verified certificate (`=false`: allow plain HTTP and unverified
        /// certificates for this registry) [default: the registries config; loopback insecure]
        #[arg(long = "tls-verify", num_args = 0..=1, require_equals = true,
              default_missing_value = "true", action = clap::ArgAction::Set)]
        tls_verify: Option<bool>,
        name: String,
    },
    /// Upload an image to a registry
    Push {
        #[arg(short, long)]
        quiet: bool,
        /// Require HTTPS with a verified certificate (`=false`: allow plain HTTP and unverified
        /// certificates for this registry) [default: the registries config; loopback insecure]
        #[arg(long = "tls-verify", num_args = 0..=1, require_equals = true,
              default_missing_value = "true", action = clap::ArgAction::Set)]
        tls_verify: Option<bool>,
        name: String,
    },
    /// Log in to a registry
    Login {
        #[arg(short, long)]
        username: Option<String>,
        #[arg(short, long)]
        password: Option<String>,
        #[arg(long = "password-stdin")]
        password_stdin: bool,
        /// Require HTTPS with a verified certificate (`=false`: allow plain HTTP and unverified
        /// certificates for this registry) [default: the registries config; loopback insecure]
        #[arg(long = "tls-verify", num_args = 0..=1, require_equals = true,
              default_missing_value = "true", action = clap::ArgAction::Set)]
        tls_verify: Option<bool>,
        server: Option<String>,
    },
    /// Log out from a registry
    Logout { server: Option<String> },
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(LoadArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Manage berth (disk usage)
    #[command(subcommand)]
    System(SystemCommand),
    /// Manage containers
    #[command(subcommand)]
    Container(ContainerCommand),
    /// Manage images
    #[command(subcommand)]
    Image(ImageCommand),
    /// Manage volumes
    #[command(subcommand)]
    Volume(VolumeCommand),
}

#[derive(Debug, Subcommand)]
pub enum ContainerCommand {
    Ls(PsArgs),
    Run(RunArgs),
    Create(RunArgs),
    Start(StartArgs),
    Stop(StopArgs),
    Kill(KillArgs),
    Rm(RmArgs),
    Logs(LogsArgs),
    Wait(NamesArgs),
    Inspect(InspectArgs),
    Exec(ExecArgs),
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    Ls(ImagesArgs),
    Pull {
        #[arg(short, long)]
        quiet: bool,
        #[arg(long)]
        platform: Option<String>,
        /// Require HTTPS with a verified certificate (`=false`: allow plain HTTP and unverified
        /// certificates for this registry) [default: the registries config; loopback insecure]
        #[arg(long = "tls-verify", num_args = 0..=1, require_equals = true,
              default_missing_value = "true", action = clap::ArgAction::Set)]
        tls_verify: Option<bool>,
        name: String,
    },
    Push {
        #[arg(short, long)]
        quiet: bool,
        /// Require HTTPS with a verified certificate (`=false`: allow plain HTTP and unverified
        /// certificates for this registry) [default: the registries config; loopback insecure]
        #[arg(long = "tls-verify", num_args = 0..=1, require_equals = true,
              default_missing_value = "true", action = clap::ArgAction::Set)]
        tls_verify: Option<bool>,
        name: String,
    },
    Rm(RmiArgs),
    Import(ImportArgs),
    Inspect(InspectArgs),
    Tag {
        source: String,
        target: String,
    },
    Save(SaveArgs),
    Load(LoadArgs),
    History(HistoryArgs),
    /// Remove unused images
    Prune(PruneArgs),
}

#[derive(Debug, Subcommand)]
pub enum SystemCommand {
    /// Show disk usage
    Df(DfArgs),
}

#[derive(Debug, Subcommand)]
pub enum VolumeCommand {
    Create {
        name: Option<String>,
        #[arg(long = "label")]
        labels: Vec<String>,
    },
    Ls {
        #[arg(short, long)]
        quiet: bool,
    },
    Inspect {
        names: Vec<String>,
    },
    Rm {
        #[arg(short, long)]
        force: bool,
        #[arg(required = true)]
        names: Vec<String>,
    },
}

#[derive(Debug, Args)]
#[command(trailing_var_arg = true, disable_help_flag = true)]
pub struct RunArgs {
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    #[arg(short, long)]
    pub detach: bool,
    #[arg(short, long)]
    pub interactive: bool,
    #[arg(short, long)]
    pub tty: bool,
    #[arg(long)]
    pub rm: bool,
    #[arg(long)]
    pub name: Option<String>,
    #[arg(short, long = "env")]
    pub env: Vec<String>,
    #[arg(long = "env-file")]
    pub env_file: Vec<PathBuf>,
    #[arg(short, long = "volume")]
    pub volume: Vec<String>,
    #[arg(long = "mount")]
    pub mount: Vec<String>,
    #[arg(long = "tmpfs")]
    pub tmpfs: Vec<String>,
    #[arg(short, long)]
    pub workdir: Option<String>,
    #[arg(short, long)]
    pub user: Option<String>,
    #[arg(long = "group-add")]
    pub group_add: Vec<String>,
    #[arg(long)]
    pub entrypoint: Option<String>,
    #[arg(short = 'h', long)]
    pub hostname: Option<String>,
    #[arg(short, long = "label")]
    pub label: Vec<String>,
    #[arg(short, long)]
    pub memory: Option<String>,
    #[arg(long = "memory-swap")]
    pub memory_swap: Option<String>,
    #[arg(long)]
    pub cpus: Option<f64>,
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<u64>,
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    #[arg(long = "pids-limit")]
    pub pids_limit: Option<i64>,
    #[arg(long = "ulimit")]
    pub ulimit: Vec<String>,
    #[arg(long = "cap-add")]
    pub cap_add: Vec<String>,
    #[arg(long = "cap-drop")]
    pub cap_drop: Vec<String>,
    #[arg(long)]
    pub privileged: bool,
    #[arg(long = "security-opt")]
    pub security_opt: Vec<String>,
    #[arg(long = "read-only")]
    pub read_only: bool,
    #[arg(long)]
    pub init: bool,
    #[arg(long, default_value = "no")]
    pub restart: String,
    #[arg(long = "stop-signal")]
    pub stop_signal: Option<String>,
    #[arg(long = "stop-timeout")]
    pub stop_timeout: Option<u32>,
    #[arg(long = "network", alias = "net", default_value = "none")]
    pub network: String,
    #[arg(long = "device")]
    pub device: Vec<String>,
    #[arg(long = "shm-size")]
    pub shm_size: Option<String>,
    #[arg(long = "sysctl")]
    pub sysctl: Vec<String>,
    #[arg(long = "log-opt")]
    pub log_opt: Vec<String>,
    #[arg(long)]
    pub platform: Option<String>,
    #[arg(long, default_value = "missing")]
    pub pull: String,
    /// Suppress the pull output
    #[arg(short, long)]
    pub quiet: bool,
    pub image: String,
    #[arg(allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct StartArgs {
    #[arg(short, long)]
    pub attach: bool,
    #[arg(short, long)]
    pub interactive: bool,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct StopArgs {
    #[arg(short = 't', long = "time", alias = "timeout")]
    pub time: Option<u32>,
    #[arg(short, long)]
    pub signal: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct KillArgs {
    #[arg(short, long, default_value = "KILL")]
    pub signal: String,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    #[arg(short, long)]
    pub force: bool,
    #[arg(short, long)]
    pub volumes: bool,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PsArgs {
    #[arg(short, long)]
    pub all: bool,
    #[arg(short, long)]
    pub quiet: bool,
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    #[arg(long)]
    pub format: Option<String>,
    #[arg(short = 'n', long = "last")]
    pub last: Option<usize>,
    #[arg(short = 'l', long)]
    pub latest: bool,
    #[arg(short, long)]
    pub size: bool,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    #[arg(short, long)]
    pub follow: bool,
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    #[arg(long)]
    pub since: Option<String>,
    #[arg(long)]
    pub until: Option<String>,
    #[arg(short, long)]
    pub timestamps: bool,
    pub container: String,
}

#[derive(Debug, Args)]
pub struct NamesArgs {
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
#[command(trailing_var_arg = true)]
pub struct ExecArgs {
    #[arg(short, long)]
    pub detach: bool,
    #[arg(short, long)]
    pub interactive: bool,
    #[arg(short, long)]
    pub tty: bool,
    #[arg(short, long = "env")]
    pub env: Vec<String>,
    #[arg(short, long)]
    pub user: Option<String>,
    #[arg(short, long)]
    pub workdir: Option<String>,
    #[arg(long)]
    pub privileged: bool,
    pub container: String,
    #[arg(required = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    #[arg(short, long)]
    pub format: Option<String>,
    #[arg(long = "type")]
    pub kind: Option<String>,
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ImagesArgs {
    #[arg(short, long)]
    pub quiet: bool,
    #[arg(short, long)]
    pub all: bool,
    #[arg(long)]
    pub digests: bool,
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    #[arg(long)]
    pub format: Option<String>,
    pub repository: Option<String>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[arg(short, long = "change")]
    pub change: Vec<String>,
    #[arg(short, long)]
    pub message: Option<String>,
    #[arg(long)]
    pub platform: Option<String>,
    /// A tarball path, or `-` for stdin
    pub file: String,
    pub reference: Option<String>,
}

#[derive(Debug, Args)]
pub struct RmiArgs {
    #[arg(short, long)]
    pub force: bool,
    #[arg(long = "no-prune")]
    pub no_prune: bool,
    #[arg(required = true)]
    pub images: Vec<String>,
}

#[derive(Debug, Args)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// docker-archive (what `docker save` writes) or oci-archive (an OCI image layout)
    #[arg(long, default_value = "docker-archive")]
    pub format: String,
    #[arg(required = true)]
    pub images: Vec<String>,
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short, long)]
    pub input: Option<PathBuf>,
    /// Suppress the load output (the loaded names are still printed, as with docker)
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Print sizes and dates in human readable format (`-H=false` for raw values)
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set,
          num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub human: bool,
    #[arg(short, long)]
    pub quiet: bool,
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    #[arg(long)]
    pub format: Option<String>,
    pub image: String,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
    /// Provide filter values (e.g. "until=<timestamp>", "label=<key>=<value>")
    #[arg(long = "filter")]
    pub filter: Vec<String>,
}

#[derive(Debug, Args)]
pub struct DfArgs {
    /// Show detailed information on space usage
    #[arg(short, long)]
    pub verbose: bool,
}
