//! Gzip for the exporter's request bodies, with the compressor and its output buffer
//! kept from one batch to the next: a new `GzEncoder` per batch allocates and clears the
//! compressor's tables (hundreds of KiB) every time.

use std::io;

use flate2::{Compress, Compression, Crc, FlushCompress, Status};

/// The largest output buffer kept between batches; a larger one, left by an unusually
/// large batch, is given back.
const KEEP_BYTES: usize = 4 * 1024 * 1024;

/// A gzip compressor reused for every body.
pub(super) struct Gzip {
    level: Compression,
    deflate: Compress,
    out: Vec<u8>,
}

impl std::fmt::Debug for Gzip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gzip").field("level", &self.level.level()).finish()
    }
}

impl Gzip {
    pub(super) fn new(level: Compression) -> Self {
        Self {
            level,
            // Raw deflate: the gzip header and trailer are written here.
            deflate: Compress::new(level, false),
            out: Vec::new(),
        }
    }

    /// `body` as one gzip member (RFC 1952: a 10-byte header, the deflate stream, then
    /// the CRC-32 and the length of `body`), in a buffer kept until the next call.
    ///
    /// The buffer is compressed into as a slice: its bytes are written (zeroed) only when
    /// it grows, not before every batch as `Compress::compress_vec` does with a vector's
    /// spare capacity.
    pub(super) fn compress(&mut self, body: &[u8]) -> io::Result<&[u8]> {
        if self.out.len() > KEEP_BYTES {
            self.out = Vec::new();
        }
        self.deflate.reset();
        // No flags, no modification time, the extra flags for the fastest and the best
        // levels, and an unknown operating system.
        let extra_flags = match self.level.level() {
            9.. => 2,
            0 | 1 => 4,
            _ => 0,
        };
        let header = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, extra_flags, 255];
        let mut written = header.len();
        // Room for the header, a stream a quarter of the body (the spans compress to far
        // less), and the trailer; more is added if the stream needs it.
        let room = written + body.len() / 4 + 1024;
        if self.out.len() < room {
            self.out.resize(room, 0);
        }
        self.out[..written].copy_from_slice(&header);
        let mut input = body;
        loop {
            let (before_in, before_out) = (self.deflate.total_in(), self.deflate.total_out());
            let status = self
                .deflate
                .compress(input, &mut self.out[written..], FlushCompress::Finish)
                .map_err(io::Error::other)?;
            let consumed = usize::try_from(self.deflate.total_in() - before_in).unwrap_or(input.len());
            written += usize::try_from(self.deflate.total_out() - before_out).unwrap_or(0);
            input = input.get(consumed..).unwrap_or_default();
            match status {
                Status::StreamEnd => break,
                // Out of room: the stream goes on into more.
                Status::Ok | Status::BufError => {
                    let more = self.out.len().max(1024);
                    self.out.resize(self.out.len() + more, 0);
                }
            }
        }
        let mut crc = Crc::new();
        crc.update(body);
        let mut trailer = [0; 8];
        trailer[..4].copy_from_slice(&crc.sum().to_le_bytes());
        trailer[4..].copy_from_slice(&crc.amount().to_le_bytes());
        let end = written + trailer.len();
        if self.out.len() < end {
            self.out.resize(end, 0);
        }
        self.out[written..end].copy_from_slice(&trailer);
        Ok(&self.out[..end])
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn gunzip(bytes: &[u8]) -> Vec<u8> {
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut plain)
            .expect("a valid gzip member");
        plain
    }

    /// Bodies of every size, one after another through the same compressor, each
    /// decompress to themselves: nothing of one batch leaks into the next.
    #[test]
    fn each_body_decompresses_to_itself_with_the_compressor_reused() {
        let mut gzip = Gzip::new(Compression::fast());
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut noise = |len: usize| -> Vec<u8> {
            (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    (state >> 32) as u8
                })
                .collect()
        };
        let repetitive: Vec<u8> = b"input.value application/json gen_ai.usage.input_tokens "
            .iter()
            .copied()
            .cycle()
            .take(300_000)
            .collect();
        let bodies = [
            Vec::new(),
            b"x".to_vec(),
            repetitive.clone(),
            noise(100_000),
            noise(5_000_000),
            repetitive[..1000].to_vec(),
        ];
        for body in &bodies {
            let compressed = gzip.compress(body).expect("gzip").to_vec();
            assert_eq!(gunzip(&compressed), *body, "a body of {} bytes", body.len());
        }
        assert!(gzip.compress(&repetitive).expect("gzip").len() < repetitive.len() / 20);
    }
}
