//! Plain text: a file, a line or a paragraph per document, in bounded pieces, read from the
//! stream that decodes the file's encoding into UTF-8. Line endings are read as Python's text
//! mode reads them (universal newlines): `\r\n` and a lone `\r` become `\n`, whatever the unit.
use std::cell::Cell;
use std::io::{BufRead, Read};
use std::path::PathBuf;
use std::rc::Rc;

use super::types::{FileReader, PIECE_BYTES, Piece, SourceFile, TextUnit, io, open_text_stream};
use crate::{DataError, Encoding};

/// How a line read stopped.
enum LineEnd {
    /// At a `\n` (consumed, not stored).
    Newline,
    /// At the end of the file.
    Eof,
    /// The document buffer is full; the line goes on.
    Full,
}

pub(crate) struct TextFileReader {
    path: PathBuf,
    reader: Box<dyn BufRead>,
    counter: Rc<Cell<u64>>,
    unit: TextUnit,
    max: usize,
    /// Bytes of the current document not yet handed out.
    doc: Vec<u8>,
    /// Line number (1-based) of `doc[0]`.
    doc_line: u64,
    /// Line number of the next line to read (line and paragraph units).
    line: u64,
    /// Pieces of the current document were handed out already.
    in_doc: bool,
    /// The last line read stopped because `doc` was full: the next read continues it.
    mid_line: bool,
    done: bool,
}

impl TextFileReader {
    pub(crate) fn open(
        file: &SourceFile,
        unit: TextUnit,
        encoding: Encoding,
    ) -> Result<Self, DataError> {
        Self::with_piece_size(file, unit, encoding, PIECE_BYTES)
    }

    pub(crate) fn with_piece_size(
        file: &SourceFile,
        unit: TextUnit,
        encoding: Encoding,
        max: usize,
    ) -> Result<Self, DataError> {
        let (reader, counter) = open_text_stream(file, encoding)?;
        Ok(Self {
            path: file.path.clone(),
            reader: Box::new(UniversalNewlines::new(reader)),
            counter,
            unit,
            max: max.max(8),
            doc: Vec::new(),
            doc_line: 1,
            line: 1,
            in_doc: false,
            mid_line: false,
            done: false,
        })
    }

    /// Appends the rest of the current line (without its `\n`) to `doc`, stopping early when
    /// `doc` is full.
    fn read_line(&mut self) -> Result<LineEnd, DataError> {
        loop {
            let buf = self.reader.fill_buf().map_err(|e| io(&self.path, e))?;
            if buf.is_empty() {
                self.mid_line = false;
                return Ok(LineEnd::Eof);
            }
            let limit = buf
                .len()
                .min(self.max.saturating_sub(self.doc.len()).max(1));
            match buf[..limit].iter().position(|&b| b == b'\n') {
                Some(i) => {
                    self.doc.extend_from_slice(&buf[..i]);
                    self.reader.consume(i + 1);
                    self.line += 1;
                    self.mid_line = false;
                    return Ok(LineEnd::Newline);
                }
                None => {
                    self.doc.extend_from_slice(&buf[..limit]);
                    self.reader.consume(limit);
                    if self.doc.len() >= self.max {
                        self.mid_line = true;
                        return Ok(LineEnd::Full);
                    }
                }
            }
        }
    }

    /// Appends raw bytes to `doc` until it is full or the file ends; false at the end.
    fn read_raw(&mut self) -> Result<bool, DataError> {
        while self.doc.len() < self.max {
            let buf = self.reader.fill_buf().map_err(|e| io(&self.path, e))?;
            if buf.is_empty() {
                return Ok(false);
            }
            let n = buf.len().min(self.max - self.doc.len());
            self.doc.extend_from_slice(&buf[..n]);
            self.reader.consume(n);
        }
        Ok(true)
    }

    /// Hands out `doc` (all of it when `end`, else up to a whitespace or a character boundary).
    fn take(&mut self, end: bool) -> Result<Piece, DataError> {
        let cut = if end {
            self.doc.len()
        } else {
            cut_point(&self.doc)
        };
        let rest = self.doc.split_off(cut);
        let bytes = std::mem::replace(&mut self.doc, rest);
        let text = String::from_utf8(bytes).map_err(|e| {
            let valid = e.utf8_error().valid_up_to();
            let line = self.doc_line + newlines(&e.as_bytes()[..valid]);
            DataError::Line {
                path: self.path.clone(),
                line,
                message: "the text is not valid UTF-8".into(),
            }
        })?;
        self.doc_line += newlines(text.as_bytes());
        self.in_doc = !end;
        Ok(Piece {
            text,
            label: None,
            end,
        })
    }

    fn next_piece(&mut self) -> Result<Option<Piece>, DataError> {
        match self.unit {
            TextUnit::File => {
                let more = self.read_raw()?;
                if more {
                    return self.take(false).map(Some);
                }
                self.done = true;
                if self.doc.is_empty() && !self.in_doc {
                    return Ok(None);
                }
                self.take(true).map(Some)
            }
            TextUnit::Line => loop {
                if self.doc.is_empty() && !self.in_doc {
                    self.doc_line = self.line;
                }
                match self.read_line()? {
                    LineEnd::Full => return self.take(false).map(Some),
                    end @ (LineEnd::Newline | LineEnd::Eof) => {
                        if matches!(end, LineEnd::Eof) {
                            self.done = true;
                        }
                        if !self.doc.is_empty() || self.in_doc {
                            return self.take(true).map(Some);
                        }
                        if self.done {
                            return Ok(None);
                        }
                    }
                }
            },
            TextUnit::Paragraph => loop {
                let has_content = !self.doc.is_empty() || self.in_doc;
                if !has_content {
                    self.doc_line = self.line;
                }
                let start = self.doc.len();
                let continued = self.mid_line;
                let separate = has_content && !continued;
                if separate {
                    self.doc.push(b'\n');
                }
                match self.read_line()? {
                    LineEnd::Full => return self.take(false).map(Some),
                    end @ (LineEnd::Newline | LineEnd::Eof) => {
                        if matches!(end, LineEnd::Eof) {
                            self.done = true;
                        }
                        let line_start = start + usize::from(separate);
                        let blank = !continued
                            && self.doc[line_start..].iter().all(u8::is_ascii_whitespace);
                        if blank {
                            self.doc.truncate(start);
                            if has_content {
                                return self.take(true).map(Some);
                            }
                            if self.done {
                                return Ok(None);
                            }
                        } else if self.done {
                            return self.take(true).map(Some);
                        }
                    }
                }
            },
        }
    }
}

impl Iterator for TextFileReader {
    type Item = Result<Piece, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done && self.doc.is_empty() && !self.in_doc {
            return None;
        }
        match self.next_piece() {
            Ok(p) => p.map(Ok),
            Err(e) => {
                self.done = true;
                self.doc.clear();
                self.in_doc = false;
                Some(Err(e))
            }
        }
    }
}

impl FileReader for TextFileReader {
    fn bytes_read(&self) -> u64 {
        self.counter.get()
    }
}

/// A byte stream with its line endings read as Python's universal newlines read them: `\r\n`
/// and a lone `\r` become `\n`. A `\r\n` split between two reads of the inner stream is still
/// one `\n`. (`\r` is never part of a longer UTF-8 sequence, so the text stays valid.)
pub(crate) struct UniversalNewlines<R> {
    inner: R,
    /// Translated bytes not yet consumed: `buf[pos..]`.
    buf: Vec<u8>,
    pos: usize,
    /// The last byte translated was a `\r`: a `\n` right after it is dropped.
    after_cr: bool,
}

impl<R: BufRead> UniversalNewlines<R> {
    pub(crate) fn new(inner: R) -> Self {
        Self {
            inner,
            buf: Vec::new(),
            pos: 0,
            after_cr: false,
        }
    }
}

impl<R: BufRead> Read for UniversalNewlines<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for UniversalNewlines<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        // A chunk that was only the `\n` of a `\r\n` translates to nothing: read on.
        while self.pos == self.buf.len() {
            let chunk = self.inner.fill_buf()?;
            if chunk.is_empty() {
                break;
            }
            self.buf.clear();
            self.pos = 0;
            let mut rest = chunk;
            if self.after_cr && rest.first() == Some(&b'\n') {
                rest = &rest[1..];
            }
            self.after_cr = false;
            while let Some(i) = rest.iter().position(|&b| b == b'\r') {
                self.buf.extend_from_slice(&rest[..i]);
                self.buf.push(b'\n');
                rest = &rest[i + 1..];
                match rest.first() {
                    Some(&b'\n') => rest = &rest[1..],
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
            self.buf.extend_from_slice(rest);
            let n = chunk.len();
            self.inner.consume(n);
        }
        Ok(&self.buf[self.pos..])
    }

    fn consume(&mut self, amount: usize) {
        self.pos = (self.pos + amount).min(self.buf.len());
    }
}

fn newlines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

/// Where to cut a full buffer: after its last whitespace in the second half, else before its
/// last character (which may be incomplete).
fn cut_point(doc: &[u8]) -> usize {
    let half = doc.len() / 2;
    if let Some(i) = doc[half..].iter().rposition(u8::is_ascii_whitespace) {
        return half + i + 1;
    }
    let mut c = doc.len().saturating_sub(1);
    while c > 0 && doc.len() - c < 4 && (doc[c] & 0xC0) == 0x80 {
        c -= 1;
    }
    if c == 0 { doc.len() } else { c }
}

#[cfg(test)]
mod tests {
    use super::super::types::Compression;
    use super::*;

    fn pieces(content: &[u8], unit: TextUnit, max: usize) -> Vec<Piece> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.txt");
        std::fs::write(&path, content).unwrap();
        let file = SourceFile {
            path,
            compression: Compression::None,
            bytes: content.len() as u64,
        };
        TextFileReader::with_piece_size(&file, unit, Encoding::Utf8, max)
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap()
    }

    fn docs(pieces: &[Piece]) -> Vec<String> {
        let mut out = vec![String::new()];
        for p in pieces {
            out.last_mut().unwrap().push_str(&p.text);
            if p.end {
                out.push(String::new());
            }
        }
        out.pop();
        out
    }

    #[test]
    fn long_documents_come_in_bounded_pieces_that_join_back() {
        let text = "lorem ipsum dolor sit amet, é ünïcödé ".repeat(40);
        for unit in [TextUnit::File, TextUnit::Line, TextUnit::Paragraph] {
            let p = pieces(text.as_bytes(), unit, 64);
            assert!(p.len() > 10, "{unit:?}");
            assert!(p.iter().all(|p| p.text.len() <= 64 + 4), "{unit:?}");
            assert_eq!(docs(&p), std::slice::from_ref(&text), "{unit:?}");
            // Cut after whitespace: no word is split.
            assert!(p[..p.len() - 1].iter().all(|p| p.text.ends_with(' ')));
        }
    }

    #[test]
    fn units_split_as_documented() {
        let text = b"one\r\ntwo\n\n  \nthree\nfour\n\n";
        assert_eq!(
            docs(&pieces(text, TextUnit::Line, 1024)),
            ["one", "two", "  ", "three", "four"]
        );
        assert_eq!(
            docs(&pieces(text, TextUnit::Paragraph, 1024)),
            ["one\ntwo", "three\nfour"]
        );
        assert_eq!(
            docs(&pieces(text, TextUnit::File, 1024)),
            ["one\ntwo\n\n  \nthree\nfour\n\n"]
        );
        assert!(pieces(b"", TextUnit::File, 1024).is_empty());
        assert!(pieces(b"\n\n", TextUnit::Paragraph, 1024).is_empty());
    }

    #[test]
    fn a_cut_never_splits_a_character() {
        let text = "ééééééééééééééééééééééééééééééééééééééééééééééé".repeat(3);
        let p = pieces(text.as_bytes(), TextUnit::File, 9);
        assert_eq!(docs(&p), [text]);
    }

    #[test]
    fn crlf_and_cr_text_gives_the_documents_of_lf_text_in_pieces_of_any_size() {
        let lf = "one two\nthree\n\n  \n\nfour five six seven\neight\n\n\nnine\n";
        let crlf = lf.replace('\n', "\r\n");
        let cr = lf.replace('\n', "\r");
        for unit in [TextUnit::File, TextUnit::Line, TextUnit::Paragraph] {
            // Small pieces end anywhere, between the `\r` and the `\n` too.
            for max in [8, 9, 10, 11, 1024] {
                let want = docs(&pieces(lf.as_bytes(), unit, max));
                for other in [&crlf, &cr] {
                    let got = pieces(other.as_bytes(), unit, max);
                    assert_eq!(docs(&got), want, "{unit:?} {max} {other:?}");
                    assert!(got.iter().all(|p| !p.text.contains('\r')));
                }
            }
        }
        assert_eq!(
            docs(&pieces(crlf.as_bytes(), TextUnit::Paragraph, 1024)),
            ["one two\nthree", "four five six seven\neight", "nine"]
        );
    }

    /// Everything `UniversalNewlines` makes of `input` read in chunks of `capacity` bytes.
    fn translated(input: &[u8], capacity: usize) -> Vec<u8> {
        let inner = std::io::BufReader::with_capacity(capacity, input);
        let mut out = Vec::new();
        UniversalNewlines::new(inner).read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn line_endings_split_between_two_reads_are_one_newline() {
        let input = b"a\r\nb\r\r\nc\rd\n\re\r\n\r\n\r";
        // Python: open(path, newline=None).read()
        let python = b"a\nb\n\nc\nd\n\ne\n\n\n";
        for capacity in 1..=input.len() + 1 {
            assert_eq!(translated(input, capacity), python, "chunks of {capacity}");
        }
        assert_eq!(translated(b"", 1), b"");
        assert_eq!(translated(b"\r\n", 1), b"\n");
        assert_eq!(translated(b"\n\n", 1), b"\n\n");
    }

    #[test]
    fn a_crlf_across_the_read_buffer_of_a_file_is_one_newline() {
        // The stream under the reader reads 256 KiB at a time: the `\r` ends its first read.
        let mut text = "a".repeat((1 << 18) - 1);
        text.push_str("\r\nb\r\n");
        let first = "a".repeat((1 << 18) - 1);
        assert_eq!(
            docs(&pieces(text.as_bytes(), TextUnit::Line, PIECE_BYTES)),
            [first.as_str(), "b"]
        );
        assert_eq!(
            docs(&pieces(text.as_bytes(), TextUnit::Paragraph, PIECE_BYTES)),
            [format!("{first}\nb")]
        );
        assert_eq!(
            docs(&pieces(text.as_bytes(), TextUnit::File, PIECE_BYTES)),
            [format!("{first}\nb\n")]
        );
    }
}
