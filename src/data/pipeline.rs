//! `generate` end to end: chunks drawn and encoded in parallel, appended in order to the Parquet
//! (and CSV) temp files while the next window is being drawn, summarised on the way, and renamed
//! into place only when everything is written. Memory stays bounded by two windows of chunks.

use super::csv::{self, CsvFile};
use super::generate::{Population, Row, chunk_plan};
use super::parquet::{self, EncodedRowGroup, ParquetFile, RowGroupEncoder};
use super::scenario::Scenario;
use super::summary::{Summary, SummaryBuilder};
use crate::error::{Error, Result};
use crate::fsutil;
use crate::schema::{Schema, builtin};
use rayon::prelude::*;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Most chunks drawn at once (a window); one window is written while the next is drawn.
const MAX_WINDOW: usize = 8;
/// The most rows one `generate` writes (about 40 GB of Parquet): a typo of a few zeros is refused
/// before anything is created.
pub const MAX_ROWS: u64 = 1_000_000_000;

/// What `credrisk generate` was asked for, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateConfig {
    pub rows: u64,
    pub seed: u64,
    /// Output files are `<prefix>.parquet`, `<prefix>.csv`, `<prefix>.summary.json`.
    pub prefix: PathBuf,
    pub csv: bool,
    pub summary_json: bool,
    /// Period, shocks and policy shift (the baseline by default).
    pub scenario: Scenario,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct Generated {
    pub parquet: PathBuf,
    pub csv: Option<PathBuf>,
    pub summary_json: Option<PathBuf>,
    pub summary: Summary,
}

impl GenerateConfig {
    /// Checks the request before anything is created: at least one row, and a prefix that names
    /// a file in a directory (not a directory, not a path through a file).
    pub fn new(
        rows: u64,
        seed: u64,
        prefix: PathBuf,
        csv: bool,
        summary_json: bool,
    ) -> Result<GenerateConfig> {
        if !(1..=MAX_ROWS).contains(&rows) {
            return Err(Error::Usage(format!("--rows must be 1..={MAX_ROWS}, got {rows}")));
        }
        let text = prefix.to_string_lossy();
        if text.is_empty() || text.ends_with('/') || prefix.file_name().is_none() || prefix.is_dir() {
            return Err(Error::Usage(format!(
                "--prefix {text:?} must name the output files (e.g. data/chilean_credit_data), not a directory"
            )));
        }
        if let Some(file) = prefix.ancestors().skip(1).find(|p| p.is_file()) {
            return Err(Error::Usage(format!(
                "--prefix {text:?} goes through {}, which is a file, not a directory",
                file.display()
            )));
        }
        Ok(GenerateConfig { rows, seed, prefix, csv, summary_json, scenario: Scenario::default() })
    }

    /// The same request under `scenario` (checked).
    pub fn with_scenario(self, scenario: Scenario) -> Result<GenerateConfig> {
        scenario.validate()?;
        Ok(GenerateConfig { scenario, ..self })
    }

    fn with_suffix(&self, suffix: &str) -> PathBuf {
        let mut name = OsString::from(self.prefix.as_os_str());
        name.push(suffix);
        PathBuf::from(name)
    }

    pub fn parquet_path(&self) -> PathBuf {
        self.with_suffix(".parquet")
    }

    pub fn csv_path(&self) -> PathBuf {
        self.with_suffix(".csv")
    }

    pub fn summary_path(&self) -> PathBuf {
        self.with_suffix(".summary.json")
    }

    fn directory(&self) -> PathBuf {
        self.prefix.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf()
    }
}

/// One chunk ready to be written: its rows (for the summary) and its encoded forms.
struct ReadyChunk {
    rows: Vec<Row>,
    row_group: EncodedRowGroup,
    csv: Option<Vec<u8>>,
}

/// The output files being written.
struct Outputs {
    parquet: ParquetFile,
    csv: Option<CsvFile>,
    summary: SummaryBuilder,
    written: u64,
}

impl Outputs {
    fn append(&mut self, chunks: Vec<ReadyChunk>, progress: &(dyn Fn(u64) + Sync)) -> Result<()> {
        for chunk in chunks {
            self.parquet.append(chunk.row_group)?;
            if let (Some(file), Some(lines)) = (&mut self.csv, &chunk.csv) {
                file.append(lines)?;
            }
            chunk.rows.iter().for_each(|row| self.summary.add_row(row));
            self.written += chunk.rows.len() as u64;
            progress(self.written);
        }
        Ok(())
    }
}

/// Draws and encodes one chunk (runs on any thread; the result depends only on seed and index).
fn prepare_chunk(
    population: &Population,
    encoder: &RowGroupEncoder,
    seed: u64,
    (index, rows): (u64, usize),
    csv_schema: Option<&Schema>,
) -> Result<ReadyChunk> {
    let rows = population.chunk(seed, index, rows);
    let row_group = encoder.encode(&rows)?;
    let csv = csv_schema.map(|schema| csv::format_rows(schema, &rows));
    Ok(ReadyChunk { rows, row_group, csv })
}

/// Generates the population into `<prefix>.parquet` (and `.csv`, `.summary.json` if asked),
/// calling `progress` with the rows written so far. On error nothing is left behind: temp files
/// are removed and directories created for the prefix are removed again.
pub fn generate_files(config: &GenerateConfig, progress: &(dyn Fn(u64) + Sync)) -> Result<Generated> {
    let created = create_missing_dirs(&config.directory())?;
    let result = write_outputs(config, progress);
    if result.is_err() {
        for dir in created.iter().rev() {
            let _ = std::fs::remove_dir(dir);
        }
    }
    result
}

fn write_outputs(config: &GenerateConfig, progress: &(dyn Fn(u64) + Sync)) -> Result<Generated> {
    let schema = builtin();
    let parquet_path = config.parquet_path();
    let (parquet_file, encoder) = parquet::create_streaming(&parquet_path, schema.clone())?;
    let csv_path = config.csv.then(|| config.csv_path());
    let csv_file = csv_path.as_deref().map(|p| CsvFile::create(p, &schema)).transpose()?;
    let csv_schema = config.csv.then_some(&*schema);
    let mut outputs =
        Outputs { parquet: parquet_file, csv: csv_file, summary: SummaryBuilder::new(true), written: 0 };

    let population = Population::with_scenario(config.scenario.clone());
    let seed = config.scenario.seed(config.seed);
    let plan: Vec<(u64, usize)> = chunk_plan(config.rows).collect();
    // Two chunks per thread in flight keep every core busy while the previous window is written;
    // the cap bounds memory (two windows of ≈ 8 MB chunks) whatever the number of cores.
    let window = (2 * rayon::current_num_threads()).clamp(2, MAX_WINDOW);
    let mut pending: Vec<ReadyChunk> = Vec::new();
    for chunks in plan.chunks(window) {
        let to_write = std::mem::take(&mut pending);
        let (written, prepared) = rayon::join(
            || outputs.append(to_write, progress),
            || {
                chunks
                    .par_iter()
                    .map(|&chunk| prepare_chunk(&population, &encoder, seed, chunk, csv_schema))
                    .collect::<Result<Vec<_>>>()
            },
        );
        written?;
        pending = prepared?;
    }
    outputs.append(pending, progress)?;

    // Sorting for the quantiles and the AUC overlaps with the final flush and fsync.
    let Outputs { parquet, csv, summary, .. } = outputs;
    let (summary, committed) = rayon::join(
        || summary.finish(),
        || parquet.commit().and_then(|()| csv.map_or(Ok(()), CsvFile::commit)),
    );
    committed?;
    let summary_json = config.summary_json.then(|| config.summary_path());
    if let Some(path) = &summary_json {
        super::write_output(path, summary.to_json().as_bytes())?;
    }
    Ok(Generated { parquet: parquet_path, csv: csv_path, summary_json, summary })
}

/// Creates `dir` and its missing parents; returns the ones it created, outermost first.
fn create_missing_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let missing: Vec<PathBuf> = dir
        .ancestors()
        .take_while(|p| !p.as_os_str().is_empty() && !p.exists())
        .map(Path::to_path_buf)
        .collect();
    fsutil::create_dir_all(dir)?;
    Ok(missing.into_iter().rev().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::generate::{CHUNK_ROWS, generate_rows};
    use crate::data::summary::summarize;

    fn config(dir: &Path, rows: u64, csv: bool) -> GenerateConfig {
        GenerateConfig::new(rows, 42, dir.join("out/data"), csv, true).unwrap()
    }

    fn generate_with_threads(threads: usize, dir: &Path, rows: u64) -> (Vec<u8>, Vec<u8>) {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let config = config(dir, rows, true);
        pool.install(|| generate_files(&config, &|_| {})).unwrap();
        (std::fs::read(config.parquet_path()).unwrap(), std::fs::read(config.csv_path()).unwrap())
    }

    #[test]
    fn files_are_byte_identical_with_one_or_two_threads() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let rows = 2 * CHUNK_ROWS as u64 + 1_234; // three chunks, spread over windows differently
        let one = generate_with_threads(1, a.path(), rows);
        let two = generate_with_threads(2, b.path(), rows);
        assert!(one.0 == two.0, "parquet differs between 1 and 2 threads");
        assert!(one.1 == two.1, "csv differs between 1 and 2 threads");
        let summary_a = std::fs::read(a.path().join("out/data.summary.json")).unwrap();
        assert_eq!(summary_a, std::fs::read(b.path().join("out/data.summary.json")).unwrap());
    }

    #[test]
    fn the_files_hold_the_generated_population_and_its_summary() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path(), 5_000, true);
        let generated = generate_files(&config, &|_| {}).unwrap();
        let from_parquet = crate::data::read_table(&generated.parquet, &builtin()).unwrap();
        let from_csv = crate::data::read_table(generated.csv.as_ref().unwrap(), &builtin()).unwrap();
        assert_eq!(from_parquet, from_csv);
        let rows = generate_rows(5_000, 42);
        let scores: Vec<f64> = rows.iter().map(|r| r.approval_score).collect();
        assert_eq!(from_parquet.score.as_ref().unwrap(), &scores);
        assert_eq!(summarize(&from_parquet).unwrap(), generated.summary);
        let mut names: Vec<String> = std::fs::read_dir(dir.path().join("out"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["data.csv", "data.parquet", "data.summary.json"]);
    }

    fn sha256_hex(path: &Path) -> String {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(std::fs::read(path).unwrap()))
    }

    #[test]
    fn without_a_scenario_the_files_are_byte_identical_to_before_scenarios_existed() {
        // SHA-256 of `credrisk generate --rows 40000 --seed 42 --csv --summary-json` built from
        // main ed05dfd, before periods, shocks and policy shifts were added.
        let dir = tempfile::tempdir().unwrap();
        let config = GenerateConfig::new(40_000, 42, dir.path().join("d"), true, true)
            .unwrap()
            .with_scenario(Scenario::default())
            .unwrap();
        generate_files(&config, &|_| {}).unwrap();
        assert_eq!(
            sha256_hex(&config.parquet_path()),
            "15769f94d1df68a950a8774f81e3fc3dcc0621456b4384318dc64125a225f9c6"
        );
        assert_eq!(
            sha256_hex(&config.csv_path()),
            "f3cee8cbacd98044badc9592d00529faef7b689401b0347c93f5f066b2115df0"
        );
        assert_eq!(
            sha256_hex(&config.summary_path()),
            "54a8e3679cd0ebefcfa5d7be4daa96730f5631776ac69157f886b49f1c89dd3e"
        );
    }

    #[test]
    fn a_regional_shock_moves_only_that_region_and_is_deterministic() {
        let region = Scenario::region_indices(&["Biobío"]).unwrap();
        let shock = Scenario { unemployment_shift: 0.05, regions: region.clone(), ..Scenario::default() };
        let base = Population::new().chunk(3, 0, 4000);
        let shocked = Population::with_scenario(shock.clone()).chunk(3, 0, 4000);
        assert_eq!(shocked, Population::with_scenario(shock).chunk(3, 0, 4000));
        let mut hit = 0;
        for (b, s) in base.iter().zip(&shocked) {
            assert_eq!((b.age, b.region, b.income), (s.age, s.region, s.income));
            if usize::from(b.region) == region[0] {
                hit += 1;
                assert!((s.regional_unemployment - b.regional_unemployment - 0.05).abs() < 1e-9);
                assert!(s.approval_score < b.approval_score, "unemployment lowers the latent");
            } else {
                assert_eq!(b, s);
            }
        }
        assert!(hit > 100, "{hit} rows in the shocked region");
        // A stricter policy lowers every latent by the same amount: concept drift.
        let strict = Population::with_scenario(Scenario { policy_shift: -0.5, ..Scenario::default() });
        for (b, s) in base.iter().zip(strict.chunk(3, 0, 4000)) {
            assert!((b.approval_score - 0.5 - s.approval_score).abs() < 1e-12);
        }
    }

    #[test]
    fn progress_reaches_the_row_count() {
        let dir = tempfile::tempdir().unwrap();
        let last = std::sync::atomic::AtomicU64::new(0);
        generate_files(&config(dir.path(), 70_000, false), &|n| {
            last.fetch_max(n, std::sync::atomic::Ordering::Relaxed);
        })
        .unwrap();
        assert_eq!(last.into_inner(), 70_000);
    }

    #[test]
    fn bad_requests_are_refused_before_anything_is_created() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("plain");
        std::fs::write(&file, b"x").unwrap();
        let refuse =
            |rows: u64, prefix: PathBuf| GenerateConfig::new(rows, 1, prefix, false, false).unwrap_err();
        assert!(refuse(0, dir.path().join("d")).to_string().contains("--rows"));
        assert!(refuse(10, file.join("data")).to_string().contains("which is a file"));
        assert!(refuse(10, dir.path().to_path_buf()).to_string().contains("not a directory"));
        assert!(refuse(10, PathBuf::from("data/")).to_string().contains("not a directory"));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_failed_run_removes_the_directories_it_created() {
        let dir = tempfile::tempdir().unwrap();
        let config = GenerateConfig::new(10, 1, dir.path().join("a/b/data"), false, false).unwrap();
        // The Parquet target is a directory: the final rename fails after everything was written.
        std::fs::create_dir_all(dir.path().join("a/b/data.parquet")).unwrap();
        assert!(generate_files(&config, &|_| {}).is_err());
        let left: Vec<_> = std::fs::read_dir(dir.path().join("a/b")).unwrap().collect();
        assert_eq!(left.len(), 1, "only the pre-existing directory is left: {left:?}");
    }
}
