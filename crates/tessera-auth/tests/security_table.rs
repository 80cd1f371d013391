//! SECURITY.md's tables name the tests that prove each rule: every name must be a test that
//! exists, so the document cannot drift from the code.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

fn rust_files(folder: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(folder).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            if !matches!(name.as_str(), "target" | "node_modules" | ".git") {
                rust_files(&path, found);
            }
        } else if name.ends_with(".rs") {
            found.push(path);
        }
    }
}

/// The names of every `#[test]` / `#[tokio::test]` function in the repository.
fn test_names(root: &Path) -> Vec<String> {
    let mut files = vec![];
    for folder in ["crates", "plugins", "src-tauri", "tests", "examples"] {
        rust_files(&root.join(folder), &mut files);
    }
    let mut names = vec![];
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let trimmed = line.trim_start();
            if !(trimmed.starts_with("#[test]") || trimmed.starts_with("#[tokio::test")) {
                continue;
            }
            let function = lines[i + 1..].iter().take(3).find_map(|l| {
                let (_, rest) = l.split_once("fn ")?;
                Some(rest.split('(').next()?.trim().to_owned())
            });
            names.extend(function);
        }
    }
    names
}

#[test]
fn every_test_security_md_names_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let security = std::fs::read_to_string(root.join("SECURITY.md")).unwrap();
    let tests = test_names(&root);
    // Test names are the backticked snake_case words with at least three underscores.
    let named: Vec<&str> = security
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|word| {
            word.matches('_').count() >= 3
                && word
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        })
        .collect();
    assert!(named.len() >= 40, "only {} test names found", named.len());
    let missing: Vec<&&str> = named
        .iter()
        .filter(|name| !tests.iter().any(|t| t == *name))
        .collect();
    assert!(
        missing.is_empty(),
        "SECURITY.md names tests that do not exist: {missing:?}"
    );
}
