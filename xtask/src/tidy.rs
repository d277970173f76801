//! `cargo xtask tidy`: the rules of the tree, checked from `cargo metadata` and the sources.
//! The same checks run as tests of this package, so `cargo xtask test` enforces them.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// Packages allowed to link tch: the model, the binary over it, and the benchmarks of both.
const TCH_ALLOWED: &[&str] = &[
    "charrnn-model",
    "charrnn-serve",
    "charrnn-cli",
    "charrnn-bench",
];
/// Reusable libraries: no tensors, no CLI parser, no application error type.
const PURE_LIBS: &[&str] = &["charrnn-vocab", "charrnn-data", "charrnn-sampling"];
const FORBIDDEN_IN_PURE: &[&str] = &["tch", "torch-sys", "clap", "anyhow"];
const TCH: &[&str] = &["tch", "torch-sys"];

pub(crate) fn run_all(root: &Path) -> Result<()> {
    let mut problems = layering_problems(root)?;
    problems.extend(source_problems(root)?);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layering_holds() {
        let problems = layering_problems(&crate::project_root()).unwrap();
        assert!(problems.is_empty(), "{problems:#?}");
    }

    #[test]
    fn sources_follow_the_rules() {
        let problems = source_problems(&crate::project_root()).unwrap();
        assert!(problems.is_empty(), "{problems:#?}");
    }

    #[test]
    fn source_rules_catch_violations() {
        let dir = std::env::temp_dir().join(format!("charrnn-tidy-{}", std::process::id()));
        let src = dir.join("crates/demo/src");
        fs::create_dir_all(&src).unwrap();
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
    }
}
