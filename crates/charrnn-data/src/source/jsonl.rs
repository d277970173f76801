//! JSON Lines: one object per line; named string fields are the text, an optional field the
//! label.
use std::cell::Cell;
use std::io::BufRead;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value};

use super::types::{FileReader, Piece, SourceFile, SourceOptions, io, open_text_stream};
use crate::error::check_label;
use crate::error::shorten;
use crate::labels::{Distinct, LabelNames};
use crate::{DataError, NullPolicy};

pub(crate) struct JsonlReader {
    path: PathBuf,
    reader: Box<dyn BufRead>,
    counter: Rc<Cell<u64>>,
    fields: Vec<String>,
    label: Option<String>,
    names: Option<Arc<LabelNames>>,
    nulls: NullPolicy,
    line: u64,
    buf: Vec<u8>,
    done: bool,
}

impl JsonlReader {
    /// Reads `file` with `opts`; with `names`, a label is read as its index among them.
    pub(crate) fn open(
        file: &SourceFile,
        opts: &SourceOptions,
        names: Option<&Arc<LabelNames>>,
    ) -> Result<Self, DataError> {
        let (reader, counter) = open_text_stream(file, opts.encoding)?;
        Ok(Self {
            path: file.path.clone(),
            reader,
            counter,
            fields: opts.columns(),
            label: opts.label_column.clone(),
            names: names.cloned(),
            nulls: opts.nulls,
            line: 0,
            buf: Vec::new(),
            done: false,
        })
    }

    fn error(&self, message: String) -> DataError {
        DataError::Line {
            path: self.path.clone(),
            line: self.line,
            message,
        }
    }

    /// Reads the next line that is not blank into `buf`: `Ok(false)` at the end of the file.
    fn next_line(&mut self) -> Result<bool, DataError> {
        loop {
            self.buf.clear();
            let n = self
                .reader
                .read_until(b'\n', &mut self.buf)
                .map_err(|e| io(&self.path, e))?;
            if n == 0 {
                return Ok(false);
            }
            self.line += 1;
            if self.buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            std::str::from_utf8(&self.buf)
                .map_err(|_| self.error("the line is not valid UTF-8".into()))?;
            return Ok(true);
        }
    }

    /// A JSON error of the current line, as a message.
    fn json_error(&self, e: &serde_json::Error) -> DataError {
        let what = e.to_string();
        let what = what.split(" at line ").next().unwrap_or(&what).to_owned();
        self.error(format!("not a JSON object: {what} (column {})", e.column()))
    }

    /// The next line's record: `Ok(None)` at the end of the file.
    fn next_record(&mut self) -> Result<Option<Piece>, DataError> {
        while self.next_line()? {
            let mut object: Map<String, Value> =
                serde_json::from_slice(&self.buf).map_err(|e| self.json_error(&e))?;
            if let Some(record) = self.record(&mut object)? {
                return Ok(Some(record));
            }
        }
        Ok(None)
    }

    /// Adds the label of every line to `out`, parsing each object only as far as it must to
    /// find the label field (the other values are skipped, not built). A missing or null label
    /// is skipped, or with [`NullPolicy::Fail`] the error that reading the file would give.
    fn scan_labels(&mut self, field: &str, out: &mut Distinct) -> Result<(), DataError> {
        while self.next_line()? {
            let mut de = serde_json::Deserializer::from_slice(&self.buf);
            let value = LabelField(field)
                .deserialize(&mut de)
                .and_then(|v| de.end().map(|()| v))
                .map_err(|e| self.json_error(&e))?;
            match value {
                None | Some(Value::Null) if self.nulls == NullPolicy::Skip => {}
                None => return Err(self.error(format!("no field `{field}`"))),
                Some(Value::Null) => return Err(self.error(format!("field `{field}` is null"))),
                Some(Value::String(s)) => out.add_text(&s),
                Some(Value::Number(n)) => out.add(&n.to_string(), n.as_i64().is_some()),
                Some(Value::Bool(b)) => out.add(if b { "true" } else { "false" }, false),
                Some(other) => {
                    return Err(self.error(format!(
                        "label field `{field}` holds {}, not a label",
                        kind(&other)
                    )));
                }
            }
        }
        Ok(())
    }

    /// The text and label of one object; `Ok(None)` when it is skipped for a null.
    fn record(&self, object: &mut Map<String, Value>) -> Result<Option<Piece>, DataError> {
        let null = |field: &str, missing: bool| {
            if self.nulls == NullPolicy::Skip {
                Ok(None)
            } else if missing {
                Err(self.error(format!("no field `{field}`")))
            } else {
                Err(self.error(format!("field `{field}` is null")))
            }
        };
        let label = match (&self.label, &self.names) {
            (None, _) => None,
            (Some(field), Some(names)) => {
                let value = match object.get(field) {
                    None => return null(field, true),
                    Some(Value::Null) => return null(field, false),
                    Some(Value::String(s)) => std::borrow::Cow::Borrowed(s.as_str()),
                    Some(Value::Number(n)) => n.to_string().into(),
                    Some(Value::Bool(b)) => b.to_string().into(),
                    Some(other) => {
                        return Err(self.error(format!(
                            "label field `{field}` holds {}, not a label",
                            kind(other)
                        )));
                    }
                };
                let what = format!("field `{field}`");
                Some(names.id(&value, &what).map_err(|m| self.error(m))?)
            }
            (Some(field), None) => {
                let label = match object.get(field) {
                    None => return null(field, true),
                    Some(Value::Null) => return null(field, false),
                    Some(Value::Number(n)) => n.as_i64().ok_or_else(|| {
                        self.error(format!("label `{n}` in field `{field}` is not an integer"))
                    })?,
                    Some(Value::String(s)) => s.trim().parse::<i64>().map_err(|_| {
                        self.error(format!(
                            "label `{}` in field `{field}` is not an integer",
                            shorten(s)
                        ))
                    })?,
                    Some(other) => {
                        return Err(self.error(format!(
                            "label field `{field}` holds {}, not an integer",
                            kind(other)
                        )));
                    }
                };
                Some(check_label(label, field).map_err(|m| self.error(m))?)
            }
        };
        let mut text = String::new();
        for (k, field) in self.fields.iter().enumerate() {
            let value = match object.remove(field) {
                None => return null(field, true),
                Some(Value::Null) => return null(field, false),
                Some(Value::String(s)) => s,
                Some(other) => {
                    return Err(self.error(format!(
                        "field `{field}` holds {}, not a string",
                        kind(&other)
                    )));
                }
            };
            if k == 0 {
                text = value;
            } else {
                text.push(' ');
                text.push_str(&value);
            }
        }
        Ok(Some(Piece {
            text,
            label,
            end: true,
        }))
    }
}

/// Adds the labels of `field` in the JSON Lines file `file` to `out`.
pub(crate) fn labels(
    file: &SourceFile,
    opts: &SourceOptions,
    field: &str,
    out: &mut Distinct,
) -> Result<(), DataError> {
    JsonlReader::open(file, opts, None)?.scan_labels(field, out)
}

/// Deserializes a JSON object to the value of one of its fields (`None` when it has none),
/// skipping the others without building them.
struct LabelField<'a>(&'a str);

impl<'de> DeserializeSeed<'de> for LabelField<'_> {
    type Value = Option<Value>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for LabelField<'_> {
    type Value = Option<Value>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a map")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        // The last of keys given twice wins, as when the whole object is read.
        while let Some(is_label) = map.next_key_seed(IsKey(self.0))? {
            if is_label {
                found = Some(map.next_value::<Value>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

/// Deserializes a key to whether it is the one sought.
struct IsKey<'a>(&'a str);

impl<'de> DeserializeSeed<'de> for IsKey<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for IsKey<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a string key")
    }

    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<bool, E> {
        Ok(key == self.0)
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl Iterator for JsonlReader {
    type Item = Result<Piece, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let result = self.next_record();
        if !matches!(result, Ok(Some(_))) {
            self.done = true;
        }
        result.transpose()
    }
}

impl FileReader for JsonlReader {
    fn bytes_read(&self) -> u64 {
        self.counter.get()
    }
}
