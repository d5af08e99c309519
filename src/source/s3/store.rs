//! Single objects for the nightly job's STATE and OUT and for `--history s3://`: get, put (plain or
//! conditional), delete, list with ETags, and uploads of many files at once.
//!
//! Async stops here too: each call blocks on the client's runtime. Errors name `s3://bucket/key` and say
//! which permission is missing when S3 refuses.

use super::S3;
use crate::source::aws_error::{Cause, Failure};
use anyhow::{anyhow, Context, Result};
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use std::path::PathBuf;
use tokio::task::JoinSet;

/// Uploads in flight at once.
const PUT_CONCURRENCY: usize = 16;

/// What a PUT requires of the object already under the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// Nothing: the PUT replaces whatever is there.
    Any,
    /// No object under the key (`If-None-Match: *`): creates, never replaces.
    Absent,
    /// The object under the key still has this ETag (`If-Match`): replaces only what was read.
    Unchanged(String),
}

/// How a conditional PUT ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Put {
    /// Written; the new object's ETag.
    Done(String),
    /// The condition did not hold (S3 answered 412 Precondition Failed, or 409 when another conditional
    /// write to the key was in flight): nothing was written.
    Refused,
}

/// One object of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub key: String,
    pub size: u64,
    /// The ETag, or the size and modification time where the store gives none: changes when the object does.
    pub version: String,
}

/// Why S3 refused a write or a read of a nightly location, and what to do about it.
fn refused<E: ProvideErrorMetadata + std::error::Error + 'static>(e: &SdkError<E, HttpResponse>) -> String {
    let failure = Failure::of(e);
    if failure.cause == Cause::NotImplemented {
        return format!(
            "{} (this S3-compatible store does not support conditional writes (If-None-Match, If-Match), which \
             the lock and the commit of a remote STATE need: keep STATE in a local folder)",
            failure.text
        );
    }
    failure.explained(
        "trailscan needs s3:ListBucket on the bucket and s3:GetObject, s3:PutObject and s3:DeleteObject on the \
         STATE and OUT prefixes; see the README's IAM policy",
    )
}

fn status_of<E>(e: &SdkError<E, HttpResponse>) -> Option<u16> {
    e.raw_response().map(|r| r.status().as_u16())
}

impl S3 {
    /// Connects for the objects of one bucket: the client is sent to the bucket's own region once, here.
    pub fn connect_to(opts: &super::S3Options, bucket: &str) -> Result<S3> {
        let mut s3 = S3::connect(opts)?;
        s3.for_bucket(bucket)?;
        Ok(s3)
    }

    /// The object's bytes and ETag, or `None` when there is no such key.
    pub fn get_object(&self, bucket: &str, key: &str) -> Result<Option<(Vec<u8>, String)>> {
        self.rt.block_on(async {
            let out = match self.client.get_object().bucket(bucket).key(key).send().await {
                Ok(out) => out,
                Err(e) if status_of(&e) == Some(404) => return Ok(None),
                Err(e) => {
                    return Err(anyhow!("cannot read s3://{bucket}/{key}: {}", refused(&e)));
                }
            };
            let etag = out.e_tag().unwrap_or_default().to_owned();
            let body =
                out.body.collect().await.with_context(|| format!("download of s3://{bucket}/{key} interrupted"))?;
            Ok(Some((body.into_bytes().to_vec(), etag)))
        })
    }

    /// Writes `body` under `key` if `condition` holds.
    pub fn put_object(&self, bucket: &str, key: &str, body: Vec<u8>, condition: &Condition) -> Result<Put> {
        let mut req = self.client.put_object().bucket(bucket).key(key).body(ByteStream::from(body));
        req = match condition {
            Condition::Any => req,
            Condition::Absent => req.if_none_match("*"),
            Condition::Unchanged(etag) => req.if_match(etag),
        };
        self.rt.block_on(async {
            match req.send().await {
                Ok(out) => Ok(Put::Done(out.e_tag().unwrap_or_default().to_owned())),
                Err(e)
                    if *condition != Condition::Any
                        && (matches!(status_of(&e), Some(412 | 409))
                            || e.code()
                                .is_some_and(|c| c == "PreconditionFailed" || c == "ConditionalRequestConflict")) =>
                {
                    Ok(Put::Refused)
                }
                Err(e) => Err(anyhow!("cannot write s3://{bucket}/{key}: {}", refused(&e))),
            }
        })
    }

    /// Deletes `key`; a key that is already gone is no error.
    pub fn delete_object(&self, bucket: &str, key: &str) -> Result<()> {
        self.rt.block_on(async {
            match self.client.delete_object().bucket(bucket).key(key).send().await {
                Ok(_) => Ok(()),
                Err(e) if status_of(&e) == Some(404) => Ok(()),
                Err(e) => Err(anyhow!("cannot delete s3://{bucket}/{key}: {}", refused(&e))),
            }
        })
    }

    /// Every object below `prefix`, sorted by key.
    pub fn list_objects(&self, bucket: &str, prefix: &str) -> Result<Vec<Listed>> {
        self.rt.block_on(async {
            let mut out = Vec::new();
            let mut pages = self.client.list_objects_v2().bucket(bucket).prefix(prefix).into_paginator().send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| anyhow!("cannot list s3://{bucket}/{prefix}: {}", refused(&e)))?;
                out.extend(page.contents().iter().filter_map(|o| {
                    let size = o.size().unwrap_or(0).max(0) as u64;
                    let version = match o.e_tag() {
                        Some(etag) if !etag.is_empty() => etag.to_owned(),
                        _ => {
                            let (secs, nanos) =
                                o.last_modified().map(|t| (t.secs(), t.subsec_nanos())).unwrap_or((0, 0));
                            format!("{size}/{secs}.{nanos:09}")
                        }
                    };
                    Some(Listed { key: o.key()?.to_owned(), size, version })
                }));
            }
            out.sort_by(|a, b| a.key.cmp(&b.key));
            Ok(out)
        })
    }

    /// Uploads each local file to its key, [`PUT_CONCURRENCY`] at a time. Stops at the first failure (the
    /// SDK has already retried it), naming the object.
    pub fn put_files(&self, bucket: &str, files: Vec<(String, PathBuf)>) -> Result<()> {
        let client = self.client.clone();
        let bucket = bucket.to_owned();
        self.rt.block_on(async move {
            let mut set = JoinSet::new();
            let mut queue = files.into_iter();
            loop {
                while set.len() < PUT_CONCURRENCY {
                    let Some((key, path)) = queue.next() else { break };
                    let (client, bucket) = (client.clone(), bucket.clone());
                    set.spawn(async move {
                        let body = ByteStream::from_path(&path)
                            .await
                            .with_context(|| format!("cannot read {} to upload it", path.display()))?;
                        client
                            .put_object()
                            .bucket(&bucket)
                            .key(&key)
                            .body(body)
                            .send()
                            .await
                            .map_err(|e| anyhow!("cannot write s3://{bucket}/{key}: {}", refused(&e)))?;
                        anyhow::Ok(())
                    });
                }
                match set.join_next().await {
                    Some(done) => done.context("upload task failed")??,
                    None => return Ok(()),
                }
            }
        })
    }
}
