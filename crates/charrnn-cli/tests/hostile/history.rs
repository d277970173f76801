//! The history of checkpoints (`train --checkpoint-every`): each is a model to use, a killed
//! writer's leftovers go, what is not charrnn's in `checkpoints/` is refused and kept, and
//! `--overwrite` replaces the old run's history with the new run's.

use std::path::Path;
use std::process::Output;

use crate::DEAD_PID;
use crate::support::*;

/// `charrnn train` of the tiny model on the world's data into `hist/`, with `extra`.
fn train_hist(dir: &Path, extra: &[&str]) -> Output {
    let mut a = args(&["train", "--train", "train.parquet", "--out", "hist"]);
    a.extend(args(TINY));
    a.extend(args(extra));
    let out = charrnn(dir, &a);
    assert!(out.status.success(), "{a:?}: {out:?}");
    out
}

/// The names in `hist/checkpoints/`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("hist/checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn history_checkpoints_generate_resume_and_are_replaced_by_overwrite() {
    let scratch = scratch_world();
    let dir = scratch.path();
    train_hist(dir, &["--max-steps", "4", "--checkpoint-every", "2"]);
    assert_eq!(names(dir), ["step-0000002", "step-0000004"]);
    // Each is a model to generate from.
    let out = charrnn(
        dir,
        &args(&[
            "generate",
            "hist/checkpoints/step-0000002",
            "--max-len",
            "5",
            "--json",
        ]),
    );
    assert!(out.status.success(), "{out:?}");
    let events = json_lines(&String::from_utf8_lossy(&out.stdout));
    assert!(
        events.iter().any(|e| e["event"] == "generated"),
        "{events:?}"
    );
    // A killed writer's leftover goes with the next training; the resume keeps the run's
    // --checkpoint-every and adds to the history.
    copy_dir(
        &dir.join("hist/checkpoints/step-0000002"),
        &dir.join(format!("hist/checkpoints/.step-0000002.tmp-{DEAD_PID}")),
    );
    let out = train_hist(dir, &["--resume", "hist", "--max-steps", "6"]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("resuming hist at step 4 (") && said.contains("best so far"),
        "a resume says where it starts: {said}"
    );
    assert_eq!(temporaries(dir), Vec::<std::path::PathBuf>::new());
    assert_eq!(names(dir), ["step-0000002", "step-0000004", "step-0000006"]);
    // `info` on the run lists the history.
    let out = charrnn(dir, &args(&["info", "hist"]));
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("history: 3 checkpoint(s)"), "{text}");
    assert!(text.contains("step 2") && text.contains("step 6"), "{text}");
    let out = charrnn(dir, &args(&["info", "hist", "--json"]));
    let info = &json_lines(&String::from_utf8_lossy(&out.stdout))[0];
    let steps: Vec<u64> = info["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["step"].as_u64().unwrap())
        .collect();
    assert_eq!(steps, [2, 4, 6], "{info}");
    // The run's last validation was at step 6: that checkpoint has a score.
    assert!(info["history"][2]["val_bpc"].as_f64().is_some(), "{info}");
    // A resume may keep fewer.
    train_hist(
        dir,
        &[
            "--resume",
            "hist",
            "--max-steps",
            "8",
            "--keep-checkpoints",
            "2",
        ],
    );
    assert_eq!(names(dir), ["step-0000006", "step-0000008"]);
    // --overwrite: the new run's history alone, and a note first of what it replaces.
    let out = train_hist(
        dir,
        &[
            "--overwrite",
            "--max-steps",
            "4",
            "--eval-every",
            "2",
            "--checkpoint-every",
            "1",
            "--keep-checkpoints",
            "0",
        ],
    );
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains(
            "--overwrite: the model in hist (trained 8 steps) and its 2 history checkpoint(s) \
             will be replaced"
        ),
        "{said}"
    );
    assert_eq!(
        names(dir),
        [
            "step-0000001",
            "step-0000002",
            "step-0000003",
            "step-0000004"
        ]
    );
    let config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("hist/checkpoints/step-0000004/config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(config["training"]["checkpoint_every"], 1, "the new run's");
    assert_eq!(config["progress"]["step"], 4);
    // Step 3 was not validated: `info` gives step 2's score as an earlier step's.
    let out = charrnn(dir, &args(&["info", "hist/checkpoints/step-0000003"]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("at step 2, before this one"), "{text}");
    let out = charrnn(dir, &args(&["info", "hist/checkpoints/step-0000002"]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("before this one"), "{text}");
}

#[test]
fn what_is_not_charrnns_in_the_history_is_refused_and_kept() {
    fn notes_in_history(dir: &Path) {
        std::fs::create_dir_all(dir.join("run/checkpoints")).unwrap();
        std::fs::write(dir.join("run/checkpoints/notes.txt"), "my notes").unwrap();
    }
    fn a_file_for_history(dir: &Path) {
        std::fs::write(dir.join("run/checkpoints"), "my notes").unwrap();
    }
    let resume = ["train", "--resume", "run", "--max-steps", "6", "--quiet"];
    let mut overwrite = vec!["train", "--train", "train.parquet", "--out", "run"];
    overwrite.extend(TINY);
    overwrite.extend(["--overwrite", "--checkpoint-every", "1"]);
    for case in [&resume[..], &overwrite[..]] {
        check(
            case,
            notes_in_history,
            Expect::Refused("run/checkpoints/notes.txt is not charrnn's"),
        );
        check(
            case,
            a_file_for_history,
            Expect::Refused("run/checkpoints is not charrnn's"),
        );
    }
    run_train(
        &["--checkpoint-every", "0"],
        Expect::Usage("--checkpoint-every"),
    );
    run_train(
        &["--keep-checkpoints", "-1"],
        Expect::Usage("--keep-checkpoints"),
    );
    // Without a history there is nothing to keep: refused, not ignored.
    run_train(
        &["--keep-checkpoints", "3"],
        Expect::Usage("--checkpoint-every"),
    );
}
