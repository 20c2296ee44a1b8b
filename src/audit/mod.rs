//! The append-only, hash-chained audit log `LAKE/_piguard/audit.jsonl`. Each entry carries
//! `prev` (the previous entry's hash) and `hash` = SHA-256 over the entry's canonical JSON
//! (keys sorted, without `hash`), so editing, removing or reordering an entry breaks the
//! chain. Appends hold an exclusive lock on the file, so concurrent writers do not corrupt it.

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The `prev` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// Entries are far smaller than this; the tail read to find the last one is bounded by it.
const MAX_ENTRY_BYTES: u64 = 64 * 1024;

/// Why the audit log could not be written.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit log {path}: {cause}")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("audit log {path}: the last entry is not valid JSON with a hash; run `piguard audit verify`")]
    Corrupt { path: PathBuf },
}

/// The audit log of a lake.
#[derive(Debug, Clone)]
pub struct AuditLog {
    path: PathBuf,
}

/// The OS user running piguard: `$USER`/`$LOGNAME`, else the process's uid looked up in
/// /etc/passwd (cron and systemd often set neither variable), else `uid:N`.
pub fn os_user() -> String {
    if let Ok(user) = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")) {
        return user;
    }
    let uid = std::fs::read_to_string("/proc/self/status").ok().and_then(|status| {
        status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|rest| rest.split_whitespace().next().map(str::to_string))
    });
    let Some(uid) = uid else { return "unknown".into() };
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|passwd| {
            passwd.lines().find_map(|l| {
                let mut f = l.split(':');
                let name = f.next()?;
                (f.nth(1)? == uid).then(|| name.to_string())
            })
        })
        .unwrap_or_else(|| format!("uid:{uid}"))
}

/// SHA-256 over the canonical bytes of an entry (its fields other than `hash`, keys sorted).
pub fn entry_hash(entry: &Map<String, Value>) -> String {
    let mut fields = entry.clone();
    fields.remove("hash");
    // serde_json's Map is ordered by key, so this serialization is canonical.
    let bytes = serde_json::to_vec(&Value::Object(fields)).expect("JSON values serialize");
    let digest = Sha256::digest(&bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

impl AuditLog {
    /// The audit log of the lake at `lake_root`.
    pub fn of_lake(lake_root: &Path) -> Self {
        AuditLog { path: lake_root.join("_piguard").join("audit.jsonl") }
    }

    /// Where the log is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `event` (a JSON object of what happened; never PI values) with `ts`, `who`,
    /// `prev` and `hash` added. Returns the entry's hash.
    pub fn append(&self, event: Map<String, Value>) -> Result<String, AuditError> {
        let io = |cause| AuditError::Io { path: self.path.clone(), cause };
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut file = OpenOptions::new().create(true).read(true).append(true).open(&self.path).map_err(io)?;
        file.lock().map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        let start = len.saturating_sub(MAX_ENTRY_BYTES);
        file.seek(SeekFrom::Start(start)).map_err(io)?;
        let mut tail = String::new();
        file.read_to_string(&mut tail).map_err(io)?;
        let prev = match tail.lines().rev().find(|l| !l.trim().is_empty()) {
            None => GENESIS.to_string(),
            Some(line) => serde_json::from_str::<Value>(line)
                .ok()
                .and_then(|v| v.get("hash").and_then(Value::as_str).map(str::to_string))
                .ok_or_else(|| AuditError::Corrupt { path: self.path.clone() })?,
        };
        let mut entry = event;
        entry.insert("ts".into(), Value::String(chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, false)));
        entry.insert("who".into(), Value::String(os_user()));
        entry.insert("prev".into(), Value::String(prev));
        let hash = entry_hash(&entry);
        entry.insert("hash".into(), Value::String(hash.clone()));
        let mut line = serde_json::to_vec(&Value::Object(entry)).expect("JSON values serialize");
        line.push(b'\n');
        file.write_all(&line).map_err(io)?;
        file.sync_data().map_err(io)?;
        Ok(hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(action: &str) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("action".into(), Value::String(action.into()));
        m
    }

    #[test]
    fn entries_chain_and_hash_their_canonical_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::of_lake(dir.path());
        let h1 = log.append(event("run")).unwrap();
        let h2 = log.append(event("purge")).unwrap();
        let text = std::fs::read_to_string(log.path()).unwrap();
        let entries: Vec<Map<String, Value>> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0]["prev"], GENESIS);
        assert_eq!(entries[1]["prev"], h1.as_str());
        assert_eq!(entries[1]["hash"], h2.as_str());
        for e in &entries {
            assert_eq!(e["hash"].as_str().unwrap(), entry_hash(e));
        }
    }

    #[test]
    fn concurrent_appends_keep_one_chain() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::of_lake(dir.path());
        std::thread::scope(|s| {
            for t in 0..4 {
                let log = log.clone();
                s.spawn(move || {
                    for i in 0..10 {
                        log.append(event(&format!("t{t}-{i}"))).unwrap();
                    }
                });
            }
        });
        let text = std::fs::read_to_string(log.path()).unwrap();
        let entries: Vec<Map<String, Value>> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(entries.len(), 40);
        for pair in entries.windows(2) {
            assert_eq!(pair[1]["prev"], pair[0]["hash"]);
        }
    }
}
