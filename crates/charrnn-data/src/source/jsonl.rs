//! JSON Lines: one object per line; named string fields are the text, an optional field the
//! label.
use std::cell::Cell;
use std::io::BufRead;
use std::path::PathBuf;
use std::rc::Rc;

use serde_json::{Map, Value};

use super::types::{FileReader, Piece, SourceFile, SourceOptions, io, open_text_stream};
use crate::error::check_label;
use crate::{DataError, NullPolicy};

pub(crate) struct JsonlReader {
    path: PathBuf,
    reader: Box<dyn BufRead>,
    counter: Rc<Cell<u64>>,
    fields: Vec<String>,
    label: Option<String>,
    nulls: NullPolicy,
    line: u64,
    buf: Vec<u8>,
    done: bool,
}

impl JsonlReader {
    pub(crate) fn open(file: &SourceFile, opts: &SourceOptions) -> Result<Self, DataError> {
        let (reader, counter) = open_text_stream(file)?;
        Ok(Self {
            path: file.path.clone(),
            reader,
            counter,
            fields: opts.columns(),
            label: opts.label_column.clone(),
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

    /// The next line's record: `Ok(None)` at the end of the file.
    fn next_record(&mut self) -> Result<Option<Piece>, DataError> {
        loop {
            self.buf.clear();
            let n = self
                .reader
                .read_until(b'\n', &mut self.buf)
                .map_err(|e| io(&self.path, e))?;
            if n == 0 {
                return Ok(None);
            }
            self.line += 1;
            if self.buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let text = std::str::from_utf8(&self.buf)
                .map_err(|_| self.error("the line is not valid UTF-8".into()))?;
            let mut object: Map<String, Value> = serde_json::from_str(text).map_err(|e| {
                let what = e.to_string();
                let what = what.split(" at line ").next().unwrap_or(&what).to_owned();
                self.error(format!("not a JSON object: {what} (column {})", e.column()))
            })?;
            if let Some(record) = self.record(&mut object)? {
                return Ok(Some(record));
            }
        }
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
        let label = match &self.label {
            None => None,
            Some(field) => {
                let label = match object.get(field) {
                    None => return null(field, true),
                    Some(Value::Null) => return null(field, false),
                    Some(Value::Number(n)) => n.as_i64().ok_or_else(|| {
                        self.error(format!("label `{n}` in field `{field}` is not an integer"))
                    })?,
                    Some(Value::String(s)) => s.trim().parse::<i64>().map_err(|_| {
                        self.error(format!(
                            "label `{}` in field `{field}` is not an integer",
                            crate::convert::shorten(s)
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
