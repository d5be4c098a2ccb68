//! Layer compression told by content: gzip, zstd or none. A layer's media type says the same,
//! but docker-archive layers, `import`ed tarballs and blobs already in the store come without a
//! trustworthy one, and Docker itself sniffs the magic bytes.

use std::io::{self, BufReader, Cursor, Read};

use crate::manifest::LayerCompression;

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

/// Input is read in chunks this large: fewer syscalls, and the decoders work on long runs.
const READ_BUF: usize = 256 * 1024;

/// The compression of a stream starting with `head` (at least 4 bytes unless the stream is
/// shorter). Anything without a known magic number is taken as uncompressed.
pub fn detect_compression(head: &[u8]) -> LayerCompression {
    if head.starts_with(GZIP_MAGIC) {
        LayerCompression::Gzip
    } else if head.starts_with(ZSTD_MAGIC) {
        LayerCompression::Zstd
    } else {
        LayerCompression::None
    }
}

/// The uncompressed bytes of `input`, whose compression is detected from its first bytes.
/// Gzip and zstd streams made of several members/frames are read to the end, as Go's readers do.
pub fn decompress<'a>(
    mut input: impl Read + 'a,
) -> io::Result<(LayerCompression, Box<dyn Read + 'a>)> {
    let mut head = [0u8; ZSTD_MAGIC.len()];
    let mut got = 0;
    while got < head.len() {
        match input.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let compression = detect_compression(&head[..got]);
    let input = BufReader::with_capacity(READ_BUF, Cursor::new(head).take(got as u64).chain(input));
    let reader: Box<dyn Read + 'a> = match compression {
        LayerCompression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(input)),
        LayerCompression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(input)?),
        LayerCompression::None => Box::new(input),
    };
    Ok((compression, reader))
}
