//! The `berth` binary. Invoked as `berth-runc` (or `runc`) it is the runc-compatible OCI runtime;
//! `berth runtime ...` is the same.

mod runtime;

fn main() {
    let mut args: Vec<String> = std::env::args().collect();
    let argv0 = args
        .first()
        .map(|a| a.rsplit('/').next().unwrap_or(a).to_string())
        .unwrap_or_default();
    let code = if argv0 == "berth-runc" || argv0 == "runc" {
        runtime::main(args)
    } else if args.get(1).map(String::as_str) == Some("runtime") {
        args.remove(1);
        args[0] = "berth runtime".into();
        runtime::main(args)
    } else if matches!(
        args.get(1).map(String::as_str),
        Some("version" | "--version" | "-v")
    ) {
        println!("berth version {}", env!("CARGO_PKG_VERSION"));
        0
    } else {
        eprintln!("usage: berth runtime <command> [args...]   (see `berth runtime --help`)\n       berth version");
        if args.len() > 1 {
            eprintln!("berth: unknown command {:?}", args[1]);
            125
        } else {
            0
        }
    };
    std::process::exit(code);
}
