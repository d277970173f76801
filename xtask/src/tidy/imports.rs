//! File-level import cycles: within each package's `src/`, a file that names another through
//! a `crate::…`, `super::…` or `self::…` path, or through a path that starts with one of its
//! own child modules (`child::Item`), depends on it; two files that depend on each other,
//! directly or through others, are a cycle. `crate::Item` of an item the crate root
//! re-exports (`pub use module::Item`) counts as a dependency on that module. Dependencies on
//! the crate root itself are left out: it declares every module.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result};

#[cfg(test)]
mod tests;

/// A module, as the path of names from the crate root (empty: the root).
type Module = Vec<String>;

/// Every cycle of every package under `root` (`crates/*`, `xtask`, `benches`), as one line
/// each: `crates/x/src: a.rs → b.rs → a.rs`.
pub(crate) fn cycle_problems(root: &Path) -> Result<Vec<String>> {
    let mut packages = vec![root.join("xtask"), root.join("benches")];
    if let Ok(entries) = fs::read_dir(root.join("crates")) {
        let mut crates: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        crates.sort();
        packages.extend(crates);
    }
    let mut problems = Vec::new();
    for package in packages {
        let src = package.join("src");
        if !src.is_dir() {
            continue;
        }
        let files = module_files(&src)?;
        let graph = dependency_graph(&files)?;
        let rel = src.strip_prefix(root).unwrap_or(&src).display().to_string();
        for cycle in cycles(&graph) {
            let names: Vec<String> = cycle
                .iter()
                .chain(cycle.first())
                .map(|m| file_name(&files, m))
                .collect();
            problems.push(format!(
                "{rel}: import cycle {}; move what both need into a module of its own",
                names.join(" → ")
            ));
        }
    }
    Ok(problems)
}

/// The module of each `.rs` file under `src` (`lib.rs`/`main.rs`: the root; `a.rs` and
/// `a/mod.rs`: `a`; `a/b.rs`: `a::b`).
fn module_files(src: &Path) -> Result<BTreeMap<Module, PathBuf>> {
    let mut files = Vec::new();
    collect(src, &mut files);
    let mut modules = BTreeMap::new();
    for file in files {
        let rel = file.strip_prefix(src).unwrap_or(&file);
        let mut parts: Vec<String> = rel
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        let Some(last) = parts.pop() else {
            continue;
        };
        let stem = last.trim_end_matches(".rs");
        if parts.is_empty() && (stem == "lib" || stem == "main") {
            // The crate root: lib.rs wins over main.rs when both exist.
            if stem == "main" && modules.contains_key(&Vec::new()) {
                continue;
            }
        } else if stem != "mod" {
            parts.push(stem.to_owned());
        }
        modules.insert(parts, file);
    }
    Ok(modules)
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn file_name(files: &BTreeMap<Module, PathBuf>, module: &Module) -> String {
    let file = &files[module];
    let src = file
        .ancestors()
        .find(|a| a.file_name().is_some_and(|n| n == "src"))
        .unwrap_or(file);
    file.strip_prefix(src).unwrap_or(file).display().to_string()
}

/// Which modules each module's file depends on (edges to the root and to itself left out).
fn dependency_graph(
    files: &BTreeMap<Module, PathBuf>,
) -> Result<BTreeMap<Module, BTreeSet<Module>>> {
    let modules: BTreeSet<Module> = files.keys().cloned().collect();
    let reexports = match files.get(&Vec::new()) {
        Some(root_file) => {
            let code = strip_comments_and_literals(&read(root_file)?);
            root_reexports(&tokens(&code), &modules)
        }
        None => BTreeMap::new(),
    };
    let mut graph = BTreeMap::new();
    for (module, file) in files {
        let code = strip_comments_and_literals(&read(file)?);
        let mut deps = BTreeSet::new();
        for (scope, path) in paths(&tokens(&code)) {
            let current: Module = module.iter().chain(&scope).cloned().collect();
            let Some(absolute) = absolute(&current, &path, &modules) else {
                continue;
            };
            if let Some(target) = resolve(&absolute, &modules, &reexports)
                && &target != module
                && !target.is_empty()
            {
                deps.insert(target);
            }
        }
        graph.insert(module.clone(), deps);
    }
    Ok(graph)
}

fn read(file: &Path) -> Result<String> {
    fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))
}

/// `path` (starting with `crate`, `self`, `super` or a child module of `current`) as names
/// from the crate root, seen from the module `current`; `None` for any other path (another
/// crate's, a type's) or one that climbs above the root.
fn absolute(current: &[String], path: &[String], modules: &BTreeSet<Module>) -> Option<Module> {
    let mut segments = path.iter();
    let mut base: Module = match path.first()?.as_str() {
        "crate" => {
            segments.next();
            Vec::new()
        }
        "self" | "super" => current.to_vec(),
        child => {
            let mut module = current.to_vec();
            module.push(child.to_owned());
            if !modules.contains(&module) {
                return None;
            }
            current.to_vec()
        }
    };
    let mut rest = Vec::new();
    for s in segments {
        match s.as_str() {
            "self" if rest.is_empty() => {}
            "super" if rest.is_empty() => {
                base.pop()?;
            }
            _ => rest.push(s.clone()),
        }
    }
    base.extend(rest);
    Some(base)
}

/// The deepest module that `absolute` names or lies in; at the root, the module that
/// re-exports its first name, if any.
fn resolve(
    absolute: &[String],
    modules: &BTreeSet<Module>,
    reexports: &BTreeMap<String, Module>,
) -> Option<Module> {
    let deepest = (1..=absolute.len())
        .rev()
        .map(|n| absolute[..n].to_vec())
        .find(|prefix| modules.contains(prefix));
    match deepest {
        Some(module) => Some(module),
        None => absolute
            .first()
            .and_then(|name| reexports.get(name))
            .cloned(),
    }
}

/// Names the crate root re-exports, with the module each comes from (`pub use a::{X, b::Y}`
/// maps `X` to `a` and `Y` to `a::b`, or to `a` when `a::b` is not a file).
fn root_reexports(tokens: &[String], modules: &BTreeSet<Module>) -> BTreeMap<String, Module> {
    let mut out = BTreeMap::new();
    let mut i = 0;
    while i < tokens.len() {
        if tokens[i] == "use" && i > 0 && tokens[i - 1] == "pub" {
            let mut paths = Vec::new();
            let end = use_tree(tokens, i + 1, &[], &mut paths);
            for path in paths {
                let (Some(name), Some(first)) = (path.last(), path.first()) else {
                    continue;
                };
                if !modules.contains(&vec![first.clone()]) {
                    continue;
                }
                let module = (1..path.len())
                    .rev()
                    .map(|n| path[..n].to_vec())
                    .find(|p| modules.contains(p));
                if let Some(module) = module {
                    out.insert(name.clone(), module);
                }
            }
            i = end;
        } else {
            i += 1;
        }
    }
    out
}

/// Every path of the code (`a::b`, `crate::x::{y, z}`, not `::a` or `x.a::b`), with the
/// inline modules (`mod tests { … }`) it sits in.
fn paths(tokens: &[String]) -> Vec<(Vec<String>, Vec<String>)> {
    let mut out = Vec::new();
    // Inline modules open: (name, brace depth inside it).
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < tokens.len() {
        let t = tokens[i].as_str();
        match t {
            "{" => depth += 1,
            "}" => {
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
            }
            "mod" if tokens.get(i + 2).is_some_and(|b| b == "{") => {
                if let Some(name) = tokens.get(i + 1) {
                    inline.push((name.clone(), depth + 1));
                }
            }
            t if is_ident(t)
                && tokens.get(i + 1).is_some_and(|c| c == "::")
                && !(i > 0 && (tokens[i - 1] == "::" || tokens[i - 1] == ".")) =>
            {
                let scope: Vec<String> = inline.iter().map(|(n, _)| n.clone()).collect();
                let mut found = Vec::new();
                let end = use_tree(tokens, i, &[], &mut found);
                out.extend(found.into_iter().map(|p| (scope.clone(), p)));
                i = end;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// Reads a path or use tree (`a::b::{c, d::e}`) from `tokens[i..]` under `prefix`, pushing
/// every full path; returns the index after it.
fn use_tree(
    tokens: &[String],
    mut i: usize,
    prefix: &[String],
    out: &mut Vec<Vec<String>>,
) -> usize {
    let mut path = prefix.to_vec();
    loop {
        match tokens.get(i).map(String::as_str) {
            Some("{") => {
                i += 1;
                loop {
                    match tokens.get(i).map(String::as_str) {
                        None => return i,
                        Some("}") => return i + 1,
                        Some(",") => i += 1,
                        Some(_) => i = use_tree(tokens, i, &path, out),
                    }
                }
            }
            Some("*") => {
                out.push(path);
                return i + 1;
            }
            Some(t) if is_ident(t) => {
                path.push(t.to_owned());
                i += 1;
                if tokens.get(i).is_some_and(|t| t == "::") {
                    i += 1;
                    continue;
                }
                if tokens.get(i).is_some_and(|t| t == "as") {
                    i += 2;
                }
                out.push(path);
                return i;
            }
            _ => {
                if !path.is_empty() {
                    out.push(path);
                }
                return i;
            }
        }
    }
}

fn is_ident(t: &str) -> bool {
    t.chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
}

/// Identifiers, `::` and single punctuation characters.
fn tokens(code: &str) -> Vec<String> {
    let chars: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(chars[start..i].iter().collect());
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            out.push("::".to_owned());
            i += 2;
        } else {
            if !c.is_whitespace() {
                out.push(c.to_string());
            }
            i += 1;
        }
    }
    out
}

/// `code` with comments, string literals and character literals blanked out, so that a path
/// written in a message or a comment is not an import.
fn strip_comments_and_literals(code: &str) -> String {
    let chars: Vec<char> = code.chars().collect();
    let mut out = String::with_capacity(code.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && !prev_is_ident(&chars, i)
        {
            // A raw string: r"…", r#"…"#.
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            while j < chars.len() {
                if chars[j] == '"' && (0..hashes).all(|k| chars.get(j + 1 + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            i = j;
            out.push_str("\"\"");
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' {
            // A character literal ('a', '\n', '\u{1F600}'), or a lifetime ('a) left alone.
            let close = if next == Some('\\') {
                (i + 2..chars.len().min(i + 12)).find(|&k| chars[k] == '\'')
            } else if chars.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            match close {
                Some(k) => {
                    i = k + 1;
                    out.push_str("' '");
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn prev_is_ident(chars: &[char], i: usize) -> bool {
    i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_')
}

/// The cycles of `graph`: each strongly connected component of two or more modules, as one
/// cycle through them (in the order a walk finds it).
fn cycles(graph: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<Module>> {
    let mut out = Vec::new();
    let mut reported: BTreeSet<Module> = BTreeSet::new();
    for start in graph.keys() {
        if reported.contains(start) {
            continue;
        }
        if let Some(cycle) = cycle_through(graph, start) {
            reported.extend(cycle.iter().cloned());
            out.push(cycle);
        }
    }
    out
}

/// A shortest cycle from `start` back to itself, breadth first.
fn cycle_through(
    graph: &BTreeMap<Module, BTreeSet<Module>>,
    start: &Module,
) -> Option<Vec<Module>> {
    let mut previous: BTreeMap<&Module, &Module> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(node) = queue.pop_front() {
        for next in graph.get(node).into_iter().flatten() {
            if next == start {
                let mut cycle = vec![node.clone()];
                let mut at = node;
                while at != start {
                    at = previous[at];
                    cycle.push(at.clone());
                }
                cycle.reverse();
                return Some(cycle);
            }
            if !previous.contains_key(next) && next != start {
                previous.insert(next, node);
                queue.push_back(next);
            }
        }
    }
    None
}
