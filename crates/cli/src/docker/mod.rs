//! The docker-compatible commands: `berth run`, `ps`, `logs`, `images`... driving the engine
//! in-process (no daemon).

mod archive;
mod args;
mod attach;
mod command_line;
mod containers;
mod disk;
mod filesystem;
mod format;
mod history;
mod images;
mod live;
mod network;
mod progress;
mod prune;
mod registry;
mod run;
mod system;
mod terminal;

use args::{Command, ContainerCommand, ImageCommand, SystemCommand};
use berth_engine::{Engine, Paths};

/// An error with the exit code Docker gives it.
#[derive(Debug)]
pub struct Failure {
    code: i32,
    message: String,
}

impl Failure {
    pub fn new(code: i32, message: String) -> Self {
        Self { code, message }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

pub fn main(args: Vec<String>) -> i32 {
    let cli = match command_line::parse(&args) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 125 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    let paths = Paths::resolve(cli.root.clone(), cli.runroot.clone());
    let result = storage_driver(cli.storage_driver.as_deref())
        .and_then(|driver| Engine::open_with(paths, driver).map_err(anyhow::Error::from))
        .and_then(|engine| dispatch(&engine, cli.command));
    match result {
        Ok(code) => code,
        Err(e) => {
            crate::broken_pipe::exit_if_output_gone(&e);
            let code = e.downcast_ref::<Failure>().map_or_else(
                || {
                    e.downcast_ref::<berth_engine::Error>()
                        .map_or(125, berth_engine::Error::exit_code)
                },
                |f| f.code,
            );
            eprintln!("berth: {e:#}");
            code
        }
    }
}

/// `--storage-driver`, else `BERTH_STORAGE_DRIVER`; neither: the store's own (or detected).
fn storage_driver(flag: Option<&str>) -> anyhow::Result<Option<berth_image::StorageDriver>> {
    let env = std::env::var("BERTH_STORAGE_DRIVER").ok();
    match flag.or(env.as_deref()).filter(|s| !s.is_empty()) {
        Some(name) => Ok(Some(berth_image::StorageDriver::parse(name)?)),
        None => Ok(None),
    }
}

fn dispatch(engine: &Engine, cmd: Command) -> anyhow::Result<i32> {
    match cmd {
        Command::Run(a) => run::run(engine, &a, false),
        Command::Create(a) => run::run(engine, &a, true),
        Command::Start(a) => run::start(engine, &a),
        Command::Stop(a) => containers::stop(engine, &a),
        Command::Restart(a) => containers::restart(engine, &a),
        Command::Kill(a) => containers::kill(engine, &a),
        Command::Rm(a) => containers::rm(engine, &a),
        Command::Ps(a) => containers::ps(engine, &a),
        Command::Logs(a) => containers::logs(engine, &a),
        Command::Wait(a) => containers::wait(engine, &a.containers),
        Command::Pause(a) => containers::pause(engine, &a.containers, true),
        Command::Unpause(a) => containers::pause(engine, &a.containers, false),
        Command::Rename {
            container,
            new_name,
        } => containers::rename(engine, &container, &new_name),
        Command::Exec(a) => containers::exec(engine, &a),
        Command::Attach(a) => attach::attach(engine, &a),
        Command::Inspect(a) => containers::inspect(engine, &a, None),
        Command::Images(a) => images::images(engine, &a),
        Command::Import(a) => images::import(engine, &a),
        Command::Tag { source, target } => images::tag(engine, &source, &target),
        Command::Rmi(a) => images::rmi(engine, &a),
        Command::Volume(v) => images::volume(engine, &v),
        Command::Network(n) => network::network(engine, n),
        Command::Info(a) => system::info(engine, &a),
        Command::Version(a) => system::version(engine, &a),
        Command::System(SystemCommand::Info(a)) => system::info(engine, &a),
        Command::System(SystemCommand::Prune(a)) => system::system_prune(engine, &a),
        Command::Pull {
            quiet,
            platform,
            tls_verify,
            name,
        } => registry::pull(engine, &name, platform.as_deref(), quiet, tls_verify),
        Command::Push {
            quiet,
            tls_verify,
            name,
        } => registry::push(engine, &name, quiet, tls_verify),
        Command::Login {
            username,
            password,
            password_stdin,
            tls_verify,
            server,
        } => registry::login(
            engine,
            tls_verify,
            server.as_deref(),
            username.as_deref(),
            password.as_deref(),
            password_stdin,
        ),
        Command::Logout { server } => registry::logout(server.as_deref()),
        Command::Diff { container } => filesystem::diff(engine, &container),
        Command::Commit(a) => filesystem::commit(engine, &a),
        Command::Export(a) => filesystem::export(engine, &a),
        Command::Cp(a) => filesystem::cp(engine, &a),
        Command::Port { container, port } => network::port(engine, &container, port.as_deref()),
        Command::Top(a) => live::top(engine, &a),
        Command::Stats(a) => live::stats(engine, &a),
        Command::Update(a) => live::update(engine, &a),
        Command::Save(a) => archive::save(engine, &a),
        Command::Load(a) => archive::load(engine, &a),
        Command::History(a) => history::history(engine, &a),
        Command::System(SystemCommand::Df(a)) => disk::df(engine, &a),
        Command::Container(c) => match c {
            ContainerCommand::Ls(a) => containers::ps(engine, &a),
            ContainerCommand::Run(a) => run::run(engine, &a, false),
            ContainerCommand::Create(a) => run::run(engine, &a, true),
            ContainerCommand::Start(a) => run::start(engine, &a),
            ContainerCommand::Stop(a) => containers::stop(engine, &a),
            ContainerCommand::Kill(a) => containers::kill(engine, &a),
            ContainerCommand::Rm(a) => containers::rm(engine, &a),
            ContainerCommand::Logs(a) => containers::logs(engine, &a),
            ContainerCommand::Wait(a) => containers::wait(engine, &a.containers),
            ContainerCommand::Inspect(a) => containers::inspect(engine, &a, Some("container")),
            ContainerCommand::Exec(a) => containers::exec(engine, &a),
            ContainerCommand::Attach(a) => attach::attach(engine, &a),
            ContainerCommand::Diff { container } => filesystem::diff(engine, &container),
            ContainerCommand::Commit(a) => filesystem::commit(engine, &a),
            ContainerCommand::Export(a) => filesystem::export(engine, &a),
            ContainerCommand::Cp(a) => filesystem::cp(engine, &a),
            ContainerCommand::Port { container, port } => {
                network::port(engine, &container, port.as_deref())
            }
            ContainerCommand::Top(a) => live::top(engine, &a),
            ContainerCommand::Stats(a) => live::stats(engine, &a),
            ContainerCommand::Update(a) => live::update(engine, &a),
            ContainerCommand::Prune(a) => system::container_prune(engine, &a),
        },
        Command::Image(c) => match c {
            ImageCommand::Ls(a) => images::images(engine, &a),
            ImageCommand::Pull {
                quiet,
                platform,
                tls_verify,
                name,
            } => registry::pull(engine, &name, platform.as_deref(), quiet, tls_verify),
            ImageCommand::Push {
                quiet,
                tls_verify,
                name,
            } => registry::push(engine, &name, quiet, tls_verify),
            ImageCommand::Rm(a) => images::rmi(engine, &a),
            ImageCommand::Import(a) => images::import(engine, &a),
            ImageCommand::Inspect(a) => containers::inspect(engine, &a, Some("image")),
            ImageCommand::Tag { source, target } => images::tag(engine, &source, &target),
            ImageCommand::Save(a) => archive::save(engine, &a),
            ImageCommand::Load(a) => archive::load(engine, &a),
            ImageCommand::History(a) => history::history(engine, &a),
            ImageCommand::Prune(a) => prune::prune(engine, &a),
        },
    }
}
