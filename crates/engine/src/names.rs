//! Ids and generated names: a container gets 32 random bytes as its id and, without `--name`,
//! an `adjective_noun` name as Docker gives.

use std::io::Read;

const ADJECTIVES: [&str; 24] = [
    "admiring",
    "brave",
    "calm",
    "clever",
    "dazzling",
    "eager",
    "elastic",
    "festive",
    "gallant",
    "happy",
    "jolly",
    "keen",
    "loving",
    "modest",
    "nifty",
    "optimistic",
    "peaceful",
    "quirky",
    "relaxed",
    "serene",
    "sharp",
    "tender",
    "vibrant",
    "zealous",
];

const NOUNS: [&str; 24] = [
    "albatross",
    "barge",
    "beacon",
    "buoy",
    "capstan",
    "cutter",
    "dinghy",
    "ferry",
    "galleon",
    "harbor",
    "jetty",
    "keel",
    "lighthouse",
    "mooring",
    "pier",
    "quay",
    "rudder",
    "schooner",
    "sloop",
    "tugboat",
    "wharf",
    "yawl",
    "anchor",
    "dock",
];

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    // getrandom(2) never fails for small requests once the pool is initialised.
    let mut f = std::fs::File::open("/dev/urandom").expect("/dev/urandom is readable");
    f.read_exact(&mut buf).expect("reading /dev/urandom");
    buf
}

/// A new container id: 64 hex characters, not all digits (so it is never taken for a number).
pub fn new_id() -> String {
    loop {
        let id: String = random_bytes::<32>()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if !id[..12].bytes().all(|b| b.is_ascii_digit()) {
            return id;
        }
    }
}

/// A random `adjective_noun`, with a number after `attempt` collisions.
pub fn generate(attempt: u32) -> String {
    let [a, b] = random_bytes::<2>();
    let base = format!(
        "{}_{}",
        ADJECTIVES[a as usize % ADJECTIVES.len()],
        NOUNS[b as usize % NOUNS.len()]
    );
    if attempt == 0 {
        base
    } else {
        format!("{base}{}", random_bytes::<1>()[0] % 100)
    }
}
