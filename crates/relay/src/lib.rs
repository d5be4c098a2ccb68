//! The container monitor's relay, and what it needs: the attach protocol ([`wire`]), detach keys
//! ([`escape`]), the json-file log writer ([`log`]) and the hand-over across an exec
//! ([`handoff`]).
//!
//! A running container needs only this from its monitor, so once the container runs the monitor
//! (the whole berth binary, ~800 KiB of private memory, most of it relocated read-only data of a
//! large position-independent program) execs the small relay program built from this crate
//! (`src/main.rs`), which holds ~100 KiB; the relay execs the monitor again when the container
//! has exited. The engine also runs [`relay::relay`] in-process when it cannot hand over (a
//! container whose monitor serves its DNS), so there is one relay, not two.
//!
//! std only, on purpose: `crates/engine/build.rs` builds the relay program with plain rustc (as a
//! static executable the engine embeds), without cargo and so without other crates. System calls
//! std does not offer are declared in [`sys`].

pub mod escape;
pub mod handoff;
pub mod log;
pub mod relay;
pub mod sys;
pub mod wire;

// berth-sys's date formatting, shared as source (berth-sys is not std only).
#[allow(dead_code)]
#[path = "../../sys/src/time.rs"]
mod time;
