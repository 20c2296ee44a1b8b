//! Baseline for the end-to-end benchmark: a plain DataFusion Parquet → Parquet copy with the
//! same reader and parallelism `piguard run` uses and DataFusion's default writer settings
//! (zstd level 3). With `--deid-codec` it writes with piguard's codec instead (level 1), the
//! baseline for what piguard's own transforms cost.
//!
//! Usage: df_copy INPUT.parquet OUTPUT.parquet [--deid-codec]

use datafusion::config::TableParquetOptions;
use datafusion::dataframe::DataFrameWriteOptions;
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};
use piguard::plan::DEID_COMPRESSION;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (input, output, deid_codec) = match args.as_slice() {
        [_, input, output] => (input, output, false),
        [_, input, output, flag] if flag == "--deid-codec" => (input, output, true),
        _ => return Err("usage: df_copy INPUT.parquet OUTPUT.parquet [--deid-codec]".into()),
    };
    let mut parquet = TableParquetOptions::default();
    if deid_codec {
        parquet.global.compression = Some(DEID_COMPRESSION.into());
    }
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let runtime = tokio::runtime::Builder::new_multi_thread().build()?;
    runtime.block_on(async {
        let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(threads));
        let df = ctx.read_parquet(input.as_str(), ParquetReadOptions::default()).await?;
        df.write_parquet(output, DataFrameWriteOptions::new().with_single_file_output(true), Some(parquet)).await?;
        Ok::<_, datafusion::error::DataFusionError>(())
    })?;
    Ok(())
}
