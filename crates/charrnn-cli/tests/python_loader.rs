//! `examples/python/load_checkpoint.py` rebuilds a checkpoint in plain PyTorch and must score
//! text as `charrnn eval` does, to 1e-4 bits per character. It runs with the torch wheel that
//! `cargo xtask setup` installed (found beside the `LIBTORCH` it points at).

use std::path::{Path, PathBuf};
use std::process::Command;

fn charrnn(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_charrnn"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "charrnn {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// The folder to put on PYTHONPATH for `import torch`, if setup installed the wheel.
fn torch_site() -> Option<PathBuf> {
    let libtorch = std::env::var_os("LIBTORCH")?;
    let torch = Path::new(&libtorch).canonicalize().ok()?;
    let site = torch.parent()?.to_owned();
    site.join("torch/__init__.py").is_file().then_some(site)
}

#[test]
fn python_rebuilds_checkpoints_and_agrees_with_charrnn_eval() {
    let Some(site) = torch_site() else {
        println!("skipped: no torch wheel beside LIBTORCH (cargo xtask setup installs one)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::new();
    for (i, t) in [
        "Leaders meet for talks on trade",
        "Team wins the cup final at home",
        "Stocks rally as oil prices fall",
        "New chip doubles battery life",
    ]
    .iter()
    .cycle()
    .take(24)
    .enumerate()
    {
        csv.push_str(&format!("\"{}\",\"{t}\",\"d\"\n", i % 4 + 1));
    }
    std::fs::write(dir.path().join("t.csv"), csv).unwrap();
    // Text the vocabulary lacks ('Z', 'ü') becomes <unk> on both sides.
    std::fs::write(
        dir.path().join("e.csv"),
        "\"2\",\"Zürich wins at home\",\"d\"\n\"3\",\"Oil talks\",\"d\"\n",
    )
    .unwrap();
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/python/load_checkpoint.py");
    charrnn(dir.path(), &["prepare", "t.csv", "t.parquet"]);
    charrnn(dir.path(), &["prepare", "e.csv", "e.parquet"]);
    let configs: [&[&str]; 3] = [
        &["--cell", "lstm", "--layers", "2", "--label-column", "label"],
        &["--cell", "gru", "--input", "onehot", "--layers", "1"],
        &["--cell", "rnn", "--layers", "2", "--embed-dim", "5"],
    ];
    for (k, extra) in configs.iter().enumerate() {
        let run = format!("run{k}");
        let mut args = vec![
            "train",
            "--train",
            "t.parquet",
            "--out",
            &run,
            "--hidden",
            "12",
            "--max-steps",
            "6",
            "--batch-size",
            "4",
            "--device",
            "cpu",
            "--threads",
            "1",
            "--quiet",
            "--valid-fraction",
            "0.2",
        ];
        args.extend_from_slice(extra);
        charrnn(dir.path(), &args);
        let eval = charrnn(
            dir.path(),
            &[
                "eval",
                &run,
                "--data",
                "e.parquet",
                "--json",
                "--device",
                "cpu",
            ],
        );
        let eval: serde_json::Value = serde_json::from_str(eval.trim()).unwrap();
        let expected = eval["bits_per_char"].as_f64().unwrap();
        let out = Command::new("python3")
            .arg(&script)
            .args([run.as_str(), "e.csv"])
            .env("PYTHONPATH", &site)
            .current_dir(dir.path())
            .output()
            .expect("python3 runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{extra:?}: {out:?}");
        let got: f64 = stdout.split_whitespace().next().unwrap().parse().unwrap();
        assert!(
            (got - expected).abs() < 1e-4,
            "{extra:?}: python {got} vs charrnn {expected}"
        );
    }
}
