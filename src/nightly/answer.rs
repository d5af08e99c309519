//! `--history OUT`: `query`, `sessions`, `who-assumed` and `who-became-what` answered from the history a
//! nightly job wrote, without reading a log. OUT is a folder, or an S3 prefix read through a local mirror
//! ([`mirror`]). The same filters as on logs apply to the sessions table, and the actions and flags of the
//! sessions left out go with them.

use super::{history, mirror};
use crate::filter::{Fields, SessionFilter};
use crate::pattern::Pattern;
use crate::report::{who_became_what_of, Became};
use crate::source::s3::S3Options;
use crate::source::SourceSpec;
use crate::tables::Tables;
use crate::timefmt::parse_iso;
use anyhow::Result;
use polars::prelude::*;
use std::collections::HashSet;

fn strs<'a>(df: &'a DataFrame, name: &str) -> Result<Vec<Option<&'a str>>> {
    let ca = df.column(name)?.str()?;
    Ok((0..ca.len()).map(|i| ca.get(i)).collect())
}

/// The history's tables, narrowed to the sessions `filter` keeps.
pub fn tables(out: &SourceSpec, aws: &S3Options, filter: &SessionFilter) -> Result<Tables> {
    let mut t = match out {
        SourceSpec::Disk(dir) => history::read(dir)?,
        SourceSpec::S3 { bucket, prefix } => history::read(&mirror::sync(bucket, prefix, aws)?)?,
    };
    let roles = strs(&t.sessions, "role_arn")?;
    let sources = strs(&t.sessions, "source_principal")?;
    let origins = strs(&t.sessions, "origin_principal")?;
    let role_accounts = strs(&t.sessions, "role_account")?;
    let caller_accounts = strs(&t.sessions, "caller_account")?;
    let mask: Vec<bool> = (0..t.sessions.height())
        .map(|i| {
            filter.keeps_fields(&Fields {
                role_arn: roles[i],
                source_principal: sources[i],
                origin_principal: origins[i],
                role_account: role_accounts[i],
                caller_account: caller_accounts[i],
            })
        })
        .collect();
    if mask.iter().all(|&k| k) {
        return Ok(t);
    }
    t.sessions = t.sessions.filter(&BooleanChunked::from_slice("keep".into(), &mask))?;
    let kept: HashSet<String> = strs(&t.sessions, "event_id")?.into_iter().flatten().map(str::to_owned).collect();
    let by_session = |df: &DataFrame| -> Result<DataFrame> {
        let ids = strs(df, "session_event_id")?;
        let m: Vec<bool> = ids.iter().map(|id| id.is_some_and(|id| kept.contains(id))).collect();
        Ok(df.filter(&BooleanChunked::from_slice("keep".into(), &m))?)
    };
    t.actions = by_session(&t.actions)?;
    t.flags = by_session(&t.flags)?;
    Ok(t)
}

/// `who-became-what` over the history's sessions table: the columns `report::who_became_what_frame` gives.
pub fn who_became_what(sessions: &DataFrame, principal: Option<&Pattern>) -> Result<DataFrame> {
    let origins = strs(sessions, "origin_principal")?;
    let roles = strs(sessions, "role_arn")?;
    let arns = strs(sessions, "session_arn")?;
    let at = strs(sessions, "assumed_at")?;
    let depth = sessions.column("chain_depth")?.u32()?;
    let success = sessions.column("success")?.bool()?;
    let events = sessions.column("event_count")?.u64()?;
    let rows = (0..sessions.height())
        .filter(|&i| principal.is_none_or(|p| p.matches_principal(origins[i].unwrap_or_default())))
        .map(|i| Became {
            origin_principal: origins[i].unwrap_or_default(),
            became: roles[i].or(arns[i]).unwrap_or_default(),
            chain_depth: depth.get(i).unwrap_or(1),
            success: success.get(i).unwrap_or(false),
            // The history writes RFC 3339 UTC; anything else would not have come from trailscan.
            assumed_at: at[i].and_then(parse_iso).unwrap_or_default(),
            event_count: events.get(i).unwrap_or(0),
        });
    Ok(who_became_what_of(rows)?)
}
