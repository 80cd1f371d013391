//! `docs/policy.schema.json`, the schema IT validates policy files against, agrees with the
//! policy loader: every example in `docs/deployment.md` passes both, and each kind of mistake
//! fails both.

// Test helpers panic on purpose: a failed step is a failed test.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use tessera_config::{Policy, FIELDS};

fn docs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs")
}

fn schema() -> jsonschema::Validator {
    let text = std::fs::read_to_string(docs().join("policy.schema.json")).unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap();
    jsonschema::draft202012::new(&schema).unwrap()
}

/// The JSON blocks `docs/deployment.md` marks as policy examples.
fn documented_examples() -> Vec<Value> {
    let text = std::fs::read_to_string(docs().join("deployment.md")).unwrap();
    let mut examples = vec![];
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.trim() != "<!-- policy-example -->" {
            continue;
        }
        assert_eq!(
            lines.next().map(str::trim),
            Some("```json"),
            "a json block follows the marker"
        );
        let block: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "```").collect();
        examples.push(
            serde_json::from_str(&block.join("\n"))
                .unwrap_or_else(|e| panic!("example {} is not JSON: {e}", examples.len() + 1)),
        );
    }
    examples
}

/// What the app's own loader says of `policy`.
fn loader_accepts(policy: &Value) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.json");
    std::fs::write(&path, policy.to_string()).unwrap();
    Policy::load(&path).map(drop).map_err(|e| e.to_string())
}

#[test]
fn every_documented_example_is_valid_for_the_schema_and_the_app() {
    let schema = schema();
    let examples = documented_examples();
    assert!(
        examples.len() >= 4,
        "the guide's examples were found: {}",
        examples.len()
    );
    for (n, example) in examples.iter().enumerate() {
        let errors: Vec<String> = schema.iter_errors(example).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "example {}: {errors:?}", n + 1);
        loader_accepts(example).unwrap_or_else(|e| panic!("example {}: {e}", n + 1));
    }
}

#[test]
fn each_kind_of_mistake_is_refused_by_both() {
    let schema = schema();
    let mistakes = [
        json!({ "tenant": "contoso" }),
        json!({ "authority": "http://login.example.com/common" }),
        json!({ "authority": 42 }),
        json!({ "clientId": "has spaces in it" }),
        json!({ "authorityType": "adfs" }),
        json!({ "redirectPort": 70000 }),
        json!({ "extraCaFile": "relative/ca.pem" }),
        json!({ "clientCapabilities": ["has space"] }),
        json!({ "allowedInteractionModes": ["telepathy"] }),
        json!({ "scopes": ["User.Read Mail.Read"] }),
        json!({ "interactionMode": "kiosk" }),
        json!({ "allowedInteractionModes": [] }),
        json!({ "interactionMode": "popup", "allowedInteractionModes": ["redirect"] }),
        json!({ "renewalOffsetSecs": 3601 }),
        json!({ "renewalOffsetSecs": -1 }),
        json!({ "interactionTimeLimitSecs": 10 }),
        json!({ "window": { "x": 0, "y": 0, "width": 1024, "height": 720 } }),
        json!(["not", "an", "object"]),
    ];
    for mistake in &mistakes {
        assert!(!schema.is_valid(mistake), "the schema accepts {mistake}");
        assert!(
            loader_accepts(mistake).is_err(),
            "the app accepts {mistake}"
        );
    }
}

#[test]
fn the_schema_describes_exactly_the_settings_the_app_knows() {
    let text = std::fs::read_to_string(docs().join("policy.schema.json")).unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap();
    let mut described: Vec<&str> = schema["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut known = FIELDS.to_vec();
    described.sort_unstable();
    known.sort_unstable();
    assert_eq!(described, known);
    assert_eq!(schema["additionalProperties"], false);
}
