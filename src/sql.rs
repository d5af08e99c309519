//! SQL: named reports and ad-hoc queries, run by Polars SQL over the [`Tables`] (issue 5).
//!
//! Named reports are the `queries/*.sql` files, compiled into the binary; `--queries DIR` (or `queries` in
//! trailscan.toml) adds reports and overrides built-in ones of the same name. Each file starts with a
//! header of `-- key: value` comments (`name`, `description`, `columns`; a line indented under a key
//! continues it), which `report --list` shows and the tests check against what the query returns.
//!
//! Nothing the user types on the command line is ever spliced into SQL text: filters such as `--role` are
//! applied to the sessions before the tables are built (in `cmd`), so a role name cannot change a query.
//! Polars can panic on SQL it does not expect; [`run`] turns that into an error like any other.

use crate::messages::Help;
use crate::tables::Tables;
use anyhow::{bail, Context, Result};
use polars::prelude::*;
use polars::sql::SQLContext;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};

/// Where a report comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    BuiltIn,
    File(PathBuf),
}

/// One named report.
#[derive(Debug, Clone)]
pub struct Query {
    pub name: String,
    pub description: String,
    /// The columns the header promises, in order (empty when the header has no `-- columns:`).
    pub columns: Vec<String>,
    pub sql: String,
    pub origin: Origin,
}

/// The reports in `queries/`, compiled in.
const BUILT_IN: [(&str, &str); 10] = [
    ("console_sessions", include_str!("../queries/console_sessions.sql")),
    ("cross_account_access", include_str!("../queries/cross_account_access.sql")),
    ("daily_summary", include_str!("../queries/daily_summary.sql")),
    ("external_access", include_str!("../queries/external_access.sql")),
    ("failed_assumptions", include_str!("../queries/failed_assumptions.sql")),
    ("findings", include_str!("../queries/findings.sql")),
    ("inputs", include_str!("../queries/inputs.sql")),
    ("privileged_sessions", include_str!("../queries/privileged_sessions.sql")),
    ("who_assumed", include_str!("../queries/who_assumed.sql")),
    ("who_became_what", include_str!("../queries/who_became_what.sql")),
];

/// Parses a report file: its header and its SQL. `name` is the file's stem, which the header's `name`
/// must repeat, so that the name a user types is the name they see in the file.
pub fn parse(name: &str, text: &str, origin: Origin) -> Result<Query> {
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    let (mut header_name, mut description, mut columns) = (None::<String>, String::new(), String::new());
    let mut current: Option<&str> = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        let Some(rest) = trimmed.strip_prefix("--") else {
            if trimmed.is_empty() {
                continue;
            }
            break;
        };
        let key_value = if rest.starts_with("  ") { None } else { rest.trim().split_once(':') };
        let target = match key_value {
            Some((key, value)) if !key.is_empty() && key.chars().all(|c| c.is_ascii_lowercase() || c == '_') => {
                current = Some(match key {
                    "name" => "name",
                    "description" => "description",
                    "columns" => "columns",
                    _ => "other",
                });
                (current, value.trim())
            }
            _ => (current, rest.trim()),
        };
        match target {
            (Some("name"), v) if !v.is_empty() => header_name = Some(v.to_owned()),
            (Some("description"), v) => append(&mut description, v),
            (Some("columns"), v) => append(&mut columns, v),
            _ => {}
        }
    }
    if let Some(h) = &header_name {
        if h != name {
            let file = match &origin {
                Origin::File(p) => p.display().to_string(),
                Origin::BuiltIn => format!("queries/{name}.sql"),
            };
            bail!("{file} says `-- name: {h}`, but its file name makes it `{name}`: rename the file or fix the header");
        }
    }
    let columns = columns.split(',').map(str::trim).filter(|c| !c.is_empty()).map(str::to_owned).collect();
    Ok(Query { name: name.to_owned(), description, columns, sql: text.to_owned(), origin })
}

fn append(into: &mut String, more: &str) {
    if more.is_empty() {
        return;
    }
    if !into.is_empty() {
        into.push(' ');
    }
    into.push_str(more);
}

/// The built-in reports.
pub fn built_in() -> Vec<Query> {
    BUILT_IN
        .iter()
        .map(|(name, text)| parse(name, text, Origin::BuiltIn).expect("built-in report headers are tested"))
        .collect()
}

/// Every report: the built-in ones, then those in `dir`, which replace built-in ones of the same name.
/// Sorted by name.
pub fn catalog(dir: Option<&Path>) -> Result<Vec<Query>> {
    let mut all = built_in();
    if let Some(dir) = dir {
        let entries = std::fs::read_dir(dir).with_context(|| {
            format!("--queries {}: cannot read the folder (it should hold NAME.sql files)", dir.display())
        })?;
        let mut paths: Vec<PathBuf> = Vec::new();
        for e in entries {
            let p = e.with_context(|| format!("--queries {}: cannot list the folder", dir.display()))?.path();
            if p.extension().is_some_and(|x| x == "sql") && p.is_file() {
                paths.push(p);
            }
        }
        paths.sort();
        if paths.is_empty() {
            crate::messages::warn(&format!(
                "--queries {}: no .sql files there; only the built-in reports exist",
                dir.display()
            ));
        }
        for p in paths {
            let name = p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            let text = std::fs::read_to_string(&p).with_context(|| format!("cannot read report {}", p.display()))?;
            let q = parse(&name, &text, Origin::File(p))?;
            all.retain(|b| b.name != q.name);
            all.push(q);
        }
    }
    all.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(all)
}

/// Finds a report by name, or says which ones there are.
pub fn find<'a>(catalog: &'a [Query], name: &str) -> Result<&'a Query> {
    match catalog.iter().find(|q| q.name == name) {
        Some(q) => Ok(q),
        None => Err(Help {
            message: format!("there is no report named {name:?}: `trailscan report --list` describes them all"),
            lines: std::iter::once("reports:".to_owned())
                .chain(catalog.iter().map(|q| format!("  {}", q.name)))
                .collect(),
        }
        .into()),
    }
}

/// The report list as a table: `name, description, columns, source`.
pub fn catalog_frame(catalog: &[Query]) -> PolarsResult<DataFrame> {
    let col = |name: &str, f: &dyn Fn(&Query) -> String| -> Column {
        Column::new(name.into(), catalog.iter().map(f).collect::<Vec<String>>())
    };
    DataFrame::new(
        catalog.len(),
        vec![
            col("name", &|q| q.name.clone()),
            col("description", &|q| q.description.clone()),
            col("columns", &|q| q.columns.join(", ")),
            col("source", &|q| match &q.origin {
                Origin::BuiltIn => "built-in".to_owned(),
                Origin::File(p) => p.display().to_string(),
            }),
        ],
    )
}

/// Runs `sql` over the tables. A query Polars rejects, or one it panics on, is an error that names the
/// problem and lists the tables and columns there are.
pub fn run(tables: &Tables, sql: &str) -> Result<DataFrame> {
    if sql.trim().trim_end_matches(';').trim().is_empty() {
        return Err(Help { message: "the query is empty".into(), lines: tables_help(tables) }.into());
    }
    let mut ctx = SQLContext::new();
    for (name, df) in tables.named() {
        ctx.register(name, df.clone().lazy());
    }
    match guarded(|| ctx.execute(sql)?.collect()) {
        Ok(Ok(df)) => Ok(df),
        Ok(Err(e)) => Err(Help {
            message: format!("the query failed: {}", polars_problem(&e.to_string())),
            lines: tables_help(tables),
        }
        .into()),
        Err(panic) => Err(Help {
            message: format!(
                "Polars could not run the query: it stopped with an internal error ({}); rewrite the part it \
                 names, or split the query into simpler steps",
                polars_problem(&panic)
            ),
            lines: tables_help(tables),
        }
        .into()),
    }
}

/// Runs `f`, turning a panic into its message. The default panic hook is silenced meanwhile: the panic is
/// reported as an error, not as a backtrace on the user's terminal.
fn guarded<T>(f: impl FnOnce() -> T) -> std::result::Result<T, String> {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(AssertUnwindSafe(f));
    std::panic::set_hook(previous);
    result.map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".to_owned())
    })
}

/// The useful part of a Polars error: the plan dump it may append is for Polars developers, not users.
fn polars_problem(text: &str) -> String {
    let cut = ["Resolved plan until failure", "Error originated just after this operation", "\n\n"]
        .iter()
        .filter_map(|m| text.find(m))
        .min()
        .unwrap_or(text.len());
    let one_line = text[..cut].split_whitespace().collect::<Vec<_>>().join(" ");
    let one_line = one_line.trim_end_matches(':').to_owned();
    if one_line.chars().count() > 400 {
        format!("{}…", one_line.chars().take(399).collect::<String>())
    } else {
        one_line
    }
}

/// The tables and their columns, wrapped for a terminal, for error messages and `query --help`.
pub fn tables_help(tables: &Tables) -> Vec<String> {
    let mut lines = vec![
        "tables and their columns (join on sessions.event_id = actions.session_event_id = flags.session_event_id):"
            .to_owned(),
    ];
    for (name, df) in tables.named() {
        let mut line = format!("  {name:<9}");
        let indent = line.len();
        for (i, c) in df.get_column_names().iter().enumerate() {
            let word = if i + 1 < df.width() { format!("{c}, ") } else { c.to_string() };
            if line.len() + word.len() > 108 && line.len() > indent {
                lines.push(line.trim_end().to_owned());
                line = " ".repeat(indent);
            }
            line.push_str(&word);
        }
        lines.push(line.trim_end().to_owned());
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_headers_are_complete() {
        for q in built_in() {
            assert!(!q.description.is_empty(), "{} has no description", q.name);
            assert!(!q.columns.is_empty(), "{} has no columns", q.name);
            assert!(q.sql.contains("ORDER BY"), "{}: results must be ordered, or output depends on threads", q.name);
        }
    }

    #[test]
    fn header_parsing() {
        let q = parse(
            "x",
            "-- name: x\n-- description: one\n--   two: three\n-- columns: a, b,\n--   c\n-- note: ignored\nSELECT 1",
            Origin::BuiltIn,
        )
        .unwrap();
        assert_eq!(q.description, "one two: three");
        assert_eq!(q.columns, ["a", "b", "c"]);
        assert!(parse("y", "-- name: x\nSELECT 1", Origin::BuiltIn).unwrap_err().to_string().contains("rename"));
        let bare = parse("z", "SELECT 1", Origin::BuiltIn).unwrap();
        assert!(bare.description.is_empty() && bare.columns.is_empty());
    }

    #[test]
    fn every_built_in_report_runs_on_empty_tables_with_its_columns() {
        let t = crate::tables::empty().unwrap();
        for q in built_in() {
            let df = run(&t, &q.sql).unwrap_or_else(|e| panic!("{}: {e:#}", q.name));
            let got: Vec<String> = df.get_column_names().iter().map(|c| c.to_string()).collect();
            assert_eq!(got, q.columns, "{}: the header's columns differ from the result's", q.name);
        }
    }

    #[test]
    fn bad_queries_are_errors_not_panics() {
        let t = crate::tables::empty().unwrap();
        for sql in [
            "",
            ";",
            "SELECT",
            "SELECT * FROM",
            "SELECT * FROM nope",
            "SELECT nope FROM sessions",
            "SELEC * FROM sessions",
            "SELECT * FROM sessions; SELECT * FROM actions",
            "SELECT success + 'x' FROM sessions",
            "SELECT * FROM sessions WHERE success = 'maybe'",
            "SELECT COUNT(*) FROM sessions GROUP BY",
            "SELECT * FROM sessions JOIN actions",
            "SELECT * FROM sessions s JOIN actions a ON s.nope = a.nope",
            "SELECT UNNEST(event_count) FROM sessions",
            "SELECT event_count[1] FROM sessions",
            "SELECT SUM(DISTINCT) FROM sessions",
            "SELECT * FROM sessions ORDER BY 99",
            "SELECT * FROM sessions LIMIT -1",
            "SELECT 1/0",
            "SELECT CAST(assumed_at AS INT) FROM sessions",
        ] {
            // Some of these are valid SQL for Polars; the point is that none panics, and errors help.
            if let Err(e) = run(&t, sql) {
                let help = e.downcast_ref::<Help>().expect("a Help error");
                assert!(!help.message.is_empty(), "{sql}");
                assert!(help.lines.iter().any(|l| l.contains("assumed_at")), "{sql}: {:?}", help.lines);
            }
        }
    }

    #[test]
    fn plan_dumps_are_cut() {
        let e =
            "unable to find column \"x\"; valid columns: [\"a\"]\n\nResolved plan until failure:\n\n\t---> FAILED HERE";
        assert_eq!(polars_problem(e), "unable to find column \"x\"; valid columns: [\"a\"]");
    }
}
