//! A categorical column's values: each category's canonical spelling (accents kept, what every
//! output uses) and its accepted variants, matched ignoring case, accents, decomposed Unicode and
//! surrounding spaces.

use crate::error::FieldError;

/// One category: the spelling answers use, and other spellings input may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category {
    pub canonical: String,
    pub variants: Vec<String>,
}

impl Category {
    pub fn plain(canonical: impl Into<String>) -> Category {
        Category { canonical: canonical.into(), variants: Vec::new() }
    }
}

/// The categories of a column, in order (their index is the stored value; for an ordered column
/// also the rank), with the folded forms of every accepted spelling precomputed.
#[derive(Debug, Clone)]
pub struct Categories {
    values: Vec<Category>,
    /// (folded spelling, category index), canonical spellings and variants alike.
    folded: Vec<(String, usize)>,
}

impl PartialEq for Categories {
    fn eq(&self, other: &Categories) -> bool {
        self.values == other.values
    }
}

impl Categories {
    /// Checks the list: not empty, no blank spelling, and no two spellings of different
    /// categories (or of one category twice) that fold to the same text, which would make input
    /// ambiguous.
    pub fn new(values: Vec<Category>) -> Result<Categories, String> {
        if values.is_empty() {
            return Err("the category list is empty; list at least one category".into());
        }
        let mut folded: Vec<(String, usize)> = Vec::new();
        for (i, c) in values.iter().enumerate() {
            for spelling in std::iter::once(&c.canonical).chain(&c.variants) {
                let key = fold(spelling);
                if key.is_empty() {
                    return Err(format!("category {spelling:?} is blank"));
                }
                if let Some((_, j)) = folded.iter().find(|(k, _)| *k == key) {
                    let other = &values[*j].canonical;
                    return Err(if *j == i {
                        format!(
                            "{spelling:?} is listed twice for category {other:?} (ignoring case and accents)"
                        )
                    } else {
                        format!(
                            "{spelling:?} cannot be told apart from {other:?} (ignoring case and accents)"
                        )
                    });
                }
                folded.push((key, i));
            }
        }
        Ok(Categories { values, folded })
    }

    /// Categories with no variants, from their canonical spellings.
    pub fn plain<S: AsRef<str>>(names: &[S]) -> Result<Categories, String> {
        Categories::new(names.iter().map(|n| Category::plain(n.as_ref())).collect())
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    pub fn values(&self) -> &[Category] {
        &self.values
    }

    /// The canonical spelling of category `index`.
    pub fn name(&self, index: usize) -> &str {
        &self.values[index].canonical
    }

    /// The canonical spellings, in order.
    pub fn names(&self) -> impl ExactSizeIterator<Item = &str> + Clone {
        self.values.iter().map(|c| c.canonical.as_str())
    }

    /// The index of `input`: an exact canonical spelling first (no allocation), then any accepted
    /// spelling ignoring case, accents and surrounding spaces (`valparaiso` → `Valparaíso`).
    pub fn find(&self, input: &str) -> Option<usize> {
        if let Some(i) = self.values.iter().position(|c| c.canonical == input) {
            return Some(i);
        }
        let key = fold(input);
        self.folded.iter().find(|(k, _)| *k == key).map(|&(_, i)| i)
    }

    /// The error for a spelling that matches no category, listing the valid ones.
    pub fn unknown(&self, field: &str, got: &str) -> FieldError {
        let valid: Vec<&str> = self.names().collect();
        FieldError::new(field, format!("unknown category {got:?}; valid: {}", valid.join(", ")))
    }
}

/// Lower-cases and strips the diacritics, for lenient category matching. Text in Unicode
/// decomposed form (NFD: `i` followed by U+0301) folds like its composed form: combining marks
/// (U+0300–U+036F) are dropped.
pub fn fold(s: &str) -> String {
    s.trim()
        .chars()
        .filter(|c| !('\u{300}'..='\u{36f}').contains(c))
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'á' | 'à' | 'ä' | 'â' | 'ã' => 'a',
            'é' | 'è' | 'ë' | 'ê' => 'e',
            'í' | 'ì' | 'ï' | 'î' => 'i',
            'ó' | 'ò' | 'ö' | 'ô' | 'õ' => 'o',
            'ú' | 'ù' | 'ü' | 'û' => 'u',
            'ñ' => 'n',
            'ç' => 'c',
            '’' | '`' | '´' => '\'',
            other => other,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regions() -> Categories {
        let mut values: Vec<Category> =
            ["Valparaíso", "Metropolitana", "O'Higgins", "Biobío"].into_iter().map(Category::plain).collect();
        values.push(Category { canonical: "Ñuble".into(), variants: vec!["Region de Nuble".into()] });
        Categories::new(values).unwrap()
    }

    #[test]
    fn spellings_match_ignoring_case_accents_spaces_and_decomposition() {
        let r = regions();
        assert_eq!(r.find("Valparaíso"), Some(0));
        assert_eq!(r.find("valparaiso"), Some(0));
        assert_eq!(r.find("  ÑUBLE "), Some(4));
        assert_eq!(r.find("o’higgins"), Some(2));
        assert_eq!(r.find("región de ñuble"), Some(4), "a variant");
        // Decomposed (NFD) spellings, as macOS file names and some keyboards produce them.
        assert_eq!(r.find("Valparai\u{301}so"), Some(0));
        assert_eq!(r.find("N\u{303}uble"), Some(4));
        assert_eq!(r.find("BIOBI\u{301}O"), Some(3));
        assert_eq!(r.find("Lima"), None);
        let e = r.unknown("region", "Lima");
        assert_eq!(
            e.message,
            "unknown category \"Lima\"; valid: Valparaíso, Metropolitana, O'Higgins, Biobío, Ñuble"
        );
    }

    #[test]
    fn ambiguous_or_empty_lists_are_refused() {
        assert!(Categories::plain::<&str>(&[]).unwrap_err().contains("empty"));
        assert!(Categories::plain(&["Ñuble", "nuble"]).unwrap_err().contains("cannot be told apart"));
        assert!(Categories::plain(&["a", " "]).unwrap_err().contains("blank"));
        let twice = Categories::new(vec![Category { canonical: "a".into(), variants: vec!["A".into()] }]);
        assert!(twice.unwrap_err().contains("listed twice"));
    }
}
