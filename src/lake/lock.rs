//! The writer lock every writer of a lake (`run`, `purge`, `erase`) holds, so that no two
//! rewrite the same partition at once.
//!
//! On a local disk it is an exclusive `flock` on `_piguard/writer.lock`, released when the
//! process dies. An object store has no locks, so there it is a lease: an object created
//! only if absent (`If-None-Match: *`) that names its holder and an expiry, renewed by
//! conditional updates (`If-Match` on its ETag) while the holder works. A holder that dies
//! stops renewing, and the next writer takes the lease over once it has expired, or at once
//! when the holder was a process of the same machine that no longer runs, so a crash leaves
//! nothing that blocks the next command for long. A holder that stalls past its expiry has
//! lost the lease and publishes nothing more ([`LakeLock::ensure_held`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use serde::{Deserialize, Serialize};

use super::files::{io_error, remote};
use super::store::{Object, block_on, spawn};

/// How long a lease holds without renewal; it is renewed every third of that.
pub const LEASE_TTL: Duration = Duration::from_secs(60);

/// Another piguard process is writing the lake, or this one lost its lease.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another piguard run, purge or erase holds the lake's lock {path}; try again when it has finished")]
    Busy { path: PathBuf },
    #[error(
        "another piguard run, purge or erase holds the lake's lock {path} (process {holder}, lease valid until {until}); try again when it has finished, or after the lease has expired if that process died"
    )]
    Leased { path: PathBuf, holder: String, until: String },
    #[error(
        "{path}: this process lost the lease on the lake's lock (it could not renew it before it expired, and another writer may hold it now); nothing more was published"
    )]
    Lost { path: PathBuf },
    #[error("{path}: {cause}")]
    Io { path: PathBuf, cause: std::io::Error },
}

/// The lock, held until dropped.
#[derive(Debug)]
pub struct LakeLock {
    held: Held,
}

#[derive(Debug)]
enum Held {
    /// Held for its `flock`, which closing the file releases.
    File {
        _flock: std::fs::File,
    },
    Lease(Lease),
}

impl LakeLock {
    /// Takes the lock at `path` (a local file, or an object of a store), or says who holds it.
    pub fn acquire(path: &Path) -> Result<LakeLock, LockError> {
        let io = |cause| LockError::Io { path: path.to_path_buf(), cause };
        let held = match remote(path).map_err(io)? {
            None => Held::File { _flock: flock(path)? },
            Some(object) => Held::Lease(Lease::acquire(path, object, LEASE_TTL, Holder::this_process())?),
        };
        Ok(LakeLock { held })
    }

    /// Fails when the lock is no longer this process's: a lease that lapsed. Writers call it
    /// before each commit.
    pub fn ensure_held(&self) -> Result<(), LockError> {
        match &self.held {
            Held::File { .. } => Ok(()),
            Held::Lease(lease) => lease.ensure_held(),
        }
    }
}

/// On a local disk the lock is the bookkeeping directory itself (`_piguard/`), locked with
/// `flock`: a lock file beside the records could be deleted while held, and the next writer
/// would lock a new one and run alongside; the directory cannot go without the audit log,
/// whose loss every command detects. Nothing is created or opened through a link.
fn flock(path: &Path) -> Result<std::fs::File, LockError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let io = |cause| LockError::Io { path: dir.to_path_buf(), cause };
    std::fs::create_dir_all(dir).map_err(io)?;
    if std::fs::symlink_metadata(dir).map_err(io)?.file_type().is_symlink() {
        return Err(io(std::io::Error::other("a symbolic link: the lake's records are not followed through links")));
    }
    let file = std::fs::File::open(dir).map_err(io)?;
    if file.try_lock().is_err() {
        return Err(LockError::Busy { path: dir.to_path_buf() });
    }
    Ok(file)
}

/// A process, told apart from every other: its machine (host name, boot, PID namespace),
/// its pid and when it started, so a reused pid is not mistaken for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Holder {
    host: String,
    machine: String,
    pid: u32,
    started: u64,
}

impl Holder {
    fn this_process() -> Holder {
        let pid = std::process::id();
        Holder { host: read_trimmed("/proc/sys/kernel/hostname"), machine: machine_id(), pid, started: start_time(pid).unwrap_or(0) }
    }

    /// Whether this holder is a process of this machine that no longer runs.
    fn is_gone(&self) -> bool {
        let me = Holder::this_process();
        !self.machine.is_empty() && self.host == me.host && self.machine == me.machine && start_time(self.pid) != Some(self.started)
    }
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} on {}", self.pid, self.host)
    }
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path).map(|s| s.trim().to_string()).unwrap_or_default()
}

/// The kernel boot and PID namespace this process sees: equal only where pids name the same
/// processes.
fn machine_id() -> String {
    let boot = read_trimmed("/proc/sys/kernel/random/boot_id");
    let pid_ns = std::fs::read_link("/proc/self/ns/pid").map(|p| p.display().to_string()).unwrap_or_default();
    if boot.is_empty() || pid_ns.is_empty() { String::new() } else { format!("{boot}/{pid_ns}") }
}

/// When process `pid` started, in clock ticks since boot (`/proc/PID/stat`, field 22).
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count from the last `)`.
    stat[stat.rfind(')')? + 1..].split_whitespace().nth(19)?.parse().ok()
}

/// The lease object's content.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LeaseRecord {
    holder: Holder,
    /// Tells this holder's lease from an earlier one of the same process.
    token: String,
    /// Milliseconds since the epoch after which others may take the lease over.
    expires_at_ms: i64,
}

impl LeaseRecord {
    fn expires(&self) -> String {
        chrono::DateTime::from_timestamp_millis(self.expires_at_ms).map_or_else(|| "?".into(), |t| t.to_rfc3339())
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A held lease and its renewal.
#[derive(Debug)]
struct Lease {
    path: PathBuf,
    object: Object,
    token: String,
    lost: Arc<AtomicBool>,
    /// Until when the last renewal that succeeded holds the lease.
    valid_until_ms: Arc<AtomicI64>,
    /// Dropped to stop the renewal.
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

/// What trying to take a lease found.
enum Taken {
    Held { version: UpdateVersion },
    Busy(LeaseRecord),
}

impl Lease {
    fn acquire(path: &Path, object: Object, ttl: Duration, holder: Holder) -> Result<Lease, LockError> {
        let mut token = [0u8; 16];
        getrandom::fill(&mut token).map_err(|e| LockError::Io { path: path.to_path_buf(), cause: std::io::Error::other(e.to_string()) })?;
        let record = LeaseRecord { holder, token: token.iter().map(|b| format!("{b:02x}")).collect(), expires_at_ms: 0 };
        let taken = {
            let (object, record) = (object.clone(), record.clone());
            block_on(async move { take(&object, record, ttl).await })
        };
        let version = match taken.map_err(|cause| LockError::Io { path: path.to_path_buf(), cause })? {
            Taken::Held { version } => version,
            Taken::Busy(other) => {
                return Err(LockError::Leased { path: path.to_path_buf(), holder: other.holder.to_string(), until: other.expires() });
            }
        };
        let lost = Arc::new(AtomicBool::new(false));
        let valid_until_ms = Arc::new(AtomicI64::new(now_ms() + ttl.as_millis() as i64));
        let (stop, stopped) = tokio::sync::oneshot::channel();
        spawn(renew(object.clone(), record.clone(), version, ttl, lost.clone(), valid_until_ms.clone(), stopped));
        Ok(Lease { path: path.to_path_buf(), object, token: record.token, lost, valid_until_ms, stop: Some(stop) })
    }

    fn ensure_held(&self) -> Result<(), LockError> {
        if self.lost.load(Ordering::SeqCst) || now_ms() >= self.valid_until_ms.load(Ordering::SeqCst) {
            return Err(LockError::Lost { path: self.path.clone() });
        }
        Ok(())
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        drop(self.stop.take());
        // Deleted only while it is still this holder's: a lease taken over is the new holder's.
        let (object, token) = (self.object.clone(), self.token.clone());
        let _ = block_on(async move {
            let current = object.store.get(&object.location).await?.bytes().await?;
            if serde_json::from_slice::<LeaseRecord>(&current).is_ok_and(|r| r.token == token) {
                object.store.delete(&object.location).await?;
            }
            Ok::<_, object_store::Error>(())
        });
    }
}

fn put_options(mode: PutMode) -> PutOptions {
    PutOptions { mode, ..Default::default() }
}

fn payload(record: &LeaseRecord, ttl: Duration) -> PutPayload {
    let record = LeaseRecord { expires_at_ms: now_ms() + ttl.as_millis() as i64, ..record.clone() };
    PutPayload::from(serde_json::to_vec(&record).expect("serializes"))
}

fn version_of(result: &object_store::PutResult) -> UpdateVersion {
    UpdateVersion { e_tag: result.e_tag.clone(), version: result.version.clone() }
}

/// Creates the lease object, or takes over one that has expired or whose holder is gone.
async fn take(object: &Object, record: LeaseRecord, ttl: Duration) -> std::io::Result<Taken> {
    let store = &object.store;
    // Twice: a lease released between our create and our read is created on the second try.
    for _ in 0..2 {
        match store.put_opts(&object.location, payload(&record, ttl), put_options(PutMode::Create)).await {
            Ok(put) => return Ok(Taken::Held { version: version_of(&put) }),
            Err(object_store::Error::AlreadyExists { .. }) => {}
            Err(e) => return Err(io_error(e)),
        }
        let current = match store.get(&object.location).await {
            Ok(current) => current,
            Err(object_store::Error::NotFound { .. }) => continue,
            Err(e) => return Err(io_error(e)),
        };
        let version = UpdateVersion { e_tag: current.meta.e_tag.clone(), version: current.meta.version.clone() };
        let modified = current.meta.last_modified.timestamp_millis();
        let bytes = current.bytes().await.map_err(io_error)?;
        // An unreadable lease (not piguard's, or damaged) holds for one term after it was written.
        let other = serde_json::from_slice::<LeaseRecord>(&bytes).unwrap_or_else(|_| LeaseRecord {
            holder: Holder { host: "an unreadable lease".into(), machine: String::new(), pid: 0, started: 0 },
            token: String::new(),
            expires_at_ms: modified + ttl.as_millis() as i64,
        });
        if other.expires_at_ms > now_ms() && !other.holder.is_gone() {
            return Ok(Taken::Busy(other));
        }
        return match store.put_opts(&object.location, payload(&record, ttl), put_options(PutMode::Update(version))).await {
            Ok(put) => Ok(Taken::Held { version: version_of(&put) }),
            // Another writer took it over first.
            Err(object_store::Error::Precondition { .. }) => Ok(Taken::Busy(other)),
            Err(e) => Err(io_error(e)),
        };
    }
    Err(std::io::Error::other("the lease object kept changing while it was being taken"))
}

/// Renews the lease every third of its term until stopped; a renewal refused because the
/// object changed (another writer took it over) loses it, and so does a term with no
/// renewal that succeeded.
async fn renew(
    object: Object,
    record: LeaseRecord,
    mut version: UpdateVersion,
    ttl: Duration,
    lost: Arc<AtomicBool>,
    valid_until_ms: Arc<AtomicI64>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    loop {
        if tokio::time::timeout(ttl / 3, &mut stopped).await.is_ok() {
            return;
        }
        let expires = now_ms() + ttl.as_millis() as i64;
        match object.store.put_opts(&object.location, payload(&record, ttl), put_options(PutMode::Update(version.clone()))).await {
            Ok(put) => {
                version = version_of(&put);
                valid_until_ms.store(expires, Ordering::SeqCst);
            }
            Err(object_store::Error::Precondition { .. } | object_store::Error::NotFound { .. }) => {
                lost.store(true, Ordering::SeqCst);
                return;
            }
            // A failed request is retried at the next tick; `valid_until_ms` lapses meanwhile.
            Err(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lake::files::tests::memory_bucket;
    use crate::lake::store::object_of;

    fn other_host() -> Holder {
        Holder { host: "elsewhere".into(), machine: "another-boot".into(), pid: 1, started: 1 }
    }

    fn lease_of(path: &Path) -> LeaseRecord {
        serde_json::from_slice(&crate::lake::files::read(path).unwrap()).unwrap()
    }

    fn object(path: &Path) -> Object {
        object_of(path).unwrap().unwrap()
    }

    #[test]
    fn a_lease_is_exclusive_renewed_and_released() {
        let path = memory_bucket("lease-exclusive").join("lake/_piguard/writer.lock");
        let held = Lease::acquire(&path, object(&path), Duration::from_millis(300), Holder::this_process()).unwrap();
        let first = lease_of(&path);
        assert_eq!(first.holder, Holder::this_process());
        let busy = Lease::acquire(&path, object(&path), LEASE_TTL, other_host()).unwrap_err();
        assert!(matches!(busy, LockError::Leased { .. }) && busy.to_string().contains("holds the lake's lock"), "{busy}");
        std::thread::sleep(Duration::from_millis(500));
        assert!(lease_of(&path).expires_at_ms > first.expires_at_ms, "renewed");
        held.ensure_held().unwrap();
        drop(held);
        assert!(!crate::lake::files::is_file(&path), "released");
        Lease::acquire(&path, object(&path), LEASE_TTL, other_host()).unwrap();
    }

    #[test]
    fn an_expired_lease_or_a_dead_holder_of_this_machine_is_taken_over() {
        let path = memory_bucket("lease-takeover").join("_piguard/writer.lock");
        let stale = |holder: Holder, expires_at_ms: i64| {
            let record = LeaseRecord { holder, token: "old".into(), expires_at_ms };
            crate::lake::files::write_atomic(&path, &serde_json::to_vec(&record).unwrap()).unwrap();
        };
        stale(other_host(), now_ms() + 60_000);
        assert!(
            matches!(Lease::acquire(&path, object(&path), LEASE_TTL, Holder::this_process()), Err(LockError::Leased { .. })),
            "a live lease elsewhere holds"
        );
        stale(other_host(), now_ms() - 1);
        let taken = Lease::acquire(&path, object(&path), LEASE_TTL, Holder::this_process()).unwrap();
        assert_eq!(lease_of(&path).token, taken.token);
        drop(taken);
        let dead = Holder { pid: u32::MAX - 1, ..Holder::this_process() };
        stale(dead, now_ms() + 60_000);
        Lease::acquire(&path, object(&path), LEASE_TTL, Holder::this_process()).expect("a holder of this machine that no longer runs");
    }

    #[test]
    fn a_lease_taken_over_meanwhile_is_lost_and_not_released() {
        let path = memory_bucket("lease-lost").join("_piguard/writer.lock");
        let held = Lease::acquire(&path, object(&path), Duration::from_millis(300), Holder::this_process()).unwrap();
        let usurper = LeaseRecord { holder: other_host(), token: "new".into(), expires_at_ms: now_ms() + 60_000 };
        crate::lake::files::write_atomic(&path, &serde_json::to_vec(&usurper).unwrap()).unwrap();
        std::thread::sleep(Duration::from_millis(400));
        assert!(matches!(held.ensure_held(), Err(LockError::Lost { .. })));
        drop(held);
        assert_eq!(lease_of(&path).token, "new", "the new holder's lease stays");
    }
}
