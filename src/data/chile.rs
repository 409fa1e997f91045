//! The facts the generator is calibrated on: the Chilean table's columns and categories (checked
//! against the built-in schema), census weights and regional economics, education cut-points and
//! premiums, age-dependent marital status, and the coefficients of the approval latent. Only
//! numbers and names live here; `generate` turns them into distributions.

/// The generator's columns, in the built-in schema's field order (a unit test checks they are
/// the schema's): the values of [`super::Row::values`].
pub const FIELD_NAMES: [&str; 16] = [
    "age",
    "gender",
    "region",
    "education_level",
    "marital_status",
    "housing_status",
    "dependents",
    "income",
    "employment_years",
    "credit_history_months",
    "num_loans",
    "avg_monthly_payment",
    "delinquency_rate",
    "credit_inquiries",
    "regional_cpi",
    "regional_unemployment",
];

pub const GENDERS: &[&str] = &["f", "m"];
pub const REGIONS: &[&str] = &[
    "Arica y Parinacota",
    "Tarapacá",
    "Antofagasta",
    "Atacama",
    "Coquimbo",
    "Valparaíso",
    "Metropolitana",
    "O'Higgins",
    "Maule",
    "Ñuble",
    "Biobío",
    "Araucanía",
    "Los Ríos",
    "Los Lagos",
    "Aysén",
    "Magallanes",
];
/// Ordered from least to most education.
pub const EDUCATION_LEVELS: &[&str] = &["basica", "media", "tecnica", "universitaria", "postgrado"];
pub const MARITAL_STATUSES: &[&str] = &["soltero", "casado", "conviviente", "divorciado", "viudo"];
/// The order `generate::housing_weights` draws housing in (the generator stores the index).
#[cfg(test)]
pub const HOUSING_STATUSES: &[&str] = &["propia", "hipotecada", "arriendo", "familiar"];

/// What the generator knows about one region (same order as [`REGIONS`]).
pub struct RegionParams {
    /// 2017 census population, thousands (the sampling weight).
    pub population: f64,
    /// Mean unemployment rate (INE, 2023, rounded); rows scatter around it.
    pub unemployment: f64,
    /// Mean annual CPI inflation (INE regional CPI, 2023); rows scatter around it.
    pub cpi: f64,
    /// Income multiplier relative to the country (mining regions and the capital earn more).
    pub income_factor: f64,
    /// Shift of the education latent (the capital and Antofagasta are more educated).
    pub education_shift: f64,
    /// The regional term of the approval latent (local lending conditions).
    pub score_term: f64,
}

const fn region(
    population: f64,
    unemployment: f64,
    cpi: f64,
    income_factor: f64,
    education_shift: f64,
    score_term: f64,
) -> RegionParams {
    RegionParams { population, unemployment, cpi, income_factor, education_shift, score_term }
}

/// In [`REGIONS`] order: Arica y Parinacota … Magallanes.
pub const REGION_PARAMS: [RegionParams; 16] = [
    region(226.0, 0.088, 0.036, 0.95, -0.05, -0.07),
    region(331.0, 0.081, 0.036, 1.05, 0.00, 0.00),
    region(608.0, 0.086, 0.035, 1.30, 0.15, 0.07),
    region(286.0, 0.093, 0.035, 1.05, -0.05, 0.00),
    region(758.0, 0.091, 0.034, 0.92, -0.05, 0.00),
    region(1816.0, 0.097, 0.034, 0.98, 0.05, 0.00),
    region(7113.0, 0.092, 0.034, 1.15, 0.25, 0.13),
    region(915.0, 0.082, 0.033, 0.92, -0.15, 0.00),
    region(1045.0, 0.081, 0.033, 0.85, -0.20, -0.07),
    region(481.0, 0.087, 0.033, 0.82, -0.25, -0.13),
    region(1557.0, 0.088, 0.033, 0.90, 0.00, -0.07),
    region(957.0, 0.077, 0.032, 0.82, -0.20, -0.20),
    region(385.0, 0.064, 0.032, 0.88, -0.10, -0.07),
    region(829.0, 0.052, 0.032, 0.90, -0.15, 0.00),
    region(103.0, 0.047, 0.031, 1.10, -0.05, 0.07),
    region(167.0, 0.044, 0.031, 1.18, 0.10, 0.13),
];
const _: () = assert!(REGION_PARAMS.len() == REGIONS.len());

/// Spread of a row's CPI and unemployment around the regional mean (comunas differ).
pub const CPI_SD: f64 = 0.0015;
pub const UNEMPLOYMENT_SD: f64 = 0.005;
pub const UNEMPLOYMENT_RANGE: (f64, f64) = (0.01, 0.30);
/// The national unemployment the latent is centred on.
pub const UNEMPLOYMENT_CENTRE: f64 = 0.086;

/// Age = 18 + Gamma(shape, scale), redrawn above 80: mean ≈ 42, most applicants 25–55.
pub const AGE_GAMMA: (f64, f64) = (3.5, 7.0);
pub const AGE_RANGE: (i32, i32) = (18, 80);

pub const FEMALE_SHARE: f64 = 0.51;

/// Ordered-probit cut-points of the education latent N(region shift − 0.018·(age − 40), 1):
/// about 15/38/20/22/5 % at age 40 nationally; younger cohorts study longer.
pub const EDUCATION_CUTS: [f64; 4] = [-1.036, 0.075, 0.613, 1.645];
pub const EDUCATION_AGE_SLOPE: f64 = -0.018;
/// Monthly income multiplier per level (Chile's education premium is steep).
pub const EDUCATION_INCOME: [f64; 5] = [0.60, 0.80, 1.00, 1.65, 2.60];
/// Years after age 15 spent studying, per level: they bound the working years.
pub const EDUCATION_SCHOOL_YEARS: [f64; 5] = [0.0, 3.0, 5.0, 8.0, 10.0];
/// Education's own term in the approval latent.
pub const EDUCATION_SCORE: [f64; 5] = [0.0, 0.2, 0.4, 0.6, 0.8];
const _: () = assert!(EDUCATION_INCOME.len() == EDUCATION_LEVELS.len());

/// Marital-status shares at anchor ages (CASEN-like), interpolated linearly in between:
/// soltero, casado, conviviente, divorciado (incl. separado), viudo.
pub const MARITAL_BY_AGE: [(f64, [f64; 5]); 7] = [
    (18.0, [0.93, 0.01, 0.06, 0.00, 0.00]),
    (25.0, [0.72, 0.06, 0.21, 0.01, 0.00]),
    (35.0, [0.42, 0.28, 0.25, 0.05, 0.00]),
    (45.0, [0.28, 0.42, 0.18, 0.11, 0.01]),
    (55.0, [0.22, 0.47, 0.13, 0.14, 0.04]),
    (65.0, [0.17, 0.50, 0.09, 0.13, 0.11]),
    (80.0, [0.12, 0.40, 0.05, 0.10, 0.33]),
];
const _: () = assert!(MARITAL_BY_AGE[0].1.len() == MARITAL_STATUSES.len());

/// Median monthly income (CLP) of a man of 48 with `tecnica` education in a region of factor 1.
pub const INCOME_BASE: f64 = 720_000.0;
/// Log-income spread, the concave age profile, and the gender pay gap (INE ESI).
pub const INCOME_LOG_SD: f64 = 0.45;
pub const INCOME_PEAK_AGE: f64 = 48.0;
pub const INCOME_AGE_CURVATURE: f64 = 0.0006;
pub const FEMALE_INCOME_FACTOR: f64 = 0.88;
pub const INCOME_RANGE: (f64, f64) = (200_000.0, 4_000_000.0);
/// Incomes enter the latent as log(income / this).
pub const INCOME_REFERENCE: f64 = 700_000.0;

/// Mode of the fraction of the possible working years actually worked, and of the possible
/// credit history used (triangular on [0, 1]: means ≈ 0.43 and 0.58).
pub const EMPLOYMENT_MODE: f64 = 0.3;
pub const HISTORY_MODE: f64 = 0.75;

/// Monthly payment as a share of income: per consumer loan, and the mortgage on top.
pub const LOAN_BURDEN_LOGNORMAL: (f64, f64) = (-2.526, 0.5); // median 8 % per loan
pub const MORTGAGE_BURDEN_LOGNORMAL: (f64, f64) = (-1.897, 0.35); // median 15 %
pub const MAX_BURDEN: f64 = 0.95;

/// A defaulter's share of late payments: mostly small, heavy right tail.
pub const DELINQUENCY_BETA: (f64, f64) = (0.7, 4.5);

/// Coefficients of the approval latent (the label's logit).
pub mod score {
    pub const INTERCEPT: f64 = 0.5;
    pub const LOG_INCOME: f64 = 1.7;
    pub const EMPLOYMENT_YEAR: f64 = 0.04;
    pub const EMPLOYMENT_CAP: f64 = 25.0;
    pub const HISTORY_MONTH: f64 = 0.004;
    pub const HISTORY_CAP: f64 = 300.0;
    pub const DELINQUENCY: f64 = -9.0;
    pub const INQUIRY: f64 = -0.36;
    pub const DEBT_BURDEN: f64 = -4.5;
    pub const UNEMPLOYMENT: f64 = -15.0;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{Kind, builtin};

    /// The generator writes the built-in schema's table: same fields in the same order, same
    /// categories in the same order (their index is what the generator stores), label and score.
    #[test]
    fn the_generator_columns_are_the_builtin_schema() {
        let schema = builtin();
        let names: Vec<&str> = schema.fields().map(|c| c.name.as_str()).collect();
        assert_eq!(names, FIELD_NAMES);
        let categories = |name: &str| -> Vec<String> {
            let c = schema.field(schema.field_index(name).unwrap());
            c.kind.categories().unwrap().names().map(String::from).collect()
        };
        assert_eq!(categories("gender"), GENDERS);
        assert_eq!(categories("region"), REGIONS);
        assert_eq!(categories("education_level"), EDUCATION_LEVELS);
        assert_eq!(categories("marital_status"), MARITAL_STATUSES);
        assert_eq!(categories("housing_status"), HOUSING_STATUSES);
        assert!(matches!(
            schema.field(schema.field_index("education_level").unwrap()).kind,
            Kind::Ordered(_)
        ));
        assert_eq!(schema.score().map(|c| c.name.as_str()), Some("approval_score"));
        assert_eq!(schema.label().name, "approved");
        assert_eq!(schema.label().kind, Kind::Boolean);
    }
}
