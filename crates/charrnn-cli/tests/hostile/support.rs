//! The world, the snapshot and the one `check` helper of the hostile-input cases.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::OnceLock,
};

#[path = "../common/mod.rs"]
mod common;

pub(crate) use common::{TITLES, json_lines};

pub(crate) fn charrnn(dir: &Path, args: &[String]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_charrnn"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the charrnn binary runs")
}

/// The `config.json` of the run `run`'s `last/` checkpoint.
pub(crate) fn last_config(run: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(run.join("last/config.json")).unwrap()).unwrap()
}

/// The flags of a tiny, fast model.
pub(crate) const TINY: &[&str] = &[
    "--hidden",
    "8",
    "--layers",
    "1",
    "--embed-dim",
    "4",
    "--batch-size",
    "8",
    "--device",
    "cpu",
    "--threads",
    "1",
];

/// A directory prepared once per test process: `train.csv`, `train.parquet`, `foreign.csv`
/// and `foreign.parquet` (text wholly outside the vocabulary), `run/` (a trained run). It
/// lives under cargo's target directory for integration tests, in place of the previous run's
/// (a static is never dropped, so a temporary directory of /tmp was left by every run).
pub(crate) fn world() -> &'static Path {
    static WORLD: OnceLock<tempfile::TempDir> = OnceLock::new();
    WORLD
        .get_or_init(|| {
            let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("hostile-world");
            let _ = std::fs::remove_dir_all(&root);
            std::fs::create_dir_all(&root).unwrap();
            let dir = tempfile::tempdir_in(&root).unwrap();
            let mut csv = String::new();
            for _ in 0..4 {
                for (label, title) in TITLES {
                    csv.push_str(&format!("\"{label}\",\"{title}\",\"A description.\"\n"));
                }
            }
            std::fs::write(dir.path().join("train.csv"), csv).unwrap();
            std::fs::write(
                dir.path().join("foreign.csv"),
                "\"1\",\"Zürich 東京 ßæø\",\"ÆØÅ\"\n\"2\",\"Ωμέγα ÆØÅ\",\"ß\"\n",
            )
            .unwrap();
            for name in ["train", "foreign"] {
                let out = charrnn(
                    dir.path(),
                    &args(&[
                        "prepare",
                        &format!("{name}.csv"),
                        &format!("{name}.parquet"),
                    ]),
                );
                assert!(out.status.success(), "{out:?}");
            }
            let mut train = args(&[
                "train",
                "--train",
                "train.parquet",
                "--out",
                "run",
                "--max-steps",
                "4",
                "--valid-fraction",
                "0.25",
                "--quiet",
            ]);
            train.extend(args(TINY));
            let out = charrnn(dir.path(), &train);
            assert!(out.status.success(), "{out:?}");
            dir
        })
        .path()
}

/// A fresh copy of [`world`] for a test that changes it.
pub(crate) fn scratch_world() -> tempfile::TempDir {
    let scratch = tempfile::tempdir().unwrap();
    copy_dir(world(), scratch.path());
    scratch
}

pub(crate) fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

pub(crate) fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Every file under `dir`, by relative path, with its bytes.
pub(crate) fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() && !path.is_symlink() {
                walk(root, &path, out);
            } else {
                let bytes = std::fs::read(&path).unwrap_or_default();
                out.insert(path.strip_prefix(root).unwrap().to_owned(), bytes);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Names under `dir` that look like an interrupted atomic write.
pub(crate) fn temporaries(dir: &Path) -> Vec<PathBuf> {
    snapshot_names(dir)
        .into_iter()
        .filter(|p| {
            p.file_name().map(|n| n.to_string_lossy()).is_some_and(|n| {
                n.contains(".tmp") || n.contains(".old-") || n.ends_with(".partial")
            })
        })
        .collect()
}

pub(crate) fn snapshot_names(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        out.push(path.clone());
        if path.is_dir() && !path.is_symlink() {
            out.extend(snapshot_names(&path));
        }
    }
    out
}

/// What a case must do.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Expect {
    /// Exit 2, one `error:` line containing the text and nothing else on stderr, files
    /// untouched.
    Usage(&'static str),
    /// Exit 1, one `error:` line containing the text, files untouched.
    Refused(&'static str),
    /// Exit 0 with a `warning:` line on stderr containing the text.
    Warns(&'static str),
}

pub(crate) type Setup = fn(&Path);

pub(crate) fn nothing(_: &Path) {}

/// Runs one case in a fresh scratch copy of the world, after `setup`, and checks it.
pub(crate) fn check(case: &[&str], setup: Setup, expect: Expect) {
    let scratch = scratch_world();
    let dir = scratch.path();
    setup(dir);
    let before = snapshot(dir);
    let out = charrnn(dir, &args(case));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let context = format!("charrnn {case:?}\nstderr: {stderr}\nstdout: {stdout}");
    assert!(!stderr.contains("panicked"), "a panic: {context}");
    match expect {
        Expect::Usage(culprit) | Expect::Refused(culprit) => {
            let code = if matches!(expect, Expect::Usage(_)) {
                2
            } else {
                1
            };
            assert_eq!(out.status.code(), Some(code), "exit code: {context}");
            let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
            assert_eq!(errors.len(), 1, "exactly one error line: {context}");
            if matches!(expect, Expect::Usage(_)) {
                // Nothing but that line: no usage block, no tip or help line of its own.
                assert_eq!(stderr.lines().count(), 1, "only the error line: {context}");
            }
            assert!(errors[0].contains(culprit), "names {culprit:?}: {context}");
            assert!(stdout.is_empty(), "nothing on stdout: {context}");
            let after = snapshot(dir);
            assert_eq!(
                before.keys().collect::<Vec<_>>(),
                after.keys().collect::<Vec<_>>(),
                "the same files: {context}"
            );
            for (path, bytes) in &before {
                assert!(
                    after[path] == *bytes,
                    "{} changed: {context}",
                    path.display()
                );
            }
        }
        Expect::Warns(text) => {
            assert_eq!(out.status.code(), Some(0), "success: {context}");
            let warnings: Vec<&str> = stderr
                .lines()
                .filter(|l| l.starts_with("warning:"))
                .collect();
            assert!(
                warnings.iter().any(|w| w.contains(text)),
                "a warning with {text:?}: {context}"
            );
        }
    }
    assert_eq!(
        temporaries(dir),
        Vec::<PathBuf>::new(),
        "leftovers: {context}"
    );
}

pub(crate) fn train_case(extra: &[&str]) -> Vec<&'static str> {
    let mut a: Vec<&'static str> = vec!["train", "--train", "train.parquet", "--out", "new-run"];
    a.extend(TINY.iter().copied());
    for e in extra {
        a.push(Box::leak(e.to_string().into_boxed_str()));
    }
    a
}

pub(crate) fn run_train(extra: &[&str], expect: Expect) {
    check(&train_case(extra), nothing, expect);
}
