//! Variants: the structural arguments a model family takes (`[variants]` in `model.toml`).
//!
//! ```toml
//! [variants]
//! samples = { default = 10, min = 2, max = 200, description = "sampled lineages" }
//! alpha = { default = 1.5, min = 1.0, max = 2.0 }
//! kind = { default = "a", values = ["a", "b"] }
//! ```
//!
//! A declaration's type is its default's: an integer or a float with an optional `min` and
//! `max`, a string from `values`, or a boolean. Every variant is an argument of the recipe's
//! generator; each set of values ([`Variants`], defaults filled in) is its own graph.
//!
//! Values are written as `name=value` words (`samples=30`), in sets for publishing as
//! `samples=2..50` (an inclusive integer range) or `samples=10,20,30` (a list).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// One variant value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum VariantValue {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

// Values compare as written; a float variant's values are finite once settled, so equality is
// an equivalence on everything that is stored.
impl Eq for VariantValue {}

impl VariantValue {
    /// A `name=value` word's value: an integer, a float, `true`/`false`, or else text.
    pub fn from_word(text: &str) -> VariantValue {
        if let Ok(i) = text.parse::<i64>() {
            VariantValue::Int(i)
        } else if let Ok(b) = text.parse::<bool>() {
            VariantValue::Bool(b)
        } else if let Some(f) = text
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite() && text.chars().any(|c| c.is_ascii_digit()))
        {
            VariantValue::Float(f)
        } else {
            VariantValue::Str(text.to_string())
        }
    }

    /// Whether two values are the same setting: equal, or equal numbers (`2` and `2.0`), or
    /// the same text.
    pub fn same(&self, other: &VariantValue) -> bool {
        match (self, other) {
            (
                VariantValue::Int(_) | VariantValue::Float(_),
                VariantValue::Int(_) | VariantValue::Float(_),
            ) => as_f64(self) == as_f64(other),
            _ => self.to_string() == other.to_string(),
        }
    }

    /// The value as a TOML value (for generator arguments and `ptd.toml`).
    pub fn to_toml(&self) -> toml::Value {
        match self {
            VariantValue::Bool(b) => toml::Value::Boolean(*b),
            VariantValue::Int(i) => toml::Value::Integer(*i),
            VariantValue::Float(f) => toml::Value::Float(*f),
            VariantValue::Str(s) => toml::Value::String(s.clone()),
        }
    }

    /// A TOML value as a variant value; `None` for arrays, tables and dates.
    pub fn from_toml(v: &toml::Value) -> Option<VariantValue> {
        Some(match v {
            toml::Value::Boolean(b) => VariantValue::Bool(*b),
            toml::Value::Integer(i) => VariantValue::Int(*i),
            toml::Value::Float(f) => VariantValue::Float(*f),
            toml::Value::String(s) => VariantValue::Str(s.clone()),
            _ => return None,
        })
    }

    fn type_name(&self) -> &'static str {
        match self {
            VariantValue::Bool(_) => "a boolean",
            VariantValue::Int(_) => "an integer",
            VariantValue::Float(_) => "a number",
            VariantValue::Str(_) => "a string",
        }
    }
}

impl fmt::Display for VariantValue {
    /// The canonical text: integers in decimal, floats in Rust's shortest round-trip form
    /// (always with a `.` or an exponent), booleans as `true`/`false`, strings as they are.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VariantValue::Bool(b) => write!(f, "{b}"),
            VariantValue::Int(i) => write!(f, "{i}"),
            VariantValue::Float(x) => {
                let s = format!("{x:?}");
                write!(f, "{s}")
            }
            VariantValue::Str(s) => write!(f, "{s}"),
        }
    }
}

/// A full set of variant values, by name (every declared variant, defaults filled in). Empty
/// for a model that is not a family.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Variants(pub BTreeMap<String, VariantValue>);

impl Variants {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn get(&self, name: &str) -> Option<&VariantValue> {
        self.0.get(name)
    }

    /// `samples=30 x=1.5`, names in order: how specs, listings and lockfiles show it.
    pub fn words(&self) -> Vec<String> {
        self.0.iter().map(|(k, v)| format!("{k}={v}")).collect()
    }

    /// The values as one line of text that identifies them (in databases): empty for no
    /// variants, else their JSON object (names in order).
    pub fn key(&self) -> String {
        if self.is_empty() {
            String::new()
        } else {
            serde_json::to_string(self).expect("variant values serialize")
        }
    }

    /// Reads [`Variants::key`] back.
    pub fn from_key(key: &str) -> Result<Variants, String> {
        if key.is_empty() {
            return Ok(Variants::default());
        }
        serde_json::from_str(key).map_err(|e| format!("variant values '{key}': {e}"))
    }

    /// Orders two sets of values of one family: by name, numbers by value, the rest as text.
    pub fn cmp_values(&self, other: &Variants) -> std::cmp::Ordering {
        let key = |v: &Variants| -> Vec<(String, f64, String)> {
            v.0.iter()
                .map(|(k, x)| {
                    let n = match x {
                        VariantValue::Int(_) | VariantValue::Float(_) => as_f64(x),
                        _ => 0.0,
                    };
                    (k.clone(), n, x.to_string())
                })
                .collect()
        };
        let (a, b) = (key(self), key(other));
        for (x, y) in a.iter().zip(&b) {
            let o =
                x.0.cmp(&y.0)
                    .then(x.1.total_cmp(&y.1))
                    .then_with(|| x.2.cmp(&y.2));
            if o.is_ne() {
                return o;
            }
        }
        a.len().cmp(&b.len())
    }

    /// A part of a file name: `samples-30_x-1.5` (empty for no variants).
    pub fn file_tag(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| {
                let v: String = v
                    .to_string()
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect();
                format!("{k}-{v}")
            })
            .collect::<Vec<_>>()
            .join("_")
    }
}

impl fmt::Display for Variants {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.words().join(" "))
    }
}

/// Variant values as a user gave them (`samples=30` words, or keys of a `ptd.toml` table):
/// possibly partial, not yet checked against a declaration.
pub type Requested = BTreeMap<String, VariantValue>;

/// A variant declaration as written (`{ default = 10, min = 2, max = 200 }`), in `model.toml`
/// and in index records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantDecl {
    pub default: VariantValue,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<VariantValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<VariantValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<VariantValue>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// The variants a family declares, by name.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct VariantDecls(pub BTreeMap<String, VariantDecl>);

/// A problem with a variant or its declaration; `variant` names it.
#[derive(Debug, PartialEq, thiserror::Error)]
#[error("variant '{variant}': {message}")]
pub struct VariantError {
    pub variant: String,
    pub message: String,
}

fn err(variant: &str, message: impl Into<String>) -> VariantError {
    VariantError {
        variant: variant.to_string(),
        message: message.into(),
    }
}

/// Checks a variant name: a lowercase letter, then lowercase letters, digits and `_`.
pub fn check_variant_name(name: &str) -> Result<(), String> {
    let ok = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "'{name}' is not a variant name (a lowercase letter, then lowercase letters, digits and '_')"
        ))
    }
}

impl VariantDecl {
    /// Checks the declaration itself: types agree, the default is allowed, min <= max.
    pub fn check(&self, name: &str) -> Result<(), VariantError> {
        check_variant_name(name).map_err(|m| err(name, m))?;
        let bounded = self.min.is_some() || self.max.is_some();
        match &self.default {
            VariantValue::Int(_) | VariantValue::Float(_) => {
                if self.values.is_some() {
                    return Err(err(
                        name,
                        "'values' is for string variants; give min and max",
                    ));
                }
                let is_int = matches!(self.default, VariantValue::Int(_));
                for (what, b) in [("min", &self.min), ("max", &self.max)] {
                    match b {
                        None => {}
                        Some(VariantValue::Int(_)) => {}
                        Some(VariantValue::Float(x)) if !is_int && x.is_finite() => {}
                        Some(v) => {
                            return Err(err(
                                name,
                                format!(
                                    "'{what}' must be {} like the default, found {}",
                                    self.default.type_name(),
                                    v.type_name()
                                ),
                            ));
                        }
                    }
                }
                if let VariantValue::Float(x) = self.default
                    && !x.is_finite()
                {
                    return Err(err(name, "the default must be finite"));
                }
                if let (Some(lo), Some(hi)) = (&self.min, &self.max)
                    && as_f64(lo) > as_f64(hi)
                {
                    return Err(err(name, format!("min {lo} is above max {hi}")));
                }
            }
            VariantValue::Str(_) => {
                if bounded {
                    return Err(err(name, "'min' and 'max' are for numbers; give 'values'"));
                }
                let Some(values) = &self.values else {
                    return Err(err(
                        name,
                        "a string variant lists its allowed 'values' = [...]",
                    ));
                };
                if values.iter().any(|v| !matches!(v, VariantValue::Str(_))) {
                    return Err(err(name, "'values' must all be strings"));
                }
            }
            VariantValue::Bool(_) => {
                if bounded || self.values.is_some() {
                    return Err(err(name, "a boolean variant takes no min, max or values"));
                }
            }
        }
        self.settle(name, &self.default)
            .map_err(|e| err(name, format!("the default: {}", e.message)))?;
        Ok(())
    }

    /// Checks `v` against this declaration and returns it in the declared type (an integer
    /// given for a float variant becomes a float).
    pub fn settle(&self, name: &str, v: &VariantValue) -> Result<VariantValue, VariantError> {
        let allowed = || self.allowed();
        let v = match (&self.default, v) {
            (VariantValue::Int(_), VariantValue::Int(_)) => v.clone(),
            (VariantValue::Float(_), VariantValue::Int(i)) => VariantValue::Float(*i as f64),
            (VariantValue::Float(_), VariantValue::Float(x)) if x.is_finite() => v.clone(),
            (VariantValue::Bool(_), VariantValue::Bool(_)) => v.clone(),
            (VariantValue::Str(_), _) => VariantValue::Str(v.to_string()),
            (d, v) => {
                return Err(err(
                    name,
                    format!("{v} is not {}; allowed: {}", d.type_name(), allowed()),
                ));
            }
        };
        let out_of_range = match &v {
            VariantValue::Int(_) | VariantValue::Float(_) => {
                let x = as_f64(&v);
                self.min.as_ref().is_some_and(|lo| x < as_f64(lo))
                    || self.max.as_ref().is_some_and(|hi| x > as_f64(hi))
            }
            VariantValue::Str(_) => !self
                .values
                .as_ref()
                .is_some_and(|vs| vs.iter().any(|a| a.to_string() == v.to_string())),
            VariantValue::Bool(_) => false,
        };
        if out_of_range {
            return Err(err(
                name,
                format!("{v} is not allowed; allowed: {}", allowed()),
            ));
        }
        Ok(v)
    }

    /// What values are allowed, in words: `2..=200`, `one of a, b`, `true or false`.
    pub fn allowed(&self) -> String {
        match &self.default {
            VariantValue::Int(_) | VariantValue::Float(_) => {
                let what = if matches!(self.default, VariantValue::Int(_)) {
                    "integers"
                } else {
                    "numbers"
                };
                match (&self.min, &self.max) {
                    (Some(lo), Some(hi)) => format!("{what} {lo}..={hi}"),
                    (Some(lo), None) => format!("{what} >= {lo}"),
                    (None, Some(hi)) => format!("{what} <= {hi}"),
                    (None, None) => format!("any {}", &what[..what.len() - 1]),
                }
            }
            VariantValue::Str(_) => format!(
                "one of {}",
                self.values
                    .iter()
                    .flatten()
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            VariantValue::Bool(_) => "true or false".into(),
        }
    }
}

fn as_f64(v: &VariantValue) -> f64 {
    match v {
        VariantValue::Int(i) => *i as f64,
        VariantValue::Float(x) => *x,
        _ => f64::NAN,
    }
}

impl VariantDecls {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Checks every declaration.
    pub fn check(&self) -> Result<(), VariantError> {
        for (name, d) in &self.0 {
            d.check(name)?;
        }
        Ok(())
    }

    /// The default values.
    pub fn defaults(&self) -> Variants {
        Variants(
            self.0
                .iter()
                .map(|(k, d)| (k.clone(), d.default.clone()))
                .collect(),
        )
    }

    /// The full set of values for `requested`: each checked against its declaration, the
    /// rest at their defaults. Names not declared are errors that list the declared ones.
    pub fn settle(&self, requested: &Requested) -> Result<Variants, VariantError> {
        for name in requested.keys() {
            if !self.0.contains_key(name) {
                return Err(err(
                    name,
                    if self.0.is_empty() {
                        "this model takes no variants".to_string()
                    } else {
                        format!("not a variant of this model; it takes {}", self.describe())
                    },
                ));
            }
        }
        let mut out = BTreeMap::new();
        for (name, d) in &self.0 {
            let v = match requested.get(name) {
                Some(v) => d.settle(name, v)?,
                None => d.default.clone(),
            };
            out.insert(name.clone(), v);
        }
        Ok(Variants(out))
    }

    /// `samples (integers 2..=200, default 10)`, for messages.
    pub fn describe(&self) -> String {
        self.0
            .iter()
            .map(|(k, d)| format!("{k} ({}, default {})", d.allowed(), d.default))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Expands `name=SET` words (`samples=2..50`, `samples=10,20`, `samples=30`) into every
    /// combination of values, each a full set (other variants at their defaults), in order,
    /// without repeats.
    pub fn expand(&self, words: &[String]) -> Result<Vec<Variants>, VariantError> {
        let mut axes: Vec<(String, Vec<VariantValue>)> = Vec::new();
        for w in words {
            let Some((name, set)) = w.split_once('=') else {
                return Err(err(
                    w,
                    "write a variant set as NAME=VALUES (samples=2..50, samples=10,20,30)",
                ));
            };
            let Some(d) = self.0.get(name) else {
                return Err(err(
                    name,
                    format!("not a variant of this model; it takes {}", self.describe()),
                ));
            };
            if axes.iter().any(|(n, _)| n == name) {
                return Err(err(name, "given twice"));
            }
            let mut values = Vec::new();
            for part in set.split(',') {
                if let Some((lo, hi)) = part.split_once("..") {
                    let bound = |t: &str| {
                        t.trim_start_matches('=').parse::<i64>().map_err(|_| {
                            err(name, format!("'{part}' is not a range of integers (2..50)"))
                        })
                    };
                    let (lo, hi) = (bound(lo)?, bound(hi)?);
                    if lo > hi {
                        return Err(err(name, format!("the range {part} is empty")));
                    }
                    if hi - lo >= 100_000 {
                        return Err(err(name, format!("the range {part} is too large")));
                    }
                    for i in lo..=hi {
                        values.push(d.settle(name, &VariantValue::Int(i))?);
                    }
                } else {
                    values.push(d.settle(name, &VariantValue::from_word(part))?);
                }
            }
            let mut seen = std::collections::HashSet::new();
            values.retain(|v| seen.insert(v.to_string()));
            axes.push((name.to_string(), values));
        }
        let mut out = vec![self.defaults()];
        for (name, values) in &axes {
            out = out
                .iter()
                .flat_map(|base| {
                    values.iter().map(move |v| {
                        let mut m = base.clone();
                        m.0.insert(name.clone(), v.clone());
                        m
                    })
                })
                .collect();
        }
        Ok(out)
    }
}

/// Splits `name=value` words into the requested values; the first word that is not one is
/// returned as an error with the reason.
pub fn parse_words<'a>(
    words: impl IntoIterator<Item = &'a str>,
) -> Result<Requested, VariantError> {
    let mut out = Requested::new();
    for w in words {
        let Some((name, value)) = w.split_once('=') else {
            return Err(err(w, "write a variant as NAME=VALUE (samples=30)"));
        };
        check_variant_name(name).map_err(|m| err(name, m))?;
        if value.is_empty() {
            return Err(err(name, "no value after '='"));
        }
        if out
            .insert(name.to_string(), VariantValue::from_word(value))
            .is_some()
        {
            return Err(err(name, "given twice"));
        }
    }
    Ok(out)
}

/// Whether a command-line word is a variant setting (`samples=30`) rather than a model
/// (`namespace/name[@REQ]`).
pub fn is_variant_word(word: &str) -> bool {
    match word.split_once('=') {
        Some((name, _)) => check_variant_name(name).is_ok(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decls(text: &str) -> VariantDecls {
        let d: VariantDecls = toml::from_str(text).unwrap();
        d.check().unwrap();
        d
    }

    #[test]
    fn settles_defaults_types_and_ranges() {
        let d = decls(
            "samples = { default = 10, min = 2, max = 200 }\nalpha = { default = 1.5, min = 1.0, max = 2.0 }\nkind = { default = \"a\", values = [\"a\", \"b\"] }",
        );
        let v = d.settle(&parse_words(["samples=30"]).unwrap()).unwrap();
        assert_eq!(v.to_string(), "alpha=1.5 kind=a samples=30");
        assert_eq!(v.file_tag(), "alpha-1.5_kind-a_samples-30");
        let v = d
            .settle(&parse_words(["alpha=2", "kind=b"]).unwrap())
            .unwrap();
        assert_eq!(v.get("alpha"), Some(&VariantValue::Float(2.0)));
        assert_eq!(v.to_string(), "alpha=2.0 kind=b samples=10");
        let e = d.settle(&parse_words(["samples=1"]).unwrap()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "variant 'samples': 1 is not allowed; allowed: integers 2..=200"
        );
        let e = d
            .settle(&parse_words(["samples=2.5"]).unwrap())
            .unwrap_err();
        assert!(e.to_string().contains("2.5 is not an integer"), "{e}");
        let e = d.settle(&parse_words(["kind=c"]).unwrap()).unwrap_err();
        assert!(e.to_string().contains("allowed: one of a, b"), "{e}");
        let e = d.settle(&parse_words(["sample=3"]).unwrap()).unwrap_err();
        assert!(
            e.to_string().starts_with("variant 'sample': not a variant of this model; it takes alpha (numbers 1.0..=2.0, default 1.5), kind"),
            "{e}"
        );
        let e = VariantDecls::default()
            .settle(&parse_words(["samples=3"]).unwrap())
            .unwrap_err();
        assert!(e.to_string().contains("takes no variants"), "{e}");
    }

    #[test]
    fn declarations_are_checked() {
        let bad = |text: &str| {
            let d: VariantDecls = toml::from_str(text).unwrap();
            d.check().unwrap_err().to_string()
        };
        assert!(
            bad("samples = { default = 1, min = 2 }").contains("the default: 1 is not allowed")
        );
        assert!(
            bad("samples = { default = 3, min = 5, max = 2 }").contains("min 5 is above max 2")
        );
        assert!(bad("samples = { default = 3, min = 1.5 }").contains("'min' must be an integer"));
        assert!(bad("kind = { default = \"a\" }").contains("lists its allowed 'values'"));
        assert!(bad("Samples = { default = 3 }").contains("not a variant name"));
    }

    #[test]
    fn expands_sets() {
        let d =
            decls("samples = { default = 10, min = 2, max = 200 }\nk = { default = 1, min = 1 }");
        let all = d
            .expand(&["samples=2..4,10,3".to_string(), "k=1,2".to_string()])
            .unwrap();
        let shown: Vec<String> = all.iter().map(|v| v.to_string()).collect();
        assert_eq!(
            shown,
            [
                "k=1 samples=2",
                "k=2 samples=2",
                "k=1 samples=3",
                "k=2 samples=3",
                "k=1 samples=4",
                "k=2 samples=4",
                "k=1 samples=10",
                "k=2 samples=10"
            ]
        );
        assert_eq!(d.expand(&[]).unwrap(), vec![d.defaults()]);
        assert!(d.expand(&["samples=1..3".into()]).is_err());
        assert!(d.expand(&["samples=5..3".into()]).is_err());
        assert!(d.expand(&["other=1".into()]).is_err());
    }

    #[test]
    fn words_are_told_from_models() {
        assert!(is_variant_word("samples=30"));
        assert!(!is_variant_word("coalescent/kingman@>=1"));
        assert!(!is_variant_word("coalescent/kingman"));
        assert_eq!(VariantValue::from_word("30"), VariantValue::Int(30));
        assert_eq!(VariantValue::from_word("1e3"), VariantValue::Float(1000.0));
        assert_eq!(
            VariantValue::from_word("inf"),
            VariantValue::Str("inf".into())
        );
        assert!(parse_words(["samples=3", "samples=4"]).is_err());
        assert!(parse_words(["samples="]).is_err());
    }
}
