//! Name, ARN and glob matching for roles and principals, as users write them on the command line and in
//! `trailscan.toml`: case-insensitive, because IAM names are unique regardless of case.

use crate::extract::role_name;
use anyhow::{Context, Result};

/// A name, an ARN, or a glob over either (`*Admin*`, `arn:aws:iam::*:role/cdk-*`).
#[derive(Debug, Clone)]
pub struct Pattern {
    glob: Option<globset::GlobMatcher>,
    exact: String,
}

impl Pattern {
    pub fn new(p: &str) -> Result<Self> {
        let glob = if p.contains(['*', '?', '[']) {
            Some(
                globset::GlobBuilder::new(p)
                    .case_insensitive(true)
                    .literal_separator(false)
                    .build()
                    .with_context(|| format!("{p:?} is not a valid glob"))?
                    .compile_matcher(),
            )
        } else {
            None
        };
        Ok(Pattern { glob, exact: p.to_lowercase() })
    }

    pub fn matches(&self, candidate: &str) -> bool {
        match &self.glob {
            Some(g) => g.is_match(candidate),
            None => candidate.to_lowercase() == self.exact,
        }
    }

    /// Matches a role by ARN, by name, or by path and name.
    pub fn matches_role(&self, role_arn: &str) -> bool {
        let path_and_name = role_arn.split_once(":role/").map(|(_, r)| r).unwrap_or(role_arn);
        self.matches(role_arn) || self.matches(role_name(role_arn)) || self.matches(path_and_name)
    }

    /// Matches a principal string by itself or by its last `/` or `:` segment (a user or session name).
    pub fn matches_principal(&self, p: &str) -> bool {
        let tail = p.rsplit(['/', ':']).next().unwrap_or(p);
        self.matches(p) || self.matches(tail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_and_principals() {
        let p = Pattern::new("*breakglass*").unwrap();
        assert!(p.matches_role("arn:aws:iam::1:role/ops/BreakGlassAdmin"));
        assert!(!p.matches_role("arn:aws:iam::1:role/ReadOnly"));
        let exact = Pattern::new("OrganizationAccountAccessRole").unwrap();
        assert!(exact.matches_role("arn:aws:iam::1:role/organizationaccountaccessrole"));
        assert!(Pattern::new("service-role/level1").unwrap().matches_role("arn:aws:iam::1:role/service-role/level1"));
        let user = Pattern::new("alice").unwrap();
        assert!(user.matches_principal("arn:aws:iam::1:user/Alice"));
        assert!(!user.matches_principal("arn:aws:iam::1:user/alicia"));
        assert!(Pattern::new("[").is_err());
    }
}
