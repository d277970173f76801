//! Checkpoint directories: `model.safetensors`, `config.json`, `tokenizer.json` and, for an
//! exact resume, `optimizer.safetensors`. A directory is always written whole under a temporary
//! name beside its destination and then renamed into place, so a reader never sees half of one.
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use charrnn_vocab::Vocab;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tch::{Device, Kind, Tensor};

use crate::error::{ModelError, Result};
use crate::model_config::ModelConfig;
use crate::network::CharRnn;
use crate::optim::Optimizer;
use crate::records::{DataSettings, EvalRecord, Progress, null_as_default};
use crate::train_config::TrainConfig;

/// The version of the checkpoint layout this crate writes (and the newest it reads).
pub const CHECKPOINT_FORMAT: u32 = 1;

pub(crate) const CONFIG: &str = "config.json";
pub(crate) const WEIGHTS: &str = "model.safetensors";
const TOKENIZER: &str = "tokenizer.json";
const OPTIMIZER: &str = "optimizer.safetensors";

/// The contents of a checkpoint's `config.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckpointConfig {
    /// Layout version ([`CHECKPOINT_FORMAT`]).
    pub format: u32,
    /// The network's shape.
    pub model: ModelConfig,
    /// The training settings, when the checkpoint comes from training.
    #[serde(default)]
    pub training: Option<TrainConfig>,
    /// What the data were (files, columns, labels, windows, `<bos>`...).
    #[serde(default, deserialize_with = "null_as_default")]
    pub data: DataSettings,
    /// Checksums of the data files, as the caller computed them (name → hex digest).
    #[serde(default)]
    pub data_checksums: BTreeMap<String, String>,
    /// The latest evaluation when the checkpoint was written.
    #[serde(default)]
    pub metrics: Option<EvalRecord>,
    /// Where training stood (step, epoch, position in the epoch...), for an exact resume.
    #[serde(default)]
    pub progress: Option<Progress>,
    /// SHA-256 of every other file of the directory, checked on load.
    #[serde(default)]
    pub files: BTreeMap<String, String>,
}

impl CheckpointConfig {
    /// Reads the `config.json` of checkpoint directory `dir` (no weights are loaded and no
    /// checksum is checked: for settings, not for use).
    pub fn read(dir: &Path) -> Result<CheckpointConfig> {
        read_config(dir)
    }

    /// A configuration with only the model filled in.
    pub fn new(model: ModelConfig) -> Self {
        CheckpointConfig {
            format: CHECKPOINT_FORMAT,
            model,
            training: None,
            data: DataSettings::default(),
            data_checksums: BTreeMap::new(),
            metrics: None,
            progress: None,
            files: BTreeMap::new(),
        }
    }
}

/// A loaded checkpoint: the network, its vocabulary and its configuration.
#[derive(Debug)]
pub struct Checkpoint {
    /// The `config.json` contents.
    pub config: CheckpointConfig,
    /// The network, with the saved weights.
    pub model: CharRnn,
    /// The vocabulary from `tokenizer.json`.
    pub vocab: Vocab,
}

impl Checkpoint {
    /// Writes `model.safetensors`, `tokenizer.json` and `config.json` into `dir` (replacing
    /// it whole; no optimizer state, so this is for inference or a fresh fine-tune).
    pub fn save(&self, dir: &Path) -> Result<()> {
        let mut config = self.config.clone();
        config.model = self.model.config().clone();
        write_checkpoint(dir, &self.model, &self.vocab, &mut config, None)
    }

    /// Loads a checkpoint directory, or a training run directory (then its `best/`, else its
    /// `last/`), onto `device`.
    ///
    /// Checks that the parts agree: config.json is readable, every file matches the checksum
    /// recorded for it, the weights have exactly the names and shapes the configuration
    /// implies, and the vocabulary has as many ids as the model's input and output layers.
    ///
    /// A training that replaces `best/` or `last/` while it is read (the old directory moved
    /// aside, the new one renamed in) can hand a reader one file of each: such a load is tried
    /// again, up to three times, before its error is believed.
    pub fn load(path: &Path, device: Device) -> Result<Checkpoint> {
        let mut tries = 0;
        loop {
            let before = fingerprint_dir(path);
            match Self::load_once(path, device) {
                Ok(c) => return Ok(c),
                // The same directory as when the load began, or out of tries: the error is real.
                Err(e) if tries >= 3 || fingerprint_dir(path) == before && tries >= 1 => {
                    return Err(e);
                }
                Err(_) => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
            }
        }
    }

    fn load_once(path: &Path, device: Device) -> Result<Checkpoint> {
        let dir = resolve(path)?;
        let config = read_config(&dir)?;
        #[cfg(test)]
        tests::run_mid_load_hook();
        let vocab_path = dir.join(TOKENIZER);
        check_file(&dir, &config, TOKENIZER)?;
        let vocab = Vocab::load(&vocab_path).map_err(|e| {
            ModelError::checkpoint_caused(&vocab_path, "cannot load the vocabulary", e)
        })?;
        if vocab.len() != config.model.vocab_size {
            return Err(ModelError::checkpoint(
                &dir,
                format!(
                    "tokenizer.json has {} ids but config.json's model has vocab_size {}: \
                     they come from different runs",
                    vocab.len(),
                    config.model.vocab_size
                ),
            ));
        }
        // The weights file's header must describe exactly the tensors config.json implies
        // before a network of that size is allocated.
        check_file(&dir, &config, WEIGHTS)?;
        check_weight_shapes(&dir.join(WEIGHTS), &config)?;
        let mut model = CharRnn::new(&config.model, device, 0).map_err(|e| {
            ModelError::checkpoint_caused(
                dir.join(CONFIG),
                "cannot build the model it describes",
                e,
            )
        })?;
        load_weights(&dir, &config, &mut model)?;
        Ok(Checkpoint {
            config,
            model,
            vocab,
        })
    }
}

/// What identifies the checkpoint directory `path` designates now: its path and its inode and
/// change time (a replaced `best/` is another directory), or nothing when there is none.
fn fingerprint_dir(path: &Path) -> Option<(PathBuf, std::time::SystemTime, u64)> {
    let dir = resolve(path).ok()?;
    let meta = fs::metadata(&dir).ok()?;
    #[cfg(unix)]
    let ino = std::os::unix::fs::MetadataExt::ino(&meta);
    #[cfg(not(unix))]
    let ino = 0;
    Some((dir, meta.modified().ok()?, ino))
}

/// The checkpoint directory `path` designates: itself if it holds a `config.json`, else its
/// `best/`, else its `last/` (a training run directory).
pub fn resolve(path: &Path) -> Result<PathBuf> {
    if path.join(CONFIG).is_file() {
        return Ok(path.to_owned());
    }
    for sub in ["best", "last"] {
        if path.join(sub).join(CONFIG).is_file() {
            return Ok(path.join(sub));
        }
    }
    if !path.exists() {
        return Err(ModelError::checkpoint(path, "does not exist"));
    }
    Err(ModelError::checkpoint(
        path,
        "missing config.json: not a checkpoint directory, nor a run directory with best/ or last/",
    ))
}

pub(crate) fn read_config(dir: &Path) -> Result<CheckpointConfig> {
    let path = dir.join(CONFIG);
    let text = fs::read_to_string(&path).map_err(|e| {
        ModelError::checkpoint(
            &path,
            if e.kind() == std::io::ErrorKind::NotFound {
                "missing config.json".to_string()
            } else {
                format!("cannot read: {e}")
            },
        )
    })?;
    let config: CheckpointConfig = serde_json::from_str(&text)
        .map_err(|e| ModelError::checkpoint_caused(&path, "not a valid config", e))?;
    if config.format > CHECKPOINT_FORMAT {
        return Err(ModelError::checkpoint(
            &path,
            format!(
                "format {} is newer than this program's ({CHECKPOINT_FORMAT}); update charrnn",
                config.format
            ),
        ));
    }
    config
        .model
        .validate()
        .map_err(|e| ModelError::checkpoint_caused(&path, "not a valid model configuration", e))?;
    Ok(config)
}

fn sha256_file(path: &Path) -> Result<String> {
    let mut file = fs::File::open(path).map_err(|e| ModelError::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).map_err(|e| ModelError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Checks `name` against the checksum config.json recorded for it (if any).
fn check_file(dir: &Path, config: &CheckpointConfig, name: &str) -> Result<()> {
    let path = dir.join(name);
    if !path.is_file() {
        return Err(ModelError::checkpoint(&path, format!("missing {name}")));
    }
    if let Some(expected) = config.files.get(name) {
        let actual = sha256_file(&path)?;
        if &actual != expected {
            return Err(ModelError::checkpoint(
                &path,
                format!(
                    "{name} does not match the SHA-256 recorded in config.json \
                     (corrupt, truncated or replaced)"
                ),
            ));
        }
    }
    Ok(())
}

/// Reads the tensors of `name`, whose checksum the caller has already checked.
fn read_tensors(dir: &Path, name: &str) -> Result<Vec<(String, Tensor)>> {
    let path = dir.join(name);
    Tensor::read_safetensors(&path).map_err(|e| {
        ModelError::checkpoint(
            &path,
            format!("cannot read the tensors (truncated or corrupt file?): {e}"),
        )
    })
}

/// The header of a safetensors file: every tensor's name, dtype and shape, read without
/// loading any tensor (8 bytes of little-endian header length, then that much JSON).
fn safetensors_header(path: &Path) -> Result<Vec<(String, String, Vec<i64>)>> {
    let bad = |problem: String| ModelError::checkpoint(path, problem);
    let mut file = fs::File::open(path).map_err(|e| ModelError::io(path, e))?;
    let file_len = file.metadata().map_err(|e| ModelError::io(path, e))?.len();
    let mut len = [0u8; 8];
    file.read_exact(&mut len)
        .map_err(|_| bad("too short for a safetensors file (truncated?)".into()))?;
    let header_len = u64::from_le_bytes(len);
    if header_len > file_len.saturating_sub(8) || header_len > 100 << 20 {
        return Err(bad(format!(
            "the safetensors header claims {header_len} bytes but the file has {file_len} \
             (truncated or not a safetensors file)"
        )));
    }
    let mut header = vec![0u8; header_len as usize];
    file.read_exact(&mut header)
        .map_err(|e| ModelError::io(path, e))?;
    #[derive(Deserialize)]
    struct Entry {
        dtype: String,
        shape: Vec<i64>,
        data_offsets: [u64; 2],
    }
    let raw: BTreeMap<String, serde_json::Value> = serde_json::from_slice(&header)
        .map_err(|e| bad(format!("the safetensors header is not valid JSON: {e}")))?;
    let data_len = file_len - 8 - header_len;
    let mut out = Vec::with_capacity(raw.len());
    for (name, value) in raw {
        if name == "__metadata__" {
            continue;
        }
        let entry: Entry = serde_json::from_value(value)
            .map_err(|e| bad(format!("tensor {name}: malformed header entry: {e}")))?;
        if entry.data_offsets[1] > data_len || entry.data_offsets[0] > entry.data_offsets[1] {
            return Err(bad(format!(
                "tensor {name} lies outside the file (truncated or corrupt file?)"
            )));
        }
        out.push((name, entry.dtype, entry.shape));
    }
    Ok(out)
}

/// Compares the tensors a weights file declares with those `config.json`'s model implies.
fn check_weight_shapes(path: &Path, config: &CheckpointConfig) -> Result<()> {
    let mut saved: HashMap<String, (String, Vec<i64>)> = safetensors_header(path)?
        .into_iter()
        .map(|(name, dtype, shape)| (name, (dtype, shape)))
        .collect();
    let mut problems = Vec::new();
    for (name, shape) in config.model.parameter_shapes() {
        match saved.remove(&name) {
            None => problems.push(format!("{name} is missing")),
            Some((_, s)) if s != shape => problems.push(format!(
                "{name} has shape {s:?} but the configuration implies {shape:?}"
            )),
            Some((dtype, _)) if !matches!(dtype.as_str(), "F32" | "F16" | "BF16" | "F64") => {
                problems.push(format!("{name} holds {dtype}, not floats"))
            }
            Some(_) => {}
        }
    }
    let mut extra: Vec<&String> = saved.keys().collect();
    extra.sort();
    if !extra.is_empty() {
        problems.push(format!("unexpected tensors {extra:?}"));
    }
    if problems.is_empty() {
        return Ok(());
    }
    let m = &config.model;
    Err(ModelError::checkpoint(
        path,
        format!(
            "the weights disagree with config.json's model ({} {}x{}, vocab {}): {}",
            m.cell,
            m.num_layers,
            m.hidden,
            m.vocab_size,
            problems.join("; ")
        ),
    ))
}

/// Copies the weights into `model`; `Checkpoint::load` checked the file's checksum and shapes.
fn load_weights(dir: &Path, config: &CheckpointConfig, model: &mut CharRnn) -> Result<()> {
    let path = dir.join(WEIGHTS);
    let mut saved: HashMap<String, Tensor> = read_tensors(dir, WEIGHTS)?.into_iter().collect();
    let mut problems = Vec::new();
    let mut non_finite = Vec::new();
    let mut values = Vec::new();
    for (name, p) in model.named_parameters() {
        match saved.remove(name) {
            None => problems.push(format!("{name} is missing")),
            Some(t) if t.size() != p.size() => problems.push(format!(
                "{name} has shape {:?} but the configuration implies {:?}",
                t.size(),
                p.size()
            )),
            Some(t) if !t.is_floating_point() => {
                problems.push(format!("{name} holds {:?}, not floats", t.kind()))
            }
            Some(t) => {
                let t = t.f_to_kind(Kind::Float)?;
                if !bool::try_from(t.f_isfinite()?.f_all()?)? {
                    non_finite.push(name.to_owned());
                }
                values.push(t);
            }
        }
    }
    let mut extra: Vec<&String> = saved.keys().collect();
    extra.sort();
    if !extra.is_empty() {
        problems.push(format!("unexpected tensors {extra:?}"));
    }
    if !problems.is_empty() {
        return Err(ModelError::checkpoint(
            &path,
            format!(
                "the weights disagree with config.json's model ({} {}x{}, vocab {}): {}",
                config.model.cell,
                config.model.num_layers,
                config.model.hidden,
                config.model.vocab_size,
                problems.join("; ")
            ),
        ));
    }
    if !non_finite.is_empty() {
        return Err(ModelError::checkpoint(
            &path,
            format!(
                "the weights hold NaN or infinite values (in {}): the model diverged or the \
                 file was altered; use an earlier checkpoint",
                non_finite.join(", ")
            ),
        ));
    }
    model.copy_from(&values)
}

/// Restores the optimizer state of a checkpoint written during training.
pub(crate) fn load_optimizer(
    dir: &Path,
    config: &CheckpointConfig,
    model: &CharRnn,
    optimizer: &mut Optimizer,
    steps: u64,
) -> Result<()> {
    check_file(dir, config, OPTIMIZER)?;
    let named = read_tensors(dir, OPTIMIZER)?.into_iter().collect();
    optimizer
        .load_named_state(model, steps, named)
        .map_err(|problem| ModelError::checkpoint(dir.join(OPTIMIZER), problem))
}

fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| ModelError::io(path, std::io::Error::other(e)))?;
    fs::write(path, text + "\n").map_err(|e| ModelError::io(path, e))
}

fn write_tensors(path: &Path, named: &[(String, Tensor)]) -> Result<()> {
    Tensor::write_safetensors(named, path)?;
    Ok(())
}

/// Writes a whole checkpoint directory (optimizer state included when given), atomically:
/// everything goes to a temporary sibling directory, which then replaces `dir`.
pub(crate) fn write_checkpoint(
    dir: &Path,
    model: &CharRnn,
    vocab: &Vocab,
    config: &mut CheckpointConfig,
    optimizer: Option<&Optimizer>,
) -> Result<()> {
    if vocab.len() != model.config().vocab_size {
        return Err(ModelError::InvalidInput(format!(
            "the vocabulary has {} ids but the model was built for {}",
            vocab.len(),
            model.config().vocab_size
        )));
    }
    config.format = CHECKPOINT_FORMAT;
    config.model = model.config().clone();
    replace_dir(dir, |tmp| {
        let weights = model
            .named_parameters()
            .map(|(n, t)| Ok((n.to_owned(), t.f_to_device(Device::Cpu)?.f_contiguous()?)))
            .collect::<Result<Vec<_>>>()?;
        write_tensors(&tmp.join(WEIGHTS), &weights)?;
        let tokenizer = tmp.join(TOKENIZER);
        vocab.save(&tokenizer).map_err(|e| {
            ModelError::checkpoint_caused(&tokenizer, "cannot write the vocabulary", e)
        })?;
        let mut names = vec![WEIGHTS, TOKENIZER];
        if let Some(opt) = optimizer {
            write_tensors(&tmp.join(OPTIMIZER), &opt.named_state(model)?)?;
            names.push(OPTIMIZER);
        }
        config.files.clear();
        for name in names {
            config
                .files
                .insert(name.to_owned(), sha256_file(&tmp.join(name))?);
        }
        write_json(&tmp.join(CONFIG), config)
    })
}

/// This process's temporary sibling `.NAME.KIND-PID` of `path` (`kind`: `tmp` for what is
/// being written or deleted, `old` for what is being replaced), the name that
/// [`clean_run_dir`](crate::clean_run_dir) recognises as a killed writer's leftover.
pub(crate) fn temp_sibling(path: &Path, kind: &str) -> Result<PathBuf> {
    let name = path
        .file_name()
        .ok_or_else(|| ModelError::checkpoint(path, "not a file or directory name"))?
        .to_string_lossy();
    Ok(path.with_file_name(format!(".{name}.{kind}-{}", std::process::id())))
}

/// Fills a fresh temporary sibling of `dir`, flushes it to disk, then puts it in `dir`'s place
/// (moving any old `dir` aside first and deleting it after).
pub(crate) fn replace_dir(dir: &Path, fill: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let (tmp, old) = (temp_sibling(dir, "tmp")?, temp_sibling(dir, "old")?);
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent).map_err(|e| ModelError::io(&parent, e))?;
    for leftover in [&tmp, &old] {
        if leftover.exists() {
            fs::remove_dir_all(leftover).map_err(|e| ModelError::io(leftover, e))?;
        }
    }
    fs::create_dir(&tmp).map_err(|e| ModelError::io(&tmp, e))?;
    let filled = fill(&tmp).and_then(|()| sync_dir_files(&tmp));
    if let Err(e) = filled {
        let _ = fs::remove_dir_all(&tmp);
        return Err(e);
    }
    let had_old = dir.exists();
    if had_old {
        fs::rename(dir, &old).map_err(|e| ModelError::io(dir, e))?;
    }
    if let Err(e) = fs::rename(&tmp, dir) {
        if had_old {
            let _ = fs::rename(&old, dir);
        }
        return Err(ModelError::io(dir, e));
    }
    if had_old {
        let _ = fs::remove_dir_all(&old);
    }
    Ok(())
}

fn sync_dir_files(dir: &Path) -> Result<()> {
    for entry in fs::read_dir(dir).map_err(|e| ModelError::io(dir, e))? {
        let path = entry.map_err(|e| ModelError::io(dir, e))?.path();
        fs::File::open(&path)
            .and_then(|f| f.sync_all())
            .map_err(|e| ModelError::io(&path, e))?;
    }
    Ok(())
}

/// Writes `text` to `path` atomically (temporary file in the same directory, then rename).
pub(crate) fn write_file_atomically(path: &Path, text: &str) -> Result<()> {
    let tmp = temp_sibling(path, "tmp")?;
    fs::write(&tmp, text)
        .and_then(|()| fs::File::open(&tmp)?.sync_all())
        .and_then(|()| fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = fs::remove_file(&tmp);
            ModelError::io(path, e)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use charrnn_vocab::VocabOptions;
    use std::cell::RefCell;

    thread_local! {
        /// Run once by the next load on this thread, between reading config.json and the rest.
        static MID_LOAD: RefCell<Option<Box<dyn FnOnce()>>> = const { RefCell::new(None) };
    }

    pub(super) fn run_mid_load_hook() {
        if let Some(hook) = MID_LOAD.with(|h| h.borrow_mut().take()) {
            hook();
        }
    }

    fn save_checkpoint(dir: &Path, corpus: &[&str]) -> usize {
        let vocab = Vocab::build(corpus.iter().copied(), &VocabOptions::default()).unwrap();
        let config = ModelConfig::new(vocab.len());
        let model = CharRnn::new(&config, Device::Cpu, 0).unwrap();
        let checkpoint = Checkpoint {
            config: CheckpointConfig::new(config),
            model,
            vocab,
        };
        checkpoint.save(dir).unwrap();
        checkpoint.vocab.len()
    }

    #[test]
    fn a_best_dir_replaced_during_the_load_is_read_again_whole() {
        let tmp = tempfile::tempdir().unwrap();
        let run = tmp.path().join("run");
        let old_len = save_checkpoint(&run.join("best"), &["abc"]);
        let new_len = save_checkpoint(&tmp.path().join("new"), &["abcdefgh"]);
        assert_ne!(old_len, new_len);
        // The way a training replaces best/: the old one moved aside, the new one renamed in,
        // here after the reader has read the old config.json.
        let (r, t) = (run.clone(), tmp.path().to_owned());
        MID_LOAD.with(|h| {
            *h.borrow_mut() = Some(Box::new(move || {
                fs::rename(r.join("best"), t.join("old")).unwrap();
                fs::rename(t.join("new"), r.join("best")).unwrap();
            }))
        });
        let loaded = Checkpoint::load(&run, Device::Cpu).unwrap();
        assert_eq!(loaded.vocab.len(), new_len);
        assert_eq!(loaded.config.model.vocab_size, new_len);
        // A checkpoint that is broken and stays so is still refused.
        fs::write(run.join("best").join(TOKENIZER), "{").unwrap();
        assert!(Checkpoint::load(&run, Device::Cpu).is_err());
    }

    #[test]
    fn old_and_foreign_data_settings_still_load() {
        let mut value = serde_json::to_value(CheckpointConfig::new(ModelConfig::new(10))).unwrap();
        for (data, expected) in [
            (serde_json::Value::Null, DataSettings::default()),
            (
                serde_json::json!({"corpus": "two titles"}),
                DataSettings::default(),
            ),
            (
                serde_json::json!({"columns": ["title"], "label_column": "label",
                    "label_values": [1, 2, 3, 4], "window": null, "bos": true, "preset": "default"}),
                DataSettings {
                    columns: vec!["title".into()],
                    label_column: Some("label".into()),
                    label_values: vec![1, 2, 3, 4],
                    preset: Some("default".into()),
                    ..DataSettings::default()
                },
            ),
        ] {
            value["data"] = data.clone();
            let config: CheckpointConfig = serde_json::from_value(value.clone()).unwrap();
            assert_eq!(config.data, expected, "{data}");
        }
        value.as_object_mut().unwrap().remove("data");
        let config: CheckpointConfig = serde_json::from_value(value).unwrap();
        assert!(config.data.bos);
    }
}
