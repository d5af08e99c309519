//! The benchmark's S3 endpoint: serves a folder as S3 (s3s-fs: each folder under it is a bucket) on
//! 127.0.0.1, and answers every request only after `--latency-ms`, as S3 answers a GET after tens of
//! milliseconds. On loopback with no delay, fetching costs nothing and the benchmark would not show how
//! trailscan keeps requests in flight.
//!
//! s3s-fs walks the whole bucket for every listing request, which would make the benchmark measure the
//! endpoint's listing rather than trailscan's; listings are answered here by walking only the folder the
//! prefix names, as S3's own cost does not grow with the rest of the bucket.
//!
//! `trailscan-bench-s3-server ROOT --latency-ms 20` prints `http://127.0.0.1:PORT` on its first line, then
//! serves until killed. Credentials: access key `bench`, secret `bench-secret`.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, S3};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// s3s-fs, each answer delayed, with its own listing.
struct Delayed {
    inner: s3s_fs::FileSystem,
    root: PathBuf,
    latency: Duration,
}

#[async_trait::async_trait]
impl S3 for Delayed {
    async fn head_bucket(&self, req: S3Request<HeadBucketInput>) -> S3Result<S3Response<HeadBucketOutput>> {
        tokio::time::sleep(self.latency).await;
        self.inner.head_bucket(req).await
    }
    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        tokio::time::sleep(self.latency).await;
        self.inner.get_bucket_location(req).await
    }
    async fn list_objects_v2(&self, req: S3Request<ListObjectsV2Input>) -> S3Result<S3Response<ListObjectsV2Output>> {
        tokio::time::sleep(self.latency).await;
        let input = req.input;
        let bucket = self.root.join(&input.bucket);
        let (prefix, delimited) = (input.prefix.clone().unwrap_or_default(), input.delimiter.is_some());
        let listed = tokio::task::spawn_blocking(move || list(&bucket, &prefix, delimited))
            .await
            .map_err(|e| s3s::s3_error!(InternalError, "{e}"))?;
        let after = input.continuation_token.clone().or(input.start_after.clone()).unwrap_or_default();
        let max = input.max_keys.unwrap_or(1000).max(1) as usize;
        let mut page: Vec<(String, Option<(u64, std::time::SystemTime)>)> =
            listed.into_iter().filter(|(key, _)| *key > after).collect();
        let truncated = page.len() > max;
        page.truncate(max);
        let next = truncated.then(|| page.last().map(|(key, _)| key.clone())).flatten();
        let (mut contents, mut prefixes) = (Vec::new(), Vec::new());
        for (key, file) in page {
            match file {
                Some((size, modified)) => contents.push(Object {
                    key: Some(key),
                    size: Some(size as i64),
                    last_modified: Some(Timestamp::from(modified)),
                    ..Default::default()
                }),
                None => prefixes.push(CommonPrefix { prefix: Some(key) }),
            }
        }
        let output = ListObjectsV2Output {
            key_count: Some((contents.len() + prefixes.len()) as i32),
            max_keys: Some(max as i32),
            is_truncated: Some(truncated),
            contents: Some(contents),
            common_prefixes: Some(prefixes),
            continuation_token: input.continuation_token,
            next_continuation_token: next,
            name: Some(input.bucket),
            prefix: input.prefix,
            delimiter: input.delimiter,
            ..Default::default()
        };
        Ok(S3Response::new(output))
    }
    async fn get_object(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        tokio::time::sleep(self.latency).await;
        self.inner.get_object(req).await
    }
}

/// The keys below `prefix` in the bucket folder, sorted: with `delimited`, the files and the folders (as
/// `name/`, with no size) directly in the prefix's folder; otherwise every file below it. Only the folder the
/// prefix names is walked.
fn list(bucket: &Path, prefix: &str, delimited: bool) -> Vec<(String, Option<(u64, std::time::SystemTime)>)> {
    let folder = &prefix[..prefix.rfind('/').map_or(0, |i| i + 1)];
    let mut out = Vec::new();
    let mut pending = vec![folder.to_owned()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(bucket.join(&dir)) else { continue };
        for entry in entries.flatten() {
            let key = format!("{dir}{}", entry.file_name().to_string_lossy());
            let Ok(meta) = std::fs::metadata(entry.path()) else { continue };
            if meta.is_dir() {
                let sub = format!("{key}/");
                if delimited {
                    if sub.starts_with(prefix) {
                        out.push((sub, None));
                    }
                } else if sub.starts_with(prefix) || prefix.starts_with(&sub) {
                    pending.push(sub);
                }
            } else if key.starts_with(prefix) {
                out.push((key, Some((meta.len(), meta.modified().unwrap_or(std::time::UNIX_EPOCH)))));
            }
        }
    }
    out.sort();
    out
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (root, latency_ms) = match args.as_slice() {
        [root] => (root.clone(), 0),
        [root, flag, ms] if flag == "--latency-ms" => (root.clone(), ms.parse().expect("--latency-ms takes a number")),
        _ => {
            eprintln!("usage: trailscan-bench-s3-server ROOT [--latency-ms N]");
            std::process::exit(2);
        }
    };
    let fs = s3s_fs::FileSystem::new(&root).expect("ROOT must be a folder");
    let service = Delayed { inner: fs, root: PathBuf::from(&root), latency: Duration::from_millis(latency_ms) };
    let mut b = s3s::service::S3ServiceBuilder::new(service);
    b.set_auth(s3s::auth::SimpleAuth::from_single("bench", "bench-secret"));
    let service = b.build();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1");
        println!("http://{}", listener.local_addr().unwrap());
        let http = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
        loop {
            let Ok((socket, _)) = listener.accept().await else { continue };
            let conn = http.serve_connection(hyper_util::rt::TokioIo::new(socket), service.clone()).into_owned();
            tokio::spawn(conn);
        }
    });
}
