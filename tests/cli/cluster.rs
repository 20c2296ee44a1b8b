//! `run --engine ballista://…` on a cluster of separate processes on 127.0.0.1: one
//! `piguard scheduler` and `piguard executor`s, each with its own key from its environment.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{DEMO_DATASETS, KEY, OTHER_KEY, command, demo_pipeline, piguard_in, recent_demo_lake, text, visible_parquet_files};

/// A port of 127.0.0.1 nobody listens on, whose successor is free too (an executor takes both).
fn free_ports() -> u16 {
    loop {
        let first = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = first.local_addr().unwrap().port();
        if port < u16::MAX && TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
}

fn wait_for(port: u16, what: &str, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(child.try_wait().unwrap().is_none(), "the {what} exited");
        assert!(Instant::now() < deadline, "the {what} did not listen on {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A scheduler and executors, each a `piguard` process, killed when dropped.
struct Cluster {
    port: u16,
    scheduler: Child,
    executors: Vec<Child>,
    logs: tempfile::TempDir,
    /// The executors' shuffle files, which a killed executor leaves behind.
    _work: tempfile::TempDir,
}

impl Cluster {
    /// A scheduler and one executor per key in `keys`; executors are declared dead after 4 s
    /// without a heartbeat (they beat every second).
    fn start(keys: &[&str]) -> Cluster {
        let (logs, work) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let log = |name: &str| Stdio::from(std::fs::File::create(logs.path().join(name)).unwrap());
        let port = free_ports();
        let bind = format!("127.0.0.1:{port}");
        let mut scheduler = command(None, None, &["scheduler", "--bind", &bind, "--executor-timeout", "4"])
            .stdout(log("scheduler.out"))
            .stderr(log("scheduler.err"))
            .spawn()
            .unwrap();
        wait_for(port, "scheduler", &mut scheduler);
        let executors = keys
            .iter()
            .enumerate()
            .map(|(i, key)| {
                let flight = free_ports();
                let work_dir = work.path().join(i.to_string());
                let args = [
                    "executor",
                    "--scheduler",
                    &bind,
                    "--port",
                    &flight.to_string(),
                    "--concurrency",
                    "2",
                    "--heartbeat",
                    "1",
                    "--work-dir",
                    work_dir.to_str().unwrap(),
                ];
                let mut child = command(None, Some(key), &args)
                    .stdout(log(&format!("executor{i}.out")))
                    .stderr(log(&format!("executor{i}.err")))
                    .spawn()
                    .unwrap();
                wait_for(flight, "executor", &mut child);
                child
            })
            .collect();
        // Executors register right after they listen.
        std::thread::sleep(Duration::from_secs(1));
        Cluster { port, scheduler, executors, logs, _work: work }
    }

    fn engine(&self) -> String {
        format!("ballista://127.0.0.1:{}", self.port)
    }

    /// What every process wrote to its standard output and error.
    fn logs(&self) -> String {
        let mut names: Vec<PathBuf> = std::fs::read_dir(self.logs.path()).unwrap().map(|e| e.unwrap().path()).collect();
        names.sort();
        names.iter().map(|p| format!("== {}\n{}", p.display(), std::fs::read_to_string(p).unwrap_or_default())).collect()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in self.executors.iter_mut().chain([&mut self.scheduler]) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn run(lake: &Path, key: &str, engine: &str) -> Command {
    let pipeline = demo_pipeline();
    command(Some(lake), Some(key), &["run", pipeline.to_str().unwrap(), "--engine", engine])
}

/// Every de-identified table and the export, row for row, as `query` prints them. Numbers
/// with a fraction are rounded to 6 places: a sum of floats depends on the order its partial
/// sums were added in, on one machine as on many.
fn tables(lake: &Path) -> Vec<(String, String)> {
    let rounded = |field: &str| match field.parse::<f64>() {
        Ok(x) if field.contains('.') => format!("{x:.6}"),
        _ => field.to_string(),
    };
    DEMO_DATASETS
        .iter()
        .chain(&["advertiser_by_province"])
        .map(|t| {
            let out = piguard_in(lake, Some(KEY), &["query", &format!("select * from {t} order by 1, 2, 3"), "--format", "csv"]);
            let (stdout, stderr) = text(&out);
            assert!(out.status.success(), "{t}: {stderr}");
            assert!(stdout.lines().count() > 1, "{t} has rows");
            let rows: Vec<String> = stdout.lines().map(|l| l.split(',').map(rounded).collect::<Vec<_>>().join(",")).collect();
            (t.to_string(), rows.join("\n"))
        })
        .collect()
}

/// The two lakes publish the same tables, named when they differ.
fn assert_same_tables(lake: &Path, expected: &Path) {
    for ((name, got), (_, want)) in tables(lake).into_iter().zip(tables(expected)) {
        if got != want {
            let first = got.lines().zip(want.lines()).position(|(a, b)| a != b);
            panic!(
                "{name} differs from the local run's (first at line {first:?}, {} vs {} lines)",
                got.lines().count(),
                want.lines().count()
            );
        }
    }
}

/// `piguard verify` of the lake's de-identified zone, against its raw zone, finds nothing.
fn verify(lake: &Path) {
    let deid = lake.join("deid");
    let out = piguard_in(lake, Some(KEY), &["verify", deid.to_str().unwrap(), "--lake", lake.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out).1);
}

#[test]
#[ignore = "slow suite: cargo test --features cluster -- --ignored"]
fn a_run_on_a_cluster_publishes_what_a_local_run_does() {
    let cluster = Cluster::start(&[KEY, KEY]);
    let (local, distributed) = (recent_demo_lake(14), recent_demo_lake(14));
    let out = run(local.path(), KEY, "local").output().unwrap();
    assert!(out.status.success(), "{}", text(&out).1);
    // The lake named relative to the client's directory, which is not the executors'.
    let (parent, name) = (distributed.path().parent().unwrap(), distributed.path().file_name().unwrap());
    let out = run(distributed.path(), KEY, &cluster.engine()).current_dir(parent).env("PIGUARD_LAKE", name).output().unwrap();
    assert!(out.status.success(), "{}\n{}", text(&out).1, cluster.logs());
    assert_same_tables(distributed.path(), local.path());
    verify(distributed.path());
    // Nothing of the key or of the raw values reached a log of the cluster.
    let logs = cluster.logs();
    assert!(!logs.contains(KEY), "the key is in a log");
    assert!(!logs.contains("13812345678") && !logs.contains("100000001"), "a raw value is in a log");
    // A second run finds every partition unchanged and writes nothing on the cluster.
    let out = run(distributed.path(), KEY, &cluster.engine()).output().unwrap();
    assert!(out.status.success() && text(&out).1.contains("partitions_written=0"), "{}", text(&out).1);
}

#[test]
fn an_executor_without_a_key_does_not_start() {
    let out = command(None, None, &["executor", "--scheduler", "127.0.0.1:1"]).output().unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("PIGUARD_KEY"), "{stderr}");
    let out = command(None, Some(KEY), &["executor", "--scheduler", "nowhere"]).output().unwrap();
    assert!(text(&out).1.contains("--scheduler nowhere: expected HOST:PORT"), "{}", text(&out).1);
}

#[test]
fn the_leak_gate_refuses_what_executors_wrote_with_raw_pi() {
    let cluster = Cluster::start(&[KEY]);
    crate::run::leak_gate_stops_pi_hidden_in_an_innocent_column(&["--engine", &cluster.engine()]);
    crate::run::leak_gate_finds_raw_identifiers_in_kept_columns(&["--engine", &cluster.engine()]);
}

#[test]
fn an_executor_with_another_key_refuses_and_nothing_is_published() {
    let cluster = Cluster::start(&[OTHER_KEY]);
    let lake = recent_demo_lake(14);
    let out = run(lake.path(), KEY, &cluster.engine()).output().unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}\n{}", cluster.logs());
    assert!(stderr.contains("refused: this executor's key"), "{stderr}");
    assert!(!stderr.contains(KEY) && !stderr.contains(OTHER_KEY), "a key is in the error");
    // The first dataset pseudonymizes: nothing of any dataset was published.
    for d in DEMO_DATASETS {
        assert!(visible_parquet_files(&lake.path().join("deid").join(d)).is_empty(), "{d} was published");
    }
}

#[test]
#[ignore = "slow suite: cargo test --features cluster -- --ignored"]
fn a_run_survives_an_executor_killed_mid_run_or_publishes_nothing_half_done() {
    let mut cluster = Cluster::start(&[KEY, KEY]);
    let (local, lake) = (recent_demo_lake(14), recent_demo_lake(14));
    let out = run(local.path(), KEY, "local").output().unwrap();
    assert!(out.status.success(), "{}", text(&out).1);
    let mut child = run(lake.path(), KEY, &cluster.engine()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    // Killed once the run has written its first Parquet file on the cluster.
    let deadline = Instant::now() + Duration::from_secs(300);
    while crate::walk(lake.path()).iter().all(|p| p.extension().is_none_or(|x| x != "parquet")) {
        assert!(child.try_wait().unwrap().is_none(), "the run ended before writing");
        assert!(Instant::now() < deadline, "the run wrote nothing");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut killed = cluster.executors.remove(0);
    killed.kill().unwrap();
    killed.wait().unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = text(&out).1;
    eprintln!("the run {}", if out.status.success() { "completed" } else { "failed" });
    if out.status.success() {
        assert_same_tables(lake.path(), local.path());
    } else {
        // Failed: each dataset is at a whole version, and the one that failed published nothing.
        verify(lake.path());
        assert!(stderr.contains("not published:"), "{stderr}\n{}", cluster.logs());
    }
}
