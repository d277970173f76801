//! The history of checkpoints (`TrainConfig::checkpoint_every`): which steps are kept, what
//! each holds, a resume adding to it, a new run replacing it, and the run-directory rules
//! (leftovers of killed writers, entries that are not charrnn's).

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::common::{Data, config, train_config};
use charrnn_model::tch::Device;
use charrnn_model::{
    CHECKPOINTS_DIR, Cell, CharRnn, Checkpoint, InputMode, Leftover, ModelError, TrainConfig,
    Trainer, checkpoint_history, clean_run_dir, foreign_run_entries, history_name, run_holds_model,
};

/// A process id that is not running (the largest ids are never handed out by default).
const DEAD_PID: u32 = 4_194_300;

fn model(data: &Data, seed: u64) -> CharRnn {
    let cfg = config(
        data.vocab.len(),
        Cell::Lstm,
        InputMode::Embedding { dim: 8 },
    );
    CharRnn::new(&cfg, Device::Cpu, seed).unwrap()
}

/// `steps` steps, a history checkpoint every 2, keeping `keep` (three batches an epoch: the
/// epochs end at steps 3 and 6).
fn recipe(steps: u64, keep: usize) -> TrainConfig {
    TrainConfig {
        checkpoint_every: Some(2),
        keep_checkpoints: keep,
        ..train_config(steps)
    }
}

/// The names in `run/checkpoints/`, sorted.
fn names(run: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(run.join(CHECKPOINTS_DIR))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn steps(run: &Path) -> Vec<u64> {
    checkpoint_history(run)
        .unwrap()
        .iter()
        .map(|c| c.step)
        .collect()
}

fn history_dir(run: &Path, step: u64) -> PathBuf {
    run.join(CHECKPOINTS_DIR).join(history_name(step))
}

#[test]
fn every_n_steps_a_checkpoint_and_the_newest_are_kept() {
    let data = Data::new(false);
    let dir = tempfile::tempdir().unwrap();
    let mut trainer = Trainer::new(model(&data, 3), recipe(7, 2), dir.path()).unwrap();
    trainer.fit(&data.borrow(), &mut ()).unwrap();
    assert_eq!(names(dir.path()), ["step-0000004", "step-0000006"]);
    for step in [4, 6] {
        let at = history_dir(dir.path(), step);
        let loaded = Checkpoint::load(&at, Device::Cpu).unwrap();
        assert_eq!(loaded.config.progress.as_ref().unwrap().step, step);
        assert!(at.join("model.safetensors").is_file());
        assert!(
            !at.join("optimizer.safetensors").exists(),
            "{}",
            at.display()
        );
    }
    // Step 6 ends an epoch: its checkpoint comes after that evaluation and records it; step 4
    // records the latest one before it (the end of the first epoch, step 3).
    let record = |step| {
        Checkpoint::load(&history_dir(dir.path(), step), Device::Cpu)
            .unwrap()
            .config
            .metrics
            .unwrap()
    };
    assert_eq!(record(6).step, 6);
    assert!(record(6).val_bpc.is_some());
    assert_eq!(record(4).step, 3);
    // best/ and last/ are there as before, and the run is a run holding a model.
    assert!(dir.path().join("last/optimizer.safetensors").is_file());
    assert!(run_holds_model(dir.path()));
}

#[test]
fn keep_zero_keeps_all_and_a_resume_adds_to_the_history() {
    let data = Data::new(false);
    let dir = tempfile::tempdir().unwrap();
    let mut trainer = Trainer::new(model(&data, 3), recipe(7, 0), dir.path()).unwrap();
    trainer.fit(&data.borrow(), &mut ()).unwrap();
    drop(trainer);
    assert_eq!(steps(dir.path()), [2, 4, 6]);
    assert_eq!(
        names(dir.path()),
        ["step-0000002", "step-0000004", "step-0000006"]
    );
    let before = fs::read(history_dir(dir.path(), 2).join("model.safetensors")).unwrap();
    // A step the resume writes again (here, left by a killed run) is replaced whole.
    copy_dir(&history_dir(dir.path(), 6), &history_dir(dir.path(), 8));
    fs::write(history_dir(dir.path(), 8).join("stale.txt"), "old").unwrap();
    let mut resumed = Trainer::resume(dir.path(), Device::Cpu, Some(recipe(10, 0))).unwrap();
    assert_eq!(resumed.progress().step, 7);
    resumed.fit(&data.borrow(), &mut ()).unwrap();
    assert_eq!(steps(dir.path()), [2, 4, 6, 8, 10]);
    let eight = history_dir(dir.path(), 8);
    assert!(!eight.join("stale.txt").exists());
    let loaded = Checkpoint::load(&eight, Device::Cpu).unwrap();
    assert_eq!(loaded.config.progress.unwrap().step, 8);
    assert_eq!(
        fs::read(history_dir(dir.path(), 2).join("model.safetensors")).unwrap(),
        before,
        "the resume keeps the earlier history"
    );
    // A resume may keep fewer: the oldest go at its next history checkpoint.
    let mut fewer = Trainer::resume(dir.path(), Device::Cpu, Some(recipe(12, 2))).unwrap();
    fewer.fit(&data.borrow(), &mut ()).unwrap();
    assert_eq!(steps(dir.path()), [10, 12]);
}

#[test]
fn a_new_run_replaces_the_old_history_when_it_first_saves() {
    let data = Data::new(false);
    let dir = tempfile::tempdir().unwrap();
    let mut old = Trainer::new(model(&data, 3), recipe(6, 0), dir.path()).unwrap();
    old.fit(&data.borrow(), &mut ()).unwrap();
    assert_eq!(steps(dir.path()), [2, 4, 6]);
    // A new run is refused without `overwrite`, even where only the history holds a model.
    let only_history = tempfile::tempdir().unwrap();
    copy_dir(
        &dir.path().join(CHECKPOINTS_DIR),
        &only_history.path().join(CHECKPOINTS_DIR),
    );
    let err = Trainer::new(model(&data, 4), recipe(2, 0), only_history.path())
        .unwrap()
        .fit(&data.borrow(), &mut ())
        .unwrap_err();
    assert!(matches!(err, ModelError::RunExists(_)), "{err:?}");
    // Interrupted before it saved anything: the old run, history included, stays whole.
    let err = Trainer::new(model(&data, 4), recipe(100, 0), dir.path())
        .unwrap()
        .overwrite(true)
        .interrupt_on(Arc::new(AtomicBool::new(true)))
        .fit(&data.borrow(), &mut ())
        .unwrap_err();
    assert!(matches!(err, ModelError::InterruptedUnsaved(_)), "{err:?}");
    assert_eq!(steps(dir.path()), [2, 4, 6]);
    // A new run of 3 steps: its own step 2 alone, no step of the old run.
    let mut new = Trainer::new(model(&data, 4), recipe(3, 0), dir.path())
        .unwrap()
        .overwrite(true);
    new.fit(&data.borrow(), &mut ()).unwrap();
    assert_eq!(names(dir.path()), ["step-0000002"]);
    let new_weights = Checkpoint::load(&history_dir(dir.path(), 2), Device::Cpu).unwrap();
    let fresh = tempfile::tempdir().unwrap();
    Trainer::new(model(&data, 4), recipe(3, 0), fresh.path())
        .unwrap()
        .fit(&data.borrow(), &mut ())
        .unwrap();
    let fresh_weights = Checkpoint::load(&history_dir(fresh.path(), 2), Device::Cpu).unwrap();
    for ((name, a), (_, b)) in new_weights
        .model
        .named_parameters()
        .zip(fresh_weights.model.named_parameters())
    {
        assert!(a.allclose(b, 1e-6, 1e-6, false), "{name}");
    }
    // No history asked for: a new run still leaves none of the old one.
    let mut plain = Trainer::new(model(&data, 5), train_config(1), dir.path())
        .unwrap()
        .overwrite(true);
    plain.fit(&data.borrow(), &mut ()).unwrap();
    assert!(!dir.path().join(CHECKPOINTS_DIR).exists());
}

#[test]
fn leftovers_in_the_history_are_cleaned_and_strangers_are_refused() {
    let data = Data::new(false);
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path();
    Trainer::new(model(&data, 3), recipe(4, 0), run)
        .unwrap()
        .fit(&data.borrow(), &mut ())
        .unwrap();
    assert!(foreign_run_entries(run).is_empty());
    let history = run.join(CHECKPOINTS_DIR);
    // A killed writer of step 2: half a new copy; a killed replacement of step 4: the old copy
    // moved aside and nothing in its place; a live process's (this one's) untouched.
    copy_dir(
        &history.join("step-0000002"),
        &history.join(format!(".step-0000002.tmp-{DEAD_PID}")),
    );
    fs::rename(
        history.join("step-0000004"),
        history.join(format!(".step-0000004.old-{DEAD_PID}")),
    )
    .unwrap();
    let live = format!(".step-0000006.tmp-{}", std::process::id());
    fs::create_dir(history.join(&live)).unwrap();
    assert!(foreign_run_entries(run).is_empty(), "leftovers are ours");
    let done = clean_run_dir(run).unwrap();
    assert_eq!(done.len(), 2, "{done:?}");
    assert!(done.contains(&Leftover::Restored {
        from: history.join(format!(".step-0000004.old-{DEAD_PID}")),
        to: history.join("step-0000004"),
    }));
    assert_eq!(
        names(run),
        [live.as_str(), "step-0000002", "step-0000004"],
        "restored, removed, left alone"
    );
    fs::remove_dir(history.join(&live)).unwrap();
    // Strangers: a file of the user's, a step directory that is no checkpoint, a file in
    // place of the directory.
    fs::write(history.join("notes.txt"), "mine").unwrap();
    fs::create_dir(history.join("step-0000009")).unwrap();
    assert_eq!(
        foreign_run_entries(run),
        [history.join("notes.txt"), history.join("step-0000009")]
    );
    // A new run's replacement takes only the history, and keeps the strangers.
    Trainer::new(model(&data, 4), recipe(1, 0), run)
        .unwrap()
        .overwrite(true)
        .fit(&data.borrow(), &mut ())
        .unwrap();
    assert_eq!(names(run), ["notes.txt", "step-0000009"]);
    fs::remove_dir_all(&history).unwrap();
    fs::write(&history, "not a directory").unwrap();
    assert_eq!(foreign_run_entries(run), vec![history]);
    // Zero steps between history checkpoints is refused.
    let bad = TrainConfig {
        checkpoint_every: Some(0),
        ..train_config(4)
    };
    assert!(matches!(
        bad.validate(),
        Err(ModelError::InvalidTrainConfig(_))
    ));
}

/// A configuration of an older checkpoint, without the history's fields: no history, the
/// default number kept.
#[test]
fn older_training_configurations_load_without_a_history() {
    let config: TrainConfig = serde_json::from_str(r#"{"batch_size": 8}"#).unwrap();
    assert_eq!(config.checkpoint_every, None);
    assert_eq!(
        config.keep_checkpoints,
        charrnn_model::DEFAULT_KEEP_CHECKPOINTS
    );
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Between two validations, each history checkpoint brings `last/` up to date too: a run
/// killed at step 5 resumes from step 4, not from nothing, and ends with the weights of a run
/// that was never killed.
#[test]
fn a_run_killed_between_validations_resumes_from_its_newest_history_checkpoint() {
    struct Snapshot<'a> {
        run: &'a Path,
        copy: &'a Path,
        last_steps: Vec<Option<u64>>,
    }
    impl charrnn_model::Observer for Snapshot<'_> {
        fn on_step(&mut self, info: &charrnn_model::StepInfo) {
            let last = charrnn_model::CheckpointConfig::read(&self.run.join("last")).ok();
            self.last_steps
                .push(last.and_then(|c| c.progress).map(|p| p.step));
            // What a kill at step 5 would leave.
            if info.step == 5 {
                copy_dir(self.run, self.copy);
            }
        }
    }
    let data = Data::new(false);
    let (dir, killed) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let run = dir.path().join("run");
    let copy = killed.path().join("run");
    // No validation before the end: epoch ends are too close together.
    let recipe = TrainConfig {
        epoch_eval_min_steps: 50,
        ..recipe(10, 0)
    };
    let mut trainer = Trainer::new(model(&data, 3), recipe.clone(), &run).unwrap();
    let mut snapshot = Snapshot {
        run: &run,
        copy: &copy,
        last_steps: Vec::new(),
    };
    trainer.fit(&data.borrow(), &mut snapshot).unwrap();
    let whole = fs::read(run.join("last/model.safetensors")).unwrap();
    drop(trainer);
    // Seen at steps 1 to 10, before each step's own checkpoint.
    assert_eq!(
        snapshot.last_steps,
        [
            None,
            None,
            Some(2),
            Some(2),
            Some(4),
            Some(4),
            Some(6),
            Some(6),
            Some(8),
            Some(8)
        ]
    );
    let mut resumed = Trainer::resume(&copy, Device::Cpu, Some(recipe)).unwrap();
    assert_eq!(resumed.progress().step, 4);
    resumed.fit(&data.borrow(), &mut ()).unwrap();
    drop(resumed);
    assert_eq!(
        fs::read(copy.join("last/model.safetensors")).unwrap(),
        whole
    );
}
