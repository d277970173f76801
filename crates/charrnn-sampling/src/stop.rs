//! When to stop generating: an end id, a stop string, or a length limit.

/// Stop conditions for one generated sequence, checked after every new id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StopCriteria {
    /// Stop as soon as this id is generated (typically `<eos>`).
    pub eos: Option<u32>,
    /// Stop as soon as the generated text ends with one of these (empty strings are ignored).
    pub stop_strings: Vec<String>,
    /// Stop once this many ids have been generated.
    pub max_len: usize,
}

/// Why [`StopCriteria::check`] said stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StopReason {
    /// The end id was generated.
    Eos,
    /// The generated text ends with `stop_strings[i]` (the first one in list order that matches).
    StopString(usize),
    /// `max_len` ids were generated.
    MaxLen,
}

impl StopCriteria {
    /// Only a length limit: stop after `max_len` ids.
    pub fn new(max_len: usize) -> Self {
        Self {
            eos: None,
            stop_strings: Vec::new(),
            max_len,
        }
    }

    /// Also stop at `id`.
    pub fn with_eos(mut self, id: u32) -> Self {
        self.eos = Some(id);
        self
    }

    /// Also stop when the text ends with `s`.
    pub fn with_stop_string(mut self, s: impl Into<String>) -> Self {
        self.stop_strings.push(s.into());
        self
    }

    /// Checks the sequence after a new id: `last_id` is that id, `generated_len` the number of
    /// ids generated so far (including it), `generated_text` the decoded generated text.
    /// Precedence when several hold: end id, then stop string, then length.
    pub fn check(
        &self,
        last_id: u32,
        generated_len: usize,
        generated_text: &str,
    ) -> Option<StopReason> {
        if self.eos == Some(last_id) {
            return Some(StopReason::Eos);
        }
        if let Some(i) = self
            .stop_strings
            .iter()
            .position(|s| !s.is_empty() && generated_text.ends_with(s.as_str()))
        {
            return Some(StopReason::StopString(i));
        }
        if generated_len >= self.max_len {
            return Some(StopReason::MaxLen);
        }
        None
    }

    /// `text` without the stop string that `reason` names (unchanged for other reasons, or if
    /// the text does not end with it).
    pub fn strip_stop_string<'a>(&self, text: &'a str, reason: StopReason) -> &'a str {
        match reason {
            StopReason::StopString(i) => self
                .stop_strings
                .get(i)
                .and_then(|s| text.strip_suffix(s.as_str()))
                .unwrap_or(text),
            StopReason::Eos | StopReason::MaxLen => text,
        }
    }
}
