//! The `berth` binary: the docker-compatible commands (`berth run`, `ps`, `images`...). Invoked
//! as `berth-runc` (or `runc`) it is the runc-compatible OCI runtime, as is `berth runtime ...`;
//! invoked as `berth-monitor` it is a container's monitor (started by the engine).

mod broken_pipe;
mod docker;
mod runtime;

fn main() {
    let mut args: Vec<String> = std::env::args().collect();
    let argv0 = args
        .first()
        .map(|a| a.rsplit('/').next().unwrap_or(a).to_string())
        .unwrap_or_default();
    if !berth_engine::monitor::is_monitor_argv0(&argv0) {
        broken_pipe::install();
    }
    let code = if argv0 == "berth-runc" || argv0 == "runc" {
        runtime::main(args)
    } else if args.get(1).map(String::as_str) == Some("runtime") {
        args.remove(1);
        args[0] = "berth runtime".into();
        runtime::main(args)
    } else if matches!(args.get(1).map(String::as_str), Some("--version" | "-v")) {
        println!("berth version {}", env!("CARGO_PKG_VERSION"));
        0
    } else if berth_engine::monitor::is_monitor_argv0(&argv0) {
        berth_engine::monitor::main(&args[1..])
    } else {
        docker::main(args)
    };
    std::process::exit(code);
}
