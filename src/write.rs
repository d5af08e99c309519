//! Write: a DataFrame (or a large CSV table's rows, straight from the data: [`csv_rows`]) → stdout or a file,
//! in one of the output formats. Only this module (and `bundle`, which calls it) writes data. CSV cells that
//! a spreadsheet would run as a formula are neutralised; table cells lose terminal control characters; JSON
//! escapes by construction; Parquet is written with fixed settings so that the same table gives the same
//! bytes. Files are written atomically (see [`atomically`]).

use crate::config::Format;
use crate::messages::sanitize;
use anyhow::{bail, Context};
use polars::prelude::*;
use rayon::prelude::*;
use std::io::Write;
use std::path::Path;

/// Writes `df` in `format`. `table_columns` picks the columns a terminal table shows (all when empty).
pub fn write(df: &mut DataFrame, format: Format, table_columns: &[&str], out: &mut dyn Write) -> anyhow::Result<()> {
    match format {
        Format::Csv => write_csv(df, true, out)?,
        Format::Parquet => write_parquet(df, out)?,
        Format::Json => {
            if df.height() == 0 {
                out.write_all(b"[]")?;
            } else {
                JsonWriter::new(&mut *out).with_json_format(JsonFormat::Json).finish(df)?;
            }
            out.write_all(b"\n")?;
        }
        Format::Ndjson => JsonWriter::new(&mut *out).with_json_format(JsonFormat::JsonLines).finish(df)?,
        Format::Table => write_table(df, table_columns, out)?,
    }
    out.flush()?;
    Ok(())
}

/// The most rows [`write_in_parts`] builds at a time. A row of the sessions table costs about 2.5 KB while
/// it is built and written (its cells as Polars holds them, the CSV writer's buffers): on a million
/// records, parts of 16k rows ended at 241 MB, parts of 4k rows at 209-217 MB, in the same time.
pub const PART_ROWS: usize = 4 * 1024;

/// Writes a table of `rows` rows that `part` builds a range of rows at a time. CSV and NDJSON are written
/// part by part, so the table's text never sits in memory whole (on a large run it was the peak); the bytes
/// are those of writing the whole table at once. Other formats need every row first (a terminal table's
/// column widths, one JSON array, Parquet's row groups) and get the whole table.
pub fn write_in_parts(
    rows: usize,
    part: impl Fn(std::ops::Range<usize>) -> PolarsResult<DataFrame> + Sync,
    format: Format,
    table_columns: &[&str],
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    if !matches!(format, Format::Csv | Format::Ndjson) || rows <= PART_ROWS {
        return write(&mut part(0..rows)?, format, table_columns, out);
    }
    parts_in_order(rows, out, |range| {
        let first = range.start == 0;
        let mut df = part(range)?;
        let mut text = Vec::new();
        match format {
            // Only the first part of a CSV table has the header.
            Format::Csv if !first => write_csv(&df, false, &mut text)?,
            _ => write(&mut df, format, table_columns, &mut text)?,
        }
        Ok(text)
    })
}

/// Writes the text `part` gives for each range of up to [`PART_ROWS`] of `rows` rows, in order. As many
/// parts as the pool has threads are built side by side, then written: building a part does not wait for
/// the one before to be written, and memory holds a part per thread.
fn parts_in_order(
    rows: usize,
    out: &mut dyn Write,
    part: impl Fn(std::ops::Range<usize>) -> anyhow::Result<Vec<u8>> + Sync,
) -> anyhow::Result<()> {
    let starts: Vec<usize> = (0..rows).step_by(PART_ROWS).collect();
    for batch in starts.chunks(rayon::current_num_threads()) {
        let texts: Vec<anyhow::Result<Vec<u8>>> =
            batch.par_iter().map(|&start| part(start..rows.min(start + PART_ROWS))).collect();
        for t in texts {
            out.write_all(&t?)?;
        }
    }
    out.flush()?;
    Ok(())
}

/// One cell of a table built row by row (see `report::SESSION_COLUMNS`).
pub enum Cell<'a> {
    Text(Option<&'a str>),
    Owned(Option<String>),
    Bool(bool),
    U32(u32),
    U64(u64),
}

impl Cell<'_> {
    fn text(&self) -> Option<&str> {
        match self {
            Cell::Text(t) => *t,
            Cell::Owned(t) => t.as_deref(),
            _ => None,
        }
    }
}

/// The type of a column of cells.
#[derive(Clone, Copy)]
pub enum Kind {
    Text,
    Bool,
    U32,
    U64,
}

impl Kind {
    /// A column of `name` from its cells, all of this kind (another kind reads as null, or 0).
    pub fn column<'a>(self, name: &str, cells: impl Iterator<Item = Cell<'a>>) -> Column {
        let cells: Vec<Cell> = cells.collect();
        let name = name.into();
        match self {
            Kind::Text => Column::new(name, cells.iter().map(Cell::text).collect::<Vec<Option<&str>>>()),
            Kind::Bool => Column::new(name, cells.iter().map(|c| matches!(c, Cell::Bool(true))).collect::<Vec<bool>>()),
            Kind::U32 => {
                Column::new(name, cells.iter().map(|c| if let Cell::U32(n) = c { *n } else { 0 }).collect::<Vec<u32>>())
            }
            Kind::U64 => {
                Column::new(name, cells.iter().map(|c| if let Cell::U64(n) = c { *n } else { 0 }).collect::<Vec<u64>>())
            }
        }
    }
}

/// Writes a CSV table of `rows` rows straight from the data, `row` writing the line of one: the header,
/// then the lines, built a part at a time side by side and written in order. The bytes are those
/// [`write`] gives for the same table as a DataFrame.
pub fn csv_rows(
    header: &[&str],
    rows: usize,
    out: &mut dyn Write,
    row: impl Fn(usize, &mut Vec<u8>) + Sync,
) -> anyhow::Result<()> {
    let mut line = Vec::new();
    csv_row(header.iter().map(|h| Cell::Text(Some(h))), &mut line);
    out.write_all(&line)?;
    parts_in_order(rows, out, |range| {
        let mut text = Vec::new();
        range.for_each(|i| row(i, &mut text));
        Ok(text)
    })
}

/// Appends one CSV line: as Polars' CSV writer quotes (only where needed; an empty text quoted, so that it
/// differs from a missing one), with formula-like text neutralised as [`formula_safe`] does.
pub fn csv_row<'a>(cells: impl Iterator<Item = Cell<'a>>, line: &mut Vec<u8>) {
    for (i, cell) in cells.enumerate() {
        if i > 0 {
            line.push(b',');
        }
        match cell {
            Cell::Bool(b) => line.extend_from_slice(if b { b"true" } else { b"false" }),
            Cell::U32(n) => {
                let _ = write!(line, "{n}");
            }
            Cell::U64(n) => {
                let _ = write!(line, "{n}");
            }
            text => {
                if let Some(t) = text.text() {
                    csv_text(t, line)
                }
            }
        }
    }
    line.push(b'\n');
}

fn csv_text(text: &str, line: &mut Vec<u8>) {
    if text.is_empty() {
        line.extend_from_slice(b"\"\"");
        return;
    }
    let bytes = text.as_bytes();
    // Most of the writing's time is here, but not in the scan: it is the first touch of each cell's text,
    // scattered over memory (a cache miss a cell, as when Polars copied the cells).
    let quoted = bytes.iter().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r'));
    if quoted {
        line.push(b'"');
    }
    if is_formula(text) {
        line.push(b'\'');
    }
    if !quoted {
        line.extend_from_slice(bytes);
        return;
    }
    for (i, part) in text.split('"').enumerate() {
        if i > 0 {
            line.extend_from_slice(b"\"\"");
        }
        line.extend_from_slice(part.as_bytes());
    }
    line.push(b'"');
}

/// CSV, with formula-like cells neutralised; the header only when asked (the first part of a table).
fn write_csv(df: &DataFrame, header: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    if let Some(c) = df.columns().iter().find(|c| c.dtype().is_nested()) {
        bail!(
            "column {:?} holds lists, which CSV cannot: use --format json or parquet, or turn it into text \
             in the query (ARRAY_TO_STRING({}, ';'))",
            c.name().as_str(),
            c.name().as_str()
        );
    }
    let mut safe = formula_safe(df)?;
    CsvWriter::new(&mut *out).include_header(header).finish(&mut safe)?;
    Ok(())
}

/// Parquet with fixed settings (zstd at its default level, statistics, one row group up to 256k rows, written serially)
/// so that equal tables give equal bytes whatever the machine: auditors compare hashes. Timestamps stay
/// RFC 3339 strings, as in CSV, so both files of a bundle say the same thing.
fn write_parquet(df: &mut DataFrame, out: &mut dyn Write) -> anyhow::Result<()> {
    parquet_writer(out).finish(df)?;
    Ok(())
}

fn parquet_writer<W: Write>(out: W) -> ParquetWriter<W> {
    ParquetWriter::new(out)
        .with_compression(ParquetCompression::Zstd(None))
        .with_statistics(StatisticsOptions::default())
        .with_row_group_size(Some(ROW_GROUP_ROWS))
        .set_parallel(false)
}

/// The most rows of a Parquet row group (see [`write_parquet`]).
const ROW_GROUP_ROWS: usize = 256 * 1024;

/// The source rows (sessions, findings, files) of a table that [`parquet_in_parts`] builds at once: an
/// actions part of 16k sessions is about 125k rows.
pub const PARQUET_PART: usize = 16 * 1024;

/// Writes a table as Parquet, and as CSV into `csv` when given, from parts: `part` builds the rows of a range
/// of source rows (up to `group` of the `rows` at a time), and each part is written before the next is built,
/// so memory holds one part, not the table, and no part is built twice. The CSV bytes are those of writing
/// the whole table at once; the Parquet file has [`write_parquet`]'s settings, with row groups that follow
/// the parts, so equal input gives equal bytes. Returns how many rows the table has.
pub fn parquet_in_parts(
    rows: usize,
    group: usize,
    part: impl Fn(std::ops::Range<usize>) -> PolarsResult<DataFrame>,
    parquet: &mut dyn Write,
    mut csv: Option<&mut dyn Write>,
) -> anyhow::Result<usize> {
    let group = group.max(1);
    // Each part to the CSV, and counted; an empty table is one empty part, so the files still get their
    // header and schema.
    let mut table_rows = 0;
    let mut build = |range: std::ops::Range<usize>| -> anyhow::Result<DataFrame> {
        let df = part(range.clone())?;
        if let Some(csv) = csv.as_deref_mut() {
            write_csv(&df, range.start == 0, csv)?;
        }
        table_rows += df.height();
        Ok(df)
    };
    let first = build(0..rows.min(group))?;
    let mut writer = parquet_writer(&mut *parquet).batched(first.schema())?;
    write_row_groups(&mut writer, first)?;
    for start in (group..rows).step_by(group) {
        write_row_groups(&mut writer, build(start..rows.min(start + group))?)?;
    }
    writer.finish()?;
    drop(writer);
    if let Some(csv) = csv {
        csv.flush()?;
    }
    parquet.flush()?;
    Ok(table_rows)
}

/// Writes `df` as row groups of up to [`ROW_GROUP_ROWS`] rows.
fn write_row_groups<W: Write>(
    writer: &mut polars::io::parquet::write::BatchedWriter<W>,
    df: DataFrame,
) -> PolarsResult<()> {
    for offset in (0..df.height()).step_by(ROW_GROUP_ROWS) {
        let mut rows = df.slice(offset as i64, ROW_GROUP_ROWS);
        // One chunk is one row group.
        rows.rechunk_mut();
        writer.write_batch(&rows)?;
    }
    Ok(())
}

/// Writes `path` through `fill` atomically: into a temporary file beside it, flushed to disk, then renamed
/// over it. A reader never sees half a file, and a run that fails leaves the previous file whole. Paths
/// that are not regular files (`/dev/stdout`, a named pipe) cannot be renamed over and are written directly.
pub fn atomically(path: &Path, fill: impl FnOnce(&mut dyn Write) -> anyhow::Result<()>) -> anyhow::Result<()> {
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        let mut w = std::io::BufWriter::new(file);
        fill(&mut w)?;
        w.flush().with_context(|| format!("cannot write {}", path.display()))?;
        return Ok(());
    }
    let name = path
        .file_name()
        .with_context(|| format!("{} is not a file name", path.display()))?
        .to_string_lossy()
        .into_owned();
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let open = || std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp);
    // A leftover from a run of the same process id that was killed: ours to replace.
    let file = match open() {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            std::fs::remove_file(&tmp).ok();
            open()
        }
        other => other,
    }
    .with_context(|| {
        if dir.is_dir() {
            format!("cannot write {} (through the temporary file {})", path.display(), tmp.display())
        } else {
            format!("cannot write {}: the folder {} does not exist (create it first)", path.display(), dir.display())
        }
    })?;
    let written = (|| -> anyhow::Result<()> {
        let mut w = std::io::BufWriter::new(file);
        fill(&mut w)?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok(())
    })();
    if let Err(e) = written {
        std::fs::remove_file(&tmp).ok();
        return Err(e.context(format!("cannot write {}", path.display())));
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        std::fs::remove_file(&tmp).ok();
        anyhow::Error::new(e).context(format!("cannot write {} (renaming {} failed)", path.display(), tmp.display()))
    })
}

/// A list of names with their descriptions, for a terminal: each name on its own line, its description
/// wrapped and indented below it (`report --list`).
pub fn described_list(items: &[(&str, &str)], out: &mut dyn Write) -> anyhow::Result<()> {
    for (name, description) in items {
        writeln!(out, "{}", sanitize(name))?;
        let mut line = String::from("   ");
        for word in description.split_whitespace() {
            if line.len() + 1 + word.len() > 100 && line.len() > 3 {
                writeln!(out, "{}", sanitize(&line))?;
                line = String::from("   ");
            }
            line.push(' ');
            line.push_str(word);
        }
        if line.len() > 3 {
            writeln!(out, "{}", sanitize(&line))?;
        }
    }
    out.flush()?;
    Ok(())
}

/// Whether a spreadsheet would treat a cell as a formula: it starts with `=`, `+`, `-` or `@` and is not a
/// plain number, or it starts with a tab or carriage return (OWASP's CSV-injection list).
pub fn is_formula(cell: &str) -> bool {
    match cell.as_bytes().first() {
        Some(b'=' | b'@' | b'\t' | b'\r') => true,
        Some(b'+' | b'-') => cell.parse::<f64>().is_err(),
        _ => false,
    }
}

/// A copy of `df` whose string cells are formula-safe: a leading `'` makes spreadsheets show the text.
fn formula_safe(df: &DataFrame) -> PolarsResult<DataFrame> {
    let mut cols = Vec::with_capacity(df.width());
    for col in df.columns() {
        if col.dtype() == &DataType::String {
            let ca = col.str()?;
            if ca.iter().flatten().any(is_formula) {
                let v: Vec<Option<String>> =
                    ca.iter().map(|c| c.map(|s| if is_formula(s) { format!("'{s}") } else { s.to_owned() })).collect();
                cols.push(Column::new(col.name().clone(), v));
                continue;
            }
        }
        cols.push(col.clone());
    }
    DataFrame::new(df.height(), cols)
}

fn cell_text(v: AnyValue) -> String {
    match v {
        AnyValue::Null => String::new(),
        AnyValue::String(s) => sanitize(s).into_owned(),
        AnyValue::StringOwned(s) => sanitize(&s).into_owned(),
        AnyValue::Boolean(b) => b.to_string(),
        other => sanitize(&other.to_string()).into_owned(),
    }
}

/// The widest a table cell may be before it is cut with `…`; the whole value is in CSV and JSON.
const MAX_CELL: usize = 64;

/// Columns that are there to be read whole (a finding's one-line summary), so a table never cuts them.
const UNCUT_COLUMNS: [&str; 1] = ["summary"];

fn write_table(df: &DataFrame, columns: &[&str], out: &mut dyn Write) -> anyhow::Result<()> {
    let names: Vec<&str> =
        if columns.is_empty() { df.get_column_names().iter().map(|n| n.as_str()).collect() } else { columns.to_vec() };
    let cols: Vec<&Column> = names.iter().map(|n| df.column(n)).collect::<PolarsResult<_>>()?;
    let mut cells: Vec<Vec<String>> = Vec::with_capacity(df.height() + 1);
    cells.push(names.iter().map(|n| n.to_string()).collect());
    for i in 0..df.height() {
        let row = cols
            .iter()
            .map(|c| {
                let t = cell_text(c.get(i).unwrap_or(AnyValue::Null));
                if t.chars().count() > MAX_CELL && !UNCUT_COLUMNS.contains(&c.name().as_str()) {
                    let cut: String = t.chars().take(MAX_CELL - 1).collect();
                    format!("{cut}…")
                } else {
                    t
                }
            })
            .collect();
        cells.push(row);
    }
    let widths: Vec<usize> =
        (0..names.len()).map(|j| cells.iter().map(|r| r[j].chars().count()).max().unwrap_or(0)).collect();
    for row in &cells {
        let mut line = String::new();
        for (j, c) in row.iter().enumerate() {
            if j > 0 {
                line.push_str("  ");
            }
            line.push_str(c);
            if j + 1 < row.len() {
                line.extend(std::iter::repeat_n(' ', widths[j] - c.chars().count()));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    if columns.len() < df.width() && !columns.is_empty() {
        writeln!(
            out,
            "({} rows; {} of {} columns shown, all with --format csv or json)",
            df.height(),
            columns.len(),
            df.width()
        )?;
    } else {
        writeln!(out, "({} rows)", df.height())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_written_in_parts_is_the_table_written_whole() {
        // More rows than a part, a formula first met in a later part, a quote, a comma and an empty cell.
        let rows = PART_ROWS * 2 + 7;
        let text = |i: usize| match i % 5000 {
            4999 => Some("=HYPERLINK(\"http://x\")".to_owned()),
            7 => Some("a,\"b\"".to_owned()),
            13 => None,
            _ => Some(format!("row {i}")),
        };
        let table = |range: std::ops::Range<usize>| {
            let (texts, numbers): (Vec<Option<String>>, Vec<u64>) = range.map(|i| (text(i), i as u64)).unzip();
            DataFrame::new(texts.len(), vec![Column::new("text".into(), texts), Column::new("n".into(), numbers)])
        };
        for format in [Format::Csv, Format::Ndjson] {
            let mut whole = Vec::new();
            write(&mut table(0..rows).unwrap(), format, &[], &mut whole).unwrap();
            let mut parts = Vec::new();
            write_in_parts(rows, table, format, &[], &mut parts).unwrap();
            assert!(whole == parts, "{format:?}");
            assert!(String::from_utf8(parts).unwrap().contains("'=HYPERLINK") || format == Format::Ndjson);
        }
    }

    #[test]
    fn a_table_written_to_csv_and_parquet_in_parts_is_built_a_part_at_a_time() {
        // Three parts and a bit; each part a source row's worth of several table rows, as actions are.
        let (rows, group) = (3 * 100 + 7, 100);
        let built = std::sync::Mutex::new(Vec::new());
        let table = |range: std::ops::Range<usize>| {
            built.lock().unwrap().push(range.clone());
            let sources: Vec<u64> = range.flat_map(|i| [i as u64; 3]).collect();
            let texts: Vec<Option<String>> =
                sources.iter().map(|&i| (i % 50 != 0).then(|| format!("=row {i}"))).collect();
            DataFrame::new(sources.len(), vec![Column::new("n".into(), sources), Column::new("text".into(), texts)])
        };
        let (mut parquet, mut csv) = (Vec::new(), Vec::new());
        let written = parquet_in_parts(rows, group, table, &mut parquet, Some(&mut csv)).unwrap();
        assert_eq!(written, 3 * rows);
        // Never more than a part at once, and no part built twice.
        assert_eq!(std::mem::take(&mut *built.lock().unwrap()), vec![0..100, 100..200, 200..300, 300..307]);
        // The same table as written whole, in both formats.
        let mut whole = table(0..rows).unwrap();
        let mut whole_csv = Vec::new();
        write(&mut whole, Format::Csv, &[], &mut whole_csv).unwrap();
        assert!(csv == whole_csv);
        let read = ParquetReader::new(std::io::Cursor::new(parquet)).finish().unwrap();
        assert!(read.equals_missing(&whole), "{read}");
        // An empty table still has its header and its schema.
        let (mut parquet, mut csv) = (Vec::new(), Vec::new());
        assert_eq!(parquet_in_parts(0, group, table, &mut parquet, Some(&mut csv)).unwrap(), 0);
        assert_eq!(String::from_utf8(csv).unwrap(), "n,text\n");
        let read = ParquetReader::new(std::io::Cursor::new(parquet)).finish().unwrap();
        let names: Vec<&str> = read.get_column_names().iter().map(|n| n.as_str()).collect();
        assert_eq!((read.height(), names), (0, vec!["n", "text"]));
    }

    #[test]
    fn formula_cells() {
        for f in ["=cmd|' /C calc'!A0", "+1+2", "-2+3", "@SUM(A1)", "\tx", "\rx", "-", "+"] {
            assert!(is_formula(f), "{f:?}");
        }
        for ok in ["", "-1", "+3.5", "-1e5", "arn:aws:iam::1:role/x", "a=b", "203.0.113.10"] {
            assert!(!is_formula(ok), "{ok:?}");
        }
    }

    #[test]
    fn csv_neutralises_formulas_and_table_strips_controls() {
        let mut df = DataFrame::new(
            2,
            vec![
                Column::new("name".into(), vec![Some("=HYPERLINK(\"x\")"), Some("evil\x1b[2J")]),
                Column::new("n".into(), vec![1u64, 2]),
            ],
        )
        .unwrap();
        let mut csv = Vec::new();
        write(&mut df, Format::Csv, &[], &mut csv).unwrap();
        let csv = String::from_utf8(csv).unwrap();
        assert!(csv.contains("\"'=HYPERLINK(\"\"x\"\")\""), "{csv}");
        let mut table = Vec::new();
        write(&mut df, Format::Table, &[], &mut table).unwrap();
        let table = String::from_utf8(table).unwrap();
        assert!(!table.contains('\x1b'), "{table}");
        assert!(table.contains("evil\u{FFFD}[2J"));
    }
}
