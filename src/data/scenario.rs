//! What-if scenarios for generated batches: a period (which draws another month's applicants
//! from the same seed), macro shocks applied to chosen regions (unemployment, income, CPI) and a
//! shift of the approval policy (concept drift). The baseline scenario changes nothing, so files
//! generated without these options stay byte-identical.

use super::chile::REGIONS;
use crate::error::{Error, Result};
use crate::schema::Categories;
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// The batch's period (e.g. `2027-03`): mixed into the seed, so each period is a new draw.
    pub period: Option<String>,
    /// Added to the regional unemployment rate (0.03 = 3 points), after the draw, then clamped
    /// to the generator's range.
    pub unemployment_shift: f64,
    /// Multiplies incomes (clamped to the income range and rounded to whole pesos). Housing,
    /// loans, payments and delinquency follow the shocked income.
    pub income_scale: f64,
    /// Added to the regional CPI inflation (0.01 = 1 point).
    pub cpi_shift: f64,
    /// Region indices the macro shocks apply to (empty: every region).
    pub regions: Vec<usize>,
    /// Added to the approval latent of every applicant: the lender's policy moved (negative is
    /// stricter), so the same applicant is approved with another probability.
    pub policy_shift: f64,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            period: None,
            unemployment_shift: 0.0,
            income_scale: 1.0,
            cpi_shift: 0.0,
            regions: Vec::new(),
            policy_shift: 0.0,
        }
    }
}

impl Scenario {
    /// Region names (any accepted spelling) as indices; an unknown one lists the valid names.
    pub fn region_indices<S: AsRef<str>>(names: &[S]) -> Result<Vec<usize>> {
        let regions = Categories::plain(REGIONS).map_err(Error::Internal)?;
        names
            .iter()
            .map(|name| {
                regions.find(name.as_ref()).ok_or_else(|| {
                    Error::Usage(format!(
                        "--shock-region: {}",
                        regions.unknown("region", name.as_ref()).message
                    ))
                })
            })
            .collect()
    }

    /// Checks the shocks are numbers that keep applicants possible.
    pub fn validate(&self) -> Result<()> {
        let finite = [self.unemployment_shift, self.income_scale, self.cpi_shift, self.policy_shift];
        if finite.iter().any(|v| !v.is_finite()) {
            return Err(Error::Usage("shocks must be finite numbers".into()));
        }
        if self.income_scale <= 0.0 {
            return Err(Error::Usage(format!("--income-scale must be positive, got {}", self.income_scale)));
        }
        if self.unemployment_shift.abs() >= 1.0 || self.cpi_shift.abs() >= 1.0 {
            return Err(Error::Usage(
                "--unemployment-shift and --cpi-shift are fractions (0.03 = 3 points), below 1 in size"
                    .into(),
            ));
        }
        Ok(())
    }

    /// The seed the rows are drawn from: the given one, or with a period, one derived from both.
    pub fn seed(&self, seed: u64) -> u64 {
        match &self.period {
            None => seed,
            Some(period) => {
                let digest = Sha256::digest(format!("credrisk period {period} seed {seed}").as_bytes());
                u64::from_le_bytes(digest[..8].try_into().expect("a SHA-256 digest has 8 bytes"))
            }
        }
    }

    /// Whether the macro shocks hit `region`.
    #[inline]
    pub fn hits(&self, region: usize) -> bool {
        self.regions.is_empty() || self.regions.contains(&region)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_are_found_by_any_spelling_and_periods_change_the_seed() {
        assert_eq!(Scenario::region_indices(&["valparaiso", "Ñuble"]).unwrap(), [5, 9]);
        let err = Scenario::region_indices(&["Mordor"]).unwrap_err().to_string();
        assert!(err.contains("Mordor") && err.contains("Magallanes"), "{err}");
        let base = Scenario::default();
        assert_eq!(base.seed(42), 42);
        let march = Scenario { period: Some("2027-03".into()), ..Scenario::default() };
        let april = Scenario { period: Some("2027-04".into()), ..Scenario::default() };
        assert_ne!(march.seed(42), april.seed(42));
        assert_eq!(march.seed(42), march.clone().seed(42));
    }
}
