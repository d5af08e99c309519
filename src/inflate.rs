//! Inflate: the gzip bytes of one file → the text they hold, into a buffer the caller reuses.
//!
//! Nearly every CloudTrail file is one gzip member whose trailer states its inflated size. Those take the
//! fast path: libdeflate inflates the whole member in one call into a buffer of exactly that size (about
//! three times the speed of streaming zlib here, see `BENCHMARKS.md`). Anything else, several members, a
//! trailer that does not match the stream, a damaged or truncated stream, goes through flate2's streaming
//! decoder, which reads concatenated members and says what is wrong. So the fast path decides nothing
//! about bad input: it only ever succeeds on input the streaming path would also read, with the same bytes.

use std::io::Read;
use std::ptr::NonNull;

/// Files that decompress to more than this are refused rather than risking memory: CloudTrail caps a
/// delivery at 50 MB compressed, which inflates to well under this.
pub const MAX_DECOMPRESSED: u64 = 1 << 30;

/// Why a gzip file could not be inflated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InflateError {
    /// The file ends before the compressed stream does.
    Truncated,
    /// The stream is damaged (a bad header, block or checksum), with flate2's words for it.
    Corrupt(String),
    /// It inflates to more than [`MAX_DECOMPRESSED`].
    TooLarge,
}

/// The most deflate can expand its input (a run of 258 bytes costs at best one bit in a few), with room
/// for the gzip header: a trailer claiming more than this is lying and is not used to size a buffer.
const MAX_RATIO: u64 = 1032;

/// A reusable inflater: one per worker thread.
pub struct Inflater {
    fast: OneShot,
    /// Grows to the largest file seen (within [`KEEP`]) and is never shrunk between files, so the
    /// fast path does not clear memory it is about to overwrite.
    buffer: Vec<u8>,
}

/// The largest buffer kept between files: one ordinary delivery's worth, not the largest ever seen.
const KEEP: usize = 64 << 20;

impl Default for Inflater {
    fn default() -> Self {
        Inflater { fast: OneShot::new(), buffer: Vec::new() }
    }
}

impl Inflater {
    /// Inflates `gz` (which starts with the gzip magic bytes) and returns the text.
    pub fn inflate(&mut self, gz: &[u8]) -> Result<&[u8], InflateError> {
        if self.buffer.capacity() > KEEP {
            self.buffer = Vec::new();
        }
        if let Some(size) = stated_size(gz) {
            if self.buffer.len() < size {
                self.buffer.resize(size, 0);
            }
            if self.fast.inflate_member(gz, &mut self.buffer[..size]) == Some(size) {
                return Ok(&self.buffer[..size]);
            }
        }
        self.buffer.clear();
        stream(gz, &mut self.buffer)?;
        Ok(&self.buffer)
    }
}

/// The inflated size a single-member gzip file states in its last four bytes, when it is plausible and
/// small enough to allocate up front. The trailer is the file's word, not a fact: a larger claim goes
/// through streaming, where memory grows only with what the stream really holds.
fn stated_size(gz: &[u8]) -> Option<usize> {
    let trailer: [u8; 4] = gz.get(gz.len().checked_sub(4)?..)?.try_into().ok()?;
    let size = u64::from(u32::from_le_bytes(trailer));
    (size <= KEEP as u64 && size <= (gz.len() as u64).saturating_mul(MAX_RATIO)).then_some(size as usize)
}

/// The streaming path: every member, with the size limit enforced as it goes.
fn stream(gz: &[u8], out: &mut Vec<u8>) -> Result<(), InflateError> {
    let mut reader = flate2::read::MultiGzDecoder::new(gz).take(MAX_DECOMPRESSED + 1);
    match reader.read_to_end(out) {
        Ok(_) if out.len() as u64 > MAX_DECOMPRESSED => Err(InflateError::TooLarge),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(InflateError::Truncated),
        Err(e) => Err(InflateError::Corrupt(e.to_string())),
    }
}

/// libdeflate's decompressor, which inflates a whole gzip member into a buffer in one call.
struct OneShot(NonNull<libdeflate_sys::libdeflate_decompressor>);

// The decompressor is plain memory owned by this value; libdeflate keeps no global state.
unsafe impl Send for OneShot {}

impl OneShot {
    fn new() -> Self {
        // SAFETY: no preconditions; NULL means out of memory.
        let p = unsafe { libdeflate_sys::libdeflate_alloc_decompressor() };
        OneShot(NonNull::new(p).expect("out of memory allocating the gzip decompressor"))
    }

    /// Inflates `gz` into `out` when it is exactly one valid gzip member (checksum and size checked by
    /// libdeflate) that fits: the number of bytes written. `None` for anything else.
    fn inflate_member(&mut self, gz: &[u8], out: &mut [u8]) -> Option<usize> {
        let (mut read, mut written) = (0usize, 0usize);
        // SAFETY: the pointers and lengths describe live slices; libdeflate writes at most `out.len()`
        // bytes to `out` and reads at most `gz.len()` bytes of `gz`.
        let result = unsafe {
            libdeflate_sys::libdeflate_gzip_decompress_ex(
                self.0.as_ptr(),
                gz.as_ptr().cast(),
                gz.len(),
                out.as_mut_ptr().cast(),
                out.len(),
                &mut read,
                &mut written,
            )
        };
        // A member that ends before the input does means more members (or trailing bytes): streaming's case.
        (result == libdeflate_sys::libdeflate_result_LIBDEFLATE_SUCCESS && read == gz.len()).then_some(written)
    }
}

impl Drop for OneShot {
    fn drop(&mut self) {
        // SAFETY: allocated by libdeflate_alloc_decompressor and freed once.
        unsafe { libdeflate_sys::libdeflate_free_decompressor(self.0.as_ptr()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn gzip(text: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(text).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn one_member_takes_the_fast_path_and_matches_streaming() {
        let text = br#"{"Records":[{"eventName":"AssumeRole"}]}"#.repeat(1000);
        let gz = gzip(&text);
        let mut fast = OneShot::new();
        let mut out = vec![0; text.len()];
        assert_eq!(fast.inflate_member(&gz, &mut out), Some(text.len()));
        assert_eq!(Inflater::default().inflate(&gz).unwrap(), &text[..]);
    }

    #[test]
    fn concatenated_members_are_all_read() {
        // The fast path would stop after the first member; the trailer states only the last one's size.
        let mut gz = gzip(b"first member, ");
        gz.extend(gzip(b"second"));
        assert_eq!(Inflater::default().inflate(&gz).unwrap(), b"first member, second");
        let mut gz = gzip(&b"x".repeat(10_000));
        gz.extend(gzip(&b"y".repeat(10_000)));
        let out = Inflater::default().inflate(&gz).unwrap().to_vec();
        assert_eq!(out.len(), 20_000);
    }

    #[test]
    fn a_lying_trailer_is_caught() {
        let text = b"some text that is not tiny, repeated; ".repeat(50);
        let mut gz = gzip(&text);
        let n = gz.len();
        // A smaller stated size: the fast path runs out of room and streaming reports the mismatch.
        gz[n - 4..].copy_from_slice(&10u32.to_le_bytes());
        assert!(matches!(Inflater::default().inflate(&gz), Err(InflateError::Corrupt(_))));
        // An absurd stated size is not used to size a buffer at all.
        gz[n - 4..].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(stated_size(&gz), None);
        assert!(Inflater::default().inflate(&gz).is_err());
        // Nor is a claim that the compressed size could back but that is beyond one ordinary file: a 1 MB
        // file may say it holds 1 GB, and two threads believing it would allocate 2 GB.
        let big = vec![0u8; 1 << 20];
        let mut claim = big.clone();
        claim[(1 << 20) - 4..].copy_from_slice(&(1u32 << 30).to_le_bytes());
        assert_eq!(stated_size(&claim), None);
        let mut fits = big;
        fits[(1 << 20) - 4..].copy_from_slice(&(1u32 << 25).to_le_bytes());
        assert_eq!(stated_size(&fits), Some(1 << 25));
    }

    #[test]
    fn damage_is_named_by_the_streaming_path() {
        let gz = gzip(&b"abcdefgh".repeat(5000));
        assert_eq!(Inflater::default().inflate(&gz[..gz.len() / 2]), Err(InflateError::Truncated));
        let mut bad = gz.clone();
        let n = bad.len();
        bad[n - 6] ^= 0xff; // the checksum
        assert!(matches!(Inflater::default().inflate(&bad), Err(InflateError::Corrupt(_))));
    }

    #[test]
    fn a_reused_inflater_returns_only_the_current_file() {
        let mut inflater = Inflater::default();
        assert_eq!(inflater.inflate(&gzip(&b"long ".repeat(100))).unwrap().len(), 500);
        assert_eq!(inflater.inflate(&gzip(b"short")).unwrap(), b"short");
        assert_eq!(inflater.inflate(&gzip(b"")).unwrap(), b"");
    }
}
