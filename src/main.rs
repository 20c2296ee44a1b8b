//! The `piguard` command line: parses arguments, calls the library, prints, and maps
//! outcomes to exit codes (0 success, 1 a finding or refusal by policy, 2 bad usage,
//! configuration or input).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand, ValueEnum};

use piguard::audit::AuditLog;
use piguard::category::Sensitivity;
use piguard::classify::{Classifier, Rules};
use piguard::cluster::Engine;
use piguard::effect::{self, RiskOptions};
use piguard::erase::EraseOptions;
use piguard::integrity::{self, IntegrityError};
use piguard::inventory::{self, ScanOptions};
use piguard::lake::delta::AsOf;
use piguard::lake::{Lake, Zone, files};
use piguard::ledger::ErasureState;
use piguard::plan::manifest::PartitionStatus;
use piguard::purge::PurgeOptions;
use piguard::query::{self as sql_query, OutputFormat, QueryRequest};
use piguard::risk::report::RiskReport;
use piguard::run::{self as pipeline_run, RunEvent, RunOptions};
use piguard::sample_data::{self, SampleOptions};
use piguard::sealed::AuditKey;
use piguard::transform::{KeyError, PseudonymKey};
use piguard::{erase as erasure, purge as retention_purge, verify};

/// Inventory, de-identify and retain personal information in a data lake (PIPL, GB/T 35273).
#[derive(Parser)]
#[command(name = "piguard", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// `--lake`, shared by every command that works on a lake.
#[derive(Args)]
struct LakeArgs {
    /// The lake: a directory, or s3://BUCKET/PREFIX (credentials, region and endpoint from
    /// the AWS_* variables: AWS_ENDPOINT_URL for S3-compatible stores, and
    /// AWS_VIRTUAL_HOSTED_STYLE_REQUEST=true for Aliyun OSS).
    #[arg(long, env = "PIGUARD_LAKE", default_value = "lake")]
    lake: String,
}

/// `--sample-rows`, shared by the commands that classify sampled rows.
#[derive(Args)]
struct SampleArgs {
    /// Rows sampled per dataset, spread over its files.
    #[arg(long, default_value_t = inventory::DEFAULT_SAMPLE_ROWS as u32, value_parser = clap::value_parser!(u32).range(1..))]
    sample_rows: u32,
}

/// `--classifiers`, shared by the commands that classify.
#[derive(Args)]
struct ClassifierArgs {
    /// Directory of classifier rule files (*.toml) overriding the builtin rules by category id.
    #[arg(long, value_name = "DIR")]
    classifiers: Option<PathBuf>,
}

/// `--today`, shared by the retention commands.
#[derive(Args)]
struct TodayArgs {
    /// Count ages to this day (YYYY-MM-DD) instead of today, to reproduce an earlier run. It
    /// may not be later than the system date: legal floors are counted on the real clock.
    #[arg(long)]
    today: Option<NaiveDate>,
}

#[derive(Subcommand)]
enum Command {
    /// Write the synthetic demo lake (raw zone with PI, look-alike decoys and consents) to DIR/raw.
    SampleData {
        /// Lake directory to create; DIR/raw must not exist yet.
        dir: PathBuf,
        /// Number of users; orders, logs and messages scale with it.
        #[arg(long, default_value_t = 2_000, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
        rows: u32,
        /// Seed of the deterministic generator.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Last day covered (YYYY-MM-DD); the data spans the 14 months before it.
        #[arg(long, default_value_t = sample_data::default_end_date())]
        end_date: NaiveDate,
        /// Write a labeled evaluation corpus instead, `--rows` rows a table, with the true
        /// category of every column in DIR/labels.json: `tuning` (45 tables with decoys, the one
        /// rules are tuned on) or `public` (the schemas of public sample databases, kept apart).
        #[arg(long, value_name = "CORPUS", num_args = 0..=1, default_missing_value = "tuning")]
        corpus: Option<CorpusKind>,
    },
    /// Classify every column of files, datasets or a lake into PI categories (the PI inventory).
    ///
    /// PATH is a .parquet, .csv, .json or .jsonl file, a dataset directory (hive partitions
    /// such as dt=2026-01-01/ included), a directory of datasets, or a lake (a directory with
    /// raw/), whose inventory is also written to LAKE/_piguard/inventory.json.
    Scan {
        /// Files, dataset directories or lakes to scan.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        sample: SampleArgs,
        /// Report format.
        #[arg(long, value_enum, default_value_t = ReportFormat::Json)]
        format: ReportFormat,
        /// Write the report to FILE (atomically) instead of standard output.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
        #[command(flatten)]
        classifiers: ClassifierArgs,
    },
    /// Measure the de-identification effect of tables (GB/T 42460-2023): identifiers,
    /// equivalence classes over the quasi-identifiers, risk figures and level. Exit 1 when a
    /// dataset is below level 3.
    ///
    /// PATH is read as `scan` reads it (a Delta table at its latest version). Pseudonyms are
    /// recognized by their values (256-bit hex digests), direct identifiers by values that
    /// validate; quasi-identifiers by category (gender, birth date, address, location, IP) or
    /// by measurement: any other column whose values alone single out more than 1% of records.
    Risk {
        /// Files, dataset directories or Delta tables, e.g. LAKE/deid/users.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Who may see the data: public (τ = 1/20), controlled (1/5) or enclave (1/3).
        #[arg(long, default_value = "controlled")]
        sharing: piguard::risk::Sharing,
        /// The quasi-identifiers, instead of deciding them by category and measurement.
        #[arg(long = "qi", value_name = "COL", num_args = 1.., value_delimiter = ',')]
        quasi_identifiers: Option<Vec<String>>,
        /// Count distinct values of this column per class (a subject pseudonym) instead of records.
        #[arg(long, value_name = "COL")]
        subject: Option<String>,
        /// Report format.
        #[arg(long, value_enum, default_value_t = ReportFormat::Json)]
        format: ReportFormat,
        /// Write the report to FILE (atomically) instead of standard output.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
        #[command(flatten)]
        sample: SampleArgs,
        #[command(flatten)]
        classifiers: ClassifierArgs,
    },
    /// De-identify the raw zone into LAKE/deid/ as a pipeline says.
    ///
    /// Fails closed: a PI column without an action, or kept without a reason, stops the run
    /// before anything is written. A dataset whose output still holds raw PI (the leak gate),
    /// or measures below GB/T 42460 level 3 for its `sharing` (the risk gate), is not
    /// published: exit 1, with the columns, the figures and what to write. Needs the key in PIGUARD_KEY (at least 32 bytes) or
    /// PIGUARD_KEY_FILE. Partitions whose inputs and plan are unchanged are skipped. The plan
    /// (every column's category, action and pseudonym domain) is recorded in the run's
    /// manifest, where purge and erase read it.
    Run {
        /// The pipeline file, e.g. pipelines/demo.toml.
        pipeline: PathBuf,
        #[command(flatten)]
        lake: LakeArgs,
        /// Print the plan (every column's action) and write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Rewrite every partition, even unchanged ones.
        #[arg(long)]
        force: bool,
        /// Where partitions are read, transformed and written: `local`, or
        /// ballista://HOST:PORT, a cluster of `piguard scheduler` and `piguard executor`
        /// (the lake must be on storage every executor reaches). Planning, the leak gate and
        /// the commit stay in this process.
        #[arg(long, env = "PIGUARD_ENGINE", default_value = "local", value_name = "ENGINE")]
        engine: Engine,
        #[command(flatten)]
        sample: SampleArgs,
        #[command(flatten)]
        classifiers: ClassifierArgs,
    },
    /// Query the de-identified zone and exports with SQL (DataFusion).
    ///
    /// Every dataset in LAKE/deid is a table (hive partitions such as dt are columns), and every
    /// export its latest run. The piguard_mask, piguard_generalize and piguard_redact functions
    /// are available (piguard_hash too, where the key is set). The raw zone is visible only with
    /// --zone raw --reason, as raw.<dataset>, and such queries are written to the audit log.
    Query {
        /// The SQL, e.g. "select count(*) from users".
        sql: String,
        #[command(flatten)]
        lake: LakeArgs,
        /// Output format.
        #[arg(long, value_enum, default_value_t = QueryFormat::Table)]
        format: QueryFormat,
        /// Which zone to query.
        #[arg(long, value_enum, default_value_t = QueryZone::Deid)]
        zone: QueryZone,
        /// Why the raw zone is needed (required with --zone raw; audited).
        #[arg(long)]
        reason: Option<String>,
        /// Read the de-identified tables as a past commit left them: a table version (the run
        /// manifest records each) or an RFC 3339 time, e.g. 2026-11-30T12:00:00Z. Versions
        /// before the last purge or erasure are gone (their files are deleted).
        #[arg(long, value_name = "VERSION|TIME")]
        as_of: Option<AsOf>,
    },
    /// Delete partitions past their retention (raw and de-identified zones) and finish erasures
    /// whose legal floor has passed.
    ///
    /// Policies are those each dataset was written with (the pipeline's [retention.<dataset>]
    /// tables, recorded in the run manifest). Nothing is sampled or classified. Browsing logs are never purged before 180 days (Cybersecurity Law Art. 21).
    /// Exit 1 when an erasure is still held by a legal floor (everything else was done), 2 on
    /// errors. Safe to kill and re-run.
    Purge {
        #[command(flatten)]
        lake: LakeArgs,
        /// Purge only this pipeline's datasets. It must be the file they were last run with
        /// (compared by content): retention is always one a run recorded.
        #[arg(long, env = "PIGUARD_PIPELINE")]
        pipeline: Option<PathBuf>,
        /// Print what would be deleted (dataset, partition, rows, bytes) and delete nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        today: TodayArgs,
    },
    /// Erase a subject whose account was closed from every dataset with a `subject` column.
    ///
    /// Every dataset a run has written is searched, with the subject column and pseudonym
    /// domain it was written with (from the run manifest). Rows go from the raw zone and,
    /// through the subject's pseudonym, from the de-identified zone; only files that hold the
    /// subject are rewritten. Rows a legal floor holds (browsing logs younger than 180 days)
    /// stay in the raw zone, out of analytics and exports, and the request stays pending in
    /// LAKE/_piguard/erasure.jsonl until `piguard purge` finishes it: exit 1 says so. Needs the
    /// key. The ledger and audit log never hold the id itself.
    Erase {
        /// The subject's id, as in the subject columns (repeat for several).
        #[arg(long, required = true, value_name = "ID")]
        subject: Vec<String>,
        #[command(flatten)]
        lake: LakeArgs,
        /// The pipeline the datasets were last run with (compared by content); every written
        /// dataset is searched either way.
        #[arg(long, env = "PIGUARD_PIPELINE")]
        pipeline: Option<PathBuf>,
        /// Why (e.g. a ticket number; audited). Never put personal information here.
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        today: TodayArgs,
    },
    /// Serve a Ballista scheduler for `run --engine ballista://HOST:PORT`.
    ///
    /// It plans the jobs clients send and hands their tasks to executors. It holds no key.
    #[cfg(feature = "cluster")]
    Scheduler(SchedulerArgs),
    /// Serve a Ballista executor: it reads raw files, runs the transforms and writes Parquet.
    ///
    /// Needs the run's key in PIGUARD_KEY_FILE (or PIGUARD_KEY) on its own machine: plans carry
    /// only the key's id, and a task planned with another key is refused. The lake's storage
    /// (AWS_* for an object store) must be reachable from here as from the client.
    #[cfg(feature = "cluster")]
    Executor(ExecutorArgs),
    /// The tamper-evident audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Check outputs for raw PI (by value, not by column name). Exit 1 when any is found.
    Verify {
        /// Files or dataset directories to check, e.g. LAKE/deid.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// The lake the outputs came from (a directory or s3://BUCKET/PREFIX): every kept value
        /// is also checked against the raw values of the columns its written plan protects and
        /// the lake's subject ids.
        #[arg(long, env = "PIGUARD_LAKE")]
        lake: Option<String>,
        #[command(flatten)]
        sample: SampleArgs,
        #[command(flatten)]
        classifiers: ClassifierArgs,
    },
}

/// Options of `piguard scheduler`.
#[cfg(feature = "cluster")]
#[derive(Args)]
struct SchedulerArgs {
    /// Address it listens on for clients and executors.
    #[arg(long, default_value = "127.0.0.1:50050")]
    bind: std::net::SocketAddr,
    /// Seconds without a heartbeat after which an executor counts as dead and its tasks run
    /// elsewhere.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    executor_timeout: u64,
}

/// Options of `piguard executor`.
#[cfg(feature = "cluster")]
#[derive(Args)]
struct ExecutorArgs {
    /// The scheduler, HOST:PORT.
    #[arg(long, default_value = "127.0.0.1:50050")]
    scheduler: String,
    /// Host it binds and advertises to the scheduler and other executors.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Its Arrow Flight port (shuffle data); its gRPC port is PORT+1.
    #[arg(long, default_value_t = 50051)]
    port: u16,
    /// Tasks it runs at once (default: one per core).
    #[arg(long, default_value_t = 0)]
    concurrency: usize,
    /// Seconds between heartbeats to the scheduler.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    heartbeat: u64,
    /// Directory for shuffle files (default: a temporary directory).
    #[arg(long)]
    work_dir: Option<String>,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the audit log, the erasure ledger and the run manifests agree; exit 1 naming the
    /// first bad entry.
    ///
    /// Every entry's seal (HMAC under the audit key: PIGUARD_AUDIT_KEY, or derived from
    /// PIGUARD_KEY), the chain and the head; every run manifest's audit anchor; the ledger
    /// entry the log last recorded. A log missing on a lake with runs is tampering. Commands
    /// that began and recorded no outcome (killed) and torn final entries are warnings.
    Verify {
        #[command(flatten)]
        lake: LakeArgs,
    },
    /// Set aside a torn final entry a crash left in the audit log or the erasure ledger (to a
    /// `.torn-…` file beside it), recording that in the audit log. Other commands do this too
    /// before they append.
    Repair {
        #[command(flatten)]
        lake: LakeArgs,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum QueryFormat {
    Table,
    Csv,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum QueryZone {
    Deid,
    Export,
    Raw,
}

#[derive(Clone, Copy, ValueEnum)]
enum ReportFormat {
    Json,
    Markdown,
    Html,
}

/// An error that maps to an exit code.
struct Failure {
    code: u8,
    error: anyhow::Error,
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure { code: 2, error: e.into() }
    }
}

impl LakeArgs {
    /// The lake, local or on object storage.
    fn lake(&self) -> Result<Lake, Failure> {
        Ok(Lake::open(&self.lake)?)
    }

    /// The lake, a local one by its absolute path.
    fn absolute(&self) -> Result<Lake, Failure> {
        if !piguard::lake::store::is_local(Path::new(&self.lake)) {
            return self.lake();
        }
        let absolute = std::path::absolute(&self.lake).with_context(|| format!("{}: cannot make the path absolute", self.lake))?;
        Ok(Lake::open(&absolute.display().to_string())?)
    }
}

impl SampleArgs {
    fn rows(&self) -> usize {
        self.sample_rows as usize
    }
}

impl ClassifierArgs {
    /// The builtin rules with the overrides applied: one classifier for the whole command.
    fn classifier(&self) -> Result<Classifier, Failure> {
        Ok(Classifier::new(Rules::load(self.classifiers.as_deref())?))
    }
}

impl TodayArgs {
    /// The day ages are counted to: `--today`, which may only move the date back.
    fn today(&self) -> Result<NaiveDate, Failure> {
        // UTC: the system date does not move with TZ.
        let now = chrono::Utc::now().date_naive();
        match self.today {
            Some(day) if day > now => Err(anyhow::anyhow!(
                "--today {day} is later than the system date {now}: a date in the future would defeat the legal floors (browsing logs are kept 180 days), so --today may only move the date back"
            )
            .into()),
            Some(day) => Ok(day),
            None => Ok(now),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    #[cfg(feature = "cluster")]
    let serves = matches!(cli.command, Command::Scheduler(_) | Command::Executor(_));
    #[cfg(not(feature = "cluster"))]
    let serves = false;
    if !serves {
        piguard::lake::store::remember_data_files();
    }
    let result = match cli.command {
        Command::SampleData { dir, rows, seed, corpus: Some(kind), .. } => sample_corpus(dir, kind, rows as usize, seed),
        Command::SampleData { dir, rows, seed, end_date, corpus: None } => sample(dir, rows as usize, seed, end_date),
        Command::Scan { paths, sample, format, output, classifiers } => {
            classifiers.classifier().and_then(|c| scan(paths, sample.rows(), format, output, &c))
        }
        Command::Risk { paths, sharing, quasi_identifiers, subject, format, output, sample, classifiers } => {
            classifiers.classifier().and_then(|c| {
                let options = RiskOptions { sharing, quasi_identifiers, subject, sample_rows: sample.rows() };
                risk(&paths, &options, format, output.as_deref(), &c)
            })
        }
        Command::Run { pipeline, lake, dry_run, force, engine, sample, classifiers } => classifiers.classifier().and_then(|c| {
            // Executors resolve paths in their own working directories: a cluster gets them absolute.
            let lake = if engine == Engine::Local { lake.lake()? } else { lake.absolute()? };
            run(RunOptions { lake, pipeline, dry_run, force, sample_rows: sample.rows(), engine }, &c)
        }),
        #[cfg(feature = "cluster")]
        Command::Scheduler(args) => scheduler(args),
        #[cfg(feature = "cluster")]
        Command::Executor(args) => executor(args),
        Command::Verify { paths, lake, sample, classifiers } => classifiers.classifier().and_then(|c| {
            let lake = lake.as_deref().map(Lake::open).transpose()?;
            verify_outputs(&paths, lake.as_ref(), sample.rows(), &c)
        }),
        Command::Query { sql, lake, format, zone, reason, as_of } => {
            lake.lake().and_then(|lake| query(&lake, &sql, format, zone, reason.as_deref(), as_of.unwrap_or_default()))
        }
        Command::Purge { lake, pipeline, dry_run, today } => {
            today.today().and_then(|today| purge(PurgeOptions { lake: lake.lake()?, pipeline, today, dry_run }))
        }
        Command::Erase { subject, lake, pipeline, reason, today } => {
            today.today().and_then(|today| erase(EraseOptions { lake: lake.lake()?, pipeline, subjects: subject, reason, today }))
        }
        Command::Audit { command: AuditCommand::Verify { lake } } => lake.lake().and_then(|lake| audit_verify(&lake)),
        Command::Audit { command: AuditCommand::Repair { lake } } => lake.lake().and_then(|lake| audit_repair(&lake)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("piguard: error: {}", error_chain(&f.error));
            ExitCode::from(f.code)
        }
    }
}

/// An error and its causes on one line, each cause once: library errors often quote the
/// error they wrap already.
fn error_chain(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let message = cause.to_string();
        if !line.contains(&message) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&message);
        }
    }
    line
}

fn sample(dir: PathBuf, users: usize, seed: u64, end_date: NaiveDate) -> Result<(), Failure> {
    let summary = sample_data::generate(&dir, &SampleOptions { users, seed, end_date })?;
    for (name, rows, files) in &summary.datasets {
        eprintln!("wrote {name}: {rows} rows in {files} file(s)");
    }
    eprintln!("demo lake ready: {}", Lake::at(&dir).zone(Zone::Raw).display());
    Ok(())
}

/// Which labeled corpus `sample-data --corpus` writes.
#[derive(Clone, Copy, clap::ValueEnum)]
enum CorpusKind {
    Tuning,
    Public,
}

fn sample_corpus(dir: PathBuf, kind: CorpusKind, rows: usize, seed: u64) -> Result<(), Failure> {
    let (labels, which) = match kind {
        CorpusKind::Tuning => (sample_data::corpus::generate_corpus(&dir, rows, seed)?, "tuning"),
        CorpusKind::Public => (sample_data::public::generate_public_corpus(&dir, rows, seed)?, "public-schema"),
    };
    eprintln!(
        "wrote the {which} evaluation corpus: {} tables, {} labeled columns, {rows} rows each, labels in {}",
        labels.tables.len(),
        labels.columns(),
        dir.join(sample_data::corpus::LABELS_FILE).display()
    );
    Ok(())
}

fn scan(
    paths: Vec<PathBuf>,
    sample_rows: usize,
    format: ReportFormat,
    output: Option<PathBuf>,
    classifier: &Classifier,
) -> Result<(), Failure> {
    let options = ScanOptions { sample_rows, ..ScanOptions::default() };
    let mut result = inventory::scan(&paths, classifier, &options);
    for (root, inv) in &mut result.lakes {
        inv.effect = effect::recorded(&Lake::at(root.as_path()));
        result.inventory.effect.extend(inv.effect.iter().cloned());
        let path = Lake::at(root.as_path()).inventory_path();
        let json = serde_json::to_vec_pretty(inv).context("serializing the inventory")?;
        files::write_atomic(&path, &json).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("inventory written to {}", path.display());
    }
    let inv = &result.inventory;
    for s in &inv.skipped {
        eprintln!("piguard: skipped {}: {}", s.path, s.reason);
    }
    let report = match format {
        ReportFormat::Json => {
            let mut s = serde_json::to_string_pretty(inv).context("serializing the inventory")?;
            s.push('\n');
            s
        }
        ReportFormat::Markdown => inventory::render_markdown(inv, classifier.rules()),
        ReportFormat::Html => inventory::render_html(inv, classifier.rules()),
    };
    emit(&report, output.as_deref())?;
    let count = |s: Sensitivity| inv.pi_columns().filter(|(_, c)| c.sensitivity == s).count();
    eprintln!(
        "scanned {} dataset(s): {} sensitive and {} general PI column(s)",
        inv.datasets.len(),
        count(Sensitivity::Sensitive),
        count(Sensitivity::General)
    );
    if inv.failed.is_empty() {
        return Ok(());
    }
    for f in &inv.failed {
        eprintln!("piguard: error: dataset {} could not be read: {}", f.name, f.error);
    }
    Err(Failure { code: 2, error: anyhow::anyhow!("{} dataset(s) could not be read", inv.failed.len()) })
}

/// Writes `report` to `output` (atomically), or to standard output.
fn emit(report: &str, output: Option<&Path>) -> Result<(), Failure> {
    match output {
        Some(path) => {
            files::write_atomic(path, report.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
            eprintln!("report written to {}", path.display());
        }
        None => {
            let mut out = std::io::stdout().lock();
            // A closed pipe (`| head`) is not an error worth a message.
            if let Err(e) = out.write_all(report.as_bytes()).and_then(|()| out.flush())
                && e.kind() != std::io::ErrorKind::BrokenPipe
            {
                return Err(anyhow::Error::from(e).context("writing the report").into());
            }
        }
    }
    Ok(())
}

fn risk(
    paths: &[PathBuf],
    options: &RiskOptions,
    format: ReportFormat,
    output: Option<&Path>,
    classifier: &Classifier,
) -> Result<(), Failure> {
    let findings = runtime()?.block_on(effect::assess(paths, classifier, options));
    let report = RiskReport {
        piguard_version: env!("CARGO_PKG_VERSION").to_string(),
        generated_at: chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
        datasets: findings.datasets,
    };
    let text = match format {
        ReportFormat::Json => serde_json::to_string_pretty(&report).context("serializing the report")? + "\n",
        ReportFormat::Markdown => piguard::risk::report::render_markdown(&report),
        ReportFormat::Html => piguard::risk::report::render_html(&report),
    };
    emit(&text, output)?;
    for d in &report.datasets {
        let e = &d.evaluation;
        eprintln!(
            "{}: level {} ({}), k = {}, R_a = {:.1}%, R_b = {:.3}, R_c = {:.3}",
            d.name,
            e.level.0,
            e.level.meaning(),
            e.figures.k,
            e.figures.r_a * 100.0,
            e.figures.r_b,
            e.figures.r_c
        );
    }
    for f in &findings.failed {
        eprintln!("piguard: error: {} ({}): {}", f.name, f.path, f.error);
    }
    if !findings.failed.is_empty() || report.datasets.is_empty() {
        let what = if report.datasets.is_empty() { "nothing was evaluated" } else { "some datasets could not be evaluated" };
        return Err(Failure { code: 2, error: anyhow::anyhow!("{what}") });
    }
    let below: Vec<&str> = report.datasets.iter().filter(|d| !d.evaluation.level.publishable()).map(|d| d.name.as_str()).collect();
    if !below.is_empty() {
        return Err(Failure { code: 1, error: anyhow::anyhow!("below level 3 (not de-identified): {}", below.join(", ")) });
    }
    Ok(())
}

fn run(options: RunOptions, classifier: &Classifier) -> Result<(), Failure> {
    // No key, no run: checked before anything is read or written.
    let key = PseudonymKey::from_env()?;
    let raw = options.lake.zone(Zone::Raw);
    if !files::is_dir(&raw) {
        let root = options.lake.root().display();
        return Err(
            anyhow::anyhow!("{root}: not a lake (no raw/ zone); create one with `piguard sample-data {root}` or pass --lake").into()
        );
    }
    let runtime = runtime()?;
    let terminal = std::io::stderr().is_terminal();
    let bar = indicatif::ProgressBar::hidden();
    // (dataset, partitions written, unchanged, rows written), logged when the dataset is done.
    let mut current: Option<(String, usize, usize, u64)> = None;
    let log = |bar: &indicatif::ProgressBar, d: &(String, usize, usize, u64)| {
        let line = format!("piguard run dataset={} partitions_written={} partitions_unchanged={} rows_written={}", d.0, d.1, d.2, d.3);
        if terminal { bar.println(line) } else { eprintln!("{line}") }
    };
    let mut progress = |event: RunEvent<'_>| match event {
        RunEvent::Planned { partitions, .. } => {
            if terminal && !options.dry_run {
                bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                bar.set_length(partitions as u64);
                bar.set_style(
                    indicatif::ProgressStyle::with_template("{spinner} {msg:<16} [{bar:40}] {pos}/{len} partitions {elapsed}")
                        .expect("valid template")
                        .progress_chars("=> "),
                );
            }
        }
        RunEvent::Partition { dataset, status, rows, .. } => {
            bar.set_message(dataset.to_string());
            bar.inc(1);
            if current.as_ref().is_none_or(|d| d.0 != dataset) {
                if let Some(done) = current.take().filter(|_| !options.dry_run) {
                    log(&bar, &done);
                }
                current = Some((dataset.to_string(), 0, 0, 0));
            }
            let d = current.as_mut().expect("set above");
            match status {
                PartitionStatus::Written => {
                    d.1 += 1;
                    d.3 += rows;
                }
                PartitionStatus::Unchanged | PartitionStatus::Planned => d.2 += 1,
            }
        }
    };
    let audit_key = AuditKey::from_env(Some(&key))?;
    let result = runtime.block_on(pipeline_run::run(&options, &key, &audit_key, classifier, &mut progress));
    if let Some(done) = current.take().filter(|_| result.is_ok() && !options.dry_run) {
        log(&bar, &done);
    }
    bar.finish_and_clear();
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            return Err(Failure { code: e.exit_code(), error: e.into() });
        }
    };
    if options.dry_run {
        print!("{}", pipeline_run::describe_plan(&report.manifest));
        eprintln!("dry run: nothing was written (key id {})", report.manifest.key_id);
        return Ok(());
    }
    let manifest = report.manifest_path.as_deref().unwrap_or(Path::new(""));
    println!(
        "run {}: de-identified zone {}, manifest {}",
        report.manifest.run_id,
        options.lake.zone(Zone::Deid).display(),
        manifest.display()
    );
    Ok(())
}

fn verify_outputs(paths: &[PathBuf], lake: Option<&Lake>, sample_rows: usize, classifier: &Classifier) -> Result<(), Failure> {
    // The plans a lake's data was written with are read only from manifests its log seals.
    let sealed = match lake {
        Some(lake) => Some(integrity::check(lake, &AuditKey::from_env(optional_key()?.as_ref())?).map_err(integrity_failure)?.manifests),
        None => None,
    };
    let lake = lake.zip(sealed.as_ref());
    let report = runtime()?.block_on(verify::verify(paths, classifier, sample_rows, lake))?;
    for f in &report.findings {
        println!("PI found: dataset {} {} in {}", f.dataset, f.describe(), f.path);
    }
    for f in &report.failed {
        eprintln!("piguard: error: dataset {} could not be read: {}", f.name, f.error);
    }
    eprintln!(
        "verified {} dataset(s), {} against the raw zone: {} finding(s)",
        report.datasets_checked,
        report.datasets_cross_checked,
        report.findings.len()
    );
    if !report.failed.is_empty() {
        return Err(anyhow::anyhow!("{} dataset(s) could not be read", report.failed.len()).into());
    }
    if report.datasets_checked == 0 {
        let paths: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        return Err(anyhow::anyhow!("no dataset was found to verify under {}: nothing was checked", paths.join(", ")).into());
    }
    if !report.findings.is_empty() {
        return Err(Failure { code: 1, error: anyhow::anyhow!("raw PI found in {} column(s)", report.findings.len()) });
    }
    Ok(())
}

fn query(lake: &Lake, sql: &str, format: QueryFormat, zone: QueryZone, reason: Option<&str>, as_of: AsOf) -> Result<(), Failure> {
    // Analysts normally have no key; piguard_hash exists only where one is configured.
    let key = optional_key()?;
    let format = match format {
        QueryFormat::Table => OutputFormat::Table,
        QueryFormat::Csv => OutputFormat::Csv,
        QueryFormat::Json => OutputFormat::Json,
    };
    let zone = match zone {
        QueryZone::Deid => Zone::Deid,
        QueryZone::Export => Zone::Export,
        QueryZone::Raw => Zone::Raw,
    };
    let runtime = runtime()?;
    let mut out = std::io::stdout().lock();
    let audit_key = AuditKey::from_env(key.as_ref());
    runtime.block_on(sql_query::query(lake, QueryRequest { zone, reason, sql, format, as_of }, key, audit_key, &mut out))?;
    Ok(())
}

/// A runtime for a cluster process: Ballista's plans recurse deeply, so its threads get
/// Ballista's 32 MiB stacks.
#[cfg(feature = "cluster")]
fn cluster_runtime() -> Result<tokio::runtime::Runtime, Failure> {
    let built = tokio::runtime::Builder::new_multi_thread().enable_all().thread_stack_size(32 << 20).build();
    Ok(built.context("starting the async runtime")?)
}

#[cfg(feature = "cluster")]
fn scheduler(args: SchedulerArgs) -> Result<(), Failure> {
    let options = piguard::cluster::SchedulerOptions { bind: args.bind, executor_timeout_seconds: args.executor_timeout };
    eprintln!("piguard scheduler listening on {}", args.bind);
    Ok(cluster_runtime()?.block_on(piguard::cluster::scheduler(options))?)
}

#[cfg(feature = "cluster")]
fn executor(args: ExecutorArgs) -> Result<(), Failure> {
    // Checked before it registers: an executor without the key could run no pseudonymization.
    let key = PseudonymKey::from_env()?;
    let (host, port) = args
        .scheduler
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
        .ok_or_else(|| anyhow::anyhow!("--scheduler {}: expected HOST:PORT", args.scheduler))?;
    eprintln!("piguard executor on {}:{} (key id {}), scheduler {host}:{port}", args.host, args.port, key.id());
    let options = piguard::cluster::ExecutorOptions {
        scheduler_host: host,
        scheduler_port: port,
        host: args.host,
        port: args.port,
        concurrency: args.concurrency,
        heartbeat_seconds: args.heartbeat,
        work_dir: args.work_dir,
    };
    Ok(cluster_runtime()?.block_on(piguard::cluster::executor(options, key))?)
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    // Timers and I/O: object-store clients need both.
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")?)
}

/// The key when one is set; a key that is set but unusable is still an error.
fn optional_key() -> Result<Option<PseudonymKey>, Failure> {
    match PseudonymKey::from_env() {
        Ok(key) => Ok(Some(key)),
        Err(KeyError::Missing) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn purge(options: PurgeOptions) -> Result<(), Failure> {
    let key = optional_key()?;
    let audit_key = AuditKey::from_env(key.as_ref())?;
    let report = runtime()?.block_on(retention_purge::purge(&options, key.as_ref(), &audit_key)).map_err(retention_failure)?;
    let verb = if report.dry_run { "would delete" } else { "deleted" };
    for p in &report.partitions {
        let rows = p.rows.map_or("?".to_string(), |r| r.to_string());
        println!(
            "{verb} {}/{}/{}: dated {}, {} days old (max_days {}), {rows} rows, {} bytes",
            p.zone.dir(),
            p.dataset,
            p.partition,
            p.date,
            p.age_days,
            p.max_days,
            p.bytes
        );
    }
    for (partition, why) in &report.undated {
        eprintln!("piguard: warning: kept {partition}: {why}, so it is not purged by age");
    }
    for id in &report.erasures_due {
        println!("would carry erasure {id} further (its floor has passed or it was interrupted)");
    }
    for e in report.erasures.iter().filter(|e| e.rows_removed_raw + e.rows_removed_deid > 0) {
        println!("erasure {}: removed {} raw and {} de-identified rows", e.request_id, e.rows_removed_raw, e.rows_removed_deid);
    }
    for (id, h) in &report.still_held {
        println!("erasure {id} pending: {h}");
    }
    for (id, l) in &report.still_left {
        println!("erasure {id} incomplete: {l}");
    }
    let total_rows: u64 = report.partitions.iter().filter_map(|p| p.rows).sum();
    eprintln!(
        "purge {}: {verb} {} partition(s), {total_rows} rows{}",
        report.today,
        report.partitions.len(),
        if report.dry_run { "; dry run, nothing was deleted" } else { "" }
    );
    if report.blocked() {
        return Err(Failure {
            code: 1,
            error: anyhow::anyhow!(
                "open erasures remain: {} partition(s) held by a legal floor, {} file(s) or dataset(s) that could not be searched; a later purge carries them further",
                report.still_held.len(),
                report.still_left.len()
            ),
        });
    }
    Ok(())
}

fn erase(options: EraseOptions) -> Result<(), Failure> {
    let key = PseudonymKey::from_env()?;
    let audit_key = AuditKey::from_env(Some(&key))?;
    let outcomes = runtime()?.block_on(erasure::erase(&options, &key, &audit_key)).map_err(retention_failure)?;
    let mut open = 0;
    for o in &outcomes {
        println!(
            "erasure {}: removed {} raw and {} de-identified rows; {} file(s) rewritten, {} read, {} ruled out by Parquet statistics and bloom filters",
            o.request_id, o.rows_removed_raw, o.rows_removed_deid, o.files_rewritten, o.files_read, o.files_ruled_out
        );
        for h in &o.held {
            println!("erasure {} pending: {h}; they are out of the de-identified zone and exports now", o.request_id);
        }
        for l in &o.left {
            println!("erasure {} incomplete: {l}", o.request_id);
        }
        if o.state() != ErasureState::Done {
            open += 1;
        }
    }
    if open > 0 {
        return Err(Failure {
            code: 1,
            error: anyhow::anyhow!(
                "{open} erasure(s) pending or incomplete in {}: a legal floor holds raw rows, or files could not be searched (listed above); `piguard purge` carries them further",
                options.lake.ledger_path().display()
            ),
        });
    }
    Ok(())
}

/// A purge or erase error, with exit 1 where the lake's records show tampering.
fn retention_failure(e: piguard::erase::RetentionError) -> Failure {
    Failure { code: e.exit_code(), error: e.into() }
}

fn audit_verify(lake: &Lake) -> Result<(), Failure> {
    let audit_key = AuditKey::from_env(optional_key()?.as_ref())?;
    match integrity::check(lake, &audit_key).map_err(integrity_failure) {
        Ok(v) => {
            for u in &v.unfinished {
                eprintln!("piguard: warning: {u}");
            }
            for t in &v.torn {
                eprintln!(
                    "piguard: warning: {} ends in a torn entry a crash left; `piguard audit repair` (or the next audited command) sets it aside",
                    t.display()
                );
            }
            println!(
                "audit log intact: {} entries, head {}; {} run manifest(s) sealed in it; {} de-identified table version(s) committed by the commands it records; erasure ledger intact ({} records)",
                v.audit_entries,
                v.head,
                v.manifests.len(),
                v.table_versions_checked,
                v.ledger.len()
            );
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// An integrity error, with exit 1 where the lake's records show tampering.
fn integrity_failure(e: IntegrityError) -> Failure {
    match e {
        e @ IntegrityError::Tampered(_) => Failure { code: 1, error: e.into() },
        e => e.into(),
    }
}

fn audit_repair(lake: &Lake) -> Result<(), Failure> {
    let audit_key = AuditKey::from_env(optional_key()?.as_ref())?;
    let _lock = lake.lock()?;
    let audit = AuditLog::open(lake, &audit_key);
    let mut repaired = 0;
    if let Some(t) = audit.repair()? {
        println!("{}: set aside a torn final entry of {} bytes in {}", audit.path().display(), t.bytes, t.saved_to.display());
        repaired += 1;
    }
    let ledger = piguard::ledger::ErasureLedger::open(lake, &audit_key);
    if let Some(t) = ledger.recover()? {
        audit.record_repair(ledger.path(), &t)?;
        println!("{}: set aside a torn final record of {} bytes in {}", ledger.path().display(), t.bytes, t.saved_to.display());
        repaired += 1;
    }
    if repaired == 0 {
        println!("nothing to repair: the audit log and the erasure ledger end in whole entries");
    }
    Ok(())
}
