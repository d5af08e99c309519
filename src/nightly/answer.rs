//! `--history OUT`: `query`, `sessions`, `who-assumed` and `who-became-what` answered from the history a
//! nightly job wrote, without reading a log. The same filters as on logs apply to the sessions table, and
//! the actions and flags of the sessions left out go with them.

use super::history;
use crate::pattern::Pattern;
use crate::tables::Tables;
use anyhow::Result;
use polars::prelude::*;
use std::collections::{BTreeMap, HashSet};
use std::path::Path;

/// Which sessions an answer keeps.
pub struct Filter {
    pub role: Option<Pattern>,
    pub principal: Option<Pattern>,
    pub accounts: Vec<String>,
}

impl Filter {
    pub fn new(role: Option<&str>, principal: Option<&str>, accounts: &[String]) -> Result<Filter> {
        Ok(Filter {
            role: role.map(Pattern::new).transpose()?,
            principal: principal.map(Pattern::new).transpose()?,
            accounts: accounts.to_vec(),
        })
    }
}

fn strs<'a>(df: &'a DataFrame, name: &str) -> Result<Vec<Option<&'a str>>> {
    let ca = df.column(name)?.str()?;
    Ok((0..ca.len()).map(|i| ca.get(i)).collect())
}

/// The history's tables, narrowed to the sessions `filter` keeps.
pub fn tables(out: &Path, filter: &Filter) -> Result<Tables> {
    let mut t = history::read(out)?;
    let roles = strs(&t.sessions, "role_arn")?;
    let sources = strs(&t.sessions, "source_principal")?;
    let origins = strs(&t.sessions, "origin_principal")?;
    let role_accounts = strs(&t.sessions, "role_account")?;
    let caller_accounts = strs(&t.sessions, "caller_account")?;
    let mask: Vec<bool> = (0..t.sessions.height())
        .map(|i| {
            filter.role.as_ref().is_none_or(|p| roles[i].is_some_and(|r| p.matches_role(r)))
                && filter.principal.as_ref().is_none_or(|p| {
                    sources[i].is_some_and(|s| p.matches_principal(s))
                        || origins[i].is_some_and(|s| p.matches_principal(s))
                })
                && (filter.accounts.is_empty()
                    || filter
                        .accounts
                        .iter()
                        .any(|a| role_accounts[i] == Some(a.as_str()) || caller_accounts[i] == Some(a.as_str())))
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
    #[derive(Default)]
    struct Agg {
        direct: bool,
        chained: bool,
        sessions: u64,
        ok: u64,
        failed: u64,
        depth: u32,
        first: Option<String>,
        last: Option<String>,
        events: u64,
    }
    let origins = strs(sessions, "origin_principal")?;
    let roles = strs(sessions, "role_arn")?;
    let arns = strs(sessions, "session_arn")?;
    let at = strs(sessions, "assumed_at")?;
    let depth: Vec<Option<u32>> = {
        let ca = sessions.column("chain_depth")?.u32()?;
        (0..ca.len()).map(|i| ca.get(i)).collect()
    };
    let success: Vec<Option<bool>> = {
        let ca = sessions.column("success")?.bool()?;
        (0..ca.len()).map(|i| ca.get(i)).collect()
    };
    let events: Vec<Option<u64>> = {
        let ca = sessions.column("event_count")?.u64()?;
        (0..ca.len()).map(|i| ca.get(i)).collect()
    };
    let mut groups: BTreeMap<(String, String), Agg> = BTreeMap::new();
    for i in 0..sessions.height() {
        let origin = origins[i].unwrap_or_default();
        if principal.is_some_and(|p| !p.matches_principal(origin)) {
            continue;
        }
        let became = roles[i].or(arns[i]).unwrap_or_default();
        let g = groups.entry((origin.to_owned(), became.to_owned())).or_default();
        let d = depth[i].unwrap_or(1);
        g.direct |= d <= 1;
        g.chained |= d > 1;
        g.sessions += 1;
        if success[i].unwrap_or(false) {
            g.ok += 1;
        } else {
            g.failed += 1;
        }
        g.depth = g.depth.max(d);
        // RFC 3339 UTC text compares as time.
        let t = at[i].map(str::to_owned);
        if g.first.is_none() || t < g.first {
            g.first = t.clone();
        }
        if t > g.last {
            g.last = t;
        }
        g.events += events[i].unwrap_or(0);
    }
    let keys: Vec<&(String, String)> = groups.keys().collect();
    let vals: Vec<&Agg> = groups.values().collect();
    let s = |name: &str, v: Vec<Option<String>>| Column::new(name.into(), v);
    let cols = vec![
        s("origin_principal", keys.iter().map(|k| Some(k.0.clone())).collect()),
        s("role_arn", keys.iter().map(|k| Some(k.1.clone()).filter(|s| !s.is_empty())).collect()),
        s(
            "via",
            vals.iter()
                .map(|g| {
                    Some(
                        match (g.direct, g.chained) {
                            (true, true) => "direct+chain",
                            (false, true) => "chain",
                            _ => "direct",
                        }
                        .to_owned(),
                    )
                })
                .collect(),
        ),
        Column::new("sessions".into(), vals.iter().map(|g| g.sessions).collect::<Vec<u64>>()),
        Column::new("successful".into(), vals.iter().map(|g| g.ok).collect::<Vec<u64>>()),
        Column::new("failed".into(), vals.iter().map(|g| g.failed).collect::<Vec<u64>>()),
        Column::new("max_chain_depth".into(), vals.iter().map(|g| g.depth).collect::<Vec<u32>>()),
        s("first_assumed_at", vals.iter().map(|g| g.first.clone()).collect()),
        s("last_assumed_at", vals.iter().map(|g| g.last.clone()).collect()),
        Column::new("event_count".into(), vals.iter().map(|g| g.events).collect::<Vec<u64>>()),
    ];
    Ok(DataFrame::new(keys.len(), cols)?)
}
