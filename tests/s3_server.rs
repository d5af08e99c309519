//! The S3 test server shared by the S3 tests: s3s-fs (a real S3-compatible server over a temporary folder),
//! in this process, on 127.0.0.1, with the real aws-sdk-s3 client for the test's own uploads and reads.
//!
//! s3s-fs honours the conditional PUTs the nightly job relies on (`If-None-Match: *` and `If-Match`, answered
//! 412 Precondition Failed as S3 documents); `conditional_puts_are_honoured` checks that this stays so.

use crate::util::Run;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, S3};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

const KEY: &str = "trailscan-test";
const SECRET: &str = "trailscan-test-secret";

/// The file-system S3 server, recording list prefixes and fetched keys, and failing every GetObject of keys
/// ending in `FAIL.json.gz` (an object that cannot be fetched, whatever the retries) or, refused, in
/// `DENIED.json.gz`. A GetObject of a key
/// holding `SLOW` is answered after 300 ms, as a distant S3 would, and counted while it waits.
struct Recording {
    inner: s3s_fs::FileSystem,
    listed: Arc<Mutex<Vec<String>>>,
    fetched: Arc<Mutex<Vec<String>>>,
    /// Slow GetObjects waiting now, and the most at once.
    slow: Arc<Mutex<(usize, usize)>>,
    /// How long a folder listing (one with a delimiter) takes to answer.
    folder_delay: std::time::Duration,
    /// Folder listings being answered now, and the most at once.
    folders: Arc<Mutex<(usize, usize)>>,
}

#[async_trait::async_trait]
impl S3 for Recording {
    async fn create_bucket(&self, req: S3Request<CreateBucketInput>) -> S3Result<S3Response<CreateBucketOutput>> {
        self.inner.create_bucket(req).await
    }
    async fn put_object(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        self.inner.put_object(req).await
    }
    async fn delete_object(&self, req: S3Request<DeleteObjectInput>) -> S3Result<S3Response<DeleteObjectOutput>> {
        self.inner.delete_object(req).await
    }
    async fn head_bucket(&self, req: S3Request<HeadBucketInput>) -> S3Result<S3Response<HeadBucketOutput>> {
        self.inner.head_bucket(req).await
    }
    async fn head_object(&self, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
        self.inner.head_object(req).await
    }
    async fn list_objects_v2(&self, req: S3Request<ListObjectsV2Input>) -> S3Result<S3Response<ListObjectsV2Output>> {
        self.listed.lock().unwrap().push(req.input.prefix.clone().unwrap_or_default());
        if req.input.delimiter.is_none() {
            // s3s-fs keeps no folder markers (the empty object the S3 console's "Create folder" makes, its key
            // ending in `/`): below a prefix holding `MARKED`, the listing shows one, as S3 would.
            let marker = req.input.prefix.clone().filter(|p| p.contains("MARKED") && p.ends_with('/'));
            let mut answer = self.inner.list_objects_v2(req).await?;
            if let Some(key) = marker {
                let object = Object { key: Some(key), size: Some(0), ..Default::default() };
                answer.output.contents.get_or_insert_with(Vec::new).insert(0, object);
            }
            return Ok(answer);
        }
        {
            let mut folders = self.folders.lock().unwrap();
            folders.0 += 1;
            folders.1 = folders.1.max(folders.0);
        }
        tokio::time::sleep(self.folder_delay).await;
        let answer = self.inner.list_objects_v2(req).await;
        self.folders.lock().unwrap().0 -= 1;
        answer
    }
    async fn get_object(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        if req.input.key.ends_with("FAIL.json.gz") {
            return Err(s3s::s3_error!(InternalError, "injected failure"));
        }
        if req.input.key.ends_with("DENIED.json.gz") {
            // As S3 answers a GetObject of an SSE-KMS object without kms:Decrypt on its key.
            return Err(s3s::s3_error!(
                AccessDenied,
                "The ciphertext refers to a customer master key that does not exist"
            ));
        }
        self.fetched.lock().unwrap().push(req.input.key.clone());
        if req.input.key.contains("SLOW") {
            {
                let mut slow = self.slow.lock().unwrap();
                slow.0 += 1;
                slow.1 = slow.1.max(slow.0);
            }
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            self.slow.lock().unwrap().0 -= 1;
        }
        self.inner.get_object(req).await
    }
}

pub struct Server {
    pub url: String,
    listed: Arc<Mutex<Vec<String>>>,
    fetched: Arc<Mutex<Vec<String>>>,
    slow: Arc<Mutex<(usize, usize)>>,
    folders: Arc<Mutex<(usize, usize)>>,
    pub rt: tokio::runtime::Runtime,
    root: tempfile::TempDir,
}

impl Server {
    pub fn start() -> Server {
        Server::start_with(std::time::Duration::ZERO)
    }

    /// A server whose folder listings take 100 ms, as a distant S3's would.
    pub fn start_far() -> Server {
        Server::start_with(std::time::Duration::from_millis(100))
    }

    fn start_with(folder_delay: std::time::Duration) -> Server {
        let root = tempfile::tempdir().unwrap();
        let listed = Arc::new(Mutex::new(Vec::new()));
        let fetched = Arc::new(Mutex::new(Vec::new()));
        let slow = Arc::new(Mutex::new((0, 0)));
        let folders = Arc::new(Mutex::new((0, 0)));
        let fs = Recording {
            inner: s3s_fs::FileSystem::new(root.path()).unwrap(),
            listed: listed.clone(),
            fetched: fetched.clone(),
            slow: slow.clone(),
            folder_delay,
            folders: folders.clone(),
        };
        let mut b = s3s::service::S3ServiceBuilder::new(fs);
        b.set_auth(s3s::auth::SimpleAuth::from_single(KEY, SECRET));
        let service = b.build();
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        rt.spawn(async move {
            let http = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
            loop {
                let Ok((socket, _)) = listener.accept().await else { continue };
                let conn = http.serve_connection(hyper_util::rt::TokioIo::new(socket), service.clone()).into_owned();
                tokio::spawn(conn);
            }
        });
        Server { url: format!("http://{addr}"), listed, fetched, slow, folders, rt, root }
    }

    pub fn client(&self) -> aws_sdk_s3::Client {
        let conf = aws_sdk_s3::config::Builder::new()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_s3::config::Credentials::new(KEY, SECRET, None, None, "test"))
            .endpoint_url(&self.url)
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    pub fn create_bucket(&self, bucket: &str) {
        let client = self.client();
        self.rt.block_on(async {
            let _ = client.create_bucket().bucket(bucket).send().await;
        });
    }

    /// Uploads every file under `dir` to `bucket`, keyed by its path relative to `dir`.
    pub fn upload(&self, bucket: &str, dir: &Path) {
        let client = self.client();
        self.rt.block_on(async {
            let _ = client.create_bucket().bucket(bucket).send().await;
            let mut stack = vec![dir.to_path_buf()];
            let mut set = tokio::task::JoinSet::new();
            while let Some(d) = stack.pop() {
                for e in std::fs::read_dir(&d).unwrap() {
                    let p = e.unwrap().path();
                    if p.is_dir() {
                        stack.push(p);
                        continue;
                    }
                    let key = p.strip_prefix(dir).unwrap().to_string_lossy().replace('\\', "/");
                    let body = std::fs::read(&p).unwrap();
                    let (client, bucket) = (client.clone(), bucket.to_owned());
                    set.spawn(async move {
                        client.put_object().bucket(bucket).key(key).body(body.into()).send().await.unwrap();
                    });
                    while set.len() >= 32 {
                        set.join_next().await;
                    }
                }
            }
            while set.join_next().await.is_some() {}
        });
    }

    /// Every key of `bucket` below `prefix`, sorted.
    pub fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let client = self.client();
        let mut keys: Vec<String> = self.rt.block_on(async {
            let mut keys = Vec::new();
            let mut pages = client.list_objects_v2().bucket(bucket).prefix(prefix).into_paginator().send();
            while let Some(page) = pages.next().await {
                keys.extend(page.unwrap().contents().iter().filter_map(|o| o.key().map(str::to_owned)));
            }
            keys
        });
        keys.sort();
        keys
    }

    /// Where the server keeps `s3://bucket/key` on disk (s3s-fs renames each object into place whole).
    pub fn path_of(&self, bucket: &str, key: &str) -> PathBuf {
        self.root.path().join(bucket).join(key)
    }

    /// The command to run trailscan in `cwd` against this server: its endpoint, its credentials, no other
    /// AWS configuration, and a cache folder inside `cwd`.
    pub fn command(&self, cwd: &Path, args: &[&str]) -> std::process::Command {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_trailscan"));
        cmd.current_dir(cwd).args(args).args(["--endpoint-url", &self.url]);
        for (k, v) in [
            ("AWS_ACCESS_KEY_ID", KEY),
            ("AWS_SECRET_ACCESS_KEY", SECRET),
            ("AWS_REGION", "us-east-1"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("AWS_CONFIG_FILE", "/nonexistent"),
            ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"),
        ] {
            cmd.env(k, v);
        }
        cmd.env("XDG_CACHE_HOME", cwd.join(".cache"));
        cmd
    }

    pub fn run(&self, cwd: &Path, args: &[&str]) -> Run {
        let out = self.command(cwd, args).output().expect("run trailscan");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// The prefixes listed since the last call.
    pub fn listed(&self) -> Vec<String> {
        std::mem::take(&mut *self.listed.lock().unwrap())
    }

    /// The most GetObjects of `SLOW` keys the server was answering at once.
    pub fn most_slow_fetches_at_once(&self) -> usize {
        self.slow.lock().unwrap().1
    }

    /// The most folder listings the server was answering at once.
    pub fn most_folder_listings_at_once(&self) -> usize {
        self.folders.lock().unwrap().1
    }

    /// The keys fetched since the last call.
    pub fn fetched(&self) -> Vec<String> {
        std::mem::take(&mut *self.fetched.lock().unwrap())
    }
}

/// The test double keeps S3's documented conditional writes: a create-only PUT of an existing key, or a PUT
/// conditional on an ETag that changed, is refused with 412 and writes nothing.
#[test]
fn conditional_puts_are_honoured() {
    let server = Server::start();
    server.create_bucket("cond");
    let client = server.client();
    server.rt.block_on(async {
        let put = || client.put_object().bucket("cond").key("k");
        let first = put().body(b"one".to_vec().into()).if_none_match("*").send().await.unwrap();
        let again = put().body(b"two".to_vec().into()).if_none_match("*").send().await.unwrap_err();
        assert_eq!(again.raw_response().unwrap().status().as_u16(), 412);
        let etag = first.e_tag().unwrap().to_owned();
        let swapped = put().body(b"three".to_vec().into()).if_match(&etag).send().await.unwrap();
        let stale = put().body(b"four".to_vec().into()).if_match(&etag).send().await.unwrap_err();
        assert_eq!(stale.raw_response().unwrap().status().as_u16(), 412);
        let got = client.get_object().bucket("cond").key("k").send().await.unwrap();
        assert_eq!(got.e_tag(), swapped.e_tag());
        assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), b"three");
    });
}
