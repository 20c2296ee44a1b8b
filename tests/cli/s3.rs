//! A lake on an S3-compatible server: s3s-fs, a real S3 protocol implementation (signed
//! requests, listings, conditional puts) over a temporary directory, in this process on
//! 127.0.0.1. piguard reaches it as any S3 store, through `AWS_*` variables.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStoreExt, PutPayload};

use crate::{DEMO_DATASETS, KEY, command, demo_pipeline, recent_demo_lake, text, walk};

const ACCESS_KEY: &str = "piguard-test-access";
const SECRET_KEY: &str = "piguard-test-secret-0123456789";
const BUCKET: &str = "analytics";

/// An S3 server, up until dropped.
pub struct S3Server {
    endpoint: String,
    runtime: tokio::runtime::Runtime,
    root: tempfile::TempDir,
    /// Every request served: its method and object key (the path without the bucket).
    requests: Arc<Mutex<Vec<(String, String)>>>,
}

/// The server's S3 service, recording each request before it serves it.
#[derive(Clone)]
struct Recorded {
    service: s3s::service::S3Service,
    requests: Arc<Mutex<Vec<(String, String)>>>,
}

impl hyper::service::Service<hyper::Request<hyper::body::Incoming>> for Recorded {
    type Response = <s3s::service::S3Service as hyper::service::Service<hyper::Request<hyper::body::Incoming>>>::Response;
    type Error = <s3s::service::S3Service as hyper::service::Service<hyper::Request<hyper::body::Incoming>>>::Error;
    type Future = <s3s::service::S3Service as hyper::service::Service<hyper::Request<hyper::body::Incoming>>>::Future;

    fn call(&self, req: hyper::Request<hyper::body::Incoming>) -> Self::Future {
        let key = req.uri().path().trim_start_matches('/').trim_start_matches(BUCKET).trim_start_matches('/').to_string();
        self.requests.lock().unwrap().push((req.method().to_string(), key));
        hyper::service::Service::call(&self.service, req)
    }
}

impl S3Server {
    /// Starts a server on a free port of 127.0.0.1 with one bucket, [`BUCKET`].
    pub fn start() -> S3Server {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join(BUCKET)).unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let mut service = s3s::service::S3ServiceBuilder::new(s3s_fs::FileSystem::new(root.path()).unwrap());
        service.set_auth(s3s::auth::SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let service = Recorded { service: service.build(), requests: requests.clone() };
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        runtime.spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                // Without this, Nagle's algorithm and delayed ACKs hold small responses ~40 ms.
                let _ = socket.set_nodelay(true);
                let service = service.clone();
                tokio::spawn(async move {
                    let http = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
                    let _ = http.serve_connection(hyper_util::rt::TokioIo::new(socket), service).await;
                });
            }
        });
        S3Server { endpoint, runtime, root, requests }
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

    /// Where the server keeps the objects under `prefix` of the bucket (s3s-fs stores an
    /// object as a file named by its key), for looking at what is stored.
    pub fn objects(&self, prefix: &str) -> std::path::PathBuf {
        self.root.path().join(BUCKET).join(prefix)
    }

    /// The requests served so far for objects under `prefix/`, by object key: each key's methods.
    pub fn requests_under(&self, prefix: &str) -> std::collections::BTreeMap<String, Vec<String>> {
        let mut by_key = std::collections::BTreeMap::<String, Vec<String>>::new();
        for (method, key) in self.requests.lock().unwrap().iter() {
            if let Some(rel) = key.strip_prefix(prefix).and_then(|k| k.strip_prefix('/')) {
                by_key.entry(rel.to_string()).or_default().push(method.clone());
            }
        }
        by_key
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
    // Two versions of every table: the fixture's run and a forced one.
    let lake = crate::DEMO_RUN.copy();
    let pipeline = demo_pipeline();
    let out = command(Some(lake.path()), Some(KEY), &["run", pipeline.to_str().unwrap(), "--force"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
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
    let mut users: Vec<String> = std::fs::read_dir(lake.path().join("deid/users"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".parquet"))
        .collect();
    users.sort();
    server.delete(&format!("lakes/demo/deid/users/{}", users[0]));
    let (code, _, stderr) = query(&server, remote, "select count(*) from users", &["--as-of", "0"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("s3://analytics/lakes/demo/deid/users: version 0 can no longer be read"), "{stderr}");
    assert_eq!(query(&server, remote, "select count(*) from users", &[]).1.lines().nth(1), Some("500"));

    // Nothing there is not a lake.
    let (code, _, stderr) = query(&server, "s3://analytics/elsewhere", "select 1", &[]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("s3://analytics/elsewhere: not a lake"), "{stderr}");
}

/// `piguard ARGS` with the key, on `lake` (`LAKE` in an argument stands for it) through
/// the server's configuration, from the empty directory `cwd`; the exit code, and stdout and
/// stderr with the lake's root written `LAKE`.
fn on(server: &S3Server, cwd: &Path, lake: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let args: Vec<String> = args.iter().map(|a| a.replace("LAKE", lake)).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut cmd = command(None, Some(KEY), &args);
    cmd.env("PIGUARD_LAKE", lake).current_dir(cwd);
    let out = server.configure(&mut cmd).output().unwrap();
    let (stdout, stderr) = text(&out);
    (out.status.code(), stdout.replace(lake, "LAKE"), stderr.replace(lake, "LAKE"))
}

/// `text` with the ids of erasure requests (`er-…`) written `er-ID`.
fn without_request_ids(text: &str) -> String {
    text.split(' ')
        .map(|w| if w.starts_with("er-20") { format!("er-ID{}", if w.ends_with(':') { ":" } else { "" }) } else { w.to_string() })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The rows of every de-identified table and export, by table, as a reader of `lake` sees them.
fn tables(server: &S3Server, cwd: &Path, lake: &str) -> Vec<String> {
    ["users", "orders", "payments", "device_info", "locations", "browsing_logs", "chat_messages", "consents", "advertiser_by_province"]
        .iter()
        .map(|t| {
            let (code, out, err) = on(server, cwd, lake, &["query", &format!("select * from {t} order by 1, 2, 3"), "--format", "csv"]);
            assert_eq!(code, Some(0), "{t} on {lake}: {err}");
            out
        })
        .collect()
}

#[test]
#[ignore = "slow suite: cargo test --features cluster -- --ignored"]
fn the_whole_demo_runs_on_s3_with_the_same_results_as_on_disk() {
    let server = S3Server::start();
    let dir = tempfile::tempdir().unwrap();
    let cwd = tempfile::tempdir().unwrap();
    let local = dir.path().join("lake");
    let lakes = [local.to_str().unwrap(), "s3://analytics/demo"];
    let pipeline = demo_pipeline();
    let p = pipeline.to_str().unwrap();
    // Runs `args` on both lakes: both succeed and print the same, but for the lake's root.
    let same = |args: &[&str]| -> (String, String) {
        let [disk, s3] = lakes.map(|lake| on(&server, cwd.path(), lake, args));
        assert_eq!(disk.0, Some(0), "{args:?} on disk: {}", disk.2);
        assert_eq!(s3.0, Some(0), "{args:?} on s3: {}", s3.2);
        assert_eq!(without_request_ids(&s3.1), without_request_ids(&disk.1), "{args:?}");
        (s3.1, s3.2)
    };

    // The demo's size: its pipeline's choices were made by the risk figures at 500 users (at 300,
    // days of browsing logs with fewer than 5 users would be refused, as they should).
    same(&["sample-data", "LAKE", "--rows", "500", "--end-date", "2025-10-31"]);
    let [disk, s3] = lakes.map(|lake| on(&server, cwd.path(), lake, &["scan", "LAKE"]));
    let inventory = |out: &str| {
        let mut v: serde_json::Value = serde_json::from_str(out).unwrap();
        v.as_object_mut().unwrap().remove("generated_at");
        v
    };
    assert_eq!((disk.0, s3.0), (Some(0), Some(0)), "{}", s3.2);
    assert_eq!(inventory(&s3.1), inventory(&disk.1), "the same inventory");
    assert!(s3.1.contains("\"path\": \"LAKE/raw/users\""), "datasets named by their URLs");

    for lake in lakes {
        let (code, _, err) = on(&server, cwd.path(), lake, &["run", p]);
        assert_eq!(code, Some(0), "run on {lake}: {err}");
    }
    let (_, verified) = same(&["verify", "LAKE/deid", "--lake", "LAKE"]);
    assert!(verified.contains("verified 8 dataset(s), 8 against the raw zone: 0 finding(s)"), "{verified}");
    assert_eq!(tables(&server, cwd.path(), lakes[1]), tables(&server, cwd.path(), lakes[0]), "the same de-identified zone and export");
    let raw = same(&[
        "query",
        "select count(*) as n, count(distinct user_id) as users from raw.users",
        "--zone",
        "raw",
        "--reason",
        "ticket 1",
        "--format",
        "csv",
    ])
    .0;
    assert_eq!(raw.lines().nth(1), Some("500,500"), "{raw}");

    // Retention and erasure, counted from a day when a year of logs is past its time.
    let today = "2026-11-23";
    let (would, _) = same(&["purge", "--pipeline", p, "--dry-run", "--today", today]);
    let (deleted, _) = same(&["purge", "--pipeline", p, "--today", today]);
    assert_eq!(would.replace("would delete", "deleted"), deleted);
    assert!(deleted.matches("deleted raw/browsing_logs/").count() > 100, "{deleted}");
    let (erased, _) = same(&["erase", "--pipeline", p, "--subject", "100000007", "--reason", "ticket 2", "--today", today]);
    assert!(erased.contains("removed ") && !erased.contains("removed 0 raw and 0"), "{erased}");
    assert_eq!(tables(&server, cwd.path(), lakes[1]), tables(&server, cwd.path(), lakes[0]), "the same after purge and erasure");
    let audit = lakes.map(|lake| {
        let (code, out, err) = on(&server, cwd.path(), lake, &["audit", "verify"]);
        assert_eq!(code, Some(0), "{lake}: {err}");
        out.split(", head").next().unwrap().to_string()
    });
    assert_eq!(audit[1], audit[0], "as many audit entries");

    // On the store: one object per audit entry and ledger record, the manifest, the export's
    // pointer, and no lease left behind.
    let stored = |rel: &str| server.objects("demo").join(rel);
    let entries = std::fs::read_dir(stored("_piguard/audit")).unwrap().count();
    assert!(audit[1].contains(&format!("audit log intact: {entries} entries")), "{}", audit[1]);
    assert!(stored("_piguard/erasure/00000000000000000001.json").is_file());
    assert!(stored("_piguard/inventory.json").is_file() && stored("_piguard/audit.head").is_file());
    let published = std::fs::read_to_string(stored("export/advertiser_by_province/_latest")).unwrap();
    assert!(stored(&format!("export/advertiser_by_province/{published}/report.json")).is_file());
    assert!(!stored("_piguard/writer.lock").exists(), "the lease is released");
    assert_eq!(std::fs::read_dir(cwd.path()).unwrap().count(), 0, "nothing written locally");

    // An outside reader on the store: delta-rs's DataFusion provider, with nothing of piguard's.
    // Without the deltalake-aws crate, s3:// tables need a log store: the default one, as on
    // any store with conditional puts.
    struct ConditionalPuts;
    impl deltalake_core::logstore::LogStoreFactory for ConditionalPuts {
        fn with_options(
            &self,
            prefixed: deltalake_core::logstore::ObjectStoreRef,
            root: deltalake_core::logstore::ObjectStoreRef,
            location: &url::Url,
            options: &deltalake_core::logstore::StorageConfig,
        ) -> deltalake_core::DeltaResult<std::sync::Arc<dyn deltalake_core::logstore::LogStore>> {
            Ok(deltalake_core::logstore::default_logstore(prefixed, root, location, options))
        }
    }
    deltalake_core::logstore::logstore_factories().insert(url::Url::parse("s3://").unwrap(), std::sync::Arc::new(ConditionalPuts));
    let count = server.runtime.block_on(async {
        let url = url::Url::parse("s3://analytics/demo/deid/users/").unwrap();
        let table = deltalake_core::DeltaTableBuilder::from_url(url.clone())
            .unwrap()
            .with_storage_backend(std::sync::Arc::new(server.client()), url)
            .load()
            .await
            .unwrap();
        let ctx = datafusion::prelude::SessionContext::new();
        table.update_datafusion_session(&ctx.state()).unwrap();
        ctx.register_table("t", table.table_provider().await.unwrap()).unwrap();
        let batches = ctx.sql("select count(*) from t").await.unwrap().collect().await.unwrap();
        arrow::array::AsArray::as_primitive::<arrow::datatypes::Int64Type>(batches[0].column(0)).value(0)
    });
    assert_eq!(count, 499, "every user but the one erased");
}

#[test]
#[ignore = "slow suite: cargo test --features cluster -- --ignored"]
fn a_run_killed_mid_commit_on_s3_leaves_every_table_at_a_whole_version() {
    let server = S3Server::start();
    // The last two weeks of browsing logs are as many partitions as a kill needs, and a
    // tenth of the requests of the whole 14 months.
    let lake = recent_demo_lake(14);
    assert!(server.upload(&lake.path().join("raw"), "lake/raw") > 0);
    let remote = "s3://analytics/lake";
    let cwd = tempfile::tempdir().unwrap();
    let p = demo_pipeline();
    let rows = |t: &str| {
        let (code, out, err) =
            on(&server, cwd.path(), remote, &["query", &format!("select * from {t} order by 1, 2, 3"), "--format", "csv"]);
        match code {
            Some(0) => out,
            // No version of the table yet.
            _ if err.contains("not found") => String::new(),
            _ => panic!("{t}: {err}"),
        }
    };
    let run = on(&server, cwd.path(), remote, &["run", p.to_str().unwrap()]);
    assert_eq!(run.0, Some(0), "{}", run.2);
    let expected: Vec<String> = DEMO_DATASETS.iter().map(|t| rows(t)).collect();

    // What the server holds of the tables' logs and files, to kill the runs at the right time.
    let deid = server.objects("lake/deid");
    let count = |suffix: &str, in_log: bool| {
        if !deid.is_dir() {
            return 0;
        }
        walk(&deid)
            .iter()
            .filter(|f| f.to_str().unwrap().ends_with(suffix) && f.parent().unwrap().ends_with("_delta_log") == in_log)
            .count()
    };
    let commits = || count(".json", true);
    let data_files = || count(".parquet", false);
    // Killed while the first new files are uploaded (nothing committed), then once some
    // tables have committed their new version and others not yet.
    let files_before = data_files();
    let uploading = |_: usize| data_files() > files_before;
    let some_committed = |before: usize| commits() > before + 2;
    for kill_when in [&uploading as &dyn Fn(usize) -> bool, &some_committed] {
        let before = commits();
        let mut cmd = command(None, Some(KEY), &["run", p.to_str().unwrap(), "--lake", remote, "--force"]);
        let mut child = server.configure(&mut cmd).current_dir(cwd.path()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(180);
        while !kill_when(before) && child.try_wait().unwrap().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // Every reader sees each table as one whole version, never a mix of two runs' files.
        for (t, expected) in DEMO_DATASETS.iter().zip(&expected) {
            assert_eq!(&rows(t), expected, "{t}");
        }
    }
    assert!(commits() < 3 * DEMO_DATASETS.len(), "the kills came too late");
    assert!(server.objects("lake/_piguard/writer.lock").is_file(), "a killed run leaves its lease");

    // The next run takes over the dead run's lease at once, names both killed runs, finishes,
    // and deletes what they uploaded and never committed.
    let audit = on(&server, cwd.path(), remote, &["audit", "verify"]);
    assert_eq!(audit.0, Some(0), "{}", audit.2);
    assert_eq!(audit.2.matches("began and recorded no outcome").count(), 2, "{}", audit.2);
    let rerun = on(&server, cwd.path(), remote, &["run", p.to_str().unwrap(), "--force"]);
    assert_eq!(rerun.0, Some(0), "{}", rerun.2);
    for (t, expected) in DEMO_DATASETS.iter().zip(&expected) {
        assert_eq!(&rows(t), expected, "{t}");
        let table = deid.join(t);
        let logs: String = walk(&table.join("_delta_log"))
            .iter()
            .filter(|f| f.extension().is_some_and(|x| x == "json"))
            .map(|f| std::fs::read_to_string(f).unwrap())
            .collect();
        let uncommitted: Vec<_> = walk(&table)
            .into_iter()
            .filter(|f| f.extension().is_some_and(|x| x == "parquet") && !logs.contains(f.file_name().unwrap().to_str().unwrap()))
            .collect();
        assert!(uncommitted.is_empty(), "{t}: {uncommitted:?}");
    }
    assert!(!server.objects("lake/_piguard/writer.lock").exists());
}

#[test]
fn a_run_on_s3_reads_each_raw_file_in_at_most_three_requests_and_what_it_wrote_in_one_or_two() {
    let server = S3Server::start();
    let lake = recent_demo_lake(3);
    let uploaded = server.upload(&lake.path().join("raw"), "lake/raw");
    let cwd = tempfile::tempdir().unwrap();
    let run = on(&server, cwd.path(), "s3://analytics/lake", &["run", demo_pipeline().to_str().unwrap()]);
    assert_eq!(run.0, Some(0), "{}", run.2);
    // Sizes come from listings; a small file's footer, sample, subject ids and rows from its
    // first read (one request each here, where it took 22 to 27 before reads were remembered).
    let reads = |prefix: &str| -> Vec<(String, Vec<String>)> {
        server
            .requests_under(prefix)
            .into_iter()
            .filter(|(key, _)| key.ends_with(".parquet"))
            .map(|(key, methods)| (key, methods.into_iter().filter(|m| m != "PUT").collect()))
            .collect()
    };
    let raw = reads("lake/raw");
    assert_eq!(raw.len(), uploaded);
    for (key, methods) in &raw {
        assert!(!methods.is_empty() && methods.len() <= 3, "raw/{key}: {methods:?}");
    }
    // What the run wrote, read back by the risk gate where the write's own counts do not
    // serve, or by local suppression: its size is learned by the first read, which holds it
    // whole when it is under 64 KiB. A file that suppression wrote again is a new object, which
    // the commit then asks for its size (one HEAD) and may read once more.
    let written = reads("lake/deid");
    assert!(written.len() > DEMO_DATASETS.len(), "{written:?}");
    for (key, methods) in &written {
        let heads = methods.iter().filter(|m| *m == "HEAD").count();
        let gets = methods.iter().filter(|m| *m == "GET").count();
        assert!(heads + gets == methods.len() && heads <= 1 && gets <= 2, "deid/{key}: {methods:?}");
    }

    // The risk gate takes from the write what it takes on a local lake (its tasks keep their
    // subject keys on this machine): the same runs' risk sections, where the figures came from.
    let local = recent_demo_lake(3);
    let out = crate::piguard_in(local.path(), Some(KEY), &["run", demo_pipeline().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    let sources = risk_sources(&server.objects("lake/_piguard/runs"));
    assert_eq!(sources, risk_sources(&local.path().join("_piguard/runs")));
    assert!(sources.iter().any(|(_, proved, _)| *proved) && sources.iter().any(|(_, _, from_write)| *from_write), "{sources:?}");
}

/// Each dataset the newest run under `runs` evaluated: whether the write proved every record a
/// subject of its own, and whether the write counted its classes.
fn risk_sources(runs: &Path) -> Vec<(String, bool, bool)> {
    let newest = std::fs::read_dir(runs).unwrap().map(|e| e.unwrap().path()).max().expect("a run");
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(newest.join("manifest.json")).unwrap()).unwrap();
    let datasets = manifest["datasets"].as_array().unwrap().iter().filter(|d| d["risk"].is_object());
    let flag = |d: &serde_json::Value, f: &str| d["risk"][f].as_bool().unwrap_or_else(|| panic!("{f} in {d}"));
    datasets.map(|d| (d["name"].as_str().unwrap().to_string(), flag(d, "subject_per_record"), flag(d, "classes_from_write"))).collect()
}
