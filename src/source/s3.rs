//! S3: list a trail bucket with the trail layout in mind, and fetch objects with bounded concurrency.
//!
//! Async stops here: the rest of trailscan sees plain [`ObjectRef`]s and byte buffers. Listing discovers
//! accounts and regions with delimiter listings and lists only the date folders the time window can need
//! (see `layout`), never descending into `CloudTrail-Digest`, `-Insight`, `-NetworkActivity` or
//! `-Aggregated`. A prefix that is not a trail layout is listed plainly. Fetches run [`FETCH_CONCURRENCY`] at a
//! time into a bounded channel, so memory holds at most a few dozen objects whatever the bucket's size.
//! Throttling and transient errors are retried by the SDK (adaptive retry, [`MAX_ATTEMPTS`] attempts).
//! Single-object reads and writes (the nightly job's STATE and OUT on S3) are in [`store`].

use super::layout::{self, Scope};
use super::{Location, ObjectRef};
use anyhow::{bail, Context, Result};
use aws_sdk_s3::error::DisplayErrorContext;
use std::sync::Arc;
use tokio::task::JoinSet;

pub mod store;

/// Objects fetched at once.
pub const FETCH_CONCURRENCY: usize = 32;
/// Listing requests in flight at once.
const LIST_CONCURRENCY: usize = 16;
/// Attempts per request, including the first, before an object is reported as failed.
pub const MAX_ATTEMPTS: u32 = 6;

/// How to reach S3: the standard AWS chain (environment, profiles, SSO, web identity, IMDS) plus overrides.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct S3Options {
    pub profile: Option<String>,
    pub region: Option<String>,
    /// An S3-compatible endpoint (MinIO, a local test server): path-style addressing is used there.
    pub endpoint_url: Option<String>,
}

/// A connected S3 client with the runtime that drives it.
pub struct S3 {
    rt: tokio::runtime::Runtime,
    client: aws_sdk_s3::Client,
    opts: S3Options,
}

/// A key prefix as a folder: empty, or ending in `/` (`AWSLogs` → `AWSLogs/`), so that nothing beside it matches.
pub fn as_folder(prefix: &str) -> String {
    if prefix.is_empty() || prefix.ends_with('/') {
        prefix.to_owned()
    } else {
        format!("{prefix}/")
    }
}

/// `s3://bucket/prefix` split.
pub fn parse_url(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("s3://")?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    (!bucket.is_empty()).then(|| (bucket.to_owned(), prefix.to_owned()))
}

impl S3 {
    pub fn connect(opts: &S3Options) -> Result<S3> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .context("cannot start the S3 runtime")?;
        let client = rt.block_on(client_for(opts, None));
        Ok(S3 { rt, client, opts: opts.clone() })
    }

    /// Re-creates the client in the bucket's own region (S3 refuses requests sent to another region).
    fn for_bucket(&mut self, bucket: &str) -> Result<()> {
        if self.opts.endpoint_url.is_some() {
            return Ok(());
        }
        let region = self.rt.block_on(async {
            match self.client.head_bucket().bucket(bucket).send().await {
                Ok(out) => Ok(out.bucket_region().map(str::to_owned)),
                Err(e) => {
                    let from_header =
                        e.raw_response().and_then(|r| r.headers().get("x-amz-bucket-region")).map(str::to_owned);
                    match from_header {
                        Some(r) => Ok(Some(r)),
                        None => Err(e),
                    }
                }
            }
        });
        match region {
            Ok(Some(r)) if Some(r.as_str()) != self.client.config().region().map(|r| r.as_ref()) => {
                self.client = self.rt.block_on(client_for(&self.opts, Some(r)));
                Ok(())
            }
            Ok(_) => Ok(()),
            Err(e) => bail!("cannot reach s3://{bucket}: {}{}", DisplayErrorContext(&e), hint(&e.to_string())),
        }
    }

    /// Lists the objects of `s3://bucket/prefix` that the scope can need.
    pub fn list(&mut self, bucket: &str, prefix: &str, scope: &Scope) -> Result<Vec<ObjectRef>> {
        self.for_bucket(bucket)?;
        let client = self.client.clone();
        let spinner = crate::messages::Progress::spinner();
        spinner.message(&format!("listing s3://{bucket}/{prefix}"));
        let keys = self.rt.block_on(walk(client, bucket.to_owned(), prefix.to_owned(), scope.clone()));
        spinner.finish();
        let keys = keys?;
        Ok(keys
            .into_iter()
            .filter(|(key, _, _)| scope.wants_path(key))
            .map(|(key, size, modified)| ObjectRef {
                location: Location::S3 { bucket: bucket.to_owned(), key },
                size,
                modified,
            })
            .collect())
    }

    /// Fetches `objects`, [`FETCH_CONCURRENCY`] at a time, calling `deliver` with each object's bytes or error
    /// as it completes. `deliver` may block (a bounded channel): that is the backpressure.
    pub fn fetch(
        &self,
        objects: Vec<ObjectRef>,
        deliver: impl Fn(ObjectRef, Result<Vec<u8>, String>) + Send + Sync + 'static,
    ) {
        let deliver = Arc::new(deliver);
        let client = self.client.clone();
        self.rt.block_on(async move {
            let mut set = JoinSet::new();
            let mut queue = objects.into_iter();
            loop {
                while set.len() < FETCH_CONCURRENCY {
                    let Some(obj) = queue.next() else { break };
                    let (client, deliver) = (client.clone(), deliver.clone());
                    set.spawn(async move {
                        let bytes = get(&client, &obj).await;
                        // Hand over on a blocking thread: the channel may be full while workers catch up.
                        let _ = tokio::task::spawn_blocking(move || deliver(obj, bytes)).await;
                    });
                }
                if set.join_next().await.is_none() {
                    break;
                }
            }
        });
    }
}

async fn client_for(opts: &S3Options, region: Option<String>) -> aws_sdk_s3::Client {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest()).retry_config(
        aws_config::retry::RetryConfig::adaptive()
            .with_max_attempts(MAX_ATTEMPTS)
            .with_initial_backoff(std::time::Duration::from_millis(250))
            .with_max_backoff(std::time::Duration::from_secs(10)),
    );
    if let Some(p) = &opts.profile {
        loader = loader.profile_name(p);
    }
    if let Some(r) = region.or_else(|| opts.region.clone()) {
        loader = loader.region(aws_config::Region::new(r));
    }
    let shared = loader.load().await;
    let mut b = aws_sdk_s3::config::Builder::from(&shared);
    if shared.region().is_none() {
        b = b.region(aws_config::Region::new("us-east-1"));
    }
    if let Some(url) = &opts.endpoint_url {
        b = b.endpoint_url(url).force_path_style(true);
    }
    aws_sdk_s3::Client::from_conf(b.build())
}

/// What to do about common S3 errors.
fn hint(err: &str) -> &'static str {
    if err.contains("AccessDenied") || err.contains("Forbidden") {
        " (trailscan needs s3:ListBucket on the bucket and s3:GetObject on the objects; see the README's IAM policy)"
    } else if err.contains("credentials") || err.contains("NoCredentials") {
        " (no AWS credentials found: set AWS_PROFILE or --profile, or the AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY environment)"
    } else if err.contains("NoSuchBucket") {
        " (check the bucket name)"
    } else {
        ""
    }
}

async fn get(client: &aws_sdk_s3::Client, obj: &ObjectRef) -> Result<Vec<u8>, String> {
    let Location::S3 { bucket, key } = &obj.location else { return Err("not an S3 object".into()) };
    let out = client.get_object().bucket(bucket).key(key).send().await.map_err(|e| {
        let text = DisplayErrorContext(&e).to_string();
        format!("cannot fetch: {text}{}", hint(&text))
    })?;
    let body = out.body.collect().await.map_err(|e| format!("download interrupted: {e}"))?;
    Ok(body.into_bytes().to_vec())
}

/// One `ListObjectsV2` walk: common prefixes with a delimiter, or every object below the prefix without.
async fn list_level(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    delimited: bool,
) -> Result<(Vec<String>, Vec<(String, u64, Option<i64>)>)> {
    let mut dirs = Vec::new();
    let mut objects = Vec::new();
    let mut req = client.list_objects_v2().bucket(bucket).prefix(prefix);
    if delimited {
        req = req.delimiter("/");
    }
    let mut pages = req.into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            let text = DisplayErrorContext(&e).to_string();
            anyhow::anyhow!("cannot list s3://{bucket}/{prefix}: {text}{}", hint(&text))
        })?;
        dirs.extend(page.common_prefixes().iter().filter_map(|p| p.prefix().map(str::to_owned)));
        objects.extend(page.contents().iter().filter_map(|o| {
            Some((o.key()?.to_owned(), o.size().unwrap_or(0).max(0) as u64, o.last_modified().map(|t| t.secs())))
        }));
    }
    Ok((dirs, objects))
}

/// Lists what the scope can need below `prefix`, following the trail layout where there is one.
async fn walk(
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
    scope: Scope,
) -> Result<Vec<(String, u64, Option<i64>)>> {
    let client = Arc::new(client);
    // Find the trail levels: `…/AWSLogs/` → orgs or accounts → `CloudTrail/` → regions.
    let region_prefixes = match trail_regions(&client, &bucket, &prefix, &scope).await? {
        Some(r) => r,
        // Not a trail layout: every object below the prefix.
        None => return Ok(list_level(&client, &bucket, &prefix, false).await?.1),
    };
    // Then only the date folders the window can need, in parallel.
    let mut leaf_prefixes = Vec::new();
    for region in region_prefixes {
        match (layout::parse(&region).and_then(|t| t.date), scope.day_folders()) {
            (None, Some(days)) => leaf_prefixes.extend(days.iter().map(|d| format!("{region}{d}"))),
            _ => leaf_prefixes.push(region),
        }
    }
    let mut out = Vec::new();
    let mut set = JoinSet::new();
    let mut queue = leaf_prefixes.into_iter();
    loop {
        while set.len() < LIST_CONCURRENCY {
            let Some(p) = queue.next() else { break };
            let (client, bucket) = (client.clone(), bucket.clone());
            set.spawn(async move { list_level(&client, &bucket, &p, false).await.map(|(_, o)| o) });
        }
        match set.join_next().await {
            Some(res) => out.extend(res.context("listing task failed")??),
            None => break,
        }
    }
    out.sort();
    Ok(out)
}

/// The `…/CloudTrail/<region>/` prefixes (or deeper, if the user's prefix already is) that the scope wants,
/// or `None` when the prefix is not in a trail layout.
async fn trail_regions(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    scope: &Scope,
) -> Result<Option<Vec<String>>> {
    let prefix = as_folder(prefix);
    // Already inside an account's CloudTrail tree.
    if let Some(tp) = layout::parse(&prefix) {
        if tp.region.is_some() {
            return Ok(Some(vec![prefix]));
        }
        let (dirs, _) = list_level(client, bucket, &prefix, true).await?;
        return Ok(Some(
            dirs.into_iter()
                .filter(|d| layout::parse(d).and_then(|t| t.region).is_some_and(|r| scope.wants_region(r)))
                .collect(),
        ));
    }
    // Find `AWSLogs/`: the prefix itself, or directly below it.
    let awslogs = if prefix.ends_with("AWSLogs/") {
        prefix.clone()
    } else {
        let (dirs, _) = list_level(client, bucket, &prefix, true).await?;
        match dirs.into_iter().find(|d| d.ends_with("AWSLogs/")) {
            Some(d) => d,
            None if prefix.contains("/AWSLogs/") || prefix.starts_with("AWSLogs/") => prefix.clone(),
            None => return Ok(None),
        }
    };
    // Accounts, under an optional organisation level.
    let mut accounts = Vec::new();
    let mut pending = vec![awslogs.clone()];
    while let Some(p) = pending.pop() {
        let (dirs, _) = list_level(client, bucket, &p, true).await?;
        for d in dirs {
            let name = d.trim_end_matches('/').rsplit('/').next().unwrap_or("");
            if name.starts_with("o-") && p == awslogs {
                pending.push(d);
            } else if scope.wants_account(name) {
                accounts.push(format!("{d}CloudTrail/"));
            }
        }
    }
    let mut regions = Vec::new();
    for acct in accounts {
        let (dirs, _) = list_level(client, bucket, &acct, true).await?;
        regions.extend(
            dirs.into_iter().filter(|d| layout::parse(d).and_then(|t| t.region).is_some_and(|r| scope.wants_region(r))),
        );
    }
    regions.sort();
    Ok(Some(regions))
}
