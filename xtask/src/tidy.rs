//! `cargo xtask tidy`: the rules of the tree, checked from `cargo metadata` and the sources.
//! The same checks run as tests of this package, so `cargo xtask test` enforces them. Import
//! cycles between files have a module of their own (`imports`).

mod imports;

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// Packages allowed to link tch: the model, the packages over it, and the benchmarks.
const TCH_ALLOWED: &[&str] = &[
    "charrnn-model",
    "charrnn-experiment",
    "charrnn-serve",
    "charrnn-cli",
    "charrnn-bench",
];
/// Reusable libraries: no tensors, no CLI parser, no application error type.
const PURE_LIBS: &[&str] = &["charrnn-vocab", "charrnn-data", "charrnn-sampling"];
const FORBIDDEN_IN_PURE: &[&str] = &["tch", "torch-sys", "clap", "anyhow"];
/// Libraries over tensors: no CLI parser either (tch itself brings anyhow).
const MODEL_LIBS: &[&str] = &["charrnn-model", "charrnn-experiment", "charrnn-serve"];
const FORBIDDEN_IN_MODEL_LIBS: &[&str] = &["clap"];
const TCH: &[&str] = &["tch", "torch-sys"];
/// The lints every library opts into in its `lib.rs` (binaries and tests are exempt; tests
/// may unwrap, see clippy.toml).
const LIBRARY_LINTS: &[&str] = &[
    "unreachable_pub",
    "missing_docs",
    "clippy::unwrap_used",
    "clippy::expect_used",
];
/// What would make xtask slow to build: it drives the binary instead.
const FORBIDDEN_IN_XTASK: &[&str] = &["tch", "torch-sys", "arrow", "parquet", "plotters"];
/// What the repository's top level may hold: the design card's entries, the map, the lock file,
/// the lint settings, CI, and the examples of reuse from other languages. A stray log or pid file
/// committed by accident shows up here.
const TOP_LEVEL: &[&str] = &[
    "Cargo.toml",
    "Cargo.lock",
    "README.md",
    "ARCHITECTURE.md",
    "clippy.toml",
    ".gitignore",
    ".cargo",
    ".ci",
    "crates",
    "xtask",
    "benches",
    "data",
    "examples",
];

pub(crate) fn run_all(root: &Path) -> Result<()> {
    let mut problems = layering_problems(root)?;
    problems.extend(source_problems(root)?);
    problems.extend(imports::cycle_problems(root)?);
    problems.extend(top_level_problems(&tracked_files(root)?));
    if problems.is_empty() {
        eprintln!("tidy: ok");
        return Ok(());
    }
    for p in &problems {
        eprintln!("tidy: {p}");
    }
    bail!("tidy found {} problem(s)", problems.len())
}

/// For each workspace package, the names of every package it depends on, directly or not,
/// through normal and build dependencies (what it ships with; dev-dependencies are not shipped).
fn dependency_closures(root: &Path) -> Result<BTreeMap<String, BTreeSet<String>>> {
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["metadata", "--format-version", "1"])
        .current_dir(root)
        .output()
        .context("could not run cargo metadata")?;
    if !out.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let meta: Value =
        serde_json::from_slice(&out.stdout).context("cargo metadata printed no JSON")?;
    let name_of: BTreeMap<&str, &str> = meta["packages"]
        .as_array()
        .context("no packages")?
        .iter()
        .filter_map(|p| Some((p["id"].as_str()?, p["name"].as_str()?)))
        .collect();
    let mut edges: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for node in meta["resolve"]["nodes"]
        .as_array()
        .context("no resolve graph")?
    {
        let id = node["id"].as_str().context("node without id")?;
        let deps = node["deps"].as_array().into_iter().flatten().filter(|dep| {
            dep["dep_kinds"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|k| k["kind"].as_str() != Some("dev"))
        });
        edges.insert(id, deps.filter_map(|d| d["pkg"].as_str()).collect());
    }
    let mut closures = BTreeMap::new();
    for member in meta["workspace_members"]
        .as_array()
        .context("no workspace members")?
    {
        let start = member.as_str().context("bad member id")?;
        let mut seen = BTreeSet::new();
        let mut stack = vec![start];
        while let Some(id) = stack.pop() {
            for &dep in edges.get(id).into_iter().flatten() {
                if seen.insert(dep) {
                    stack.push(dep);
                }
            }
        }
        let names = seen
            .iter()
            .filter_map(|id| name_of.get(id).map(|n| n.to_string()))
            .collect();
        closures.insert(name_of[start].to_string(), names);
    }
    Ok(closures)
}

fn layering_problems(root: &Path) -> Result<Vec<String>> {
    let closures = dependency_closures(root)?;
    let mut problems = Vec::new();
    for (pkg, deps) in &closures {
        if !TCH_ALLOWED.contains(&pkg.as_str()) {
            for bad in TCH.iter().filter(|t| deps.contains(**t)) {
                problems.push(format!(
                    "{pkg} depends on {bad}; only {} may",
                    TCH_ALLOWED.join(", ")
                ));
            }
        }
        if PURE_LIBS.contains(&pkg.as_str()) {
            for bad in FORBIDDEN_IN_PURE.iter().filter(|t| deps.contains(**t)) {
                problems.push(format!("{pkg} is a reusable library but depends on {bad}"));
            }
        }
        if MODEL_LIBS.contains(&pkg.as_str()) {
            for bad in FORBIDDEN_IN_MODEL_LIBS
                .iter()
                .filter(|t| deps.contains(**t))
            {
                problems.push(format!("{pkg} is a library but depends on {bad}"));
            }
        }
        if pkg == "xtask" {
            let members: Vec<&String> = closures.keys().filter(|m| *m != "xtask").collect();
            for bad in deps
                .iter()
                .filter(|d| members.contains(d) || FORBIDDEN_IN_XTASK.contains(&d.as_str()))
            {
                problems.push(format!(
                    "xtask depends on {bad}: it must build in seconds and drive the charrnn \
                     binary instead"
                ));
            }
        }
    }
    for expected in PURE_LIBS.iter().chain(TCH_ALLOWED).chain(&["xtask"]) {
        if !closures.contains_key(*expected) {
            problems.push(format!("workspace member {expected} is missing"));
        }
    }
    Ok(problems)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if name == "target" || name.to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Source rules: no ignored tests, no unfinished code, no debug prints; every library opens with
/// crate docs; every package takes the workspace's lints and dependency versions.
fn source_problems(root: &Path) -> Result<Vec<String>> {
    // Spelled in pieces so that this file does not trip its own check.
    let banned = [
        concat!("#[", "ignore"),
        concat!("todo", "!("),
        concat!("dbg", "!("),
    ];
    let mut files = Vec::new();
    for dir in ["crates", "xtask", "benches"] {
        rust_files(&root.join(dir), &mut files);
    }
    let mut problems = Vec::new();
    for file in &files {
        let text =
            fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
        let rel = file
            .strip_prefix(root)
            .unwrap_or(file)
            .display()
            .to_string();
        for (n, line) in text.lines().enumerate() {
            for pat in banned.iter().filter(|p| line.contains(**p)) {
                problems.push(format!("{rel}:{}: `{pat}` is not allowed", n + 1));
            }
        }
        if file.ends_with("src/lib.rs") && !text.trim_start().starts_with("//!") {
            problems.push(format!(
                "{rel}: a library opens with `//!` docs saying what it knows and does not"
            ));
        }
        let library = PURE_LIBS
            .iter()
            .chain(MODEL_LIBS)
            .any(|lib| file.ends_with(Path::new("crates").join(lib).join("src/lib.rs")));
        if library {
            // Every crate attribute, however rustfmt wrapped it.
            let attrs: String = text
                .match_indices("#![")
                .map(|(at, _)| {
                    let rest = &text[at..];
                    &rest[..rest.find(']').map_or(rest.len(), |end| end + 1)]
                })
                .collect();
            for lint in LIBRARY_LINTS.iter().filter(|l| !attrs.contains(**l)) {
                problems.push(format!(
                    "{rel}: a library warns on `{lint}` (in a `#![warn(...)]` of its lib.rs)"
                ));
            }
        }
    }
    let mut manifests = vec![
        root.join("xtask/Cargo.toml"),
        root.join("benches/Cargo.toml"),
    ];
    for entry in fs::read_dir(root.join("crates"))?.flatten() {
        if entry.path().join("Cargo.toml").exists() {
            manifests.push(entry.path().join("Cargo.toml"));
        }
    }
    for manifest in manifests {
        let text = fs::read_to_string(&manifest)?;
        let rel = manifest
            .strip_prefix(root)
            .unwrap_or(&manifest)
            .display()
            .to_string();
        if !text.contains("[lints]\nworkspace = true") {
            problems.push(format!(
                "{rel}: opt into the workspace lints (`[lints] workspace = true`)"
            ));
        }
        let mut section = String::new();
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('[') {
                section = line.to_owned();
            } else if section.ends_with("dependencies]")
                && line.contains('=')
                && !line.contains(".workspace = true")
                && !line.contains("workspace = true")
            {
                problems.push(format!(
                    "{rel}: `{line}`: declare versions once, in [workspace.dependencies]"
                ));
            }
        }
    }
    Ok(problems)
}

/// The files git tracks, relative to `root`; none outside a git checkout (a source tarball has
/// nothing committed by accident to find).
fn tracked_files(root: &Path) -> Result<Vec<String>> {
    if !root.join(".git").exists() {
        return Ok(Vec::new());
    }
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["ls-files", "-z"])
        .output()
        .context("cannot run `git ls-files`")?;
    if !out.status.success() {
        bail!(
            "`git ls-files` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .split('\0')
        .filter(|f| !f.is_empty())
        .map(str::to_owned)
        .collect())
}

/// Tracked entries at the top level that are not in [`TOP_LEVEL`].
fn top_level_problems(tracked: &[String]) -> Vec<String> {
    let tops: BTreeSet<&str> = tracked
        .iter()
        .map(|f| f.split('/').next().unwrap_or(f))
        .collect();
    tops.into_iter()
        .filter(|top| !TOP_LEVEL.contains(top))
        .map(|top| {
            format!("{top}: not a top-level entry of the design (tracked by git; remove it, or add it to TOP_LEVEL with a reason)")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layering_holds() {
        let problems = layering_problems(&crate::workspace::root().unwrap()).unwrap();
        assert!(problems.is_empty(), "{problems:#?}");
    }

    #[test]
    fn sources_follow_the_rules() {
        let problems = source_problems(&crate::workspace::root().unwrap()).unwrap();
        assert!(problems.is_empty(), "{problems:#?}");
    }

    #[test]
    fn source_rules_catch_violations() {
        let dir = std::env::temp_dir().join(format!("charrnn-tidy-{}", std::process::id()));
        let src = dir.join("crates/demo/src");
        fs::create_dir_all(&src).unwrap();
        let model = dir.join("crates/charrnn-model/src");
        fs::create_dir_all(&model).unwrap();
        fs::write(
            model.join("lib.rs"),
            "//! Docs.\n#![warn(missing_docs, clippy::unwrap_used, clippy::expect_used)]\n",
        )
        .unwrap();
        fs::create_dir_all(dir.join("xtask")).unwrap();
        fs::create_dir_all(dir.join("benches")).unwrap();
        fs::write(
            src.join("lib.rs"),
            format!("fn f() {{ {}x); }}\n", concat!("dbg", "!(")),
        )
        .unwrap();
        fs::write(
            dir.join("crates/demo/Cargo.toml"),
            "[dependencies]\nserde = \"1\"\n",
        )
        .unwrap();
        fs::write(dir.join("xtask/Cargo.toml"), "[lints]\nworkspace = true\n").unwrap();
        fs::write(
            dir.join("benches/Cargo.toml"),
            "[lints]\nworkspace = true\n",
        )
        .unwrap();
        let problems = source_problems(&dir).unwrap().join("\n");
        fs::remove_dir_all(&dir).unwrap();
        assert!(problems.contains("lib.rs:1"), "{problems}");
        assert!(problems.contains("opens with `//!`"), "{problems}");
        assert!(problems.contains("workspace lints"), "{problems}");
        assert!(problems.contains("serde = \"1\""), "{problems}");
        assert!(
            problems.contains("charrnn-model/src/lib.rs: a library warns on `unreachable_pub`"),
            "{problems}"
        );
        assert!(!problems.contains("`missing_docs`"), "{problems}");
    }

    #[test]
    fn the_top_level_holds_only_the_designed_entries() {
        let root = crate::workspace::root().unwrap();
        let problems = top_level_problems(&tracked_files(&root).unwrap());
        assert!(problems.is_empty(), "{problems:#?}");
        let tracked = [
            "Cargo.toml",
            "crates/charrnn-data/src/lib.rs",
            "r1.out",
            "notes/a.md",
        ]
        .map(String::from);
        let problems = top_level_problems(&tracked).join("\n");
        assert!(
            problems.contains("r1.out: not a top-level entry"),
            "{problems}"
        );
        assert!(
            problems.contains("notes: not a top-level entry"),
            "{problems}"
        );
        assert!(!problems.contains("crates"), "{problems}");
        assert!(!problems.contains("Cargo.toml"), "{problems}");
    }
}
