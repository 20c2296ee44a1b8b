//! Local suppression as an amendment, not a rewrite: a written Parquet file's records in
//! classes smaller than the sharing model allows get their quasi-identifiers nulled. Only the
//! quasi-identifier columns of the row groups holding such records are encoded again. On a
//! local disk they are appended to the file with a new footer that points at them, so every
//! other column chunk (pseudonyms, masks, kept text: most of the bytes) stays where it was
//! written, with its statistics, page index and bloom filter. An object on a store is written
//! again with those chunks copied. A file with no such record is left alone.

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, StringArray};
use arrow::compute::{and, cast, concat, is_not_null, nullif};
use arrow::datatypes::{DataType, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, SortField};
use bytes::Bytes;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use parquet::arrow::arrow_writer::{ArrowRowGroupWriterFactory, compute_leaves};
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::bloom_filter::Sbbf;
use parquet::column::writer::ColumnCloseResult;
use parquet::file::metadata::{PageIndexPolicy, ParquetMetaData, ParquetMetaDataBuilder, ParquetMetaDataReader, ParquetMetaDataWriter};
use parquet::file::page_index::column_index::ColumnIndexMetaData;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::{SerializedFileWriter, TrackedWrite};

use crate::lake::files::{self, LakeFile};
use crate::lake::{LakeError, read::partition_values};

/// The classes smaller than the sharing model allows, by their quasi-identifier values (at
/// most the share of records the pipeline lets be suppressed): what local suppression nulls.
#[derive(Debug, Clone)]
pub struct SmallClasses {
    /// The quasi-identifiers, in the order of `values`.
    pub qis: Vec<String>,
    /// Each quasi-identifier's values, one row per class.
    pub values: Vec<ArrayRef>,
}

impl SmallClasses {
    /// A test of membership for records whose quasi-identifiers (in [`SmallClasses::qis`]
    /// order) are of `types`: the classes converted once, for every row group of a file.
    fn matcher(&self, types: &[DataType]) -> Result<ClassMatcher, arrow::error::ArrowError> {
        let converter = RowConverter::new(types.iter().map(|t| SortField::new(t.clone())).collect())?;
        let classes: Vec<ArrayRef> = self.values.iter().zip(types).map(|(v, t)| cast(v, t)).collect::<Result<_, _>>()?;
        let classes = converter.convert_columns(&classes)?.iter().map(|r| r.data().into()).collect();
        Ok(ClassMatcher { converter, classes })
    }
}

/// The small classes in the row format of one file's quasi-identifiers.
struct ClassMatcher {
    converter: RowConverter,
    classes: HashSet<Box<[u8]>>,
}

impl ClassMatcher {
    /// Which of the records whose quasi-identifiers are `columns` are in a small class: equal
    /// values, nulls equal to nulls, as the classes were grouped.
    fn members(&self, columns: &[ArrayRef]) -> Result<BooleanArray, arrow::error::ArrowError> {
        let rows = self.converter.convert_columns(columns)?;
        Ok(rows.iter().map(|r| Some(self.classes.contains(r.data()))).collect())
    }
}

/// What local suppression did to one file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Suppressed {
    /// Records whose quasi-identifiers were nulled.
    pub records: u64,
    /// Per quasi-identifier column of the file, the values nulled (those not null already).
    pub nulled: Vec<(String, u64)>,
}

/// Nulls the quasi-identifiers of the records of `file` (of the dataset at `root`) in `small`
/// classes, and says what it nulled; with no such record, the file is left as it is.
/// Quasi-identifiers that are partition keys (`dt`) are matched against the file's directory,
/// never nulled: the file holds no such column. The file must be one no version holds yet:
/// on a local disk it is amended in place.
pub fn suppress_file(root: &Path, file: &Path, small: &SmallClasses, properties: WriterProperties) -> Result<Suppressed, LakeError> {
    let corrupt = |message: String| LakeError::Parquet { path: file.to_path_buf(), message };
    let reader = files::open(file).map_err(|cause| LakeError::Io { path: file.to_path_buf(), cause })?;
    let metadata = ParquetMetaDataReader::new()
        .with_page_index_policy(PageIndexPolicy::Optional)
        .parse_and_finish(&reader)
        .map_err(|e| corrupt(e.to_string()))?;
    let metadata = Arc::new(metadata);
    let arrow = ArrowReaderMetadata::try_new(metadata.clone(), ArrowReaderOptions::new()).map_err(|e| corrupt(e.to_string()))?;
    let schema = arrow.schema().clone();
    let partition = partition_values(file.strip_prefix(root).unwrap_or(file));
    // Each quasi-identifier: the file's column, or the partition value every record has.
    let mut sources = Vec::new();
    for qi in &small.qis {
        match (schema.index_of(qi), partition.iter().find(|(k, _)| k == qi)) {
            (Ok(i), _) => sources.push(QiSource::Column(i)),
            (Err(_), Some((_, v))) => sources.push(QiSource::Partition(v.clone())),
            (Err(_), None) => return Err(corrupt(format!("it has no quasi-identifier column `{qi}`"))),
        }
    }
    let in_file: Vec<usize> = sources.iter().filter_map(|s| if let QiSource::Column(i) = s { Some(*i) } else { None }).collect();
    // Partition keys alone: nothing in the file can be nulled.
    if in_file.is_empty() {
        return Ok(Suppressed::default());
    }
    let types: Vec<DataType> = sources
        .iter()
        .map(|s| match s {
            QiSource::Column(i) => schema.field(*i).data_type().clone(),
            QiSource::Partition(_) => DataType::Utf8,
        })
        .collect();
    let matcher = small.matcher(&types).map_err(|e| corrupt(e.to_string()))?;
    let (mut masks, mut done, mut nulled) = (Vec::new(), Suppressed::default(), vec![0u64; in_file.len()]);
    for group in 0..metadata.num_row_groups() {
        let read = read_columns(&reader, &arrow, group, &in_file).map_err(|e| corrupt(e.to_string()))?;
        let rows = metadata.row_group(group).num_rows() as usize;
        let columns: Vec<ArrayRef> = sources
            .iter()
            .map(|s| match s {
                QiSource::Column(i) => read[in_file.iter().position(|c| c == i).expect("read")].clone(),
                QiSource::Partition(v) => Arc::new(StringArray::from(vec![v.as_str(); rows])) as ArrayRef,
            })
            .collect();
        let mask = matcher.members(&columns).map_err(|e| corrupt(e.to_string()))?;
        if mask.true_count() > 0 {
            done.records += mask.true_count() as u64;
            for (count, column) in nulled.iter_mut().zip(&read) {
                let set = is_not_null(column).and_then(|valid| and(&mask, &valid)).map_err(|e| corrupt(e.to_string()))?;
                *count += set.true_count() as u64;
            }
        }
        masks.push((mask.true_count() > 0).then_some(mask));
    }
    if done.records == 0 {
        return Ok(done);
    }
    done.nulled = in_file.iter().map(|i| schema.field(*i).name().clone()).zip(nulled).collect();
    let io = |cause| LakeError::Io { path: file.to_path_buf(), cause };
    // A required quasi-identifier must become optional: its chunks in every row group change.
    let required = in_file.iter().any(|q| !schema.field(*q).is_nullable());
    let amendment = Amendment { reader: &reader, metadata: &metadata, arrow: &arrow, qis: &in_file, masks: &masks };
    match (files::remote(file).map_err(io)?, required) {
        (None, false) => amend(file, amendment, properties).map_err(|e| corrupt(e.to_string()))?,
        _ => {
            let splice = |out: &mut (dyn Write + Send)| splice(amendment, properties, out);
            files::write_streamed(file, splice).map_err(io)?;
        }
    }
    Ok(done)
}

/// What suppression changes in one file, as read from it.
#[derive(Clone, Copy)]
struct Amendment<'a> {
    reader: &'a LakeFile,
    metadata: &'a ParquetMetaData,
    arrow: &'a ArrowReaderMetadata,
    /// The quasi-identifier columns, by top-level index.
    qis: &'a [usize],
    /// Per row group, the records whose quasi-identifiers are nulled; `None` where there is none.
    masks: &'a [Option<BooleanArray>],
}

/// Amends local `file` in place: the quasi-identifier chunks of the row groups with a
/// suppressed record, encoded again with those records nulled, are appended after the file's
/// end, then a footer that points at them; every other chunk stays where it was. The
/// superseded chunks and footer remain as bytes nothing points at. The file is this run's and
/// in no version yet, so nobody reads it as it changes; a run killed meanwhile leaves it to
/// the next run, which deletes what no version holds.
fn amend(file: &Path, amendment: Amendment, properties: WriterProperties) -> parquet::errors::Result<()> {
    let Amendment { reader, metadata, arrow, qis, masks } = amendment;
    let schema = arrow.schema();
    let descr = metadata.file_metadata().schema_descr();
    // The quasi-identifiers alone, encoded as a file of their own; its leaf k is `leaves[k]`.
    let qi_schema = Arc::new(Schema::new(qis.iter().map(|q| schema.field(*q).clone()).collect::<Vec<_>>()));
    let leaves: Vec<usize> =
        qis.iter().flat_map(|q| (0..descr.num_columns()).filter(move |l| descr.get_column_root_idx(*l) == *q)).collect();
    let mut out = std::fs::OpenOptions::new().append(true).open(file)?;
    let mut end = out.metadata()?.len();
    let (mut column_index, mut offset_index) = (metadata.column_index().cloned(), metadata.offset_index().cloned());
    let mut row_groups = Vec::new();
    for (group, mask) in masks.iter().enumerate() {
        let meta = metadata.row_group(group);
        let Some(mask) = mask else {
            row_groups.push(meta.clone());
            continue;
        };
        let columns = read_columns(reader, arrow, group, qis)?;
        let nulled = columns.iter().map(|c| nullif(c, mask)).collect::<Result<Vec<_>, _>>()?;
        let rows = meta.num_rows().max(1) as usize;
        let props = properties.clone().into_builder().set_max_row_group_row_count(Some(rows)).build();
        let mut encoded = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut encoded, qi_schema.clone(), Some(props))?;
        writer.write(&RecordBatch::try_new(qi_schema.clone(), nulled)?)?;
        writer.close()?;
        let encoded = Bytes::from(encoded);
        let scratch = ParquetMetaDataReader::new().with_page_index_policy(PageIndexPolicy::Optional).parse_and_finish(&encoded)?;
        if scratch.num_row_groups() != 1 {
            return Err(parquet::errors::ParquetError::General(format!("row group {group} was encoded again as several")));
        }
        // The chunks (after the magic, up to the page indexes and footer) go where the file
        // ends; every offset into them moves by as much.
        let body = scratch.row_group(0).columns().iter().map(|c| {
            let (at, len) = c.byte_range();
            at + len
        });
        let body = body.max().unwrap_or(MAGIC) as usize;
        out.write_all(&encoded[MAGIC as usize..body])?;
        let shift = (end - MAGIC) as i64;
        end += (body - MAGIC as usize) as u64;
        let mut chunks = meta.columns().to_vec();
        for (k, &leaf) in leaves.iter().enumerate() {
            let c = scratch.row_group(0).column(k);
            chunks[leaf] = c
                .clone()
                .into_builder()
                .set_data_page_offset(c.data_page_offset() + shift)
                .set_dictionary_page_offset(c.dictionary_page_offset().map(|o| o + shift))
                .set_bloom_filter_offset(None)
                .set_bloom_filter_length(None)
                .set_column_index_offset(None)
                .set_column_index_length(None)
                .set_offset_index_offset(None)
                .set_offset_index_length(None)
                .build()?;
            if let Some(index) = column_index.as_mut() {
                index[group][leaf] = scratch.column_index().map_or(ColumnIndexMetaData::NONE, |i| i[0][k].clone());
            }
            if let (Some(index), Some(encoded)) = (offset_index.as_mut(), scratch.offset_index()) {
                let mut pages = encoded[0][k].clone();
                pages.page_locations.iter_mut().for_each(|p| p.offset += shift);
                index[group][leaf] = pages;
            }
        }
        let bytes = chunks.iter().map(|c| c.uncompressed_size()).sum();
        row_groups.push(meta.clone().into_builder().set_column_metadata(chunks).set_total_byte_size(bytes).build()?);
    }
    let amended = ParquetMetaDataBuilder::new_from_metadata(metadata.clone())
        .set_row_groups(row_groups)
        .set_column_index(column_index)
        .set_offset_index(offset_index)
        .build();
    // The footer records absolute offsets of the page indexes written before it: its writer
    // is told the file's length by bytes it counts and discards.
    let mut footer = Vec::new();
    let mut tracked = TrackedWrite::new(AfterPrefix { out: &mut footer, skip: end });
    let zeros = [0u8; 1 << 16];
    let mut counted = 0;
    while counted < end {
        let n = (end - counted).min(zeros.len() as u64) as usize;
        tracked.write_all(&zeros[..n])?;
        counted += n as u64;
    }
    ParquetMetaDataWriter::new_with_tracked(tracked, &amended).with_write_path_in_schema(properties.write_path_in_schema()).finish()?;
    out.write_all(&footer)?;
    // Durable before any version can name the file.
    out.sync_all()?;
    Ok(())
}

/// The length of Parquet's leading magic bytes.
const MAGIC: u64 = 4;

/// A writer that discards the first `skip` bytes written to it and passes the rest to `out`.
struct AfterPrefix<'a> {
    out: &'a mut Vec<u8>,
    skip: u64,
}

impl Write for AfterPrefix<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let skipped = (self.skip.min(buf.len() as u64)) as usize;
        self.skip -= skipped as u64;
        self.out.extend_from_slice(&buf[skipped..]);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Where a quasi-identifier's values come from.
enum QiSource {
    /// The file's column at this index.
    Column(usize),
    /// The file's partition directory (`dt=…`).
    Partition(String),
}

/// The top-level columns `columns` of row group `group`, whole, in the order asked.
fn read_columns(reader: &LakeFile, arrow: &ArrowReaderMetadata, group: usize, columns: &[usize]) -> parquet::errors::Result<Vec<ArrayRef>> {
    let rows = arrow.metadata().row_group(group).num_rows() as usize;
    let mask = ProjectionMask::roots(arrow.metadata().file_metadata().schema_descr(), columns.iter().copied());
    let batches = ParquetRecordBatchReaderBuilder::new_with_metadata(reader.try_clone()?, arrow.clone())
        .with_row_groups(vec![group])
        .with_projection(mask)
        .with_batch_size(rows.max(1))
        .build()?
        .collect::<Result<Vec<_>, _>>()?;
    // A projection reads columns in the file's order.
    let mut in_file = columns.to_vec();
    in_file.sort_unstable();
    columns
        .iter()
        .map(|c| {
            let at = in_file.binary_search(c).expect("projected");
            let parts: Vec<&dyn Array> = batches.iter().map(|b| b.column(at).as_ref()).collect();
            match parts.as_slice() {
                [] => Ok(arrow::array::new_empty_array(arrow.schema().field(*c).data_type())),
                _ => Ok(concat(&parts)?),
            }
        })
        .collect()
}

/// Writes the file to `out`: row groups without a suppressed record copied chunk by chunk
/// (bloom filters too), the others with the quasi-identifier columns encoded again with the
/// records nulled. A quasi-identifier the file declares required cannot hold a null: it is
/// declared optional, and its chunks in every row group are then encoded again, since a
/// copied chunk keeps the levels of the schema it was written with.
fn splice(amendment: Amendment, properties: WriterProperties, out: &mut (dyn Write + Send)) -> std::io::Result<()> {
    let Amendment { reader, metadata, arrow, qis, masks } = amendment;
    let failed = |e: parquet::errors::ParquetError| std::io::Error::other(e.to_string());
    let arrow_failed = |e: arrow::error::ArrowError| std::io::Error::other(e.to_string());
    let stored = arrow.schema().clone();
    let required = qis.iter().any(|q| !stored.field(*q).is_nullable());
    let (schema, descr): (SchemaRef, _) = match required {
        false => (stored.clone(), metadata.file_metadata().schema_descr_ptr()),
        true => {
            let fields = stored.fields().iter().enumerate().map(|(i, f)| match qis.contains(&i) {
                true => Arc::new(f.as_ref().clone().with_nullable(true)),
                false => f.clone(),
            });
            let schema = Arc::new(arrow::datatypes::Schema::new(fields.collect::<Vec<_>>()));
            let descr = parquet::arrow::ArrowSchemaConverter::new().convert(&schema).map_err(failed)?;
            (schema, Arc::new(descr))
        }
    };
    let mut writer = SerializedFileWriter::new(out, descr.root_schema_ptr(), Arc::new(properties)).map_err(failed)?;
    let encoders = ArrowRowGroupWriterFactory::new(&writer, schema.clone());
    for (group, mask) in masks.iter().enumerate() {
        let meta = metadata.row_group(group);
        let mut rows = writer.next_row_group().map_err(failed)?;
        let encode: Vec<usize> = match (required, mask) {
            (true, _) | (false, Some(_)) => qis.to_vec(),
            (false, None) => Vec::new(),
        };
        // Per leaf, its chunk encoded again, or `None` to copy it.
        let mut encoded = Vec::new();
        if !encode.is_empty() {
            let mut writers = encoders.create_column_writers(group).map_err(failed)?;
            let columns = read_columns(reader, arrow, group, &encode).map_err(failed)?;
            let mut leaf = 0;
            for (root, field) in schema.fields().iter().enumerate() {
                let leaves = (leaf..descr.num_columns()).take_while(|l| descr.get_column_root_idx(*l) == root).count();
                if let Some(at) = encode.iter().position(|e| *e == root) {
                    let values = match mask {
                        Some(mask) if qis.contains(&root) => nullif(&columns[at], mask).map_err(arrow_failed)?,
                        _ => columns[at].clone(),
                    };
                    for (l, values) in compute_leaves(field, &values).map_err(failed)?.iter().enumerate() {
                        writers[leaf + l].write(values).map_err(failed)?;
                    }
                }
                leaf += leaves;
            }
            encoded = writers.into_iter().enumerate().map(|(l, w)| encode.contains(&descr.get_column_root_idx(l)).then_some(w)).collect();
        }
        for (leaf, chunk) in meta.columns().iter().enumerate() {
            match encoded.get_mut(leaf).and_then(Option::take) {
                Some(column) => column.close().map_err(failed)?.append_to_row_group(&mut rows).map_err(failed)?,
                None => {
                    let close = ColumnCloseResult {
                        bytes_written: chunk.compressed_size() as u64,
                        rows_written: meta.num_rows() as u64,
                        metadata: chunk.clone(),
                        bloom_filter: Sbbf::read_from_column_chunk(chunk, reader).map_err(failed)?,
                        column_index: metadata
                            .column_index()
                            .map(|c| c[group][leaf].clone())
                            .filter(|c| !matches!(c, ColumnIndexMetaData::NONE)),
                        offset_index: metadata.offset_index().map(|o| o[group][leaf].clone()),
                    };
                    rows.append_column(reader, close).map_err(failed)?;
                }
            }
        }
        rows.close().map_err(failed)?;
    }
    writer.close().map_err(failed)?;
    Ok(())
}
