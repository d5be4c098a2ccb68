//! Detach keys in a client's input.

/// Watches one client's input for its detach keys. A partial match is held back until the
/// next byte decides: the rest of the sequence detaches (and is never sent), anything else
/// releases what was held.
#[derive(Debug, Clone)]
pub struct EscapeScanner {
    keys: Vec<u8>,
    /// The input that matches the start of the keys so far.
    held: Vec<u8>,
}

impl EscapeScanner {
    pub fn new(keys: &[u8]) -> Self {
        Self {
            keys: keys.to_vec(),
            held: Vec::new(),
        }
    }

    /// Whether input is held back as the start of the sequence.
    pub fn holding(&self) -> bool {
        !self.held.is_empty()
    }

    /// The sequence watched for.
    pub fn keys(&self) -> &[u8] {
        &self.keys
    }

    /// Appends to `out` what `input` lets through; true when the detach keys were typed.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> bool {
        if self.keys.is_empty() {
            out.extend_from_slice(input);
            return false;
        }
        for &b in input {
            self.held.push(b);
            while !self.keys.starts_with(&self.held) {
                out.push(self.held.remove(0));
            }
            if self.held == self.keys {
                self.held.clear();
                return true;
            }
        }
        false
    }
}
