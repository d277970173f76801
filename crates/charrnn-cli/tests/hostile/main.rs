//! Bad input, as a careless or hostile user gives it: every case is one `check(case)` call.
//!
//! For each case, in a scratch copy of a small world (CSV, Parquet, a trained run), the test
//! runs `charrnn` and asserts the exit code; for a refusal, exactly one `error:` line naming
//! the culprit and nothing on stdout; that every file of the scratch directory is
//! byte-identical afterwards (unless the case expects a change); and that no temporary file
//! is left behind.

mod history;
mod support;
mod work;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::*;

// --- 1. An output that is also an input -------------------------------------------------

fn link_csv(dir: &Path) {
    #[cfg(unix)]
    std::os::unix::fs::symlink(dir.join("train.csv"), dir.join("link.csv")).unwrap();
    std::fs::hard_link(dir.join("train.csv"), dir.join("hard.csv")).unwrap();
    std::fs::create_dir(dir.join("adir")).unwrap();
}

#[test]
fn no_command_writes_over_its_input() {
    check(
        &["prepare", "train.csv", "train.csv"],
        nothing,
        Expect::Refused("also an input"),
    );
    check(
        &["prepare", "train.csv", "./train.csv"],
        nothing,
        Expect::Refused("also an input"),
    );
    check(
        &["prepare", "train.csv", "link.csv"],
        link_csv,
        Expect::Refused("also an input"),
    );
    check(
        &["prepare", "train.csv", "hard.csv"],
        link_csv,
        Expect::Refused("also an input"),
    );
    check(
        &["prepare", "train.csv", "adir"],
        link_csv,
        Expect::Refused("is a directory"),
    );
    // A file that is there already is the user's: replaced only with --overwrite.
    fn own_files(dir: &Path) {
        std::fs::write(dir.join("mine.parquet"), "my notes").unwrap();
        std::fs::write(dir.join("mine.json"), "{}").unwrap();
        std::fs::write(dir.join("only.counts.json"), "[]").unwrap();
    }
    check(
        &["prepare", "train.csv", "mine.parquet"],
        own_files,
        Expect::Refused("the output mine.parquet exists already: give --overwrite"),
    );
    check(
        &[
            "prepare",
            "foreign.parquet",
            "mine.parquet",
            "--column",
            "title",
        ],
        own_files,
        Expect::Refused("the output mine.parquet exists already: give --overwrite"),
    );
    // prepare converts a CSV whole: a column named for it would be ignored, so it is refused;
    // a CSV read with the wrong delimiter is converted, but warned of.
    fn semicolons(dir: &Path) {
        std::fs::write(dir.join("semi.csv"), "id;title\n1;Stocks up\n2;Oil down\n").unwrap();
    }
    check(
        &["prepare", "semi.csv", "s.parquet", "--column", "nope"],
        semicolons,
        Expect::Refused("--column and --label-column do not apply to a CSV file"),
    );
    check(
        &["prepare", "semi.csv", "s.parquet"],
        semicolons,
        Expect::Warns("one column, `id;title`: if the CSV's fields are separated by `;`"),
    );
    // Validating on the training data would score what it trained on.
    check(
        &[
            "train",
            "--train",
            "train.parquet",
            "--valid",
            "./train.parquet",
            "--out",
            "new",
        ],
        nothing,
        Expect::Refused("--valid ./train.parquet is the --train data"),
    );
    for (output, culprit) in [
        ("mine.json", "--output mine.json exists already"),
        (
            "only.json",
            "--output's counts file only.counts.json exists already",
        ),
    ] {
        check(
            &["vocab", "build", "train.parquet", "--output", output],
            own_files,
            Expect::Refused(culprit),
        );
    }
    check(
        &[
            "vocab",
            "build",
            "train.parquet",
            "--output",
            "train.parquet",
        ],
        nothing,
        Expect::Refused("also an input"),
    );
    check(
        &[
            "train",
            "--train",
            "run/best/../../train.parquet",
            "--out",
            "run",
            "--vocab",
            "run/best/tokenizer.json",
            "--overwrite",
        ],
        nothing,
        Expect::Refused("--vocab"),
    );
    check(
        &[
            "train",
            "--train",
            "train.parquet",
            "--out",
            "train.parquet",
        ],
        nothing,
        Expect::Refused("is a file"),
    );
    // Inputs whose names are those of the files written into --store-dir.
    fn inputs_in_stores(dir: &Path) {
        std::fs::create_dir_all(dir.join("stores")).unwrap();
        for name in [
            "train.store",
            "valid.store",
            "eval.store",
            "train.tokenizer.json",
        ] {
            std::fs::copy(dir.join("train.parquet"), dir.join("stores").join(name)).unwrap();
        }
    }
    for (train, valid) in [
        ("stores/train.store", "train.parquet"),
        ("train.parquet", "stores/valid.store"),
        ("stores/train.tokenizer.json", "train.parquet"),
    ] {
        let mut case = vec![
            "train", "--train", train, "--valid", valid, "--format", "parquet",
        ];
        case.extend(["--store-dir", "stores", "--out", "new-run"]);
        case.extend(TINY);
        check(&case, inputs_in_stores, Expect::Refused("--store-dir"));
    }
    check(
        &[
            "eval",
            "run",
            "--data",
            "stores/eval.store",
            "--format",
            "parquet",
            "--store-dir",
            "stores",
        ],
        inputs_in_stores,
        Expect::Refused("the token store"),
    );
}

/// An output path that is not a plain file: a symbolic link is written through with
/// --overwrite (the link stays, its target gets the data); a FIFO is refused, not replaced by a file; a counts file
/// that cannot be written stops `vocab build` before its --output is touched.
#[cfg(unix)]
#[test]
fn outputs_that_are_not_plain_files() {
    use std::os::unix::fs::FileTypeExt;
    let scratch = scratch_world();
    let dir = scratch.path();
    std::fs::write(dir.join("target.parquet"), "keep").unwrap();
    std::os::unix::fs::symlink("target.parquet", dir.join("link.parquet")).unwrap();
    let out = charrnn(
        dir,
        &args(&[
            "prepare",
            "train.csv",
            "link.parquet",
            "--quiet",
            "--overwrite",
        ]),
    );
    assert!(out.status.success(), "{out:?}");
    let link = std::fs::symlink_metadata(dir.join("link.parquet")).unwrap();
    assert!(link.file_type().is_symlink(), "the link is kept");
    assert!(
        std::fs::read(dir.join("target.parquet"))
            .unwrap()
            .starts_with(b"PAR1")
    );
    let made = std::process::Command::new("mkfifo")
        .arg(dir.join("fifo"))
        .status();
    if made.is_ok_and(|s| s.success()) {
        let out = charrnn(dir, &args(&["prepare", "train.csv", "fifo"]));
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("not a regular file"));
        let fifo = std::fs::symlink_metadata(dir.join("fifo")).unwrap();
        assert!(fifo.file_type().is_fifo(), "the FIFO is still one");
    }
    fn counts_dir(dir: &Path) {
        std::fs::write(dir.join("v.json"), "OLD").unwrap();
        std::fs::create_dir(dir.join("v.counts.json")).unwrap();
    }
    check(
        &["vocab", "build", "train.parquet", "--output", "v.json"],
        counts_dir,
        Expect::Refused("counts file"),
    );
}

// --- 2. A run that trains nothing, or replaces a trained one ----------------------------

#[test]
fn a_trained_run_is_never_replaced_silently() {
    let mut existing = vec!["train", "--train", "train.parquet", "--out", "run"];
    existing.extend(TINY);
    check(
        &existing,
        nothing,
        Expect::Refused("already holds a trained model"),
    );
    run_train(&["--epochs", "0"], Expect::Usage("--epochs"));
    // Rows left out of one column could not be matched with the other's held-out rows.
    run_train(
        &["--extra-column", "title", "--skip-nulls"],
        Expect::Refused("--extra-column title with --skip-nulls needs --valid"),
    );
    run_train(&["--max-steps", "0"], Expect::Usage("--max-steps"));
    // Resuming a run whose budget is spent: nothing to do, nothing written.
    let mut resume = vec![
        "train",
        "--train",
        "train.parquet",
        "--out",
        "run",
        "--resume",
        "run",
    ];
    resume.extend(TINY);
    resume.extend(["--max-steps", "4"]);
    check(&resume, nothing, Expect::Refused("budget is already spent"));
    // What is not a run is named for what it is.
    check(
        &["train", "--resume", "nope"],
        nothing,
        Expect::Refused("--resume nope: no such run directory"),
    );
    check(
        &["train", "--resume", "run/best"],
        nothing,
        Expect::Refused("--resume run/best is a checkpoint, not a run: resume its run (run)"),
    );
    // A resume that names another shape, seed or data is refused (they were ignored or
    // silently trained on).
    let run = [
        "train",
        "--train",
        "train.parquet",
        "--out",
        "run",
        "--resume",
        "run",
    ];
    for (extra, culprit) in [
        (
            &["--hidden", "64"][..],
            "--hidden 64 is not the resumed run's 8",
        ),
        (
            &["--cell", "gru"][..],
            "--cell gru is not the resumed run's lstm",
        ),
        (&["--seed", "9"][..], "--seed 9 is not the run's seed"),
        (
            &["--column", "description"][..],
            "is not the data this run trained on",
        ),
    ] {
        let mut case = run.to_vec();
        case.extend(extra);
        case.extend(["--max-steps", "6"]);
        check(&case, nothing, Expect::Refused(culprit));
    }
}

/// Two trainings into one run directory: the second is refused at once, naming the cause,
/// instead of racing the first for its checkpoints.
#[test]
fn a_run_directory_in_use_is_refused() {
    let scratch = scratch_world();
    let dir = scratch.path();
    let mut base = args(&[
        "train",
        "--train",
        "train.parquet",
        "--out",
        "busy",
        "--quiet",
    ]);
    base.extend(args(TINY));
    let mut long = base.clone();
    long.extend(args(&["--max-steps", "1000000"]));
    let mut first = std::process::Command::new(env!("CARGO_BIN_EXE_charrnn"))
        .args(&long)
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The first holds the directory once it has made it (before its first step).
    let started = std::time::Instant::now();
    while !dir.join("busy/store").exists() && started.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let mut second = base;
    second.extend(args(&["--max-steps", "2", "--overwrite"]));
    let out = charrnn(dir, &second);
    let _ = first.kill();
    let _ = first.wait();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("in use by another charrnn training"),
        "{stderr}"
    );
}

/// A word-level vocabulary of the training titles, `words.json`.
fn words(dir: &Path) {
    let build = [
        "vocab",
        "build",
        "train.parquet",
        "-o",
        "words.json",
        "--level",
        "word",
    ];
    assert!(charrnn(dir, &args(&build)).status.success());
}

/// A training refused after it took its new run directory leaves no empty directory behind.
#[test]
fn a_refused_training_leaves_no_empty_run_directory() {
    let scratch = scratch_world();
    let dir = scratch.path();
    words(dir);
    let out = charrnn(dir, &args(&train_case(&["--vocab", "words.json"])));
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(!dir.join("new-run").exists());
}

/// A resume takes the run's own settings, not the preset's, for what its flags leave out; and
/// the run directory may be spelled in any way.
#[test]
fn a_resume_keeps_the_runs_settings() {
    let scratch = scratch_world();
    let dir = scratch.path();
    let resume = args(&[
        "train",
        "--train",
        "train.parquet",
        "--out",
        "run",
        "--resume",
        "./run",
        "--max-steps",
        "6",
        "--quiet",
    ]);
    let out = charrnn(dir, &resume);
    assert!(out.status.success(), "{out:?}");
    let config = last_config(&dir.join("run"));
    assert_eq!(config["progress"]["step"], 6);
    assert_eq!(
        config["training"]["batch_size"], 8,
        "the run's, not the preset's 64"
    );
    assert_eq!(config["model"]["hidden"], 8);
}

/// A directory of the user's that only shares a run's entry names is not a run: training
/// refuses it (even with --overwrite) rather than replace `best/`, `last/` or `metrics.jsonl`;
/// and it cleans only its own leftovers, never the user's look-alike dotfiles.
#[test]
fn a_directory_that_is_not_a_run_is_not_overwritten() {
    fn notes_in_best(dir: &Path) {
        std::fs::create_dir_all(dir.join("proj/best")).unwrap();
        std::fs::write(dir.join("proj/best/notes.txt"), "my notes").unwrap();
    }
    fn a_log(dir: &Path) {
        std::fs::create_dir_all(dir.join("proj")).unwrap();
        std::fs::write(dir.join("proj/metrics.jsonl"), "my log\n").unwrap();
    }
    for overwrite in [false, true] {
        let mut case = vec!["train", "--train", "train.parquet", "--out", "proj"];
        case.extend(TINY);
        if overwrite {
            case.push("--overwrite");
        }
        check(
            &case,
            notes_in_best,
            Expect::Refused("proj/best is not charrnn's"),
        );
        check(
            &case,
            a_log,
            Expect::Refused("metrics.jsonl is not charrnn's"),
        );
    }
    let scratch = scratch_world();
    let dir = scratch.path();
    let proj = dir.join("proj");
    std::fs::create_dir_all(&proj).unwrap();
    let dotfiles = [
        format!(".notes.old-{DEAD_PID}"),
        format!(".cache.tmp-{DEAD_PID}"),
    ];
    for f in &dotfiles {
        std::fs::write(proj.join(f), "the user's").unwrap();
    }
    let mut train = args(&["train", "--train", "train.parquet", "--out", "proj"]);
    train.extend(args(TINY));
    train.extend(args(&["--max-steps", "2", "--quiet"]));
    let out = charrnn(dir, &train);
    assert!(out.status.success(), "{out:?}");
    for f in &dotfiles {
        assert_eq!(std::fs::read_to_string(proj.join(f)).unwrap(), "the user's");
    }
    assert!(!proj.join("notes").exists());
}

/// A run written into another run's checkpoint directory, or anywhere inside another run,
/// would be replaced whole by that run's next save: refused, even with --overwrite; so is a
/// --store-dir inside the training folder, which the next training would read.
#[test]
fn runs_and_stores_are_not_written_inside_runs_or_inputs() {
    fn data_dir(dir: &Path) {
        std::fs::create_dir(dir.join("texts")).unwrap();
        std::fs::write(dir.join("texts/a.txt"), "some text to learn\n").unwrap();
    }
    for out in ["run/best", "run/last"] {
        let mut case = train_case(&["--overwrite"]);
        case[4] = out;
        check(&case, nothing, Expect::Refused("is a checkpoint directory"));
    }
    let mut case = train_case(&[]);
    case[4] = "run/nested";
    check(&case, nothing, Expect::Refused("lies inside"));
    let mut case = train_case(&["--store-dir", "texts/store"]);
    case[2] = "texts";
    check(
        &case,
        data_dir,
        Expect::Refused("--store-dir texts/store lies inside --train texts"),
    );
}

/// Inputs without a character of text: one line naming the input and why, not "empty
/// vocabulary".
#[test]
fn inputs_without_text_are_refused_naming_them() {
    fn empty_inputs(dir: &Path) {
        std::fs::write(dir.join("header.csv"), "title,label\n").unwrap();
        std::fs::write(dir.join("empty.txt"), "").unwrap();
    }
    for input in ["header.csv", "empty.txt"] {
        let case = [
            "train",
            "--train",
            input,
            "--out",
            "new-run",
            "--max-steps",
            "1",
        ];
        let expect: &'static str = match input {
            "header.csv" => "header.csv: no text to learn from",
            _ => "empty.txt: no text to learn from",
        };
        check(&case, empty_inputs, Expect::Refused(expect));
    }
}

// --- 3. Meaningless numbers --------------------------------------------------------------

#[test]
fn meaningless_numbers_are_usage_errors_naming_the_flag() {
    for (flag, value) in [
        ("--clip", "NaN"),
        ("--clip", "-1"),
        ("--valid-fraction", "NaN"),
        ("--valid-fraction", "0"),
        ("--valid-fraction", "1"),
        ("--window", "0"),
        ("--lr", "0"),
        ("--lr", "inf"),
        ("--lr-decay", "2"),
        ("--dropout", "1"),
        ("--hidden", "0"),
        ("--layers", "0"),
        ("--batch-size", "0"),
        ("--time-budget", "-5"),
        ("--eval-every", "0"),
        ("--sample-temperature", "0"),
        ("--sample-temperature", "NaN"),
        ("--divergence-factor", "0.5"),
        ("--precision", "fp16"),
        ("--lr", "1e-320"),
        ("--min-freq", "0"),
        ("--ema", "1"),
        ("--ema", "-0.5"),
        ("--ema", "NaN"),
        ("--seed", "-5"),
        ("--sample-temperature", "0.8,0"),
    ] {
        run_train(&[flag, value], Expect::Usage(flag));
    }
    run_train(
        &["--window", "8", "--stride", "0"],
        Expect::Usage("--stride"),
    );
    run_train(
        &["--window", "8", "--stateful", "--label-column", "label"],
        Expect::Usage("--stateful"),
    );
    run_train(&["--device", "tpu"], Expect::Usage("--device"));
    // A word-level vocabulary would have its scores called bits per character.
    check(
        &train_case(&["--vocab", "words.json"]),
        words,
        Expect::Refused("word-level vocabulary"),
    );
    // Inputs that do not open are refused before a store is built in --out.
    run_train(
        &["--valid", "missing.parquet"],
        Expect::Refused("missing.parquet"),
    );
    run_train(
        &["--extra-column", "nope"],
        Expect::Refused("no column `nope`"),
    );
    // More processes than a batch has rows (TINY's 8) would start before anything failed: a
    // huge --nproc spawned processes until the machine choked. Refused before any starts.
    for nproc in ["18446744073709551615", "9"] {
        run_train(&["--nproc", nproc], Expect::Refused("--nproc"));
    }
    check(
        &[
            "eval",
            "run",
            "--data",
            "train.parquet",
            "--batch-size",
            "0",
        ],
        nothing,
        Expect::Usage("--batch-size"),
    );
    for (flag, value) in [
        ("--temperature", "0"),
        ("--temperature", "-0.5"),
        ("--temperature", "NaN"),
        ("--temperature-schedule", "1,0"),
        ("--top-k", "0"),
        ("--top-p", "0"),
        ("--top-p", "1.5"),
        ("--min-p", "1"),
        ("--num-samples", "0"),
        ("--max-len", "0"),
        ("--sampler", "tpu"),
        ("--sync-every", "0"),
        ("--device", "tpu"),
        ("--device", "cpu:0"),
        // One batch row each: more would exhaust memory (an abort, or the OOM killer).
        ("--num-samples", "99999999999999"),
        ("--num-samples", "65537"),
        ("--seed", "-1"),
        // The run has no classes: a label is out of its (empty) range.
        ("--label", "World"),
    ] {
        check(
            &["generate", "run", flag, value],
            nothing,
            Expect::Usage(flag),
        );
    }
    // At most 65,536 samples in all, however they are asked for.
    for case in [
        &["--prompt", "a", "--prompt", "b", "-n", "40000"][..],
        &["--temperature", "0.5,1", "-n", "40000"][..],
    ] {
        let mut line = vec!["generate", "run"];
        line.extend(case);
        check(
            &line,
            nothing,
            Expect::Usage("is 80000 samples, more than 65536"),
        );
    }
    check(
        &["serve", "run", "--max-n", "65537"],
        nothing,
        Expect::Usage("--max-n"),
    );
}

// --- 4 and 5. Checkpoints that lie ------------------------------------------------------

fn edit_config(dir: &Path, edit: impl Fn(&mut serde_json::Value)) {
    for sub in ["best", "last"] {
        let path = dir.join("run").join(sub).join("config.json");
        let mut config: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        edit(&mut config);
        std::fs::write(&path, serde_json::to_string_pretty(&config).unwrap()).unwrap();
    }
}

fn huge_hidden(dir: &Path) {
    edit_config(dir, |c| c["model"]["hidden"] = 2_000_000_000u64.into());
}

fn other_hidden(dir: &Path) {
    edit_config(dir, |c| c["model"]["hidden"] = 16.into());
}

/// Overwrites every float of the weights with NaN and drops the checksums that would catch it.
fn nan_weights(dir: &Path) {
    for sub in ["best", "last"] {
        let path = dir.join("run").join(sub).join("model.safetensors");
        let mut bytes = std::fs::read(&path).unwrap();
        let header = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        for chunk in bytes[8 + header..].chunks_exact_mut(4) {
            chunk.copy_from_slice(&f32::NAN.to_le_bytes());
        }
        std::fs::write(&path, bytes).unwrap();
    }
    edit_config(dir, |c| c["files"] = serde_json::json!({}));
}

#[test]
fn checkpoints_are_checked_before_use() {
    for command in [
        &["generate", "run", "--max-len", "5"][..],
        &["eval", "run", "--data", "train.parquet"][..],
    ] {
        check(command, huge_hidden, Expect::Refused("config.json"));
        check(command, other_hidden, Expect::Refused("model.safetensors"));
        check(command, nan_weights, Expect::Refused("NaN"));
    }
}

#[test]
fn a_diverging_training_stops_and_keeps_the_last_good_checkpoint() {
    let mut resume = vec![
        "train",
        "--train",
        "train.parquet",
        "--out",
        "run",
        "--resume",
        "run",
    ];
    resume.extend(TINY);
    resume.extend(["--max-steps", "12", "--lr", "1e30", "--quiet"]);
    check(&resume, nothing, Expect::Refused("diverged"));
}

// --- 6 and 7. Text outside the vocabulary -----------------------------------------------

#[test]
fn unknown_characters_warn_or_are_refused_before_any_output() {
    check(
        &["generate", "run", "--prompt", "Zürich 東京", "--strict"],
        nothing,
        Expect::Refused("'ü'"),
    );
    check(
        &[
            "generate",
            "run",
            "--prompt",
            "Zürich 東京",
            "--max-len",
            "3",
        ],
        nothing,
        Expect::Warns("outside the vocabulary"),
    );
    check(
        &["eval", "run", "--data", "foreign.parquet", "--strict"],
        nothing,
        Expect::Refused("foreign.parquet"),
    );
    check(
        &["eval", "run", "--data", "foreign.parquet"],
        nothing,
        Expect::Warns("outside the vocabulary"),
    );
}

// --- 8. Stray files ---------------------------------------------------------------------

#[test]
fn a_failed_vocabulary_write_leaves_nothing() {
    fn dir_named_vocab(dir: &Path) {
        std::fs::create_dir(dir.join("vocab")).unwrap();
    }
    check(
        &["vocab", "build", "train.parquet", "--output", "vocab"],
        dir_named_vocab,
        Expect::Refused("is a directory"),
    );
    check(
        &[
            "vocab",
            "build",
            "train.parquet",
            "--output",
            "no/such/dir/tokenizer.json",
        ],
        nothing,
        Expect::Refused("no/such/dir"),
    );
}

// --- 9. Leftovers of killed runs --------------------------------------------------------

/// A process id that is not running (the largest ids are never handed out by default).
const DEAD_PID: u32 = 4_194_300;

#[test]
fn the_next_run_removes_leftovers_of_killed_ones() {
    let scratch = scratch_world();
    let dir = scratch.path();
    let run = dir.join("run");
    // A killed replacement of best/: the old copy moved aside, the new one half-written.
    std::fs::rename(run.join("best"), run.join(format!(".best.old-{DEAD_PID}"))).unwrap();
    copy_dir(
        &run.join("last"),
        &run.join(format!(".best.tmp-{DEAD_PID}")),
    );
    copy_dir(
        &run.join("last"),
        &run.join(format!(".last.tmp-{}", DEAD_PID - 1)),
    );
    std::fs::write(run.join(format!(".metrics.jsonl.tmp-{DEAD_PID}")), "{").unwrap();
    // Not a checkpoint: generate finds best/ gone and takes last/.
    let mut resume = args(&[
        "train",
        "--train",
        "train.parquet",
        "--out",
        "run",
        "--resume",
        "run",
    ]);
    resume.extend(args(TINY));
    resume.extend(args(&["--max-steps", "6", "--quiet"]));
    let out = charrnn(dir, &resume);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(temporaries(dir), Vec::<PathBuf>::new());
    assert!(
        run.join("best/config.json").is_file(),
        "best/ restored or rewritten"
    );
}

#[test]
fn a_killed_training_always_leaves_a_loadable_run_and_no_leftovers_after_the_next() {
    let scratch = scratch_world();
    let dir = scratch.path();
    // Seeded kill moments (a small LCG): the same moments on every run of the test.
    let mut state: u64 = 0x5eed;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) % 1500
    };
    for round in 0..4 {
        let mut train = args(&["train", "--train", "train.parquet", "--out", "killed"]);
        train.extend(args(TINY));
        train.extend(args(&[
            "--max-steps",
            "100000",
            "--eval-every",
            "2",
            "--quiet",
        ]));
        if round > 0 && dir.join("killed/last/config.json").is_file() {
            train.extend(args(&["--resume", "killed"]));
        } else {
            train.push("--overwrite".into());
        }
        let mut child = Command::new(env!("CARGO_BIN_EXE_charrnn"))
            .args(&train)
            .current_dir(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300 + next()));
        child.kill().unwrap();
        child.wait().unwrap();
        if dir.join("killed/last").exists() || dir.join("killed/best").exists() {
            let out = charrnn(
                dir,
                &args(&["eval", "killed", "--data", "train.parquet", "--json"]),
            );
            assert!(
                out.status.success(),
                "round {round}: the run loads: {out:?}"
            );
        }
    }
    let mut finish = args(&[
        "train",
        "--train",
        "train.parquet",
        "--out",
        "killed",
        "--overwrite",
    ]);
    finish.extend(args(TINY));
    finish.extend(args(&["--max-steps", "2", "--quiet"]));
    let out = charrnn(dir, &finish);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(temporaries(dir), Vec::<PathBuf>::new());
}

// --- 10. --quiet ------------------------------------------------------------------------

#[test]
fn quiet_silences_progress_and_its_absence_shows_it_on_a_pipe() {
    let scratch = scratch_world();
    let dir = scratch.path();
    let mut train = args(&["train", "--train", "train.parquet", "--out", "loud"]);
    train.extend(args(TINY));
    train.extend(args(&["--epochs", "1", "--eval-every", "3"]));
    let loud = charrnn(dir, &train);
    assert!(loud.status.success(), "{loud:?}");
    let stderr = String::from_utf8_lossy(&loud.stderr);
    assert!(
        stderr.contains("valid"),
        "evaluation lines on a pipe: {stderr}"
    );
    assert!(stderr.contains("sample"), "samples on a pipe: {stderr}");

    train.extend(args(&["--quiet", "--overwrite"]));
    let quiet = charrnn(dir, &train);
    assert!(quiet.status.success(), "{quiet:?}");
    assert_eq!(
        String::from_utf8_lossy(&quiet.stderr),
        "",
        "nothing with --quiet"
    );
}

// --- Exit codes -------------------------------------------------------------------------

#[test]
fn exit_codes_are_documented() {
    let out = charrnn(world(), &args(&["--help"]));
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("Exit status: 0 success; 1 runtime error"),
        "{help}"
    );
    assert!(help.contains("2 usage error"), "{help}");
    check(
        &["train", "--no-such-flag"],
        nothing,
        Expect::Usage("--no-such-flag"),
    );
    check(
        &["eval", "no-such-run", "--data", "train.parquet"],
        nothing,
        Expect::Refused("no-such-run"),
    );
}
