//! The shape of a network: cell, input encoding, sizes, labels. Serialised into a checkpoint's
//! `config.json`, and checked before anything is allocated.
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};

/// The recurrent cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cell {
    /// Long short-term memory (state: hidden and cell vectors).
    Lstm,
    /// Gated recurrent unit.
    Gru,
    /// Elman RNN with tanh.
    Rnn,
}

impl Cell {
    pub(crate) fn gates(self) -> i64 {
        match self {
            Cell::Lstm => 4,
            Cell::Gru => 3,
            Cell::Rnn => 1,
        }
    }

    /// cuDNN's mode number, as PyTorch's `rnn.cpp` names them.
    pub(crate) fn cudnn_mode(self) -> i64 {
        match self {
            Cell::Rnn => 1,
            Cell::Lstm => 2,
            Cell::Gru => 3,
        }
    }
}

impl fmt::Display for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Cell::Lstm => "lstm",
            Cell::Gru => "gru",
            Cell::Rnn => "rnn",
        })
    }
}

impl FromStr for Cell {
    type Err = ModelError;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "lstm" => Ok(Cell::Lstm),
            "gru" => Ok(Cell::Gru),
            "rnn" => Ok(Cell::Rnn),
            _ => Err(ModelError::InvalidConfig(format!(
                "unknown cell {s:?}: expected lstm, gru or rnn"
            ))),
        }
    }
}

/// How a character id becomes the recurrent stack's input vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputMode {
    /// A learned `vocab_size × dim` embedding.
    Embedding {
        /// The embedding width.
        dim: usize,
    },
    /// A one-hot vector of width `vocab_size` (as the original notebook does).
    OneHot,
}

/// The embedding width of `embedding` when it is parsed from text without one.
pub const DEFAULT_EMBED_DIM: usize = 64;

impl fmt::Display for InputMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputMode::Embedding { dim } if *dim == DEFAULT_EMBED_DIM => f.write_str("embedding"),
            InputMode::Embedding { dim } => write!(f, "embedding:{dim}"),
            InputMode::OneHot => f.write_str("onehot"),
        }
    }
}

impl FromStr for InputMode {
    type Err = ModelError;

    /// Parses `onehot`, `embedding` (of width [`DEFAULT_EMBED_DIM`]) or `embedding:N`, in any
    /// case.
    fn from_str(s: &str) -> Result<Self> {
        let lower = s.to_ascii_lowercase();
        let bad = || {
            ModelError::InvalidConfig(format!(
                "unknown input {s:?}: expected onehot, embedding or embedding:N"
            ))
        };
        match lower.split_once(':') {
            None => match lower.as_str() {
                "onehot" | "one-hot" | "one_hot" => Ok(InputMode::OneHot),
                "embedding" => Ok(InputMode::Embedding {
                    dim: DEFAULT_EMBED_DIM,
                }),
                _ => Err(bad()),
            },
            Some(("embedding", n)) => match n.parse::<usize>() {
                Ok(dim) if dim > 0 => Ok(InputMode::Embedding { dim }),
                _ => Err(bad()),
            },
            Some(_) => Err(bad()),
        }
    }
}

/// The shape of a network. Serialised into a checkpoint's `config.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// The recurrent cell.
    pub cell: Cell,
    /// The input encoding.
    pub input: InputMode,
    /// Units per recurrent layer.
    pub hidden: usize,
    /// Recurrent layers.
    pub num_layers: usize,
    /// Dropout probability between recurrent layers and before the output layer (training only).
    pub dropout: f64,
    /// Number of ids (the vocabulary's `len()`, specials included): input and output width.
    pub vocab_size: usize,
    /// Number of classes to condition on (`None`: unconditional).
    #[serde(default)]
    pub num_labels: Option<usize>,
    /// Width of the learned label embedding concatenated to every input step.
    #[serde(default = "default_label_dim")]
    pub label_dim: usize,
    /// Optional names of the labels, in id order (e.g. World, Sports, Business, Sci/Tech).
    #[serde(default)]
    pub label_names: Vec<String>,
}

/// The most parameters a network may have (2^31, 8 GiB of f32 weights): larger sizes in a
/// configuration are refused before anything is allocated.
pub const MAX_PARAMETERS: usize = 1 << 31;

fn default_label_dim() -> usize {
    16
}

impl ModelConfig {
    /// An unconditional 2-layer LSTM of 256 units over a 64-wide embedding, dropout 0.1.
    pub fn new(vocab_size: usize) -> Self {
        ModelConfig {
            cell: Cell::Lstm,
            input: InputMode::Embedding { dim: 64 },
            hidden: 256,
            num_layers: 2,
            dropout: 0.1,
            vocab_size,
            num_labels: None,
            label_dim: default_label_dim(),
            label_names: Vec::new(),
        }
    }

    /// Checks that the sizes describe a network.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(ModelError::InvalidConfig(m));
        if self.vocab_size < 2 {
            return bad(format!(
                "vocab_size is {}, need at least 2",
                self.vocab_size
            ));
        }
        if self.hidden == 0 || self.num_layers == 0 {
            return bad("hidden and num_layers must be at least 1".into());
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad(format!("dropout {} is outside [0, 1)", self.dropout));
        }
        if let InputMode::Embedding { dim: 0 } = self.input {
            return bad("the embedding dim must be at least 1".into());
        }
        if let Some(n) = self.num_labels {
            if n == 0 {
                return bad("num_labels must be at least 1 (or absent)".into());
            }
            if self.label_dim == 0 {
                return bad("label_dim must be at least 1 when num_labels is set".into());
            }
            if !self.label_names.is_empty() && self.label_names.len() != n {
                return bad(format!(
                    "{} label names given for {n} labels",
                    self.label_names.len()
                ));
            }
        } else if !self.label_names.is_empty() {
            return bad("label names given but num_labels is absent".into());
        }
        let too_big = |x: usize| i64::try_from(x).map_or(true, |v| v > (1 << 31));
        // Checked before anything is allocated: a config.json claiming absurd sizes must be an
        // error, not an allocation failure that aborts the process.
        match self.parameter_count() {
            Some(n) if n <= MAX_PARAMETERS => {}
            _ => {
                return bad(format!(
                    "{} layer(s) of {} units over {} ids need more than {MAX_PARAMETERS} \
                     parameters (the most this program builds)",
                    self.num_layers, self.hidden, self.vocab_size
                ));
            }
        }
        if [
            self.vocab_size,
            self.hidden,
            self.num_layers,
            self.label_dim,
            self.input_width(),
        ]
        .into_iter()
        .any(too_big)
        {
            return bad("a size is too large".into());
        }
        Ok(())
    }

    /// The id of a label by (case-insensitive) name, or by its decimal id when no class is
    /// named by a number (classes named `1` and `2` take their names only: `0` is no class).
    pub fn label_id(&self, name: &str) -> Option<u32> {
        let n = self.num_labels?;
        if let Some(i) = self
            .label_names
            .iter()
            .position(|l| l.eq_ignore_ascii_case(name.trim()))
        {
            return u32::try_from(i).ok();
        }
        if self
            .label_names
            .iter()
            .any(|l| l.trim().parse::<i64>().is_ok())
        {
            return None;
        }
        name.trim()
            .parse::<u32>()
            .ok()
            .filter(|&i| (i as usize) < n)
    }

    /// The name and shape of every parameter, in the order [`CharRnn::named_parameters`](crate::CharRnn::named_parameters)
    /// yields them (PyTorch's names: `rnn.weight_ih_l0`, ..., `output.bias`). Allocates nothing
    /// but the list, so it can check a weights file against a configuration before a network
    /// is built.
    pub fn parameter_shapes(&self) -> Vec<(String, Vec<i64>)> {
        let h = self.hidden as i64;
        let v = self.vocab_size as i64;
        let gates = self.cell.gates() * h;
        let mut in_dim = self.input_width() as i64;
        let mut shapes = Vec::with_capacity(4 * self.num_layers + 4);
        for layer in 0..self.num_layers {
            shapes.push((format!("rnn.weight_ih_l{layer}"), vec![gates, in_dim]));
            shapes.push((format!("rnn.weight_hh_l{layer}"), vec![gates, h]));
            shapes.push((format!("rnn.bias_ih_l{layer}"), vec![gates]));
            shapes.push((format!("rnn.bias_hh_l{layer}"), vec![gates]));
            in_dim = h;
        }
        if let InputMode::Embedding { dim } = self.input {
            shapes.push(("embedding.weight".into(), vec![v, dim as i64]));
        }
        if let Some(n) = self.num_labels {
            shapes.push((
                "label_embedding.weight".into(),
                vec![n as i64, self.label_dim as i64],
            ));
        }
        shapes.push(("output.weight".into(), vec![v, h]));
        shapes.push(("output.bias".into(), vec![v]));
        shapes
    }

    /// The number of parameters the configuration implies, `None` when it overflows.
    pub(crate) fn parameter_count(&self) -> Option<usize> {
        let gates = self.cell.gates() as usize;
        let h = self.hidden;
        let v = self.vocab_size;
        let per_layer = |in_dim: usize| -> Option<usize> {
            let g = gates.checked_mul(h)?;
            g.checked_mul(in_dim.checked_add(h)?.checked_add(2)?)
        };
        let mut total = per_layer(self.input_width())?;
        for _ in 1..self.num_layers {
            total = total.checked_add(per_layer(h)?)?;
        }
        if let InputMode::Embedding { dim } = self.input {
            total = total.checked_add(v.checked_mul(dim)?)?;
        }
        if let Some(n) = self.num_labels {
            total = total.checked_add(n.checked_mul(self.label_dim)?)?;
        }
        total.checked_add(v.checked_mul(h.checked_add(1)?)?)
    }

    pub(crate) fn char_width(&self) -> usize {
        match self.input {
            InputMode::Embedding { dim } => dim,
            InputMode::OneHot => self.vocab_size,
        }
    }

    pub(crate) fn input_width(&self) -> usize {
        self.char_width() + self.num_labels.map_or(0, |_| self.label_dim)
    }
}
