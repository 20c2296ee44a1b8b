//! A lake on an S3-compatible server: s3s-fs, a real S3 protocol implementation (signed
//! requests, listings, conditional puts) over a temporary directory, in this process on
//! 127.0.0.1. piguard reaches it as any S3 store, through `AWS_*` variables.

use std::path::Path;
use std::process::Command;

use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStoreExt, PutPayload};

use crate::{KEY, command, demo_lake, demo_pipeline, text};

const ACCESS_KEY: &str = "piguard-test-access";
const SECRET_KEY: &str = "piguard-test-secret-0123456789";
const BUCKET: &str = "analytics";

/// An S3 server, up until dropped.
pub struct S3Server {
    endpoint: String,
    runtime: tokio::runtime::Runtime,
    _root: tempfile::TempDir,
}

impl S3Server {
    /// Starts a server on a free port of 127.0.0.1 with one bucket, [`BUCKET`].
    pub fn start() -> S3Server {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join(BUCKET)).unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let mut service = s3s::service::S3ServiceBuilder::new(s3s_fs::FileSystem::new(root.path()).unwrap());
        service.set_auth(s3s::auth::SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let service = service.build();
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        runtime.spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let service = service.clone();
                tokio::spawn(async move {
                    let http = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
                    let _ = http.serve_connection(hyper_util::rt::TokioIo::new(socket), service).await;
                });
            }
        });
        S3Server { endpoint, runtime, _root: root }
    }

    /// Points `cmd` at the server, as a deployment's environment would.
    pub fn configure<'c>(&self, cmd: &'c mut Command) -> &'c mut Command {
        cmd.env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ALLOW_HTTP", "true")
    }

    fn client(&self) -> AmazonS3 {
        AmazonS3Builder::new()
            .with_endpoint(&self.endpoint)
            .with_bucket_name(BUCKET)
            .with_access_key_id(ACCESS_KEY)
            .with_secret_access_key(SECRET_KEY)
            .with_region("us-east-1")
            .with_allow_http(true)
            .build()
            .unwrap()
    }

    /// Copies every file under local `dir` to `prefix/` of the bucket, one PUT each.
    pub fn upload(&self, dir: &Path, prefix: &str) -> usize {
        let client = self.client();
        let mut files = Vec::new();
        let mut dirs = vec![dir.to_path_buf()];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() { dirs.push(p) } else { files.push(p) }
            }
        }
        self.runtime.block_on(async {
            for f in &files {
                let rel = f.strip_prefix(dir).unwrap().to_str().unwrap();
                client.put(&ObjectPath::from(format!("{prefix}/{rel}")), PutPayload::from(std::fs::read(f).unwrap())).await.unwrap();
            }
        });
        files.len()
    }

    /// Deletes object `key` of the bucket.
    pub fn delete(&self, key: &str) {
        self.runtime.block_on(self.client().delete(&ObjectPath::from(key))).unwrap();
    }
}

/// `piguard query SQL --format csv` on `lake` (a path or an s3:// URL), without a key.
fn query(server: &S3Server, lake: &str, sql: &str, extra: &[&str]) -> (Option<i32>, String, String) {
    let mut args = vec!["query", sql, "--format", "csv", "--lake", lake];
    args.extend_from_slice(extra);
    let mut cmd = command(None, None, &args);
    let out = server.configure(&mut cmd).output().unwrap();
    let (stdout, stderr) = text(&out);
    (out.status.code(), stdout, stderr)
}

#[test]
fn analysts_query_a_lake_on_s3_with_the_same_results_as_on_disk() {
    let lake = demo_lake();
    let pipeline = demo_pipeline();
    let p = pipeline.to_str().unwrap();
    for args in [&["run", p][..], &["run", p, "--force"]] {
        let out = command(Some(lake.path()), Some(KEY), args).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    }
    let server = S3Server::start();
    // What analysts may read: the de-identified zone and the exports.
    for zone in ["deid", "export"] {
        assert!(server.upload(&lake.path().join(zone), &format!("lakes/demo/{zone}")) > 0);
    }
    let local = lake.path().to_str().unwrap();
    let remote = "s3://analytics/lakes/demo";
    let sqls = [
        "select count(*) as n from users",
        "select count(*) as n, count(distinct dt) as days, min(dt) as first from browsing_logs",
        "select * from users order by user_id limit 5",
        "select * from advertiser_by_province order by 1, 2",
    ];
    for sql in sqls {
        for as_of in [&[][..], &["--as-of", "0"]] {
            let (code, on_disk, stderr) = query(&server, local, sql, as_of);
            assert_eq!(code, Some(0), "{sql}: {stderr}");
            let (code, on_s3, stderr) = query(&server, remote, sql, as_of);
            assert_eq!(code, Some(0), "{sql} on s3: {stderr}");
            assert_eq!(on_s3, on_disk, "{sql} {as_of:?}");
            assert!(on_s3.lines().count() > 1, "{sql}: {on_s3}");
        }
    }

    // A version whose files are gone is refused there too, naming the table.
    let mut users: Vec<String> = std::fs::read_dir(lake.path().join("deid/users")).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).filter(|n| n.ends_with(".parquet")).collect();
    users.sort();
    server.delete(&format!("lakes/demo/deid/users/{}", users[0]));
    let (code, _, stderr) = query(&server, remote, "select count(*) from users", &["--as-of", "0"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("s3://analytics/lakes/demo/deid/users/: version 0 can no longer be read"), "{stderr}");
    assert_eq!(query(&server, remote, "select count(*) from users", &[]).1.lines().nth(1), Some("500"));

    // Nothing there is not a lake; the raw zone, audited, stays local for now.
    let (code, _, stderr) = query(&server, "s3://analytics/elsewhere", "select 1", &[]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("s3://analytics/elsewhere/: not a lake"), "{stderr}");
    let (code, _, stderr) = query(&server, remote, "select count(*) from raw.users", &["--zone", "raw", "--reason", "audit"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("cannot be queried yet"), "{stderr}");
}

#[test]
fn commands_that_write_refuse_a_lake_on_object_storage_and_write_nothing_locally() {
    let server = S3Server::start();
    let dir = tempfile::tempdir().unwrap();
    let pipeline = demo_pipeline();
    for args in [
        vec!["run", pipeline.to_str().unwrap()],
        vec!["purge", "--dry-run"],
        vec!["erase", "--subject", "1"],
        vec!["audit", "verify"],
    ] {
        let mut args = args.clone();
        args.extend(["--lake", "s3://analytics/lake"]);
        let mut cmd = command(None, Some(KEY), &args);
        let out = server.configure(&mut cmd).current_dir(dir.path()).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(text(&out).1.contains("needs a lake on the local file system"), "{args:?}: {}", text(&out).1);
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "no local s3:/ directory");
}
