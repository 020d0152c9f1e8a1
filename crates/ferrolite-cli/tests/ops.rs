//! `ferrolite ops`: the README's "Supported operators" block is exactly the command's `--markdown`
//! output (so the documented table cannot drift from the kernel registry), and `--json` describes
//! the same table.
//!
//! To refresh the README after changing a registration, run
//! `FERROLITE_BLESS=1 cargo test -p ferrolite --test ops` (rewrites the block between the markers).

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const START: &str = "<!-- ops-table:start -->";
const END: &str = "<!-- ops-table:end -->";

fn readme_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md")
}

/// Runs `ferrolite ops ARGS` and returns its stdout.
fn ops(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_ferrolite"))
        .arg("ops")
        .args(args)
        .output()
        .expect("run ferrolite");
    assert!(
        out.status.success(),
        "ferrolite ops {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// The README split around the markers: `(before, block, after)`, block without the markers.
fn split_readme(text: &str) -> (&str, &str, &str) {
    let start = text
        .find(START)
        .unwrap_or_else(|| panic!("README.md has no `{START}` marker"));
    let body = start + START.len();
    let end = body
        + text[body..]
            .find(END)
            .unwrap_or_else(|| panic!("README.md has no `{END}` marker after `{START}`"));
    (&text[..body], &text[body..end], &text[end..])
}

#[test]
fn readme_table_matches_the_registry() {
    let generated = ops(&["--markdown"]);
    let path = readme_path();
    let readme = std::fs::read_to_string(&path).expect("README.md");
    let (before, block, after) = split_readme(&readme);
    let want = format!("\n{generated}");
    if block == want {
        return;
    }
    if std::env::var_os("FERROLITE_BLESS").is_some() {
        std::fs::write(&path, format!("{before}{want}{after}")).expect("write README.md");
        eprintln!("README.md support table updated");
        return;
    }
    let first_diff = block
        .lines()
        .zip(want.lines())
        .find(|(a, b)| a != b)
        .map(|(a, b)| format!("README: {a}\nops:    {b}"))
        .unwrap_or_else(|| "(one is a prefix of the other)".into());
    panic!(
        "README.md's support table (between `{START}` and `{END}`) differs from \
         `ferrolite ops --markdown`; regenerate it with \
         `FERROLITE_BLESS=1 cargo test -p ferrolite --test ops` (or paste \
         `cargo run -q -- ops --markdown` between the markers).\nfirst difference:\n{first_diff}"
    );
}

#[test]
fn json_describes_the_same_table_as_markdown() {
    let json: Value = serde_json::from_str(&ops(&["--json"])).expect("--json is JSON");
    let variants: Vec<&str> = json["variants"]
        .as_array()
        .expect("variants[]")
        .iter()
        .map(|v| v.as_str().expect("variant name"))
        .collect();
    assert_eq!(
        variants,
        ["f32", "int8", "uint8", "int16x8", "hybrid", "f16-weights"]
    );
    let operators = json["operators"].as_array().expect("operators[]");
    assert!(operators.len() >= 89, "{} operators", operators.len());

    // Every Markdown row carries the same marks as the JSON entry.
    let markdown = ops(&["--markdown"]);
    let rows: Vec<&str> = markdown.lines().filter(|l| l.starts_with("| `")).collect();
    assert_eq!(rows.len(), operators.len());
    for (row, o) in rows.iter().zip(operators) {
        let name = o["op"].as_str().expect("op");
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        assert_eq!(cells[1], format!("`{name}`"));
        assert_eq!(
            cells[2],
            o["max_version"].as_i64().expect("max_version").to_string()
        );
        let declared: Vec<&str> = o["variants"]
            .as_array()
            .expect("variants")
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        for (k, v) in variants.iter().enumerate() {
            assert_eq!(
                cells[3 + k] == "✓",
                declared.contains(v),
                "{name} {v}: markdown {row:?} vs json {declared:?}"
            );
        }
        assert!(o["notes"].is_array(), "{name}: notes[]");
    }

    // Spot checks against the kernels' documented behaviour.
    let find = |n: &str| operators.iter().find(|o| o["op"] == n).expect(n);
    let has = |n: &str, v: &str| {
        find(n)["variants"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x == v)
    };
    assert!(has("CONV_2D", "hybrid") && has("FULLY_CONNECTED", "hybrid"));
    assert!(has("DEQUANTIZE", "f16-weights") && !has("DEQUANTIZE", "f32"));
    assert!(find("LOGICAL_AND")["variants"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[test]
fn text_table_lists_every_operator() {
    let text = ops(&[]);
    let header = text.lines().next().expect("header");
    assert!(
        header.starts_with("operator") && header.contains("f16-weights"),
        "{header}"
    );
    for name in ["CONV_2D", "FULLY_CONNECTED", "SOFTMAX", "DEQUANTIZE"] {
        assert!(
            text.lines()
                .any(|l| l.split_whitespace().next() == Some(name)),
            "{name} missing:\n{text}"
        );
    }
    assert!(text.contains(" operators (f32 "), "{text}");
}
