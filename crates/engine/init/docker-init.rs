//! `docker-init`: the minimal init `--init` puts in front of a container's program, as Docker's
//! tini. A standalone program on purpose: `crates/engine/build.rs` compiles it statically
//! (std only, no crates), because it runs inside any image, including ones without a C library
//! (the `berth` binary itself is linked against glibc and libseccomp and could not run there).
//!
//! `docker-init [--] PROGRAM ARGS...`: starts the program in its own process group (the
//! terminal's foreground group, if there is a terminal), forwards every signal it gets to it
//! (pid 1 of a pid namespace drops the signals it has no handler for, so a program that never
//! installed one would otherwise ignore `docker stop`), reaps every process reparented to it,
//! and exits with the program's status (128 + signal if it was killed).

use std::os::unix::process::CommandExt;
use std::process::Command;

/// glibc's sigset_t.
#[repr(C)]
struct SigSet([u64; 16]);

const SIG_SETMASK: i32 = 2;
const SIGCHLD: i32 = 17;
const WNOHANG: i32 = 1;
const PR_SET_CHILD_SUBREAPER: i32 = 36;

extern "C" {
    fn sigfillset(set: *mut SigSet) -> i32;
    fn sigemptyset(set: *mut SigSet) -> i32;
    fn pthread_sigmask(how: i32, set: *const SigSet, old: *mut SigSet) -> i32;
    fn sigwait(set: *const SigSet, sig: *mut i32) -> i32;
    fn waitpid(pid: i32, status: *mut i32, options: i32) -> i32;
    fn kill(pid: i32, sig: i32) -> i32;
    fn prctl(option: i32, arg2: u64, arg3: u64, arg4: u64, arg5: u64) -> i32;
    fn isatty(fd: i32) -> i32;
    fn tcsetpgrp(fd: i32, pgrp: i32) -> i32;
    fn getpgrp() -> i32;
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--") {
        args.remove(0);
    }
    if args.is_empty() {
        eprintln!("usage: docker-init [--] PROGRAM [ARGS...]");
        std::process::exit(1);
    }
    // Every signal blocked, then taken with sigwait: a blocked signal is never discarded, not
    // even by a pid namespace's init. The program gets an empty mask back before its exec.
    let mut all = SigSet([0; 16]);
    // SAFETY: plain libc calls on a sigset we own; no threads exist.
    unsafe {
        sigfillset(&mut all);
        pthread_sigmask(SIG_SETMASK, &all, std::ptr::null_mut());
        // Outside a pid namespace of its own it still collects the program's orphans.
        prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    }
    let mut cmd = Command::new(&args[0]);
    cmd.args(&args[1..]).process_group(0);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            // Every signal is still blocked here (inherited), so taking the terminal from the
            // background raises no SIGTTOU.
            if isatty(0) == 1 {
                tcsetpgrp(0, getpgrp());
            }
            let mut none = SigSet([0; 16]);
            sigemptyset(&mut none);
            pthread_sigmask(SIG_SETMASK, &none, std::ptr::null_mut());
            Ok(())
        });
    }
    let child = match cmd.spawn() {
        Ok(c) => c.id() as i32,
        Err(e) => {
            eprintln!("docker-init: exec {} failed: {e}", args[0]);
            // Docker's codes: 127 not found, 126 found but not runnable.
            let code = if e.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            };
            std::process::exit(code);
        }
    };
    loop {
        let mut sig = 0;
        // SAFETY: sigwait on a full set we own.
        if unsafe { sigwait(&all, &mut sig) } != 0 {
            continue;
        }
        if sig == SIGCHLD {
            if let Some(code) = reap(child) {
                std::process::exit(code);
            }
        } else {
            // SAFETY: kill with plain integers.
            unsafe { kill(child, sig) };
        }
    }
}

/// Reaps every exited child; the program's exit status once it is among them.
fn reap(program: i32) -> Option<i32> {
    let mut result = None;
    loop {
        let mut status = 0;
        // SAFETY: waitpid into an int we own.
        let pid = unsafe { waitpid(-1, &mut status, WNOHANG) };
        if pid <= 0 {
            return result;
        }
        if pid == program {
            let signal = status & 0x7f;
            result = Some(if signal == 0 {
                (status >> 8) & 0xff
            } else {
                128 + signal
            });
        }
    }
}
