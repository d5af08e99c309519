//! Delivery: the fast path for the shape nearly all input comes in, a CloudTrail delivery
//! `{"Records":[…]}`. Each record is read in one pass over the text with [`Cursor`], which finds string
//! ends sixteen bytes at a time and matches keys directly, into one reused [`Record`]; serde_json, which
//! walked every token through generic visitors, was about a third of a run's CPU (see `BENCHMARKS.md`).
//!
//! The result is exactly what serde_json gives (`decode.rs`): a record the cursor is unsure of is read by
//! serde_json instead, and a file that fails there is handed back whole, so that serde_json names the error.
//! That holds for deep records too (a test tries nesting from 95 to 135 levels in six places): serde_json
//! counts no depth in the values it ignores, so a record read on its own reads as it does within the file.

use crate::json_cursor::{Cursor, Miss};
use crate::record::{Record, Scan};

/// How far the fast path got.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The text does not start `{"Records":[`: nothing was read.
    NotADelivery,
    /// Every record was read and the document ends after the array.
    Done,
    /// Every record was read and another JSON document follows this one.
    MoreDocuments,
    /// Every record was read; the object goes on with more keys, from this byte offset (the next key).
    MoreKeys(usize),
    /// The text is not valid JSON: read it again with serde_json, which names the problem.
    Broken,
}

/// Reads the records of a delivery, giving each to `each` (whether or not it looks like an event).
pub fn read(text: &str, each: &mut dyn FnMut(&Record)) -> Outcome {
    let mut c = Cursor::new(text);
    if !starts_records(&mut c) {
        return Outcome::NotADelivery;
    }
    let mut rec = Record::default();
    let records = c.array(|c| {
        let start = c.pos_of_next()?;
        if rec.scan(c).is_err() {
            let end = by_serde(text, start, &mut rec)?;
            c.rewind(end);
        }
        each(&rec);
        Ok(())
    });
    if records.is_err() {
        return Outcome::Broken;
    }
    if c.eat(b'}').is_ok() {
        return if c.at_end() { Outcome::Done } else { Outcome::MoreDocuments };
    }
    // After a comma, a key must follow (`{"Records":[],}` is not JSON).
    if c.eat(b',').is_ok() && c.peek() == Ok(b'"') {
        return Outcome::MoreKeys(c.pos());
    }
    Outcome::Broken
}

/// Whether the text opens with `{"Records":` and an array (the cursor then at the array).
fn starts_records(c: &mut Cursor) -> bool {
    c.eat(b'{').is_ok() && c.raw_string() == Ok(("Records", false)) && c.eat(b':').is_ok() && c.peek() == Ok(b'[')
}

/// Reads the record starting at `start` with serde_json; the offset just after it.
fn by_serde<'a>(text: &'a str, start: usize, rec: &mut Record<'a>) -> Result<usize, Miss> {
    let mut records = serde_json::Deserializer::from_str(&text[start..]).into_iter::<Record<'a>>();
    *rec = records.next().ok_or(Miss)?.map_err(|_| Miss)?;
    Ok(start + records.byte_offset())
}
