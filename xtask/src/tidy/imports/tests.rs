use super::*;

/// A package `crates/demo` holding `files` (path under src, text), in a fresh directory.
fn package(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let file = dir.path().join("crates/demo/src").join(path);
        fs::create_dir_all(file.parent().unwrap()).unwrap();
        fs::write(file, text).unwrap();
    }
    dir
}

#[test]
fn a_planted_cycle_is_found_and_named() {
    let dir = package(&[
        ("lib.rs", "mod a;\nmod b;\nmod c;\n"),
        ("a.rs", "use crate::b::Thing;\n"),
        ("b.rs", "use crate::{c::Other, x};\npub struct Thing;\n"),
        ("c.rs", "pub fn f() { super::a::g() }\n"),
    ]);
    let problems = cycle_problems(dir.path()).unwrap();
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(
        problems[0].contains("crates/demo/src: import cycle a.rs → b.rs → c.rs → a.rs"),
        "{problems:#?}"
    );
}

#[test]
fn a_cycle_through_a_root_reexport_or_a_nested_module_is_found() {
    let dir = package(&[
        (
            "lib.rs",
            "mod a;\nmod b;\npub use a::{Thing, inner::Deep};\n",
        ),
        (
            "a.rs",
            "mod inner;\npub struct Thing;\nfn f() { crate::b::g(); }\n",
        ),
        ("a/inner.rs", "pub struct Deep;\n"),
        ("b.rs", "pub fn g() -> crate::Thing { crate::Thing }\n"),
    ]);
    let problems = cycle_problems(dir.path()).unwrap();
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(problems[0].contains("a.rs → b.rs → a.rs"), "{problems:#?}");

    let dir = package(&[
        ("main.rs", "mod a;\n"),
        ("a.rs", "mod inner;\nuse self::inner::X;\n"),
        ("a/inner.rs", "use super::Y;\npub struct X;\n"),
    ]);
    let problems = cycle_problems(dir.path()).unwrap();
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(
        problems[0].contains("a.rs → a/inner.rs → a.rs"),
        "{problems:#?}"
    );
}

#[test]
fn a_parent_and_a_child_that_use_each_other_are_a_cycle() {
    let dir = package(&[
        ("lib.rs", "mod a;\n"),
        (
            "a.rs",
            "mod child;\npub use child::helper;\npub struct Shared;\n",
        ),
        ("a/child.rs", "use super::Shared;\npub fn helper() {}\n"),
    ]);
    let problems = cycle_problems(dir.path()).unwrap();
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(
        problems[0].contains("a.rs → a/child.rs → a.rs"),
        "{problems:#?}"
    );
}

#[test]
fn what_is_not_an_import_makes_no_cycle() {
    let dir = package(&[
        (
            "lib.rs",
            "mod a;\nmod b;\npub use b::Both;\nuse crate::a::f;\n",
        ),
        // Tests inside a file reach their own module; comments and strings name nothing.
        (
            "a.rs",
            "use crate::b::Both;\n// crate::b is fine but crate::a in b would not be\n\
             #[cfg(test)]\nmod tests {\n    use super::*;\n    fn t() { super::super::a::f(); }\n}\n\
             pub fn f() {}\n",
        ),
        (
            "b.rs",
            "pub struct Both;\nfn s() -> &'static str { \"crate::a::f\" }\n\
             fn c() -> char { '\"' }\nfn r() -> &'static str { r#\"super::a\"# }\n\
             /* crate::a::f() */\nmod tests;\n",
        ),
        ("b/tests.rs", "use super::*;\nuse crate::a::f;\n"),
    ]);
    let problems = cycle_problems(dir.path()).unwrap();
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn paths_and_trees_are_read_whole() {
    let t = tokens("use crate::{a::{B, c::D as E}, f::*};\nlet x = super::g::h(crate::i);");
    let found: Vec<String> = paths(&t).into_iter().map(|(_, p)| p.join("::")).collect();
    assert_eq!(
        found,
        [
            "crate::a::B",
            "crate::a::c::D",
            "crate::f",
            "super::g::h",
            "crate::i"
        ]
    );
    let names = |p: &[&str]| p.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let modules: BTreeSet<Module> = [names(&["x"]), names(&["x", "k"])].into();
    assert_eq!(
        absolute(&names(&["x", "y"]), &names(&["super", "z"]), &modules),
        Some(names(&["x", "z"]))
    );
    assert_eq!(absolute(&[], &names(&["super", "z"]), &modules), None);
    assert_eq!(
        absolute(&names(&["x"]), &names(&["std", "fs"]), &modules),
        None
    );
    // A path through a child module of the current one.
    assert_eq!(
        absolute(&names(&["x"]), &names(&["k", "f"]), &modules),
        Some(names(&["x", "k", "f"]))
    );
}

#[test]
fn this_workspace_has_no_import_cycle() {
    let problems = cycle_problems(&crate::workspace::root().unwrap()).unwrap();
    assert!(problems.is_empty(), "{problems:#?}");
}
