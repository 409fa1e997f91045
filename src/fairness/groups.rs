//! Which groups a batch is split into: one schema field or an intersection (`gender*region`),
//! categories as they are, numeric fields banded (age 18-25, 26-35, …), each row's group index.

use crate::data::ApplicantTable;
use crate::error::{Error, Result};
use crate::schema::{Column, Kind, Schema};
use std::collections::BTreeMap;

/// How many bands (quantiles of the batch) a numeric field without `bands` in its schema gets.
const DEFAULT_QUANTILE_BANDS: usize = 5;

/// How a field's values become group labels.
#[derive(Debug, Clone, PartialEq)]
pub enum Banding {
    /// A category or ordered field: one group per category.
    Categories(Vec<String>),
    Boolean,
    /// A numeric field cut at these ascending edges: `< e0`, `[e0, e1)`, …, `>= e_last`.
    Bands {
        edges: Vec<f64>,
        integer: bool,
    },
}

impl Banding {
    /// The group label of one value (NaN: `missing`).
    fn label(&self, value: f64) -> (usize, String) {
        if value.is_nan() {
            return (usize::MAX, "missing".to_string());
        }
        match self {
            Banding::Categories(names) => (value as usize, names[value as usize].clone()),
            Banding::Boolean => (usize::from(value != 0.0), (value != 0.0).to_string()),
            Banding::Bands { edges, integer } => {
                let band = band_of(edges, value);
                (band, band_label(edges, band, *integer))
            }
        }
    }
}

/// The band of a number among ascending `edges`: 0 below the first, `i` in `[e(i-1), e(i))`.
#[inline]
pub fn band_of(edges: &[f64], value: f64) -> usize {
    edges.partition_point(|&e| e <= value)
}

/// `18-25` for integer bands (both ends included), `[18, 25.5)` for real ones; `<18` and `66+`
/// (integers) or `>=66` (reals) at the open ends.
pub fn band_label(edges: &[f64], band: usize, integer: bool) -> String {
    if band == 0 {
        return format!("<{}", edges[0]);
    }
    let low = edges[band - 1];
    match edges.get(band) {
        None if integer => format!("{low}+"),
        None => format!(">={low}"),
        Some(&high) if integer => format!("{low}-{}", high - 1.0),
        Some(&high) => format!("[{low}, {high})"),
    }
}

/// One way to split the batch: a field, or the intersection of several.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupBy {
    /// `gender`, or `gender*region` for an intersection: the key in reports and metric names.
    pub name: String,
    /// Field indices (among the schema's applicant fields) with how each is banded.
    pub fields: Vec<(usize, Banding)>,
}

/// Every row's group, with the groups' labels in report order.
#[derive(Debug, Clone, PartialEq)]
pub struct Grouping {
    pub labels: Vec<String>,
    /// Per row, an index into `labels`.
    pub index: Vec<u32>,
}

impl GroupBy {
    /// Parses `field` or `a*b*c` against the schema, with `bands` (field → edges) for numeric
    /// fields; a numeric field without them is cut at its schema `bands`, else at quintiles of
    /// `table` (see [`banding`]).
    pub fn parse(
        schema: &Schema,
        spec: &str,
        bands: &BTreeMap<String, Vec<f64>>,
        table: &ApplicantTable,
    ) -> Result<GroupBy> {
        let mut fields = Vec::new();
        for part in spec.split('*').map(str::trim) {
            let Some(i) = schema.field_index(part) else {
                let known: Vec<&str> = schema.fields().map(|c| c.name.as_str()).collect();
                return Err(Error::Usage(format!(
                    "--by {spec}: `{part}` is not a field of schema {:?}; the fields are {}",
                    schema.name(),
                    known.join(", ")
                )));
            };
            if fields.iter().any(|(j, _)| *j == i) {
                return Err(Error::Usage(format!("--by {spec}: `{part}` appears twice")));
            }
            fields.push((i, banding(schema.field(i), bands.get(part), table, i)?));
        }
        let name = fields.iter().map(|(i, _)| schema.field(*i).name.as_str()).collect::<Vec<_>>().join("*");
        Ok(GroupBy { name, fields })
    }

    /// Assigns every row of `table` to its group. Groups appear only when some row is in them
    /// (as Fairlearn's `MetricFrame` lists observed groups), in category / band order.
    pub fn assign(&self, table: &ApplicantTable) -> Grouping {
        // Key: the per-field (order, label) tuple; sorted keys give report order.
        let mut keys: BTreeMap<Vec<usize>, (u32, String)> = BTreeMap::new();
        let mut raw: Vec<u32> = Vec::with_capacity(table.len());
        let mut key = Vec::with_capacity(self.fields.len());
        for row in table.rows() {
            key.clear();
            let mut label = String::new();
            for (n, (field, banding)) in self.fields.iter().enumerate() {
                let (order, text) = banding.label(row[*field]);
                key.push(order);
                if n > 0 {
                    label.push('*');
                }
                label.push_str(&text);
            }
            let next = keys.len() as u32;
            let id = match keys.get(&key) {
                Some((id, _)) => *id,
                None => {
                    keys.insert(key.clone(), (next, label));
                    next
                }
            };
            raw.push(id);
        }
        // Renumber from first-seen order to report order.
        let mut renumber = vec![0u32; keys.len()];
        let mut labels = Vec::with_capacity(keys.len());
        for (rank, (id, label)) in keys.into_values().enumerate() {
            renumber[id as usize] = rank as u32;
            labels.push(label);
        }
        GroupBy::renumbered(labels, raw, &renumber)
    }

    fn renumbered(labels: Vec<String>, mut raw: Vec<u32>, renumber: &[u32]) -> Grouping {
        for g in &mut raw {
            *g = renumber[*g as usize];
        }
        Grouping { labels, index: raw }
    }
}

/// How `column` (field `field` of `table`) is split into groups: its categories, or bands — the
/// edges in `bands` if given (`--bands`), else the schema's `bands` for the field (age 18-25,
/// 26-35, …), else quintiles of `table`. The one rule `credrisk fairness` and the monitor's
/// reference both use.
pub fn banding(
    column: &Column,
    bands: Option<&Vec<f64>>,
    table: &ApplicantTable,
    field: usize,
) -> Result<Banding> {
    let numeric = |integer: bool| -> Result<Banding> {
        let edges = match bands {
            Some(edges) => edges.clone(),
            None => column.bands.clone().unwrap_or_else(|| quantile_edges(table, field)),
        };
        Ok(Banding::Bands { edges, integer })
    };
    let banding = match &column.kind {
        Kind::Category(c) | Kind::Ordered(c) => Banding::Categories(c.names().map(str::to_string).collect()),
        Kind::Boolean => Banding::Boolean,
        Kind::Integer { .. } => numeric(true)?,
        Kind::Number { .. } => numeric(false)?,
        Kind::Text => {
            return Err(Error::Usage(format!("--by {}: a text column cannot define groups", column.name)));
        }
    };
    if bands.is_some() && !matches!(banding, Banding::Bands { .. }) {
        return Err(Error::Usage(format!(
            "--bands {}: only numeric fields are banded; `{}` is a {} field",
            column.name,
            column.name,
            column.kind.type_name()
        )));
    }
    Ok(banding)
}

/// Quintile edges of the batch's values, rounded to two significant digits (readable labels);
/// repeated edges are dropped. An empty column gets one edge at 0.
fn quantile_edges(table: &ApplicantTable, field: usize) -> Vec<f64> {
    let mut values: Vec<f64> = table.column(field).filter(|v| !v.is_nan()).collect();
    values.sort_unstable_by(f64::total_cmp);
    if values.is_empty() {
        return vec![0.0];
    }
    let mut edges: Vec<f64> = (1..DEFAULT_QUANTILE_BANDS)
        .map(|k| {
            let q = values[(values.len() - 1) * k / DEFAULT_QUANTILE_BANDS];
            round_significant(q, 2)
        })
        .collect();
    edges.dedup();
    edges
}

fn round_significant(x: f64, digits: i32) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let scale = 10f64.powi(digits - 1 - x.abs().log10().floor() as i32);
    (x * scale).round() / scale
}

/// Parses `--bands field=e0,e1,…` (ascending, finite edges) into a map.
pub fn parse_bands<S: AsRef<str>>(specs: &[S]) -> Result<BTreeMap<String, Vec<f64>>> {
    let mut out = BTreeMap::new();
    for spec in specs {
        let spec = spec.as_ref();
        let bad =
            |why: &str| Error::Usage(format!("--bands {spec}: {why} (e.g. --bands age=18,26,36,46,56,66)"));
        let (field, list) = spec.split_once('=').ok_or_else(|| bad("expected FIELD=EDGE,EDGE,…"))?;
        let edges: Vec<f64> = list
            .split(',')
            .map(|e| e.trim().parse::<f64>().ok().filter(|v| v.is_finite()))
            .collect::<Option<_>>()
            .ok_or_else(|| bad("every edge must be a number"))?;
        if edges.windows(2).any(|w| w[0] >= w[1]) {
            return Err(bad("the edges must increase"));
        }
        if out.insert(field.trim().to_string(), edges).is_some() {
            return Err(bad("the field is banded twice"));
        }
    }
    Ok(out)
}

/// The schema's protected, proxy and reported fields, in table order: the default `--by`.
pub fn default_by(schema: &Schema) -> Vec<String> {
    schema.fields().filter(|c| c.is_fairness_group()).map(|c| c.name.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::builtin;

    #[test]
    fn integer_bands_read_as_inclusive_ranges() {
        let edges = vec![18.0, 26.0, 36.0, 46.0, 56.0, 66.0];
        let b = Banding::Bands { edges, integer: true };
        assert_eq!(b.label(18.0).1, "18-25");
        assert_eq!(b.label(25.0).1, "18-25");
        assert_eq!(b.label(26.0).1, "26-35");
        assert_eq!(b.label(70.0).1, "66+");
        assert_eq!(b.label(17.0).1, "<18");
        assert_eq!(b.label(f64::NAN).1, "missing");
        let r = Banding::Bands { edges: vec![0.5, 1.5], integer: false };
        assert_eq!(r.label(1.0).1, "[0.5, 1.5)");
        assert_eq!(r.label(2.0).1, ">=1.5");
    }

    #[test]
    fn age_is_cut_at_the_schemas_bands_and_other_numbers_at_quintiles() {
        let schema = builtin();
        let table = crate::data::generate_table(500, 4).unwrap();
        let age = schema.field(schema.field_index("age").unwrap());
        let age_bands = vec![18.0, 26.0, 36.0, 46.0, 56.0, 66.0];
        assert_eq!(age.bands.as_ref(), Some(&age_bands), "chile.toml bands the age");
        let unbanded = schema
            .fields()
            .find(|c| c.bands.is_none() && matches!(c.kind, Kind::Number { .. } | Kind::Integer { .. }))
            .expect("a number without bands");
        let parse = |c: &Column| GroupBy::parse(&schema, &c.name, &BTreeMap::new(), &table).unwrap();
        assert_eq!(parse(age).fields[0].1, Banding::Bands { edges: age_bands.clone(), integer: true });
        let Banding::Bands { edges, .. } = &parse(unbanded).fields[0].1 else { panic!("banded") };
        assert_ne!(edges, &age_bands);
        assert!(edges.len() <= 4 && edges.windows(2).all(|w| w[0] < w[1]), "{edges:?}");
        // `--bands` overrides the schema.
        let mine = BTreeMap::from([("age".to_string(), vec![30.0, 60.0])]);
        let by = GroupBy::parse(&schema, "age", &mine, &table).unwrap();
        assert_eq!(by.fields[0].1, Banding::Bands { edges: vec![30.0, 60.0], integer: true });
    }

    #[test]
    fn bands_flags_parse_and_reject_nonsense() {
        let m = parse_bands(&["age=18,30,50"]).unwrap();
        assert_eq!(m["age"], vec![18.0, 30.0, 50.0]);
        assert!(parse_bands(&["age"]).unwrap_err().to_string().contains("FIELD=EDGE"));
        assert!(parse_bands(&["age=30,18"]).unwrap_err().to_string().contains("increase"));
        assert!(parse_bands(&["age=x"]).unwrap_err().to_string().contains("number"));
    }

    #[test]
    fn the_default_groups_come_from_the_schema_roles() {
        let schema = builtin();
        let expected: Vec<String> = schema
            .fields()
            .filter(|c| c.protected || c.proxy || c.reported)
            .map(|c| c.name.clone())
            .collect();
        assert!(!expected.is_empty());
        let reported: Vec<&str> = schema.fields().filter(|c| c.reported).map(|c| c.name.as_str()).collect();
        assert_eq!(reported, ["education_level"], "a legitimate factor, reported beside the protected");
        assert_eq!(default_by(&schema), expected);
    }

    #[test]
    fn intersections_list_observed_groups_in_category_order() {
        let schema = builtin();
        let (g, r) = (schema.field_index("gender").unwrap(), schema.field_index("region").unwrap());
        let table = crate::data::generate_table(200, 3).unwrap();
        assert_eq!(table.schema().as_ref(), schema.as_ref());
        let spec = format!("{}*{}", schema.field(g).name, schema.field(r).name);
        let by = GroupBy::parse(&schema, &spec, &BTreeMap::new(), &table).unwrap();
        assert_eq!(by.name, spec);
        let grouping = by.assign(&table);
        assert_eq!(grouping.index.len(), table.len());
        for (row, &k) in table.rows().zip(&grouping.index) {
            let cats_g = schema.field(g).kind.categories().unwrap();
            let cats_r = schema.field(r).kind.categories().unwrap();
            let want = format!("{}*{}", cats_g.name(row[g] as usize), cats_r.name(row[r] as usize));
            assert_eq!(grouping.labels[k as usize], want);
        }
        let mut sorted = grouping.labels.clone();
        sorted.dedup();
        assert_eq!(sorted.len(), grouping.labels.len(), "labels are distinct");
        assert!(GroupBy::parse(&schema, "nope", &BTreeMap::new(), &table).is_err());
        let twice = format!("{0}*{0}", schema.field(g).name);
        assert!(
            GroupBy::parse(&schema, &twice, &BTreeMap::new(), &table)
                .unwrap_err()
                .to_string()
                .contains("twice")
        );
    }
}
