//! Label columns that hold text: the dictionary that turns a label name into its id
//! ([`SourceOptions::label_names`](crate::SourceOptions::label_names)), and the distinct
//! values of a label column ([`LabelValues`], from
//! [`Source::label_values`](crate::Source::label_values)). And from labels to classes: the
//! integer labels of records ([`TextRecord::label`](crate::TextRecord::label), `i64`) to the
//! class ids of examples ([`Example::label`](crate::Example::label), `u32`, `0..n`):
//! [`label_classes`] and [`label_class`].
use std::collections::{BTreeSet, HashMap, HashSet};

use crate::error::shorten;

/// What a label column holds, as [`Source::label_values`](crate::Source::label_values) finds
/// it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LabelValues {
    /// Every label that is not null parses as an i64 (surrounding spaces ignored), as the
    /// integer reading wants: no label names are needed.
    Integers,
    /// Some label is not an integer: the distinct label values, in byte order, each exactly as
    /// the source holds it (a CSV field or a Parquet string untrimmed; a JSON number or
    /// boolean by its JSON text; an integer Parquet column by its decimal text). Given as
    /// [`SourceOptions::label_names`](crate::SourceOptions::label_names), a label reads as
    /// its index in this list.
    Text(Vec<String>),
}

/// The classes of a set of labels: their distinct values, ascending. A label's class id is its
/// index in this list ([`label_class`]), so the classes are `0..n` whatever the values are
/// (AG News's labels 1 to 4 become classes 0 to 3; labels -1 and 7 become 0 and 1).
///
/// [`TextRecord::label`](crate::TextRecord::label) is an `i64` as the file holds it, while
/// [`Example::label`](crate::Example::label) and a model's label embedding want a class in
/// `0..n`: map the one to the other with these two functions. The list is also what
/// [`StoreExamples::new`](crate::StoreExamples::new) takes as `label_values`, and it maps a
/// store's labels with [`label_class`] too, so examples made in memory and read from a store
/// get the same classes.
///
/// ```
/// use charrnn_data::{label_class, label_classes, make_examples, ExampleOptions, TextRecord};
///
/// let records = [
///     TextRecord { text: "stocks rally".into(), label: Some(3) },
///     TextRecord { text: "team wins".into(), label: Some(1) },
///     TextRecord { text: "rain again".into(), label: Some(3) },
/// ];
/// let classes = label_classes(records.iter().filter_map(|r| r.label));
/// assert_eq!(classes, [1, 3]);
///
/// let mut examples = Vec::new();
/// for r in &records {
///     let ids: Vec<u32> = r.text.bytes().map(u32::from).collect(); // your encoder here
///     let class = r.label.and_then(|l| label_class(&classes, l));
///     make_examples(&ids, class, &ExampleOptions::new(300), &mut examples);
/// }
/// let labels: Vec<Option<u32>> = examples.iter().map(|e| e.label).collect();
/// assert_eq!(labels, [Some(1), Some(0), Some(1)]);
/// ```
pub fn label_classes(labels: impl IntoIterator<Item = i64>) -> Vec<i64> {
    labels
        .into_iter()
        .collect::<BTreeSet<i64>>()
        .into_iter()
        .collect()
}

/// The class id of `label` among `classes` (ascending, without repeats, as [`label_classes`]
/// gives them): its index, or `None` when it is not one of them.
pub fn label_class(classes: &[i64], label: i64) -> Option<u32> {
    let index = classes.binary_search(&label).ok()?;
    u32::try_from(index).ok()
}

/// How many label names an error message lists before it says how many there are.
const NAMES_SHOWN: usize = 10;

/// The dictionary of a label column that holds text: each name and its id (its index in the
/// list the caller gave).
#[derive(Debug)]
pub(crate) struct LabelNames {
    ids: HashMap<String, i64>,
    names: Vec<String>,
}

impl LabelNames {
    /// The dictionary of `names`; a name given twice is refused with a message that says so.
    pub(crate) fn new(names: &[String]) -> Result<Self, String> {
        let mut ids = HashMap::with_capacity(names.len());
        for (i, name) in names.iter().enumerate() {
            let id = i64::try_from(i).map_err(|_| "too many label names".to_owned())?;
            if ids.insert(name.clone(), id).is_some() {
                return Err(format!(
                    "label name `{}` is given twice in the label names",
                    shorten(name)
                ));
            }
        }
        Ok(Self {
            ids,
            names: names.to_vec(),
        })
    }

    /// The id of the label `value` read from `what` (e.g. "field `author`"), or the message
    /// naming the value and the names when it is not one of them.
    pub(crate) fn id(&self, value: &str, what: &str) -> Result<i64, String> {
        self.ids.get(value).copied().ok_or_else(|| {
            let mut shown: Vec<String> = self
                .names
                .iter()
                .take(NAMES_SHOWN)
                .map(|n| format!("`{}`", shorten(n)))
                .collect();
            if self.names.len() > NAMES_SHOWN {
                shown.push(format!("... ({} in all)", self.names.len()));
            }
            let list = if shown.is_empty() {
                "(none)".to_owned()
            } else {
                shown.join(", ")
            };
            format!(
                "label `{}` in {what} is not one of the label names: {list}",
                shorten(value)
            )
        })
    }
}

/// The distinct values of a label column met so far, and whether all of them are integers.
#[derive(Debug)]
pub(crate) struct Distinct {
    values: HashSet<String>,
    integers: bool,
}

impl Default for Distinct {
    fn default() -> Self {
        Self {
            values: HashSet::new(),
            integers: true,
        }
    }
}

impl Distinct {
    /// Counts the label `text`, which the integer reading would (`integer`) or would not
    /// accept.
    pub(crate) fn add(&mut self, text: &str, integer: bool) {
        self.integers &= integer;
        if !self.values.contains(text) {
            self.values.insert(text.to_owned());
        }
    }

    /// A label the integer reading accepts when it parses as an i64 once trimmed.
    pub(crate) fn add_text(&mut self, text: &str) {
        let integer = text.trim().parse::<i64>().is_ok();
        self.add(text, integer);
    }

    /// What the column holds: [`LabelValues::Integers`], or the sorted distinct values.
    pub(crate) fn finish(self) -> LabelValues {
        if self.integers {
            return LabelValues::Integers;
        }
        let mut names: Vec<String> = self.values.into_iter().collect();
        names.sort_unstable();
        LabelValues::Text(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_their_index_and_unknown_ones_are_named() {
        let names = LabelNames::new(&["ham".into(), "spam".into()]).unwrap();
        assert_eq!(names.id("ham", "column `c`"), Ok(0));
        assert_eq!(names.id("spam", "column `c`"), Ok(1));
        assert_eq!(
            names.id("eggs", "column `c`").unwrap_err(),
            "label `eggs` in column `c` is not one of the label names: `ham`, `spam`"
        );
        // Exact match: no trimming, no case folding.
        assert!(names.id(" ham", "column `c`").is_err());
        assert!(names.id("Ham", "column `c`").is_err());
    }

    #[test]
    fn a_long_list_is_cut_and_counted_and_a_name_given_twice_is_refused() {
        let many: Vec<String> = (0..25).map(|i| format!("n{i}")).collect();
        let message = LabelNames::new(&many)
            .unwrap()
            .id("x", "field `f`")
            .unwrap_err();
        assert!(message.ends_with("`n9`, ... (25 in all)"), "{message}");
        let twice = LabelNames::new(&["a".into(), "b".into(), "a".into()]).unwrap_err();
        assert!(twice.contains("`a` is given twice"), "{twice}");
    }

    #[test]
    fn distinct_values_are_sorted_and_integers_stay_integers() {
        let mut d = Distinct::default();
        for v in ["3", " 4 ", "-1"] {
            d.add_text(v);
        }
        assert_eq!(d.finish(), LabelValues::Integers);
        let mut d = Distinct::default();
        for v in ["b", "3", "a", "b", "B"] {
            d.add_text(v);
        }
        assert_eq!(
            d.finish(),
            LabelValues::Text(vec!["3".into(), "B".into(), "a".into(), "b".into()])
        );
    }
}
