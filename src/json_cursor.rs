//! JSON cursor: a strict, allocation-free walk over JSON text for the fast path of `Records` deliveries
//! (`delivery.rs`), with the typed reads `record.rs` builds records from.
//!
//! It is never less strict than serde_json and never decides anything it is unsure of: whenever it meets
//! something it does not read itself (a string with escapes where the text is wanted, a number at a typed
//! place, deep nesting, anything malformed) it either hands exactly that value's text to serde_json or
//! stops with [`Miss`], and the caller reads the whole record with serde_json instead. So the fast path
//! can only ever produce what serde_json would have.

use serde::Deserialize;
use std::borrow::Cow;

/// The cursor is not sure what serde_json would make of the text here: let serde_json read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Miss;

/// Nesting deeper than this is left to serde_json, whose own limit (128) then decides.
const MAX_DEPTH: u32 = 100;

/// A position in JSON text known to be valid UTF-8.
pub struct Cursor<'a> {
    text: &'a str,
    pos: usize,
    depth: u32,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `text`.
    pub fn new(text: &'a str) -> Self {
        Cursor { text, pos: 0, depth: 0 }
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Moves the cursor back to `pos`, a place it has been.
    pub fn rewind(&mut self, pos: usize) {
        self.pos = pos;
    }

    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    /// The next byte after whitespace, not consumed. Trail deliveries are compact JSON: the next byte is
    /// nearly always right there, and that is checked inline.
    #[inline]
    pub fn peek(&mut self) -> Result<u8, Miss> {
        match self.bytes().get(self.pos) {
            Some(&c) if !matches!(c, b' ' | b'\n' | b'\r' | b'\t') => Ok(c),
            _ => self.peek_past_whitespace(),
        }
    }

    /// [`Cursor::peek`] past whitespace.
    #[inline(never)]
    fn peek_past_whitespace(&mut self) -> Result<u8, Miss> {
        let b = self.bytes();
        while let Some(&c) = b.get(self.pos) {
            if !matches!(c, b' ' | b'\n' | b'\r' | b'\t') {
                return Ok(c);
            }
            self.pos += 1;
        }
        Err(Miss)
    }

    /// Consumes `c` (after whitespace), or misses.
    pub fn eat(&mut self, c: u8) -> Result<(), Miss> {
        if self.peek()? != c {
            return Err(Miss);
        }
        self.pos += 1;
        Ok(())
    }

    /// Whether only whitespace is left.
    pub fn at_end(&mut self) -> bool {
        self.peek().is_err()
    }

    /// The string at the cursor: its raw contents between the quotes, and whether they hold escapes.
    /// Escapes are checked as serde_json checks the strings it skips; control characters are refused.
    ///
    /// Most strings in a trail are short and plain, and there are about eighty in a record: those are read
    /// here, inline, sixteen bytes at a time; anything else (escapes, a control character, the last bytes
    /// of the text, whitespace first) goes to [`Cursor::raw_string_in_full`].
    #[inline]
    pub fn raw_string(&mut self) -> Result<(&'a str, bool), Miss> {
        let b = self.bytes();
        if b.get(self.pos) == Some(&b'"') {
            let start = self.pos + 1;
            if let Some(end) = special_in_steps(b, start).ok().filter(|&end| b[end] == b'"') {
                self.pos = end + 1;
                // SAFETY: `start - 1` and `end` hold `"`, an ASCII byte, so both are character boundaries
                // of the text.
                return Ok((unsafe { self.text.get_unchecked(start..end) }, false));
            }
        }
        self.raw_string_in_full()
    }

    /// [`Cursor::raw_string`] for any string.
    #[cold]
    #[inline(never)]
    fn raw_string_in_full(&mut self) -> Result<(&'a str, bool), Miss> {
        self.eat(b'"')?;
        let b = self.bytes();
        let start = self.pos;
        let mut at = start;
        let mut escaped = false;
        loop {
            at = next_special(b, at);
            match b.get(at) {
                Some(b'"') => {
                    self.pos = at + 1;
                    return Ok((&self.text[start..at], escaped));
                }
                Some(b'\\') => {
                    escaped = true;
                    at = match b.get(at + 1) {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => at + 2,
                        Some(b'u') if b.get(at + 2..at + 6).is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) => {
                            at + 6
                        }
                        _ => return Err(Miss),
                    };
                }
                // A control character, or the text ends inside the string.
                _ => return Err(Miss),
            }
        }
    }

    /// An object key, then its colon. A key with escapes is unescaped by serde_json. Inlined into each
    /// struct's field loop: a call per key cost more than reading it (callgrind: −4.5% instructions).
    #[inline(always)]
    fn key(&mut self) -> Result<Cow<'a, str>, Miss> {
        let (raw, escaped) = self.raw_string()?;
        let key = if escaped {
            // The key's text with its quotes: the raw contents and the quote on either side.
            let start = self.pos - raw.len() - 2;
            Cow::Owned(serde_json::from_str::<String>(&self.text[start..self.pos]).map_err(|_| Miss)?)
        } else {
            Cow::Borrowed(raw)
        };
        self.eat(b':')?;
        Ok(key)
    }

    /// Where the next value starts (after whitespace).
    pub fn pos_of_next(&mut self) -> Result<usize, Miss> {
        self.peek()?;
        Ok(self.pos)
    }

    fn enter(&mut self) -> Result<(), Miss> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Miss);
        }
        Ok(())
    }

    /// Reads the object at the cursor, calling `field` with each key and the cursor at its value, which
    /// `field` must consume.
    pub fn object(&mut self, mut field: impl FnMut(&mut Self, &str) -> Result<(), Miss>) -> Result<(), Miss> {
        self.items(b'{', b'}', |c| {
            let key = c.key()?;
            field(c, &key)
        })
    }

    /// Reads the array at the cursor, calling `element` with the cursor at each element, which it must consume.
    pub fn array(&mut self, element: impl FnMut(&mut Self) -> Result<(), Miss>) -> Result<(), Miss> {
        self.items(b'[', b']', element)
    }

    /// `open`, then `item`s separated by commas, then `close`: the shape objects and arrays share.
    fn items(&mut self, open: u8, close: u8, mut item: impl FnMut(&mut Self) -> Result<(), Miss>) -> Result<(), Miss> {
        self.eat(open)?;
        self.enter()?;
        if self.peek()? == close {
            self.pos += 1;
        } else {
            loop {
                item(self)?;
                match self.peek()? {
                    b',' => self.pos += 1,
                    c if c == close => {
                        self.pos += 1;
                        break;
                    }
                    _ => return Err(Miss),
                }
            }
        }
        self.depth -= 1;
        Ok(())
    }

    /// Skips the value at the cursor, checking it as serde_json checks what it ignores.
    pub fn skip(&mut self) -> Result<(), Miss> {
        match self.peek()? {
            b'"' => self.raw_string().map(|_| ()),
            b'{' => self.object(|c, _| c.skip()),
            b'[' => self.array(Self::skip),
            b't' => self.literal("true"),
            b'f' => self.literal("false"),
            b'n' => self.literal("null"),
            _ => self.number(),
        }
    }

    /// Skips the value at the cursor and tells whether it holds anything: a non-empty string, array or
    /// object, a number or a boolean (not `null`).
    pub fn skip_present(&mut self) -> Result<bool, Miss> {
        let mut any = false;
        match self.peek()? {
            b'"' => any = !self.raw_string()?.0.is_empty(),
            b'{' => self.object(|c, _| {
                any = true;
                c.skip()
            })?,
            b'[' => self.array(|c| {
                any = true;
                c.skip()
            })?,
            b'n' => self.literal("null")?,
            _ => return Err(Miss),
        }
        Ok(any)
    }

    pub fn literal(&mut self, word: &str) -> Result<(), Miss> {
        if !self.text[self.pos..].starts_with(word) {
            return Err(Miss);
        }
        self.pos += word.len();
        Ok(())
    }

    /// Skips a number, with JSON's grammar (no leading zeros, digits after `.` and `e`).
    fn number(&mut self) -> Result<(), Miss> {
        let b = self.bytes();
        let digits = |at: usize| b[at..].iter().take_while(|c| c.is_ascii_digit()).count();
        let mut at = self.pos;
        if b.get(at) == Some(&b'-') {
            at += 1;
        }
        match b.get(at) {
            Some(b'0') => at += 1,
            Some(b'1'..=b'9') => at += digits(at),
            _ => return Err(Miss),
        }
        if b.get(at) == Some(&b'.') {
            let n = digits(at + 1);
            if n == 0 {
                return Err(Miss);
            }
            at += 1 + n;
        }
        if matches!(b.get(at), Some(b'e' | b'E')) {
            at += 1;
            if matches!(b.get(at), Some(b'+' | b'-')) {
                at += 1;
            }
            let n = digits(at);
            if n == 0 {
                return Err(Miss);
            }
            at += n;
        }
        // `01` is not a number; serde_json refuses it too.
        if b.get(at).is_some_and(u8::is_ascii_digit) {
            return Err(Miss);
        }
        self.pos = at;
        Ok(())
    }

    /// Reads the value at the cursor with serde_json, as type `T`: for what the cursor leaves to serde
    /// (numbers at typed places, strings with escapes, rare nested types).
    pub fn by_serde<T: Deserialize<'a>>(&mut self) -> Result<T, Miss> {
        let start = self.pos_of_next()?;
        self.skip()?;
        serde_json::from_str(&self.text[start..self.pos]).map_err(|_| Miss)
    }
}

/// The special bytes (`"`, `\\`, control characters) of sixteen bytes, as the low bits of a mask.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn special_mask(chunk: &[u8]) -> u32 {
    assert!(chunk.len() >= 16);
    // SAFETY: SSE2 is part of x86-64; the load reads the first sixteen bytes of `chunk`, unaligned.
    unsafe {
        use std::arch::x86_64::*;
        let v = _mm_loadu_si128(chunk.as_ptr().cast());
        let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
        let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
        // Unsigned `v <= 0x1f`: the unsigned maximum of v and 0x1f is 0x1f exactly then.
        let control = _mm_cmpeq_epi8(_mm_max_epu8(v, _mm_set1_epi8(0x1f)), _mm_set1_epi8(0x1f));
        _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), control)) as u32
    }
}

/// The special bytes of sixteen bytes, without SSE2.
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn special_mask(chunk: &[u8]) -> u32 {
    chunk[..16]
        .iter()
        .enumerate()
        .filter(|&(_, &c)| c == b'"' || c == b'\\' || c < 0x20)
        .fold(0, |m, (i, _)| m | 1 << i)
}

/// The first special byte at or after `at` within the whole sixteen-byte steps of `b`: `Ok` of its offset,
/// or `Err` of where the steps ran out (fewer than sixteen bytes left).
#[inline(always)]
fn special_in_steps(b: &[u8], mut at: usize) -> Result<usize, usize> {
    while let Some(chunk) = b.get(at..at + 16) {
        let mask = special_mask(chunk);
        if mask != 0 {
            return Ok(at + mask.trailing_zeros() as usize);
        }
        at += 16;
    }
    Err(at)
}

/// The offset of the first `"`, `\\` or control character at or after `at` (or the end). Strings in
/// CloudTrail are short, so this looks at sixteen bytes at a time with plain SSE2 compares (every x86-64
/// has them) rather than calling a general search per string, and eight at a time in a register elsewhere.
fn next_special(b: &[u8], at: usize) -> usize {
    #[cfg(target_arch = "x86_64")]
    let at = match special_in_steps(b, at) {
        Ok(found) => return found,
        Err(rest) => rest,
    };
    let mut at = at;
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // The high bit of each byte of `v` that is zero (exact for the lowest such byte, which is all we use).
    let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    while let Some(chunk) = b.get(at..at + 8) {
        let v = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        let special = zero(v ^ (ONES * u64::from(b'"')))
            | zero(v ^ (ONES * u64::from(b'\\')))
            | (v.wrapping_sub(ONES * 0x20) & !v & HIGH);
        if special != 0 {
            return at + (special.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    at + b[at..].iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20).unwrap_or(b.len() - at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skips(text: &str) -> bool {
        let mut c = Cursor::new(text);
        c.skip().is_ok() && c.at_end()
    }

    #[test]
    fn never_accepts_what_serde_json_refuses() {
        let cases = [
            r#"{"a":[1,2,{"b":null}],"c":"d\"e\u00e9","f":-0.5e+3,"g":true}"#,
            "[]",
            "{}",
            r#""\ud800""#,
            "01",
            "1.",
            "1e",
            "-",
            "[1,]",
            r#"{"a":1,}"#,
            r#"{"a" 1}"#,
            "\"tab\there\"",
            r#""\x""#,
            r#""\u12g4""#,
            "tru",
            "nul",
            "[1 2]",
            r#"{"a":1 "b":2}"#,
            "\"unterminated",
            "1.5E-7",
        ];
        for text in cases {
            let serde_ok = serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok();
            assert!(!skips(text) || serde_ok, "the cursor accepted what serde_json refuses: {text}");
        }
        assert!(skips(cases[0]) && skips("[]") && skips("1.5E-7"));
    }

    #[test]
    fn the_word_at_a_time_search_finds_the_first_special_byte() {
        let mut next = crate::decode::tests::xorshift(0x2545_f491_4f6c_dd1du64);
        for len in 0..200 {
            let state = next();
            let bytes: Vec<u8> = (0..len)
                .map(|i| {
                    let r = state.rotate_left(i as u32 * 7) as u8;
                    // Mostly ordinary text, sometimes a special byte or one with the high bit set.
                    match r % 16 {
                        0 => b'"',
                        1 => b'\\',
                        2 => r % 0x20,
                        3 => 0x80 | r,
                        _ => b'a' + r % 26,
                    }
                })
                .collect();
            for from in 0..=len {
                let naive = (from..len).find(|&i| matches!(bytes[i], b'"' | b'\\' | 0..=0x1f)).unwrap_or(len);
                assert_eq!(next_special(&bytes, from), naive, "{bytes:?} from {from}");
            }
        }
    }

    #[test]
    fn the_inline_string_read_agrees_with_the_full_one() {
        let mut next = crate::decode::tests::xorshift(0x9e37_79b9_7f4a_7c15u64);
        for len in 0..80 {
            for _ in 0..40 {
                let state = next();
                // A string of `len` bytes, mostly plain, now and then an escape, a control character, a quote
                // or a multi-byte character; then its closing quote, and sometimes more text after it.
                let mut text = String::from("\"");
                for i in 0..len {
                    let r = state.rotate_left(i as u32 * 5) as u8;
                    match r % 23 {
                        0 => text.push_str("\\n"),
                        1 => text.push('\u{1}'),
                        2 => text.push_str("\\u00e9"),
                        3 => text.push('é'),
                        4 => text.push_str("\\q"),
                        _ => text.push((b'a' + r % 26) as char),
                    }
                }
                if state % 3 > 0 {
                    text.push('"');
                }
                if state % 2 == 0 {
                    text.push_str(r#",{"more":"text after the string"}"#);
                }
                let (mut fast, mut full) = (Cursor::new(&text), Cursor::new(&text));
                assert_eq!(fast.raw_string(), full.raw_string_in_full(), "{text:?}");
                assert_eq!(fast.pos(), full.pos(), "{text:?}");
            }
        }
    }

    #[test]
    fn escaped_keys_are_read_unescaped() {
        let text = r#"{"event\u0053ource":1, "plain" :2,"\"q\"":3,"a\\b":4}"#;
        let mut keys = Vec::new();
        let mut c = Cursor::new(text);
        c.object(|c, key| {
            keys.push(key.to_owned());
            c.skip()
        })
        .unwrap();
        assert_eq!(keys, ["eventSource", "plain", "\"q\"", "a\\b"]);
    }

    #[test]
    fn deep_nesting_is_left_to_serde() {
        let deep = format!("{}{}", "[".repeat(150), "]".repeat(150));
        assert!(!skips(&deep));
        let fine = format!("{}{}", "[".repeat(50), "]".repeat(50));
        assert!(skips(&fine));
    }
}
