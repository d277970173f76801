//! Turning encoded texts into next-character prediction examples.

/// One training example: predict `target[i]` from `input[..=i]`.
///
/// `input` and `target` always have the same, non-zero length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Example {
    /// Input ids.
    pub input: Vec<u32>,
    /// Target ids: the next id after each input position.
    pub target: Vec<u32>,
    /// The class of the text the example was cut from, if any: an id in `0..n` (what a
    /// model's label embedding takes), not the label as a file holds it
    /// ([`TextRecord::label`](crate::TextRecord::label), an `i64`; map one to the other with
    /// [`label_classes`](crate::label_classes) and [`label_class`](crate::label_class)).
    pub label: Option<u32>,
}

impl Example {
    /// Number of positions (input length = target length).
    pub fn len(&self) -> usize {
        self.input.len()
    }

    /// Whether the example has no positions (never true for examples made by
    /// [`make_examples`]).
    pub fn is_empty(&self) -> bool {
        self.input.is_empty()
    }
}

/// Cutting a long text into fixed windows (full-text mode).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Positions per window (the last window may be shorter). 0 is treated as 1.
    pub num_chars: usize,
    /// Distance between the starts of consecutive windows. Equal to `num_chars`: windows tile
    /// the text; smaller: they overlap; larger: positions between windows are left out. 0 is
    /// treated as 1.
    pub stride: usize,
}

impl Default for Window {
    fn default() -> Self {
        Self {
            num_chars: 256,
            stride: 256,
        }
    }
}

impl Window {
    /// Non-overlapping windows of `num_chars` positions.
    pub fn new(num_chars: usize) -> Self {
        Self {
            num_chars,
            stride: num_chars,
        }
    }
}

/// How [`make_examples`] cuts a text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExampleOptions {
    /// The `<eos>` id: the target after the last character.
    pub eos: u32,
    /// The `<bos>` id, when the first character is to be predicted too: it is put before the
    /// text, so `input = [bos, ids...]` and `target = [ids..., eos]`.
    pub bos: Option<u32>,
    /// `None`: one example per text. `Some`: the text is cut into windows.
    pub window: Option<Window>,
}

impl ExampleOptions {
    /// One example per text, no `<bos>`.
    pub fn new(eos: u32) -> Self {
        Self {
            eos,
            bos: None,
            window: None,
        }
    }
}

/// Appends the examples of one encoded text to `out`.
///
/// The sequence is `s = [bos?] ++ ids` and its targets `t = s[1..] ++ [eos]`, so `t[i]` is the
/// id that follows `s[i]` and the last target is `<eos>`. Without a window that is one example
/// `(s, t)`; with a window, `(s, t)` is cut into slices `[k·stride, k·stride + num_chars)`,
/// stopping after the slice that reaches the end, so the final window's last target is `<eos>`.
///
/// An empty text gives no example, with or without `<bos>`: there is no character to learn
/// from (a `<bos>`→`<eos>` example would only teach the model that texts may be empty).
pub fn make_examples(
    ids: &[u32],
    label: Option<u32>,
    opts: &ExampleOptions,
    out: &mut Vec<Example>,
) {
    if ids.is_empty() {
        return;
    }
    let offset = usize::from(opts.bos.is_some());
    let len = ids.len() + offset;
    // s[i] and t[i] without building the whole shifted copies.
    let input_at = |range: std::ops::Range<usize>, v: &mut Vec<u32>| {
        let (mut start, end) = (range.start, range.end);
        if let Some(bos) = opts.bos
            && start == 0
            && end > 0
        {
            v.push(bos);
            start = 1;
        }
        v.extend_from_slice(&ids[start - offset..end - offset]);
    };
    let target_at = |range: std::ops::Range<usize>, v: &mut Vec<u32>| {
        // t = s[1..] ++ [eos]: t[i] = ids[i + 1 - offset] below len - 1, then eos.
        let (start, end) = (range.start, range.end);
        let body_end = end.min(len - 1);
        if start < body_end {
            v.extend_from_slice(&ids[start + 1 - offset..body_end + 1 - offset]);
        }
        if end == len {
            v.push(opts.eos);
        }
    };
    let mut push = |range: std::ops::Range<usize>| {
        let mut input = Vec::with_capacity(range.len());
        let mut target = Vec::with_capacity(range.len());
        input_at(range.clone(), &mut input);
        target_at(range, &mut target);
        out.push(Example {
            input,
            target,
            label,
        });
    };
    match opts.window {
        None => push(0..len),
        Some(w) => {
            let (n, stride) = (w.num_chars.max(1), w.stride.max(1));
            let mut start = 0;
            while start < len {
                let end = start.saturating_add(n).min(len);
                push(start..end);
                if end == len {
                    break;
                }
                start = start.saturating_add(stride);
            }
        }
    }
}
