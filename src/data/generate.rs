//! The seeded Chilean applicant population: rows drawn in fixed-size chunks, each chunk from its own
//! ChaCha8 stream derived from (seed, chunk index), so a chunk's rows never depend on which thread
//! drew it or on the other chunks.

use super::ApplicantTable;
use super::chile::{self, REGION_PARAMS, score};
use super::scenario::Scenario;
use crate::error::{Error, Result};
use crate::schema::builtin;
use rand::distr::Bernoulli;
use rand::distr::weighted::WeightedIndex;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Beta, Distribution, Gamma, LogNormal, Normal, Poisson, StandardNormal, Triangular};
use rayon::prelude::*;

/// Rows per chunk: the unit of parallel work, of RNG streams and of Parquet row groups.
pub const CHUNK_ROWS: usize = 32_768;

const HIPOTECADA: usize = 1;

/// One generated applicant with its label; categories are indices into the schema's lists.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Row {
    pub age: i32,
    pub gender: u8,
    pub region: u8,
    pub education_level: u8,
    pub marital_status: u8,
    pub housing_status: u8,
    pub dependents: i32,
    pub income: f64,
    pub employment_years: f64,
    pub credit_history_months: i32,
    pub num_loans: i32,
    pub avg_monthly_payment: f64,
    pub delinquency_rate: f64,
    pub credit_inquiries: i32,
    pub regional_cpi: f64,
    pub regional_unemployment: f64,
    pub approval_score: f64,
    pub approved: bool,
}

impl Row {
    /// Values per row: the built-in schema's fields.
    pub const FIELDS: usize = chile::FIELD_NAMES.len();

    /// Field `i`'s value in the built-in schema's order ([`chile::FIELD_NAMES`]), as a stored
    /// value (categories as indices).
    #[inline]
    pub fn field(&self, i: usize) -> f64 {
        match i {
            0 => f64::from(self.age),
            1 => f64::from(self.gender),
            2 => f64::from(self.region),
            3 => f64::from(self.education_level),
            4 => f64::from(self.marital_status),
            5 => f64::from(self.housing_status),
            6 => f64::from(self.dependents),
            7 => self.income,
            8 => self.employment_years,
            9 => f64::from(self.credit_history_months),
            10 => f64::from(self.num_loans),
            11 => self.avg_monthly_payment,
            12 => self.delinquency_rate,
            13 => f64::from(self.credit_inquiries),
            14 => self.regional_cpi,
            15 => self.regional_unemployment,
            _ => f64::NAN,
        }
    }

    /// The 16 field values in the built-in schema's order.
    pub fn values(&self) -> [f64; Row::FIELDS] {
        std::array::from_fn(|i| self.field(i))
    }
}

/// The chunk plan for `rows` rows: (chunk index, rows in it), all full but the last.
pub fn chunk_plan(rows: u64) -> impl Iterator<Item = (u64, usize)> {
    let chunk = CHUNK_ROWS as u64;
    (0..rows.div_ceil(chunk)).map(move |i| (i, (rows - i * chunk).min(chunk) as usize))
}

/// The RNG of one chunk: the seed picks the key, the chunk index the stream.
pub fn chunk_rng(seed: u64, chunk_index: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(chunk_index);
    rng
}

/// The distributions that do not depend on a row, built once and shared by all chunks.
pub struct Population {
    region: WeightedIndex<f64>,
    marital_by_age: Vec<WeightedIndex<f64>>,
    /// Housing by (age, partnered, income band); see [`housing_index`].
    housing: Vec<WeightedIndex<f64>>,
    /// Children by (age, partnered, basic education).
    dependents: Vec<Poisson<f64>>,
    age: Gamma<f64>,
    female: Bernoulli,
    employment_fraction: Triangular<f64>,
    history_fraction: Triangular<f64>,
    loan_burden: LogNormal<f64>,
    mortgage_burden: LogNormal<f64>,
    delinquency: Beta<f64>,
    cpi: Vec<Normal<f64>>,
    unemployment: Vec<Normal<f64>>,
    /// Shocks and policy shift (the baseline changes nothing).
    scenario: Scenario,
}

/// Constant parameters are checked by the unit tests; an error here is a bug.
fn valid<T, E: std::fmt::Debug>(what: &str, built: std::result::Result<T, E>) -> T {
    built.unwrap_or_else(|e| panic!("invalid constant {what}: {e:?}"))
}

impl Default for Population {
    fn default() -> Self {
        Self::new()
    }
}

impl Population {
    pub fn new() -> Population {
        let weights = REGION_PARAMS.iter().map(|r| r.population);
        let marital_by_age = ages()
            .map(|age| valid("marital weights", WeightedIndex::new(marital_shares(age as f64))))
            .collect();
        let (age_shape, age_scale) = chile::AGE_GAMMA;
        Population {
            region: valid("region weights", WeightedIndex::new(weights)),
            marital_by_age,
            housing: housing_table(),
            dependents: dependents_table(),
            age: valid("age", Gamma::new(age_shape, age_scale)),
            female: valid("female share", Bernoulli::new(chile::FEMALE_SHARE)),
            employment_fraction: valid("employment", Triangular::new(0.0, 1.0, chile::EMPLOYMENT_MODE)),
            history_fraction: valid("history", Triangular::new(0.0, 1.0, chile::HISTORY_MODE)),
            loan_burden: valid(
                "loan burden",
                LogNormal::new(chile::LOAN_BURDEN_LOGNORMAL.0, chile::LOAN_BURDEN_LOGNORMAL.1),
            ),
            mortgage_burden: valid(
                "mortgage burden",
                LogNormal::new(chile::MORTGAGE_BURDEN_LOGNORMAL.0, chile::MORTGAGE_BURDEN_LOGNORMAL.1),
            ),
            delinquency: valid(
                "delinquency",
                Beta::new(chile::DELINQUENCY_BETA.0, chile::DELINQUENCY_BETA.1),
            ),
            cpi: REGION_PARAMS.iter().map(|r| valid("cpi", Normal::new(r.cpi, chile::CPI_SD))).collect(),
            unemployment: REGION_PARAMS
                .iter()
                .map(|r| valid("unemployment", Normal::new(r.unemployment, chile::UNEMPLOYMENT_SD)))
                .collect(),
            scenario: Scenario::default(),
        }
    }

    /// The population under `scenario`: the same draws, shocked after each is made.
    pub fn with_scenario(scenario: Scenario) -> Population {
        Population { scenario, ..Population::new() }
    }

    /// The `rows` rows of chunk `chunk_index` of the population seeded by `seed`.
    pub fn chunk(&self, seed: u64, chunk_index: u64, rows: usize) -> Vec<Row> {
        let mut rng = chunk_rng(seed, chunk_index);
        (0..rows).map(|_| self.row(&mut rng)).collect()
    }

    /// One applicant. The draw order is part of the output's definition: changing it changes
    /// every file generated from a seed.
    fn row(&self, rng: &mut ChaCha8Rng) -> Row {
        let age = self.sample_age(rng);
        let female = rng.sample(self.female);
        let region = self.region.sample(rng);
        let education = sample_education(rng, age, region);
        let marital = self.marital_by_age[(age - chile::AGE_RANGE.0) as usize].sample(rng);
        let partnered = marital == 1 || marital == 2;
        let income = sample_income(rng, age, female, region, education);
        let income = self.shocked_income(region, income);
        let log_rel_income = (income / chile::INCOME_REFERENCE).ln();
        let housing = self.housing[housing_index(age, partnered, log_rel_income)].sample(rng);
        let dependents = self.sample_dependents(rng, age, partnered, education);
        let employment_years = self.sample_employment_years(rng, age, education);
        let credit_history_months = self.sample_history(rng, age);
        let num_loans = sample_num_loans(rng, age, log_rel_income, housing);
        let avg_monthly_payment = self.sample_payment(rng, income, num_loans, housing);
        let burden = avg_monthly_payment / income;
        let delinquency_rate = self.sample_delinquency(rng, age, log_rel_income, num_loans, burden);
        let credit_inquiries = sample_inquiries(rng, age, num_loans, delinquency_rate);
        let regional_cpi =
            round_to(self.cpi[region].sample(rng) + self.shift(region, self.scenario.cpi_shift), 4);
        let (lo, hi) = chile::UNEMPLOYMENT_RANGE;
        let unemployment =
            self.unemployment[region].sample(rng) + self.shift(region, self.scenario.unemployment_shift);
        let regional_unemployment = round_to(unemployment.clamp(lo, hi), 4);
        let mut row = Row {
            age,
            gender: u8::from(!female),
            region: region as u8,
            education_level: education as u8,
            marital_status: marital as u8,
            housing_status: housing as u8,
            dependents,
            income,
            employment_years,
            credit_history_months,
            num_loans,
            avg_monthly_payment,
            delinquency_rate,
            credit_inquiries,
            regional_cpi,
            regional_unemployment,
            approval_score: 0.0,
            approved: false,
        };
        row.approval_score = score_with_log_income(&row, log_rel_income);
        if self.scenario.policy_shift != 0.0 {
            row.approval_score += self.scenario.policy_shift;
        }
        row.approved = rng.sample(bernoulli(sigmoid(row.approval_score)));
        row
    }

    /// A macro shock's size in `region` (0 where it does not apply).
    fn shift(&self, region: usize, shift: f64) -> f64 {
        if self.scenario.hits(region) { shift } else { 0.0 }
    }

    /// Income under the scenario's scale, kept in range and in whole pesos (unchanged at 1).
    fn shocked_income(&self, region: usize, income: f64) -> f64 {
        let scale = self.scenario.income_scale;
        if scale == 1.0 || !self.scenario.hits(region) {
            return income;
        }
        (income * scale).clamp(chile::INCOME_RANGE.0, chile::INCOME_RANGE.1).round()
    }

    /// 18 + Gamma, redrawn (not clipped) above 80 so no age piles up at the bound.
    fn sample_age(&self, rng: &mut ChaCha8Rng) -> i32 {
        let (min, max) = chile::AGE_RANGE;
        loop {
            let age = min + self.age.sample(rng).floor() as i32;
            if age <= max {
                return age;
            }
        }
    }

    fn sample_dependents(&self, rng: &mut ChaCha8Rng, age: i32, partnered: bool, education: usize) -> i32 {
        let age_index = (age - chile::AGE_RANGE.0) as usize;
        let index = age_index * 4 + 2 * usize::from(partnered) + usize::from(education == 0);
        (self.dependents[index].sample(rng) as i32).min(8)
    }

    /// A fraction of the years since leaving school, to a tenth of a year (≤ age − 15).
    fn sample_employment_years(&self, rng: &mut ChaCha8Rng, age: i32, education: usize) -> f64 {
        let possible = (age as f64 - 15.0 - chile::EDUCATION_SCHOOL_YEARS[education]).max(0.0);
        round_to(possible * self.employment_fraction.sample(rng), 1)
    }

    /// A fraction of the months since turning 18 (≤ (age − 18) · 12).
    fn sample_history(&self, rng: &mut ChaCha8Rng, age: i32) -> i32 {
        let possible = f64::from((age - 18) * 12);
        (possible * self.history_fraction.sample(rng)).floor() as i32
    }

    /// Each consumer loan takes a log-normal share of income, a mortgage a larger one on top.
    fn sample_payment(&self, rng: &mut ChaCha8Rng, income: f64, num_loans: i32, housing: usize) -> f64 {
        let loans: f64 = (0..num_loans).map(|_| self.loan_burden.sample(rng)).sum();
        let mortgage = if housing == HIPOTECADA { self.mortgage_burden.sample(rng) } else { 0.0 };
        (income * (loans + mortgage).min(chile::MAX_BURDEN)).round()
    }

    /// Most applicants never paid late; those who did have a Beta share of late payments.
    fn sample_delinquency(
        &self,
        rng: &mut ChaCha8Rng,
        age: i32,
        log_rel_income: f64,
        num_loans: i32,
        burden: f64,
    ) -> f64 {
        let logit = -1.3 - 0.6 * log_rel_income + 0.25 * (num_loans as f64 - 1.5) + 1.5 * (burden - 0.25)
            - 0.02 * (age as f64 - 40.0);
        if rng.sample(bernoulli(sigmoid(logit))) { round_to(self.delinquency.sample(rng), 4) } else { 0.0 }
    }
}

fn ages() -> std::ops::RangeInclusive<i32> {
    chile::AGE_RANGE.0..=chile::AGE_RANGE.1
}

/// Housing distributions in [`housing_index`] order: age, then partnered, then income band.
fn housing_table() -> Vec<WeightedIndex<f64>> {
    let cells = ages().flat_map(|age| [false, true].map(|partnered| (age, partnered)));
    cells
        .flat_map(|(age, partnered)| {
            (0..INCOME_BANDS).map(move |band| housing_weights(age, partnered, band_centre(band)))
        })
        .map(|weights| valid("housing weights", WeightedIndex::new(weights)))
        .collect()
}

/// Children distributions by age, then partnered, then basic education.
fn dependents_table() -> Vec<Poisson<f64>> {
    let cells = [(false, false), (false, true), (true, false), (true, true)];
    ages()
        .flat_map(|age| cells.map(|(partnered, basic)| dependents_mean(age, partnered, basic)))
        .map(|mean| valid("dependents", Poisson::new(mean)))
        .collect()
}

/// Marital-status shares at `age`, interpolated between the anchor ages.
fn marital_shares(age: f64) -> [f64; 5] {
    let anchors = &chile::MARITAL_BY_AGE;
    let upper = anchors.iter().position(|(a, _)| *a >= age).unwrap_or(anchors.len() - 1).max(1);
    let ((a0, p0), (a1, p1)) = (anchors[upper - 1], anchors[upper]);
    let t = ((age - a0) / (a1 - a0)).clamp(0.0, 1.0);
    std::array::from_fn(|k| p0[k] + t * (p1[k] - p0[k]))
}

/// Ordered probit: the capital and younger cohorts reach higher levels.
fn sample_education(rng: &mut ChaCha8Rng, age: i32, region: usize) -> usize {
    let z: f64 = rng.sample(StandardNormal);
    let latent = z + REGION_PARAMS[region].education_shift + chile::EDUCATION_AGE_SLOPE * (age as f64 - 40.0);
    chile::EDUCATION_CUTS.iter().filter(|&&cut| latent > cut).count()
}

/// Log-normal around a median set by education, region, gender and a concave age profile;
/// clipped to the schema's income range and rounded to whole pesos.
fn sample_income(rng: &mut ChaCha8Rng, age: i32, female: bool, region: usize, education: usize) -> f64 {
    let gender = if female { chile::FEMALE_INCOME_FACTOR } else { 1.0 };
    let median = chile::INCOME_BASE
        * chile::EDUCATION_INCOME[education]
        * REGION_PARAMS[region].income_factor
        * gender;
    let mu = median.ln() - chile::INCOME_AGE_CURVATURE * (age as f64 - chile::INCOME_PEAK_AGE).powi(2);
    let income = rng.sample(valid("income", LogNormal::new(mu, chile::INCOME_LOG_SD)));
    income.clamp(chile::INCOME_RANGE.0, chile::INCOME_RANGE.1).round()
}

/// Housing depends on income through bands this wide in log(income / reference): a table of
/// distributions built once instead of one per row.
const INCOME_BAND_WIDTH: f64 = 0.1;
const INCOME_BANDS: usize = 32;
const INCOME_BAND_START: f64 = -1.3; // log(200k / 700k) ≈ −1.25; the top band reaches 1.9

fn income_band(log_rel_income: f64) -> usize {
    let band = ((log_rel_income - INCOME_BAND_START) / INCOME_BAND_WIDTH).floor();
    band.clamp(0.0, (INCOME_BANDS - 1) as f64) as usize
}

fn band_centre(band: usize) -> f64 {
    INCOME_BAND_START + (band as f64 + 0.5) * INCOME_BAND_WIDTH
}

fn housing_index(age: i32, partnered: bool, log_rel_income: f64) -> usize {
    let age_index = (age - chile::AGE_RANGE.0) as usize;
    (age_index * 2 + usize::from(partnered)) * INCOME_BANDS + income_band(log_rel_income)
}

/// Young adults live with family, older ones own; mortgages follow income and partnership.
fn housing_weights(age: i32, partnered: bool, log_rel_income: f64) -> [f64; 4] {
    let years = age as f64 - 18.0;
    let partnered = f64::from(u8::from(partnered));
    [
        (-2.0 + 0.07 * years).exp(),
        (-1.6 + 0.9 * log_rel_income + 0.5 * partnered - ((age as f64 - 42.0) / 14.0).powi(2)).exp(),
        (-0.2 - 0.01 * years).exp(),
        (1.5 - 0.12 * years).exp(),
    ]
}

/// Mean number of children: more with a partner, around age 40, and with less schooling.
fn dependents_mean(age: i32, partnered: bool, basic_education: bool) -> f64 {
    0.25 + 0.9 * f64::from(u8::from(partnered))
        + 0.9 * (-((age as f64 - 40.0) / 13.0).powi(2)).exp()
        + 0.15 * f64::from(u8::from(basic_education))
}

/// Poisson loans rising with income; a mortgage is itself a loan.
fn sample_num_loans(rng: &mut ChaCha8Rng, age: i32, log_rel_income: f64, housing: usize) -> i32 {
    let mortgage = housing == HIPOTECADA;
    let mean = (0.45 + 0.45 * log_rel_income + 0.35 * f64::from(u8::from(mortgage))
        - 0.015 * (age as f64 - 40.0).abs())
    .exp();
    let loans = poisson(rng, mean).min(10);
    if mortgage { loans.max(1) } else { loans }
}

/// Hard inquiries: more loans, past delinquency and youth mean more shopping for credit.
fn sample_inquiries(rng: &mut ChaCha8Rng, age: i32, num_loans: i32, delinquency_rate: f64) -> i32 {
    let young = f64::from(u8::from(age < 30));
    poisson(rng, 0.5 + 0.25 * num_loans as f64 + 5.0 * delinquency_rate + 0.4 * young).min(20)
}

/// The label's logit, with the spec's signs: income, education, tenure and history raise it;
/// delinquency, inquiries, debt burden and unemployment lower it; each region adds its term.
pub fn approval_score(row: &Row) -> f64 {
    score_with_log_income(row, (row.income / chile::INCOME_REFERENCE).ln())
}

fn score_with_log_income(row: &Row, log_rel_income: f64) -> f64 {
    let region = &REGION_PARAMS[row.region as usize];
    score::INTERCEPT
        + score::LOG_INCOME * log_rel_income
        + chile::EDUCATION_SCORE[row.education_level as usize]
        + score::EMPLOYMENT_YEAR * row.employment_years.min(score::EMPLOYMENT_CAP)
        + score::HISTORY_MONTH * f64::from(row.credit_history_months).min(score::HISTORY_CAP)
        + score::DELINQUENCY * row.delinquency_rate
        + score::INQUIRY * f64::from(row.credit_inquiries)
        + score::DEBT_BURDEN * row.avg_monthly_payment / row.income
        + score::UNEMPLOYMENT * (row.regional_unemployment - chile::UNEMPLOYMENT_CENTRE)
        + region.score_term
}

pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn bernoulli(p: f64) -> Bernoulli {
    valid("probability", Bernoulli::new(p.clamp(0.0, 1.0)))
}

fn poisson(rng: &mut ChaCha8Rng, mean: f64) -> i32 {
    rng.sample(valid("poisson mean", Poisson::new(mean))) as i32
}

fn round_to(x: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (x * scale).round() / scale
}

/// The whole population in memory (for tests and small tables): same rows as the files.
pub fn generate_rows(rows: u64, seed: u64) -> Vec<Row> {
    let population = Population::new();
    let chunks: Vec<(u64, usize)> = chunk_plan(rows).collect();
    chunks.par_iter().flat_map_iter(|&(index, n)| population.chunk(seed, index, n)).collect()
}

/// The population as an [`ApplicantTable`] of the built-in schema with both label columns; every
/// row is checked against the schema (failing is a generator bug, not bad input).
pub fn generate_table(rows: u64, seed: u64) -> Result<ApplicantTable> {
    let rows = generate_rows(rows, seed);
    let schema = builtin();
    let mut table = ApplicantTable::new(schema.clone());
    table.reserve(rows.len());
    for row in &rows {
        let values = row.values();
        schema.check_values(&values).map_err(|errors| {
            let listed: Vec<String> = errors.iter().map(ToString::to_string).collect();
            Error::Internal(format!("generated an invalid applicant: {}", listed.join("; ")))
        })?;
        table.push_checked(&values);
    }
    table.score = Some(rows.iter().map(|r| r.approval_score).collect());
    table.approved = Some(rows.iter().map(|r| r.approved).collect());
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::chile::{EDUCATION_LEVELS, REGIONS};

    #[test]
    fn chunks_are_planned_in_full_chunks_and_a_tail() {
        let plan: Vec<_> = chunk_plan(2 * CHUNK_ROWS as u64 + 5).collect();
        assert_eq!(plan, [(0, CHUNK_ROWS), (1, CHUNK_ROWS), (2, 5)]);
        assert_eq!(chunk_plan(0).count(), 0);
        assert_eq!(chunk_plan(CHUNK_ROWS as u64).count(), 1);
    }

    #[test]
    fn a_chunk_depends_only_on_seed_and_index() {
        let population = Population::new();
        let a = population.chunk(7, 3, 500);
        assert_eq!(a, population.chunk(7, 3, 500));
        assert_ne!(a, population.chunk(7, 4, 500));
        assert_ne!(a, population.chunk(8, 3, 500));
        // A shorter chunk is a prefix of the longer one: the last chunk is not special.
        assert_eq!(a[..100], population.chunk(7, 3, 100)[..]);
    }

    #[test]
    fn in_memory_rows_match_the_chunks() {
        let rows = generate_rows(CHUNK_ROWS as u64 + 10, 5);
        let population = Population::new();
        assert_eq!(rows[CHUNK_ROWS..], population.chunk(5, 1, 10)[..]);
        assert_eq!(rows[..3], population.chunk(5, 0, 3)[..]);
    }

    #[test]
    fn every_value_is_inside_the_dataset_contract() {
        for row in generate_rows(60_000, 11) {
            let age = row.age;
            assert!((18..=80).contains(&age), "{row:?}");
            assert!((0..=8).contains(&row.dependents), "{row:?}");
            assert!((200_000.0..=4_000_000.0).contains(&row.income), "{row:?}");
            assert!(row.employment_years >= 0.0 && row.employment_years <= f64::from(age - 15), "{row:?}");
            assert!(
                row.credit_history_months >= 0 && row.credit_history_months <= (age - 18) * 12,
                "{row:?}"
            );
            assert!((0..=10).contains(&row.num_loans), "{row:?}");
            assert!(row.avg_monthly_payment >= 0.0 && row.avg_monthly_payment <= row.income, "{row:?}");
            assert_eq!(row.num_loans == 0, row.avg_monthly_payment == 0.0, "{row:?}");
            assert!((0.0..=1.0).contains(&row.delinquency_rate), "{row:?}");
            assert!((0..=20).contains(&row.credit_inquiries), "{row:?}");
            assert!((0.02..=0.05).contains(&row.regional_cpi), "{row:?}");
            assert!((0.01..=0.30).contains(&row.regional_unemployment), "{row:?}");
            assert!(row.approval_score.is_finite());
            assert!(builtin().check_values(&row.values()).is_ok(), "{row:?}");
        }
    }

    #[test]
    fn income_bands_cover_the_income_range_in_order() {
        let low = (chile::INCOME_RANGE.0 / chile::INCOME_REFERENCE).ln();
        let high = (chile::INCOME_RANGE.1 / chile::INCOME_REFERENCE).ln();
        assert_eq!(income_band(low), 0);
        assert!(income_band(high) < INCOME_BANDS - 1, "the top income has a band of its own");
        for x in [-1.0, -0.31, 0.0, 0.77, 1.5] {
            assert!((band_centre(income_band(x)) - x).abs() <= INCOME_BAND_WIDTH / 2.0 + 1e-9, "{x}");
        }
        let table = Population::new().housing.len();
        assert_eq!(table, 63 * 2 * INCOME_BANDS);
        assert_eq!(housing_index(80, true, f64::INFINITY), table - 1);
        assert_eq!(housing_index(18, false, f64::NEG_INFINITY), 0);
    }

    #[test]
    fn marital_shares_interpolate_between_anchors_and_sum_to_one() {
        assert_eq!(marital_shares(18.0), chile::MARITAL_BY_AGE[0].1);
        assert_eq!(marital_shares(80.0), chile::MARITAL_BY_AGE[6].1);
        let mid = marital_shares(30.0); // halfway between 25 and 35
        assert!((mid[0] - 0.57).abs() < 1e-12 && (mid[1] - 0.17).abs() < 1e-12);
        for age in 18..=80 {
            let total: f64 = marital_shares(age as f64).iter().sum();
            assert!((total - 1.0).abs() < 1e-9, "age {age}: {total}");
        }
    }

    #[test]
    fn the_score_has_the_specified_signs() {
        let base = generate_rows(1, 3)[0];
        let s = approval_score(&base);
        let with = |f: &dyn Fn(&mut Row)| {
            let mut r = base;
            f(&mut r);
            approval_score(&r) - s
        };
        assert!(with(&|r| r.income *= 1.5) > 0.0);
        assert!(with(&|r| r.delinquency_rate += 0.1) < 0.0);
        assert!(with(&|r| r.credit_inquiries += 1) < 0.0);
        assert!(with(&|r| r.avg_monthly_payment += 50_000.0) < 0.0);
        assert!(with(&|r| r.regional_unemployment += 0.01) < 0.0);
        assert!(with(&|r| r.credit_history_months = 0) <= 0.0);
        let edu = |level: u8| with(&|r| r.education_level = level);
        assert!(edu(0) < edu(2) && edu(2) < edu(4));
    }

    #[test]
    fn every_region_and_level_occurs_and_names_line_up_with_the_schema() {
        let table = generate_table(20_000, 1).unwrap();
        let (region, education) = (2, 3);
        for (i, name) in REGIONS.iter().enumerate() {
            let n = table.column(region).filter(|&v| v == i as f64).count();
            assert!(n > 0, "{name} missing");
        }
        for i in 0..EDUCATION_LEVELS.len() {
            assert!(table.column(education).any(|v| v == i as f64));
        }
        assert_eq!(table.approved.as_ref().unwrap().len(), 20_000);
    }
}
