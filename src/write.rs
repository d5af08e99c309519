//! Write: a DataFrame → stdout or a file, in one of the output formats. Only this module writes data.
//! CSV cells that a spreadsheet would run as a formula are neutralised; table cells lose terminal control
//! characters; JSON escapes by construction.

use crate::config::Format;
use crate::messages::sanitize;
use polars::prelude::*;
use std::io::Write;

/// Writes `df` in `format`. `table_columns` picks the columns a terminal table shows (all when empty).
pub fn write(df: &mut DataFrame, format: Format, table_columns: &[&str], out: &mut dyn Write) -> anyhow::Result<()> {
    match format {
        Format::Csv => {
            let mut safe = formula_safe(df)?;
            CsvWriter::new(&mut *out).include_header(true).finish(&mut safe)?;
        }
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
