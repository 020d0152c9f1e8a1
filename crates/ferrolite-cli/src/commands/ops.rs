//! `ferrolite ops`: the operator support table (builtin × f32 / int8 / uint8 / int16x8 / hybrid /
//! f16-weights), generated from the runtime's kernel registry so it cannot drift from the code.
//! `--markdown` prints the block the README embeds (checked by `tests/ops.rs`).

use crate::table::Table;
use anyhow::Result;
use ferrolite_runtime::ops::{registered, Variant};
use serde::Serialize;

/// Arguments of `ferrolite ops`.
#[derive(Debug, clap::Args)]
pub struct OpsArgs {
    /// Print JSON (keys in the README).
    #[arg(long, conflicts_with = "markdown")]
    pub json: bool,
    /// Print a Markdown table (the README's "Supported operators" block).
    #[arg(long)]
    pub markdown: bool,
}

/// One registered builtin.
#[derive(Debug, Serialize, Clone)]
pub struct OpSupport {
    /// TFLite name (`CONV_2D`).
    pub op: String,
    /// Highest operator version accepted.
    pub max_version: i32,
    /// Supported variants, by [`Variant::name`], in column order.
    pub variants: Vec<&'static str>,
    /// Restrictions, extra dtypes, known deviations from LiteRT.
    pub notes: Vec<&'static str>,
}

/// The whole table.
#[derive(Debug, Serialize, Clone)]
pub struct OpsReport {
    /// The column names, in order.
    pub variants: Vec<&'static str>,
    /// Every registered builtin, sorted by name.
    pub operators: Vec<OpSupport>,
    /// Custom operators (builtin code CUSTOM) with a kernel, by `custom_code`, sorted.
    pub custom_operators: Vec<OpSupport>,
}

/// Builds the table from the registry.
pub fn report() -> OpsReport {
    let operators = registered()
        .into_iter()
        .map(|(op, _, reg)| OpSupport {
            op,
            max_version: reg.max_version,
            variants: reg.support.iter().map(Variant::name).collect(),
            notes: reg.notes.clone(),
        })
        .collect();
    let mut custom_operators: Vec<OpSupport> = ferrolite_runtime::ops::custom_registry()
        .iter()
        .map(|(&op, reg)| OpSupport {
            op: op.to_string(),
            max_version: reg.max_version,
            variants: reg.support.iter().map(Variant::name).collect(),
            notes: reg.notes.clone(),
        })
        .collect();
    custom_operators.sort_by(|a, b| a.op.cmp(&b.op));
    OpsReport {
        variants: Variant::ALL.iter().map(|v| v.name()).collect(),
        operators,
        custom_operators,
    }
}

/// Runs the command.
pub fn run(args: &OpsArgs) -> Result<()> {
    let report = report();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if args.markdown {
        print!("{}", markdown(&report));
    } else {
        print!("{}", render(&report));
    }
    Ok(())
}

/// Notes grouped by text, in the order they first appear: `(operators, text)`.
fn grouped_notes(report: &OpsReport) -> Vec<(Vec<&str>, &'static str)> {
    let mut groups: Vec<(Vec<&str>, &'static str)> = Vec::new();
    for o in &report.operators {
        for &text in &o.notes {
            match groups.iter_mut().find(|(_, t)| *t == text) {
                Some((ops, _)) => ops.push(&o.op),
                None => groups.push((vec![&o.op], text)),
            }
        }
    }
    groups
}

/// The mark for one cell.
fn mark(o: &OpSupport, v: &str, empty: &'static str) -> &'static str {
    if o.variants.contains(&v) {
        "✓"
    } else {
        empty
    }
}

/// The terminal table: one row per operator, then the notes and per-variant counts.
fn render(report: &OpsReport) -> String {
    let mut t = Table::new(
        ["operator", "max version"]
            .into_iter()
            .chain(report.variants.iter().copied()),
    );
    for o in &report.operators {
        t.row(
            [o.op.clone(), o.max_version.to_string()]
                .into_iter()
                .chain(report.variants.iter().map(|v| mark(o, v, "·").to_string())),
        );
    }
    let mut out = t.render(0);
    let counts: Vec<String> = report
        .variants
        .iter()
        .map(|v| {
            let n = report
                .operators
                .iter()
                .filter(|o| o.variants.contains(v))
                .count();
            format!("{v} {n}")
        })
        .collect();
    out.push_str(&format!(
        "\n{} operators ({})\n",
        report.operators.len(),
        counts.join(", ")
    ));
    if !report.custom_operators.is_empty() {
        out.push_str("custom operators:");
        for o in &report.custom_operators {
            out.push_str(&format!(" {} ({})", o.op, o.variants.join(", ")));
        }
        out.push('\n');
    }
    let notes = grouped_notes(report);
    if !notes.is_empty() {
        out.push_str("notes:\n");
        for (ops, text) in notes {
            out.push_str(&format!("  {}: {text}\n", ops.join(", ")));
        }
    }
    out
}

/// The Markdown block the README embeds.
pub fn markdown(report: &OpsReport) -> String {
    let mut out = String::from("| operator | max version |");
    for v in &report.variants {
        out.push_str(&format!(" {v} |"));
    }
    out.push_str("\n| --- | --- |");
    for _ in &report.variants {
        out.push_str(" :-: |");
    }
    out.push('\n');
    for o in &report.operators {
        out.push_str(&format!("| `{}` | {} |", o.op, o.max_version));
        for v in &report.variants {
            out.push_str(&format!(" {} |", mark(o, v, "")));
        }
        out.push('\n');
    }
    let notes = grouped_notes(report);
    if !notes.is_empty() {
        out.push('\n');
        for (ops, text) in notes {
            let ops: Vec<String> = ops.iter().map(|o| format!("`{o}`")).collect();
            out.push_str(&format!("- {}: {text}\n", ops.join(", ")));
        }
    }
    if !report.custom_operators.is_empty() {
        out.push_str("\nCustom operators (builtin code `CUSTOM`, matched by `custom_code`):\n");
        for o in &report.custom_operators {
            out.push_str(&format!("- `{}`: {}", o.op, o.variants.join(", ")));
            for n in &o.notes {
                out.push_str(&format!("; {n}"));
            }
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> OpsReport {
        let op = |name: &str, variants: Vec<&'static str>, notes: Vec<&'static str>| OpSupport {
            op: name.into(),
            max_version: 2,
            variants,
            notes,
        };
        OpsReport {
            variants: vec!["f32", "int8"],
            operators: vec![
                op("ADD", vec!["f32", "int8"], vec!["shared"]),
                op("LOGICAL_AND", vec![], vec!["bool only"]),
                op("SUB", vec!["f32"], vec!["shared"]),
            ],
            custom_operators: vec![],
        }
    }

    #[test]
    fn markdown_marks_cells_and_merges_identical_notes() {
        let md = markdown(&sample());
        let want = "| operator | max version | f32 | int8 |\n\
                    | --- | --- | :-: | :-: |\n\
                    | `ADD` | 2 | ✓ | ✓ |\n\
                    | `LOGICAL_AND` | 2 |  |  |\n\
                    | `SUB` | 2 | ✓ |  |\n\
                    \n\
                    - `ADD`, `SUB`: shared\n\
                    - `LOGICAL_AND`: bool only\n";
        assert_eq!(md, want);
    }

    #[test]
    fn text_table_counts_variants() {
        let text = render(&sample());
        assert!(text.contains("3 operators (f32 2, int8 1)"), "{text}");
        assert!(text.contains("ADD, SUB: shared"), "{text}");
        assert!(text.lines().nth(2).unwrap().starts_with("LOGICAL_AND"));
    }

    #[test]
    fn custom_operators_are_listed() {
        let report = report();
        assert!(report
            .custom_operators
            .iter()
            .any(|o| o.op == "TFLite_Detection_PostProcess" && o.variants == ["f32"]));
        assert!(markdown(&report).contains("- `TFLite_Detection_PostProcess`: f32"));
        assert!(render(&report).contains("custom operators: TFLite_Detection_PostProcess (f32)"));
    }

    #[test]
    fn registry_report_has_every_op() {
        let r = report();
        assert_eq!(r.variants.len(), Variant::ALL.len());
        assert!(r.operators.len() >= 89, "{}", r.operators.len());
        let conv = r.operators.iter().find(|o| o.op == "CONV_2D").unwrap();
        assert!(conv.variants.contains(&"f32") && conv.variants.contains(&"int8"));
    }
}
