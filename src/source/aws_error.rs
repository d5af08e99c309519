//! AWS errors as the user reads them: one line saying why a request failed (the service's error code and
//! message, or the causes of a request that never reached the service: no credentials, no network) and what
//! to do about the usual causes. Never the SDK's debug dump of the whole error, which runs to a screenful of
//! internals (`DispatchFailure(ConnectorError { … SdkBody { … } })`) and hides the one line that matters.

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use std::error::Error;

/// What an AWS request's failure comes down to, for the advice given with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// No credentials were found anywhere the AWS chain looks.
    NoCredentials,
    /// The credentials have expired (an SSO or assumed-role session past its end).
    Expired,
    /// AWS does not know the access key, or the secret does not match it.
    BadCredentials,
    /// The credentials are valid but not allowed this call.
    Denied,
    /// The bucket does not exist (or the name is mistyped).
    NoSuchBucket,
    /// The endpoint does not implement the request (an S3-compatible store without conditional writes).
    NotImplemented,
    /// The endpoint could not be reached at all.
    Unreachable,
    Other,
}

/// Why an AWS request failed.
#[derive(Debug, Clone)]
pub struct Failure {
    /// One line: `AccessDenied: Access Denied (HTTP 403)`, or the chain of causes.
    pub text: String,
    pub cause: Cause,
}

impl Failure {
    pub fn of<E: ProvideErrorMetadata + Error + 'static>(e: &SdkError<E, HttpResponse>) -> Failure {
        let status = e.raw_response().map(|r| r.status().as_u16());
        let text = match (e.code(), e.message(), status) {
            (Some(code), Some(message), Some(status)) => format!("{code}: {message} (HTTP {status})"),
            (Some(code), Some(message), None) => format!("{code}: {message}"),
            (Some(code), None, Some(status)) => format!("{code} (HTTP {status})"),
            (None, _, Some(status)) => format!("{} (HTTP {status})", causes(e)),
            _ => causes(e),
        };
        Failure { cause: cause(e.code(), status, &text), text }
    }

    /// The failure with the advice for its cause; `denied` names the permissions the request needs.
    pub fn explained(&self, denied: &str) -> String {
        let advice = match self.cause {
            Cause::NoCredentials => {
                "no AWS credentials found: set AWS_PROFILE (or --profile), run `aws sso login`, or set \
                 AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            }
            Cause::Expired => "the AWS credentials have expired: renew them (`aws sso login`, or a new session)",
            Cause::BadCredentials => {
                "AWS does not accept these credentials: check AWS_PROFILE (or --profile) and the keys it holds"
            }
            Cause::Denied => denied,
            Cause::NoSuchBucket => "check the bucket name",
            Cause::NotImplemented => "the endpoint does not support this request",
            Cause::Unreachable => "check the network, and --endpoint-url if one is set",
            Cause::Other => return self.text.clone(),
        };
        format!("{} ({advice})", self.text)
    }
}

/// Each error of the chain once, joined by ": " (`dispatch failure: other: an error occurred while loading
/// credentials: …`), on one line.
fn causes(e: &(dyn Error + 'static)) -> String {
    let mut text = one_line(&e.to_string());
    let mut next = e.source();
    while let Some(cause) = next {
        let line = one_line(&cause.to_string());
        if !line.is_empty() && !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        next = cause.source();
    }
    text
}

/// A message of several lines (the credential chain lists each provider it tried on a line of its own) as
/// one: lines joined by "; ", or by a space after a colon.
fn one_line(message: &str) -> String {
    let mut line = String::with_capacity(message.len());
    for part in message.lines().map(str::trim).filter(|p| !p.is_empty()) {
        if !line.is_empty() {
            line.push_str(if line.ends_with(':') { " " } else { "; " });
        }
        line.push_str(part);
    }
    line
}

fn cause(code: Option<&str>, status: Option<u16>, text: &str) -> Cause {
    match code {
        Some("ExpiredToken" | "ExpiredTokenException" | "RequestExpired" | "TokenRefreshRequired") => Cause::Expired,
        Some(
            "InvalidAccessKeyId"
            | "SignatureDoesNotMatch"
            | "InvalidToken"
            | "InvalidClientTokenId"
            | "UnrecognizedClientException"
            | "IncompleteSignature",
        ) => Cause::BadCredentials,
        Some("AccessDenied" | "AccessDeniedException" | "AllAccessDisabled") => Cause::Denied,
        Some("NoSuchBucket") => Cause::NoSuchBucket,
        Some("NotImplemented") => Cause::NotImplemented,
        Some(_) => Cause::Other,
        None if status == Some(403) => Cause::Denied,
        None if status == Some(404) => Cause::NoSuchBucket,
        None if status.is_some() => Cause::Other,
        // Never reached the service: the credential chain is the usual reason, then the network.
        None if text.contains("credentials") => Cause::NoCredentials,
        None if ["dispatch failure", "timeout", "connect", "dns error"].iter().any(|w| text.contains(w)) => {
            Cause::Unreachable
        }
        None => Cause::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_that_never_left_is_told_by_its_causes() {
        // The chain the SDK gives when no credentials are found (IMDS refused, as on a laptop).
        let text = "dispatch failure: other: an error occurred while loading credentials: failed to load IMDS \
                    session token: service error: request forbidden";
        assert_eq!(cause(None, None, text), Cause::NoCredentials, "not read as Forbidden");
        assert_eq!(cause(None, None, "dispatch failure: io error: tcp connect error"), Cause::Unreachable);
        assert_eq!(cause(Some("AccessDenied"), Some(403), "AccessDenied: Access Denied"), Cause::Denied);
        assert_eq!(cause(None, Some(403), "service error (HTTP 403)"), Cause::Denied);
        assert_eq!(cause(Some("ExpiredToken"), Some(400), ""), Cause::Expired);
        assert_eq!(cause(Some("SignatureDoesNotMatch"), Some(403), ""), Cause::BadCredentials);
    }

    #[test]
    fn causes_are_each_named_once() {
        #[derive(Debug)]
        struct E(&'static str, Option<Box<E>>);
        impl std::fmt::Display for E {
            fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(self.0)
            }
        }
        impl Error for E {
            fn source(&self) -> Option<&(dyn Error + 'static)> {
                self.1.as_deref().map(|e| e as _)
            }
        }
        let e = E("dispatch failure", Some(Box::new(E("timed out", Some(Box::new(E("timed out", None)))))));
        assert_eq!(causes(&e), "dispatch failure: timed out");
        let chain = E("no credentials found in chain. Attempted:\n\tEnvironment: not set\n\tProfile: not set", None);
        assert_eq!(causes(&chain), "no credentials found in chain. Attempted: Environment: not set; Profile: not set");
    }
}
