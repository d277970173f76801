//! JSON Lines: one object per line; named string fields are the text, an optional field the
//! label. A file whose first character is `[` is one JSON array of such objects instead, read
//! element by element as it streams (its elements are cut at the array's top-level commas by a
//! scan that follows strings and nesting, and each is parsed alone).
//!
//! A field named `a.b` is the key `a.b` when the object has it, else the field `b` of the
//! object under `a`.
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

/// Where the reader stands in a file that is one JSON array.
#[derive(Debug, Default)]
struct ArrayScan {
    /// Elements read so far.
    elements: u64,
    /// The byte column (0-based) of the next byte on its line.
    column: u64,
    /// The line (1-based) and column where the current element starts.
    start: (u64, u64),
    /// The last element ended at a `,`: another must follow.
    after_comma: bool,
    /// The closing `]` was read.
    closed: bool,
}

/// What ended a scan of the bytes of an array.
enum Stop {
    /// An element ended at a top-level `,` or at the closing `]`.
    Element,
    /// An element with nothing in it: this `,` or `]` came first, or right after a `,`.
    Empty(u8),
    /// A raw line break inside a string, on this line.
    OpenString(u64),
}

pub(crate) struct JsonlReader {
    path: PathBuf,
    reader: Box<dyn BufRead>,
    counter: Rc<Cell<u64>>,
    fields: Vec<String>,
    label: Option<String>,
    names: Option<Arc<LabelNames>>,
    nulls: NullPolicy,
    /// Lines read so far (JSON Lines), or the line of the next byte (an array).
    line: u64,
    /// The line the current record starts on.
    at: u64,
    /// `Some` when the file is one JSON array.
    array: Option<ArrayScan>,
    /// The current record's bytes.
    buf: Vec<u8>,
    /// Records left out for a null or missing text or label.
    skipped: u64,
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
        let mut reader = Self {
            path: file.path.clone(),
            reader,
            counter,
            fields: opts.columns(),
            label: opts.label_column.clone(),
            names: names.cloned(),
            nulls: opts.nulls,
            line: 0,
            at: 0,
            array: None,
            buf: Vec::new(),
            skipped: 0,
            done: false,
        };
        reader.find_layout()?;
        Ok(reader)
    }

    /// Reads the blank lines in front of the first character and, when that is `[`, the `[`
    /// itself: the file is one JSON array then.
    fn find_layout(&mut self) -> Result<(), DataError> {
        loop {
            let buf = self.reader.fill_buf().map_err(|e| io(&self.path, e))?;
            let Some(first) = buf.iter().position(|b| !b.is_ascii_whitespace()) else {
                // Blank so far: whole blank lines are skipped as JSON Lines skips them.
                let Some(last) = buf.iter().rposition(|&b| b == b'\n') else {
                    return Ok(());
                };
                self.line += newlines(&buf[..=last]);
                self.reader.consume(last + 1);
                continue;
            };
            if buf[first] != b'[' {
                let lines = buf[..first].iter().rposition(|&b| b == b'\n');
                if let Some(last) = lines {
                    self.line += newlines(&buf[..=last]);
                    self.reader.consume(last + 1);
                }
                return Ok(());
            }
            let column = buf[..first]
                .iter()
                .rev()
                .take_while(|&&b| b != b'\n')
                .count() as u64;
            self.line += newlines(&buf[..first]) + 1;
            self.reader.consume(first + 1);
            self.array = Some(ArrayScan {
                column: column + 1,
                ..ArrayScan::default()
            });
            return Ok(());
        }
    }

    fn error(&self, message: String) -> DataError {
        let message = match &self.array {
            Some(scan) => format!("element {}: {message}", scan.elements),
            None => message,
        };
        DataError::Line {
            path: self.path.clone(),
            line: self.at,
            message,
        }
    }

    /// Reads the next record into `buf`: `Ok(false)` at the end of the file.
    fn next_chunk(&mut self) -> Result<bool, DataError> {
        if self.array.is_some() {
            self.next_element()
        } else {
            self.next_line()
        }
    }

    /// Reads the next line that is not blank into `buf`, without its line ending: `Ok(false)`
    /// at the end of the file.
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
            self.at = self.line;
            if self.buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            std::str::from_utf8(&self.buf)
                .map_err(|_| self.error("the line is not valid UTF-8".into()))?;
            while self.buf.last().is_some_and(|&b| b == b'\n' || b == b'\r') {
                self.buf.pop();
            }
            return Ok(true);
        }
    }

    /// Reads the next element of the array into `buf`: `Ok(false)` after the last one (the
    /// rest of the file must be blank).
    fn next_element(&mut self) -> Result<bool, DataError> {
        self.buf.clear();
        let Some(mut scan) = self.array.take() else {
            return Ok(false);
        };
        let result = self.scan_element(&mut scan);
        self.array = Some(scan);
        let stop = result?;
        let scan = self.array.as_ref();
        let (elements, line) = scan.map_or((0, self.line), |s| (s.elements, s.start.0));
        match stop {
            None => Ok(false),
            Some(Stop::Element) => {
                std::str::from_utf8(&self.buf)
                    .map_err(|_| self.error("the element is not valid UTF-8".into()))?;
                Ok(true)
            }
            Some(Stop::Empty(b)) => Err(DataError::Line {
                path: self.path.clone(),
                line,
                message: format!(
                    "element {elements}: nothing before this `{}` (a `,` too many?)",
                    b as char
                ),
            }),
            Some(Stop::OpenString(at)) => Err(DataError::Line {
                path: self.path.clone(),
                line: self.at,
                message: format!(
                    "element {elements}: a string opened on line {at} is not closed on that \
                     line (a line break inside a string is written \\n)"
                ),
            }),
        }
    }

    /// Scans the next element of the array into `buf`: `None` after the last one.
    fn scan_element(&mut self, scan: &mut ArrayScan) -> Result<Option<Stop>, DataError> {
        if scan.closed {
            self.after_array()?;
            return Ok(None);
        }
        let (mut started, mut depth, mut in_string, mut escaped) = (false, 0u64, false, false);
        loop {
            let chunk = self.reader.fill_buf().map_err(|e| io(&self.path, e))?;
            if chunk.is_empty() {
                let (line, message) = if started {
                    (
                        scan.start.0,
                        format!(
                            "element {}: the file ends inside it: the JSON array is not closed \
                             (a truncated file?)",
                            scan.elements
                        ),
                    )
                } else {
                    (
                        self.line,
                        "the file ends before the JSON array's closing `]` (a truncated file?)"
                            .to_owned(),
                    )
                };
                return Err(DataError::Line {
                    path: self.path.clone(),
                    line,
                    message,
                });
            }
            let mut from = 0;
            let mut stop = None;
            let mut used = chunk.len();
            for (i, &b) in chunk.iter().enumerate() {
                let (line, column) = (self.line, scan.column);
                if b == b'\n' {
                    self.line += 1;
                    scan.column = 0;
                } else {
                    scan.column += 1;
                }
                if !started {
                    if b.is_ascii_whitespace() {
                        continue;
                    }
                    if b == b']' || b == b',' {
                        used = i + 1;
                        if b == b']' && scan.elements == 0 && !scan.after_comma {
                            scan.closed = true;
                            stop = Some(None);
                        } else {
                            scan.elements += 1;
                            scan.start = (line, column);
                            self.at = line;
                            stop = Some(Some(Stop::Empty(b)));
                        }
                        break;
                    }
                    started = true;
                    from = i;
                    scan.elements += 1;
                    scan.start = (line, column);
                    self.at = line;
                }
                if in_string {
                    if escaped {
                        escaped = false;
                    } else if b == b'\\' {
                        escaped = true;
                    } else if b == b'"' {
                        in_string = false;
                    } else if b == b'\n' {
                        used = i + 1;
                        stop = Some(Some(Stop::OpenString(line)));
                        break;
                    }
                    continue;
                }
                match b {
                    b'"' => in_string = true,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' if depth > 0 => depth -= 1,
                    b',' | b']' if depth == 0 => {
                        self.buf.extend_from_slice(&chunk[from..i]);
                        used = i + 1;
                        scan.after_comma = b == b',';
                        scan.closed = b == b']';
                        stop = Some(Some(Stop::Element));
                        break;
                    }
                    _ => {}
                }
            }
            if stop.is_none() && started {
                self.buf.extend_from_slice(&chunk[from..]);
            }
            self.reader.consume(used);
            if let Some(stop) = stop {
                if stop.is_none() {
                    self.after_array()?;
                }
                return Ok(stop);
            }
        }
    }

    /// Checks that nothing but whitespace follows the array's closing `]`.
    fn after_array(&mut self) -> Result<(), DataError> {
        loop {
            let chunk = self.reader.fill_buf().map_err(|e| io(&self.path, e))?;
            if chunk.is_empty() {
                return Ok(());
            }
            if let Some(i) = chunk.iter().position(|b| !b.is_ascii_whitespace()) {
                let line = self.line + newlines(&chunk[..i]);
                return Err(DataError::Line {
                    path: self.path.clone(),
                    line,
                    message: "text after the JSON array's closing `]` (a JSON file holds one \
                              array)"
                        .into(),
                });
            }
            let n = chunk.len();
            self.line += newlines(chunk);
            self.reader.consume(n);
        }
    }

    /// A JSON error of the current record, as a message: where it is in the file, and what a
    /// string left open (the most common mistake) means.
    fn json_error(&self, e: &serde_json::Error) -> DataError {
        if self.array.is_none() && string_left_open(&self.buf) {
            return self.error(
                "a string is not closed on this line (JSON Lines keeps each record on one line: \
                 a line break inside a string is written \\n)"
                    .into(),
            );
        }
        let what = e.to_string();
        let what = what.split(" at line ").next().unwrap_or(&what);
        let what = what.replace("expected a map", "expected a JSON object");
        let (what, note) = match what.strip_prefix("EOF while parsing ") {
            Some(inside) if self.array.is_some() => {
                (format!("the element ends inside {inside}"), "")
            }
            Some(inside) => (
                format!("the line ends inside {inside}"),
                ": JSON Lines keeps each record on one line",
            ),
            None => (what.clone(), ""),
        };
        // serde counts from the record's first byte; the file, from its line.
        let place = match &self.array {
            None => format!("column {}", e.column()),
            Some(scan) => {
                let line = scan.start.0 + (e.line() as u64).saturating_sub(1);
                let column = if e.line() <= 1 {
                    scan.start.1 + e.column() as u64
                } else {
                    e.column() as u64
                };
                format!("line {line}, column {column}")
            }
        };
        self.error(format!("not a JSON object: {what} ({place}){note}"))
    }

    /// The next record: `Ok(None)` at the end of the file.
    fn next_record(&mut self) -> Result<Option<Piece>, DataError> {
        while self.next_chunk()? {
            let value: Value =
                serde_json::from_slice(&self.buf).map_err(|e| self.json_error(&e))?;
            let Value::Object(mut object) = value else {
                return Err(self.error(format!(
                    "not a JSON object: it holds {} (each record is an object, as {{\"text\": \
                     \"...\"}})",
                    kind(&value)
                )));
            };
            match self.record(&mut object)? {
                Some(record) => return Ok(Some(record)),
                None => self.skipped += 1,
            }
        }
        Ok(None)
    }

    /// Adds the label of every record to `out`, parsing each object only as far as it must to
    /// find the label field (the other values are skipped, not built). A missing or null label
    /// is skipped, or with [`NullPolicy::Fail`] the error that reading the file would give.
    fn scan_labels(&mut self, field: &str, out: &mut Distinct) -> Result<(), DataError> {
        while self.next_chunk()? {
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
                    return Err(self.error(holds(field, &other, "a label", true)));
                }
            }
        }
        Ok(())
    }

    /// The text and label of one object; `Ok(None)` when it is skipped for a null.
    fn record(&self, object: &mut Map<String, Value>) -> Result<Option<Piece>, DataError> {
        // `missing`: the object that lacks the field (named in the error with its fields).
        let null = |field: &str, missing: Option<&Map<String, Value>>| {
            if self.nulls == NullPolicy::Skip {
                Ok(None)
            } else if let Some(object) = missing {
                Err(self.error(format!("no field `{field}`{}", fields_of(object))))
            } else {
                Err(self.error(format!("field `{field}` is null")))
            }
        };
        let label = match (&self.label, &self.names) {
            (None, _) => None,
            (Some(field), Some(names)) => {
                let value = match get_field(object, field) {
                    None => return null(field, Some(object)),
                    Some(Value::Null) => return null(field, None),
                    Some(Value::String(s)) => std::borrow::Cow::Borrowed(s.as_str()),
                    Some(Value::Number(n)) => n.to_string().into(),
                    Some(Value::Bool(b)) => b.to_string().into(),
                    Some(other) => {
                        return Err(self.error(holds(field, other, "a label", true)));
                    }
                };
                let what = format!("field `{field}`");
                Some(names.id(&value, &what).map_err(|m| self.error(m))?)
            }
            (Some(field), None) => {
                let label = match get_field(object, field) {
                    None => return null(field, Some(object)),
                    Some(Value::Null) => return null(field, None),
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
                        return Err(self.error(holds(field, other, "an integer", true)));
                    }
                };
                Some(check_label(label, field).map_err(|m| self.error(m))?)
            }
        };
        let mut text = String::new();
        for (k, field) in self.fields.iter().enumerate() {
            let value = match take_field(object, field) {
                None => return null(field, Some(object)),
                Some(Value::Null) => return null(field, None),
                Some(Value::String(s)) => s,
                Some(other) => return Err(self.error(holds(field, &other, "text", false))),
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

/// How an error names the fields of an object that lacks the one asked for: ` (its fields:
/// title, body)`, at most [`FIELDS_NAMED`] of them.
fn fields_of(object: &Map<String, Value>) -> String {
    if object.is_empty() {
        return " (an empty object)".to_owned();
    }
    let mut names: Vec<&str> = object
        .keys()
        .take(FIELDS_NAMED)
        .map(String::as_str)
        .collect();
    if object.len() > FIELDS_NAMED {
        names.push("...");
    }
    format!(" (its fields: {})", names.join(", "))
}

/// The most fields an error about a missing one lists.
const FIELDS_NAMED: usize = 8;

/// The number of line breaks in `bytes`.
fn newlines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

/// Whether a line of JSON ends inside a string.
fn string_left_open(line: &[u8]) -> bool {
    let (mut in_string, mut escaped) = (false, false);
    for &b in line {
        if escaped {
            escaped = false;
        } else if in_string && b == b'\\' {
            escaped = true;
        } else if b == b'"' {
            in_string = !in_string;
        }
    }
    in_string
}

/// The message for `field` holding `value`, which is not `wanted`: for an object, with the
/// field inside it to name instead (the first that holds text, or a label when `label`).
fn holds(field: &str, value: &Value, wanted: &str, label: bool) -> String {
    let what = kind(value);
    match value {
        Value::Object(inner) => {
            let usable = |v: &Value| match v {
                Value::String(_) => true,
                Value::Number(_) | Value::Bool(_) => label,
                _ => false,
            };
            let inside = inner
                .iter()
                .find(|(_, v)| usable(v))
                .or_else(|| inner.iter().next())
                .map(|(k, _)| k);
            match inside {
                Some(key) => format!(
                    "field `{field}` holds {what}, not {wanted}: name a field inside it, as \
                     `{field}.{key}`"
                ),
                None => format!("field `{field}` holds an empty object, not {wanted}"),
            }
        }
        // The wording of labels of the wrong kind, as before nested fields.
        _ if label => format!("label field `{field}` holds {what}, not {wanted}"),
        _ => format!("field `{field}` holds {what}, not {wanted}"),
    }
}

/// The value of `field` in `object`: under that key when there is one, else, for a name with
/// dots such as `a.b`, the field `b` of the object under `a` (each dot tried in turn, so `a.b.c`
/// is also `c` under `a.b`, and the key `b.c` under `a`).
fn get_field<'v>(object: &'v Map<String, Value>, field: &str) -> Option<&'v Value> {
    if let Some(value) = object.get(field) {
        return Some(value);
    }
    field
        .match_indices('.')
        .find_map(|(i, _)| match object.get(&field[..i]) {
            Some(Value::Object(inner)) => get_field(inner, &field[i + 1..]),
            _ => None,
        })
}

/// [`get_field`], taking the value out of the object.
fn take_field(object: &mut Map<String, Value>, field: &str) -> Option<Value> {
    if let Some(value) = object.remove(field) {
        return Some(value);
    }
    for (i, _) in field.match_indices('.') {
        if let Some(Value::Object(inner)) = object.get_mut(&field[..i])
            && let Some(value) = take_field(inner, &field[i + 1..])
        {
            return Some(value);
        }
    }
    None
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

/// Deserializes a JSON object to the value of one of its fields (`None` when it has none; see
/// [`get_field`]), skipping the others without building them.
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
        // The values of the keys a dotted name may start with (`a` and `a.b` for `a.b.c`).
        let mut heads = Map::new();
        // The last of keys given twice wins, as when the whole object is read.
        while let Some(key) = map.next_key_seed(KeyOf(self.0))? {
            match key {
                Key::Field => found = Some(map.next_value::<Value>()?),
                Key::Head(head) => {
                    heads.insert(head, map.next_value::<Value>()?);
                }
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(found.or_else(|| get_field(&heads, self.0).cloned()))
    }
}

/// What a key is to the field sought.
enum Key {
    /// The field itself.
    Field,
    /// What a dotted field name starts with: `a` for `a.b`.
    Head(String),
    /// Anything else.
    Other,
}

/// Deserializes a key to what it is to the field sought.
struct KeyOf<'a>(&'a str);

impl<'de> DeserializeSeed<'de> for KeyOf<'_> {
    type Value = Key;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Key, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyOf<'_> {
    type Value = Key;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a string key")
    }

    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<Key, E> {
        Ok(if key == self.0 {
            Key::Field
        } else if self
            .0
            .strip_prefix(key)
            .is_some_and(|rest| rest.starts_with('.'))
        {
            Key::Head(key.to_owned())
        } else {
            Key::Other
        })
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

    fn skipped_rows(&self) -> u64 {
        self.skipped
    }
}
