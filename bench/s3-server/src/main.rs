//! The benchmark's S3 endpoint: serves a folder as S3 (s3s-fs: each folder under it is a bucket) on
//! 127.0.0.1, and answers every request only after `--latency-ms`, as S3 answers a GET after tens of
//! milliseconds. On loopback with no delay, fetching costs nothing and the benchmark would not show how
//! trailscan keeps requests in flight.
//!
//! `trailscan-bench-s3-server ROOT --latency-ms 20` prints `http://127.0.0.1:PORT` on its first line, then
//! serves until killed. Credentials: access key `bench`, secret `bench-secret`.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, S3};
use std::time::Duration;

/// s3s-fs, each answer delayed.
struct Delayed {
    inner: s3s_fs::FileSystem,
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
        self.inner.list_objects_v2(req).await
    }
    async fn get_object(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        tokio::time::sleep(self.latency).await;
        self.inner.get_object(req).await
    }
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
    let mut b = s3s::service::S3ServiceBuilder::new(Delayed { inner: fs, latency: Duration::from_millis(latency_ms) });
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
