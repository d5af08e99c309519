//! S3: list a trail bucket with the trail layout in mind, and fetch objects with bounded concurrency.
//!
//! Async stops here: the rest of trailscan sees plain [`ObjectRef`]s and byte buffers. Listing discovers
//! accounts and regions with delimiter listings and lists only the date folders the time window can need
//! (see `layout`), never descending into `CloudTrail-Digest`, `-Insight`, `-NetworkActivity` or
//! `-Aggregated`. A prefix that is not a trail layout is listed plainly. Fetches run [`FETCH_CONCURRENCY`] at a
//! time, holding at most [`FETCH_BUDGET`] bytes of objects not yet decoded whatever the bucket's size.
//! Throttling and transient errors are retried by the SDK (adaptive retry, [`MAX_ATTEMPTS`] attempts).
//! Single-object reads and writes (the nightly job's STATE and OUT on S3) are in [`store`].

use super::aws_error::Failure;
use super::layout::{self, Scope};
use super::{Location, ObjectRef};
use anyhow::{bail, Context, Result};
use std::sync::Arc;
use tokio::task::JoinSet;

pub mod store;

/// GET requests in flight at once. S3 answers each after tens of milliseconds, and a trail is tens of
/// thousands of objects of a few kB: a day of the benchmark's trail (26k objects) took 49 s to fetch 32 at a
/// time from an endpoint answering in 20 ms, and 10 s at 256, as long as with no delay (`BENCHMARKS.md`).
pub const FETCH_CONCURRENCY: usize = 256;
/// Bytes of objects held at once, being fetched or fetched and not yet decoded, by their listed sizes: most
/// of a trail's objects are small, but one can be hundreds of MB (one larger than this is fetched alone).
pub const FETCH_BUDGET: u64 = 64 << 20;
/// Listing requests in flight at once: an organisation's trail is a folder per account, region and day, each
/// a request or more. 150 accounts in 6 regions were listed in 1.96 s 16 at a time from an endpoint answering
/// in 30 ms, and in 0.63 s 64 at a time (`BENCHMARKS.md`); each request in flight holds one page of keys.
const LIST_CONCURRENCY: usize = 64;
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

/// A connected S3 client with the runtime that drives it. Clones share the runtime and the connections.
#[derive(Clone)]
pub struct S3 {
    rt: Arc<tokio::runtime::Runtime>,
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
        Ok(S3 { rt: Arc::new(rt), client, opts: opts.clone() })
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
            Err(e) => bail!("cannot reach s3://{bucket}: {}", Failure::of(&e).explained(READ_NEEDS)),
        }
    }

    /// Lists the objects of `s3://bucket/prefix` that the scope can need, handing them to `take` a listing
    /// page at a time as they arrive, so that memory holds a few pages whatever the bucket's size.
    pub fn list(
        &mut self,
        bucket: &str,
        prefix: &str,
        scope: &Scope,
        take: &mut dyn FnMut(Vec<ObjectRef>),
    ) -> Result<()> {
        self.for_bucket(bucket)?;
        let client = self.client.clone();
        let spinner = crate::messages::Progress::spinner();
        spinner.message(&format!("listing s3://{bucket}/{prefix}"));
        let listed = self.rt.block_on(walk(client, bucket, prefix, scope, &mut |page| {
            take(
                page.into_iter()
                    .filter(|(key, _, _)| scope.wants_path(key))
                    .map(|(key, size, modified)| ObjectRef {
                        location: Location::S3 { bucket: bucket.to_owned(), key },
                        size,
                        modified,
                    })
                    .collect(),
            )
        }));
        spinner.finish();
        listed
    }

    /// Fetches `objects` in the background, [`FETCH_CONCURRENCY`] requests and [`FETCH_BUDGET`] bytes at a
    /// time, yielding each object as it arrives: the iterator blocks while none is ready, and ends when every
    /// object has been yielded. A [`Fetched`] holds its bytes' share of the budget until it is dropped, so
    /// objects fetched faster than they are decoded wait for the decoders rather than fill memory.
    pub fn fetch(&self, objects: Vec<ObjectRef>) -> Fetches {
        let expected = objects.len();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let client = self.client.clone();
        let budget = Arc::new(tokio::sync::Semaphore::new(kib(FETCH_BUDGET) as usize));
        self.rt.spawn(async move {
            let mut set = JoinSet::new();
            for obj in objects {
                while set.len() >= FETCH_CONCURRENCY {
                    set.join_next().await;
                }
                let Ok(share) = budget.clone().acquire_many_owned(kib(obj.size)).await else { return };
                if tx.is_closed() {
                    return;
                }
                let (client, tx) = (client.clone(), tx.clone());
                set.spawn(async move {
                    let bytes = get(&client, &obj).await;
                    let _ = tx.send(Fetched { object: obj, bytes, _share: share });
                });
            }
            while set.join_next().await.is_some() {}
        });
        Fetches { rx, _rt: self.rt.clone(), expected, yielded: 0 }
    }
}

/// The objects of one [`S3::fetch`], as they arrive.
pub struct Fetches {
    rx: tokio::sync::mpsc::UnboundedReceiver<Fetched>,
    /// Kept with the iterator: dropping the runtime would stop the fetching midway.
    _rt: Arc<tokio::runtime::Runtime>,
    expected: usize,
    yielded: usize,
}

impl Iterator for Fetches {
    type Item = Fetched;

    fn next(&mut self) -> Option<Fetched> {
        let fetched = self.rx.blocking_recv()?;
        self.yielded += 1;
        Some(fetched)
    }
}

impl Fetches {
    /// Once the iterator has ended: whether every object was yielded, so that a fetcher that stopped early
    /// is never taken for a whole read.
    pub fn complete(&self) -> Result<()> {
        if self.yielded < self.expected {
            bail!("the S3 fetcher stopped after {} of {} objects", self.yielded, self.expected);
        }
        Ok(())
    }
}

/// An object fetched by [`S3::fetch`]: its bytes, or why they could not be fetched.
pub struct Fetched {
    pub object: ObjectRef,
    pub bytes: Result<Vec<u8>, String>,
    /// The object's share of [`FETCH_BUDGET`], given back when this is dropped.
    _share: tokio::sync::OwnedSemaphorePermit,
}

/// A size in KiB, at least one and at most the whole budget: the fetch budget's unit.
fn kib(bytes: u64) -> u32 {
    bytes.div_ceil(1024).clamp(1, FETCH_BUDGET / 1024) as u32
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

/// What reading a trail bucket needs, said when S3 refuses it.
const READ_NEEDS: &str = "trailscan needs s3:ListBucket on the bucket, s3:GetObject on the objects, and \
                          kms:Decrypt on the trail's key if it is encrypted with KMS; see the README's IAM policy";

async fn get(client: &aws_sdk_s3::Client, obj: &ObjectRef) -> Result<Vec<u8>, String> {
    let Location::S3 { bucket, key } = &obj.location else { return Err("not an S3 object".into()) };
    let out = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| format!("cannot fetch: {}", Failure::of(&e).explained(READ_NEEDS)))?;
    let body = out.body.collect().await.map_err(|e| format!("download interrupted: {e}"))?;
    Ok(body.into_bytes().into())
}

/// One object as listed: key, size and `LastModified`.
type Listed = (String, u64, Option<i64>);

/// The common prefixes (folders) directly below `prefix`.
async fn list_folders(client: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Result<Vec<String>> {
    let mut dirs = Vec::new();
    let mut pages = client.list_objects_v2().bucket(bucket).prefix(prefix).delimiter("/").into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| listing_error(bucket, prefix, e))?;
        dirs.extend(page.common_prefixes().iter().filter_map(|p| p.prefix().map(str::to_owned)));
    }
    Ok(dirs)
}

/// Every object below `prefix`, sent into `pages` a listing page at a time.
async fn list_objects(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    pages: &tokio::sync::mpsc::Sender<Vec<Listed>>,
) -> Result<()> {
    let mut listing = client.list_objects_v2().bucket(bucket).prefix(prefix).into_paginator().send();
    while let Some(page) = listing.next().await {
        let page = page.map_err(|e| listing_error(bucket, prefix, e))?;
        let objects = page.contents().iter().filter_map(|o| {
            let (key, size) = (o.key()?, o.size().unwrap_or(0).max(0) as u64);
            (!is_folder_marker(key, size)).then(|| (key.to_owned(), size, o.last_modified().map(|t| t.secs())))
        });
        if pages.send(objects.collect()).await.is_err() {
            break; // The walk stopped on another listing's error.
        }
    }
    Ok(())
}

/// The empty object the S3 console creates for "Create folder" (`exports/2024/`): a folder, not a file.
fn is_folder_marker(key: &str, size: u64) -> bool {
    size == 0 && key.ends_with('/')
}

fn listing_error<E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static>(
    bucket: &str,
    prefix: &str,
    e: aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> anyhow::Error {
    anyhow::anyhow!("cannot list s3://{bucket}/{prefix}: {}", Failure::of(&e).explained(READ_NEEDS))
}

/// Lists what the scope can need below `prefix`, following the trail layout where there is one, and hands
/// the objects to `take` a page at a time, in no particular order.
async fn walk(
    client: aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    scope: &Scope,
    take: &mut dyn FnMut(Vec<Listed>),
) -> Result<()> {
    // Find the trail levels: `…/AWSLogs/` → orgs or accounts → `CloudTrail/` → regions; then only the date
    // folders the window can need. Not a trail layout: every object below the prefix.
    let leaf_prefixes = match trail_regions(&client, bucket, prefix, scope).await? {
        None => vec![prefix.to_owned()],
        Some(regions) => {
            let mut leaves = Vec::new();
            for region in regions {
                // `region` may be a year or month folder of the region, when the user's prefix names one.
                match (layout::parse(&region).and_then(|t| t.date), scope.day_folders(), layout::region_folder(&region))
                {
                    (None, Some(days), Some(root)) => leaves.extend(
                        days.iter().map(|d| format!("{root}/{d}")).filter(|leaf| leaf.starts_with(region.as_str())),
                    ),
                    _ => leaves.push(region),
                }
            }
            leaves
        }
    };
    // The leaves are listed LIST_CONCURRENCY at a time; their pages reach `take` through a bounded channel.
    let (pages, mut arrived) = tokio::sync::mpsc::channel(LIST_CONCURRENCY);
    let bucket = bucket.to_owned();
    let listing = tokio::spawn(async move {
        let list = |p: String| {
            let (client, bucket, pages) = (client.clone(), bucket.clone(), pages.clone());
            async move { list_objects(&client, &bucket, &p, &pages).await }
        };
        several_at_once(leaf_prefixes, list, |()| ()).await
    });
    while let Some(page) = arrived.recv().await {
        take(page);
    }
    listing.await.context("listing task failed")?
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
        let dirs = list_folders(client, bucket, &prefix).await?;
        return Ok(Some(dirs.into_iter().filter(|d| wanted_region(scope, d)).collect()));
    }
    // An account's folder: its CloudTrail folder's regions.
    if let Some(account) = layout::account_folder(&prefix) {
        let accounts = if scope.wants_account(account) { vec![format!("{prefix}CloudTrail/")] } else { vec![] };
        return Ok(Some(regions_of(client, bucket, accounts, scope).await?));
    }
    // Find `AWSLogs/`: the prefix itself, or directly below it.
    let awslogs = if prefix.ends_with("AWSLogs/") {
        prefix.clone()
    } else {
        let dirs = list_folders(client, bucket, &prefix).await?;
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
        let dirs = list_folders(client, bucket, &p).await?;
        for d in dirs {
            let name = d.trim_end_matches('/').rsplit('/').next().unwrap_or("");
            if name.starts_with("o-") && p == awslogs {
                pending.push(d);
            } else if scope.wants_account(name) {
                accounts.push(format!("{d}CloudTrail/"));
            }
        }
    }
    Ok(Some(regions_of(client, bucket, accounts, scope).await?))
}

/// Whether `dir` is a region folder of the layout (`…/CloudTrail/<region>/`) that the scope wants.
fn wanted_region(scope: &Scope, dir: &str) -> bool {
    layout::parse(dir).and_then(|t| t.region).is_some_and(|r| scope.wants_region(r))
}

/// The region folders the scope wants below the accounts' `…/CloudTrail/` folders, sorted. The accounts are
/// listed [`LIST_CONCURRENCY`] at a time: an organisation has hundreds, and one after another they cost a
/// round trip each before anything is read.
async fn regions_of(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    accounts: Vec<String>,
    scope: &Scope,
) -> Result<Vec<String>> {
    let mut regions = Vec::new();
    let list = |acct: String| {
        let (client, bucket) = (client.clone(), bucket.to_owned());
        async move { list_folders(&client, &bucket, &acct).await }
    };
    several_at_once(accounts, list, |dirs: Vec<String>| {
        regions.extend(dirs.into_iter().filter(|d| wanted_region(scope, d)))
    })
    .await?;
    regions.sort();
    Ok(regions)
}

/// Runs `task` on every item, [`LIST_CONCURRENCY`] at a time, handing each result to `each` as it comes; the
/// first error stops the rest.
async fn several_at_once<I, T, Task>(items: Vec<I>, task: impl Fn(I) -> Task, mut each: impl FnMut(T)) -> Result<()>
where
    Task: std::future::Future<Output = Result<T>> + Send + 'static,
    T: Send + 'static,
{
    let mut set = JoinSet::new();
    let mut queue = items.into_iter();
    loop {
        while set.len() < LIST_CONCURRENCY {
            let Some(item) = queue.next() else { break };
            set.spawn(task(item));
        }
        let Some(done) = set.join_next().await else { return Ok(()) };
        each(done.context("listing task failed")??);
    }
}
