//! A Ballista cluster that runs piguard's plans: `piguard scheduler`, `piguard executor`, and
//! the client session `run --engine ballista://HOST:PORT` plans with.
//!
//! The client plans, checks, gates and commits; the scheduler splits each job into tasks;
//! executors read the raw files, run the transforms and write the Parquet files, on storage
//! every process reaches (an object store, or a shared path). Every process reads and
//! writes the lake through the same stores ([`crate::lake::context`]), and decodes plans with
//! the same [`codec`]; only executors hold the key.

#[cfg(feature = "cluster")]
pub mod codec;
#[cfg(feature = "cluster")]
mod process;
#[cfg(feature = "cluster")]
pub mod snapshot;

#[cfg(feature = "cluster")]
pub use process::{ExecutorOptions, SchedulerOptions, client, executor, scheduler};

/// Why a cluster process or session could not start.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("{0} is not an engine (expected local or ballista://HOST:PORT)")]
    Address(String),
    #[error("--engine {0} needs piguard built with the `cluster` feature (cargo build --features cluster)")]
    NotBuilt(String),
    #[error("the Ballista scheduler at {url}: {message}")]
    Client { url: String, message: String },
    #[error("{0}")]
    Process(String),
    #[error("{}: a cluster's executors resolve a relative path in their own directories; give the lake's absolute path", .0.display())]
    RelativeLake(std::path::PathBuf),
}

/// Why an executor refuses a task: its key (id `held`) is not the plan's (id `planned`).
pub fn key_refusal(held: &str, planned: &str) -> String {
    format!(
        "refused: this executor's key (id {held}) is not the key the plan was made with (id {planned}); give every executor the run's PIGUARD_KEY_FILE"
    )
}

/// The refusal [`key_refusal`] wrote, found in `text` (a cluster's error, which the client
/// otherwise scrubs as a whole since it may quote values): rebuilt from its two key ids, so
/// nothing else of `text` passes.
pub fn find_key_refusal(text: &str) -> Option<String> {
    fn key_id(s: &str) -> Option<&str> {
        s.get(..16).filter(|id| id.bytes().all(|b| b.is_ascii_hexdigit()))
    }
    let rest = &text[text.find("refused: this executor's key (id ")? + "refused: this executor's key (id ".len()..];
    let held = key_id(rest)?;
    let rest = rest[16..].strip_prefix(") is not the key the plan was made with (id ")?;
    let planned = key_id(rest)?;
    rest[16..].starts_with(')').then(|| key_refusal(held, planned))
}

/// Where `run` executes its plans.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Engine {
    /// In this process.
    #[default]
    Local,
    /// On the Ballista cluster whose scheduler is at `host:port`.
    Ballista { host: String, port: u16 },
}

impl std::str::FromStr for Engine {
    type Err = ClusterError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "local" {
            return Ok(Engine::Local);
        }
        let bad = || ClusterError::Address(s.to_string());
        let url = url::Url::parse(s).map_err(|_| bad())?;
        match (url.scheme(), url.host_str(), url.port()) {
            ("ballista", Some(_), Some(_)) if !cfg!(feature = "cluster") => Err(ClusterError::NotBuilt(s.to_string())),
            ("ballista", Some(host), Some(port)) if url.path().is_empty() || url.path() == "/" => {
                Ok(Engine::Ballista { host: host.to_string(), port })
            }
            _ => Err(bad()),
        }
    }
}

impl std::fmt::Display for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Engine::Local => f.write_str("local"),
            Engine::Ballista { host, port } => write!(f, "ballista://{host}:{port}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_passes_a_scrubbed_error_and_nothing_else_does() {
        let refusal = key_refusal("0123456789abcdef", "fedcba9876543210");
        let wrapped = format!("Job failed: DataFusionError(Execution(\"piguard_hash: {refusal}\"))");
        assert_eq!(find_key_refusal(&wrapped), Some(refusal.clone()));
        let forged = refusal.replace("fedcba9876543210)", "fedcba987654321x) 13812345678");
        assert_eq!(find_key_refusal(&forged), None);
        assert_eq!(find_key_refusal("cast of '13812345678' failed"), None);
    }

    #[test]
    #[cfg(feature = "cluster")]
    fn engines_parse_from_their_urls() {
        assert_eq!("local".parse::<Engine>().unwrap(), Engine::Local);
        let e: Engine = "ballista://10.0.0.5:50050".parse().unwrap();
        assert_eq!(e, Engine::Ballista { host: "10.0.0.5".into(), port: 50050 });
        assert_eq!(e.to_string(), "ballista://10.0.0.5:50050");
        for bad in ["ballista://host", "http://host:50050", "ballista://host:50050/x", "host:50050"] {
            let err = bad.parse::<Engine>().unwrap_err().to_string();
            assert!(err.contains(bad) && err.contains("ballista://HOST:PORT"), "{err}");
        }
    }
}
