//! The label classes of a run.

use anyhow::{Result, bail};
use charrnn_data::Store;

/// The class names of AG News, whose label column holds 1 to 4.
const AG_NEWS_CLASSES: [&str; 4] = ["World", "Sports", "Business", "Sci/Tech"];

/// The label classes of a run: the distinct values of the label column, in order.
#[derive(Default)]
pub struct Labels {
    pub values: Vec<i64>,
    pub names: Vec<String>,
}

impl Labels {
    /// The distinct labels of a store's documents (none without a label column).
    pub fn of_store(store: &Store, column: Option<&str>) -> Result<Labels> {
        let Some(column) = column else {
            return Ok(Labels::default());
        };
        let mut values: Vec<i64> = (0..store.docs()).filter_map(|d| store.label(d)).collect();
        values.sort_unstable();
        values.dedup();
        if values.is_empty() {
            bail!("the label column {column:?} holds no values");
        }
        let names = if values == [1, 2, 3, 4] {
            AG_NEWS_CLASSES.iter().map(|s| s.to_string()).collect()
        } else {
            values.iter().map(|v| v.to_string()).collect()
        };
        Ok(Labels { values, names })
    }

    /// The classes recorded in a checkpoint's data settings (`label_values`), if any.
    pub fn saved(settings: &serde_json::Value, names: &[String]) -> Labels {
        let values: Vec<i64> = settings["label_values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_i64())
            .collect();
        Labels {
            values,
            names: names.to_vec(),
        }
    }

    pub fn is_some(&self) -> bool {
        !self.values.is_empty()
    }
}
