//! A user's work survives: a resume reads the data as the run did, from the run directory
//! alone; Ctrl-C during training saves the run, which then resumes.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::*;

/// The `done` event of a `--json` command's stdout.
fn done(out: &std::process::Output) -> serde_json::Value {
    json_lines(&String::from_utf8_lossy(&out.stdout))
        .into_iter()
        .find(|e| e["event"] == "done")
        .unwrap_or_else(|| panic!("no done event: {out:?}"))
}

fn run_ok(dir: &Path, a: &[&str]) -> serde_json::Value {
    let out = charrnn(dir, &args(a));
    assert!(out.status.success(), "{a:?}: {out:?}");
    done(&out)
}

#[test]
fn a_resume_alone_reads_the_data_as_the_run_did() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path();
    let text: String = TITLES.iter().map(|(_, t)| format!("{t}\n")).collect();
    std::fs::write(dir.join("book.txt"), text.repeat(4)).unwrap();
    let mut first = vec![
        "train",
        "--train",
        "book.txt",
        "--window",
        "32",
        "--out",
        "w",
        "--max-steps",
        "3",
        "--json",
        "--quiet",
    ];
    first.extend(TINY);
    let trained = run_ok(dir, &first);
    let examples = trained["train_examples"].as_u64().unwrap();
    assert!(examples > 3, "{trained}");
    // From another directory, with no data flags: the run's file, windows and split.
    std::fs::create_dir(dir.join("elsewhere")).unwrap();
    let resumed = run_ok(
        &dir.join("elsewhere"),
        &[
            "train",
            "--resume",
            "../w",
            "--max-steps",
            "5",
            "--json",
            "--quiet",
        ],
    );
    assert_eq!(resumed["steps"], 5);
    assert_eq!(resumed["train_examples"].as_u64(), Some(examples));
    assert_eq!(resumed["valid_examples"], trained["valid_examples"]);
    assert_eq!(last_config(&dir.join("w"))["data"]["window"], 32);
    // Another window, or another validation split, is refused, and nothing changes.
    for (flag, culprit) in [
        (&["--window", "16"][..], "--window 16 is not the run's (32)"),
        (
            &["--valid-fraction", "0.5"][..],
            "--valid-fraction 0.5 is not the run's 0.05",
        ),
    ] {
        let before = snapshot(&dir.join("w"));
        let mut case = vec!["train", "--resume", "w", "--max-steps", "7"];
        case.extend(flag);
        let out = charrnn(dir, &args(&case));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.starts_with("error: ") && stderr.contains(culprit),
            "{stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(out.stdout.is_empty());
        assert!(
            snapshot(&dir.join("w")) == before,
            "{flag:?} changed the run"
        );
    }
    // An extra column is the run's too.
    let mut csv = String::from("title,description\n");
    for (_, t) in TITLES {
        csv.push_str(&format!("\"{t}\",\"More words about {t}\"\n"));
    }
    std::fs::write(dir.join("news.csv"), csv.repeat(3)).unwrap();
    let mut first = vec![
        "train",
        "--train",
        "news.csv",
        "--extra-column",
        "description",
        "--out",
        "x",
        "--max-steps",
        "2",
        "--json",
        "--quiet",
    ];
    first.extend(TINY);
    let trained = run_ok(dir, &first);
    let resumed = run_ok(
        dir,
        &[
            "train",
            "--resume",
            "x",
            "--max-steps",
            "3",
            "--json",
            "--quiet",
        ],
    );
    assert_eq!(resumed["train_examples"], trained["train_examples"]);
    assert_eq!(
        last_config(&dir.join("x"))["data"]["extra_columns"][0],
        "description"
    );
}

#[test]
fn a_resume_on_data_changed_since_says_so() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path();
    let text: String = TITLES.iter().map(|(_, t)| format!("{t}\n")).collect();
    std::fs::write(dir.join("book.txt"), &text).unwrap();
    let mut first = vec![
        "train",
        "--train",
        "book.txt",
        "--out",
        "r",
        "--max-steps",
        "2",
    ];
    first.extend(["--json"]);
    first.extend(TINY);
    run_ok(dir, &first);
    std::fs::write(dir.join("book.txt"), format!("{text}One more line.\n")).unwrap();
    let out = charrnn(dir, &args(&["train", "--resume", "r", "--max-steps", "4"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("book.txt has changed since this run trained on it"),
        "{stderr}"
    );
    // Read another way, the same file is other data, as before.
    let out = charrnn(
        dir,
        &args(&[
            "train",
            "--resume",
            "r",
            "--text-unit",
            "line",
            "--max-steps",
            "4",
        ]),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("is not the data this run trained on"),
        "{stderr}"
    );
    // On its own data, a resume with another rate says so.
    std::fs::write(dir.join("book.txt"), &text).unwrap();
    let out = charrnn(
        dir,
        &args(&["train", "--resume", "r", "--lr", "0.5", "--max-steps", "3"]),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("--lr 0.5: the learning rate from here on, not the run's"),
        "{stderr}"
    );
}

/// Sends `child` SIGINT, as Ctrl-C in its terminal would.
fn ctrl_c(child: &std::process::Child) {
    let pid = child.id().to_string();
    let sent = Command::new("kill").args(["-INT", &pid]).status().unwrap();
    assert!(sent.success(), "kill -INT {pid}");
}

/// Every file under `dir`, relative to it.
fn files_under(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            match path.is_dir() {
                true => todo.push(path.clone()),
                false => found.push(path.strip_prefix(dir).unwrap().display().to_string()),
            }
        }
        if d != dir {
            found.push(format!("{}/", d.strip_prefix(dir).unwrap().display()));
        }
    }
    found.sort();
    found
}

#[test]
fn ctrl_c_while_the_data_are_read_leaves_nothing_half_written() {
    use std::io::Write;
    let scratch = scratch_world();
    let dir = scratch.path();
    // 0.7 GB of lines, little on disk: one gzip member of 1.4 MB of text, written 500 times
    // (members are read one after the other). Reading it takes long enough to interrupt.
    let mut member = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    for _ in 0..20_000 {
        member
            .write_all(b"the quick brown fox jumps over the lazy dog, and the dog sleeps on\n")
            .unwrap();
    }
    let member = member.finish().unwrap();
    let mut file = std::fs::File::create(dir.join("big.txt.gz")).unwrap();
    for _ in 0..500 {
        file.write_all(&member).unwrap();
    }
    drop(file);
    std::fs::create_dir(dir.join("stores")).unwrap();
    let before = files_under(dir);
    // (command, a path whose appearance says the output is being written, what is said)
    let cases: [(&[&str], &str, &str); 3] = [
        (
            &[
                "train",
                "--train",
                "big.txt.gz",
                "--out",
                "fresh",
                "--max-steps",
                "1",
            ],
            "fresh/store",
            "error: interrupted before training started: nothing was saved",
        ),
        (
            &["prepare", "big.txt.gz", "big.parquet"],
            ".big.parquet.",
            "error: interrupted: nothing was written",
        ),
        (
            &[
                "eval",
                "run",
                "--data",
                "big.txt.gz",
                "--store-dir",
                "stores",
            ],
            "stores/.eval.store.",
            "error: interrupted",
        ),
    ];
    for (command, writing, said) in cases {
        let mut child = Command::new(env!("CARGO_BIN_EXE_charrnn"))
            .args(command)
            .args(["--text-unit", "line"])
            .current_dir(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Ctrl-C is listened to before the first output is made.
        let started = std::time::Instant::now();
        while !files_under(dir).iter().any(|f| f.starts_with(writing)) {
            assert!(
                child.try_wait().unwrap().is_none(),
                "{command:?} ended before it was interrupted"
            );
            assert!(
                started.elapsed().as_secs() < 600,
                "{command:?}: nothing written"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        ctrl_c(&child);
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(130), "{command:?}: {stderr}");
        assert!(stderr.contains(said), "{command:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{out:?}");
        // No run directory, half a store, or temporary file is left behind.
        assert_eq!(files_under(dir), before, "{command:?}");
    }
}

#[test]
fn ctrl_c_saves_the_training_and_it_resumes() {
    let scratch = scratch_world();
    let dir = scratch.path();
    let mut a = vec![
        "train",
        "--train",
        "train.parquet",
        "--out",
        "long",
        "--max-steps",
        "1000000",
        "--eval-every",
        "3",
    ];
    a.extend(TINY);
    let mut child = Command::new(env!("CARGO_BIN_EXE_charrnn"))
        .args(&a)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The first validation's line: training is under way, with the handler in place.
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "ended: {seen}");
        seen.push_str(&line);
        if line.starts_with("step") {
            break;
        }
    }
    ctrl_c(&child);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(130), "{seen}{rest}{stdout}");
    assert!(
        rest.contains("interrupted: stopping after this step"),
        "{rest}"
    );
    assert!(
        stdout.contains("continue with `charrnn train --resume long`"),
        "{stdout}"
    );
    let saved = last_config(&dir.join("long"))["progress"]["step"]
        .as_u64()
        .unwrap();
    assert!((3..1_000_000).contains(&saved), "{saved}");
    let metrics = std::fs::read_to_string(dir.join("long/metrics.jsonl")).unwrap();
    let last: serde_json::Value = serde_json::from_str(metrics.lines().last().unwrap()).unwrap();
    assert_eq!(
        last["step"].as_u64(),
        Some(saved),
        "the stop was validated and recorded"
    );
    let more = (saved + 2).to_string();
    let resumed = run_ok(
        dir,
        &[
            "train",
            "--resume",
            "long",
            "--max-steps",
            &more,
            "--json",
            "--quiet",
        ],
    );
    assert_eq!(resumed["steps"].as_u64(), Some(saved + 2));
}

/// Data refused after the token store was built leave no run directory behind; a run inside
/// the directory it reads is refused before anything is written.
#[test]
fn a_refused_training_writes_nothing() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path();
    let mut two = String::from("text,label\n");
    let mut three = two.clone();
    for i in 0..40 {
        two.push_str(&format!(
            "{} words here,{}\n",
            ["aa", "zz"][i % 2],
            1 + i % 2
        ));
        three.push_str(&format!("more words,{}\n", i % 3));
    }
    std::fs::write(dir.join("two.csv"), two).unwrap();
    std::fs::write(dir.join("three.csv"), three).unwrap();
    std::fs::create_dir(dir.join("notes")).unwrap();
    std::fs::write(dir.join("notes/a.txt"), "Some notes of mine.\n".repeat(40)).unwrap();
    let base = [
        "train",
        "--column",
        "text",
        "--label-column",
        "label",
        "--max-steps",
        "2",
    ];
    for (case, out_dir, culprit) in [
        (
            &[
                "--train",
                "two.csv",
                "--valid",
                "three.csv",
                "--out",
                "vbad",
            ][..],
            "vbad",
            "--valid three.csv",
        ),
        (
            &["--train", "notes", "--out", "notes/run"][..],
            "notes/run",
            "--out notes/run lies inside --train notes",
        ),
    ] {
        let mut a: Vec<&str> = if case.contains(&"notes") {
            vec!["train", "--max-steps", "2"]
        } else {
            base.to_vec()
        };
        a.extend(case);
        a.extend(TINY);
        let out = charrnn(dir, &args(&a));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(culprit), "{stderr}");
        assert!(!dir.join(out_dir).exists(), "{out_dir} was left behind");
    }
}
