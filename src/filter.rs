//! Filter: which sessions `--role`, `--principal` and `--account` keep, whether the sessions were just
//! rebuilt from logs or are rows of a nightly job's history. The values never become SQL text.

use crate::correlate::Session;
use crate::pattern::Pattern;
use anyhow::Result;

/// The `--role`, `--principal` and `--account` filters.
pub struct SessionFilter {
    role: Option<Pattern>,
    principal: Option<Pattern>,
    accounts: Vec<String>,
}

/// The fields of a session the filters look at (the sessions table's columns of the same names).
pub struct Fields<'a> {
    pub role_arn: Option<&'a str>,
    pub source_principal: Option<&'a str>,
    pub origin_principal: Option<&'a str>,
    pub role_account: Option<&'a str>,
    pub caller_account: Option<&'a str>,
}

impl SessionFilter {
    pub fn new(role: Option<&str>, principal: Option<&str>, accounts: &[String]) -> Result<Self> {
        Ok(SessionFilter {
            role: role.map(Pattern::new).transpose()?,
            principal: principal.map(Pattern::new).transpose()?,
            accounts: accounts.to_vec(),
        })
    }

    /// Keeps a session whose role matches `--role`, whose source or origin principal matches
    /// `--principal`, and whose role or caller is in one of the `--account`s.
    pub fn keeps_fields(&self, f: &Fields) -> bool {
        let account = |a: Option<&str>| a.is_some_and(|a| self.accounts.iter().any(|acct| acct == a));
        self.role.as_ref().is_none_or(|p| f.role_arn.is_some_and(|r| p.matches_role(r)))
            && self.principal.as_ref().is_none_or(|p| {
                f.source_principal.is_some_and(|s| p.matches_principal(s))
                    || f.origin_principal.is_some_and(|s| p.matches_principal(s))
            })
            && (self.accounts.is_empty() || account(f.role_account) || account(f.caller_account))
    }

    pub fn keeps(&self, s: &Session) -> bool {
        // A session's accounts are parsed out of ARNs: only worth it when an `--account` asks (on a million
        // records, parsing them for every session took 50 ms of a run that had no filter at all).
        let asked = !self.accounts.is_empty();
        self.keeps_fields(&Fields {
            role_arn: s.assumption.role_arn.as_deref(),
            source_principal: Some(&s.source_principal),
            origin_principal: Some(&s.origin_principal),
            role_account: if asked { s.role_account() } else { None },
            caller_account: if asked { s.caller_account() } else { None },
        })
    }
}
