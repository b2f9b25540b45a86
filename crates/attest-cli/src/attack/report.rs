//! The report of a run (a text table or one JSON object) and the Markdown table of
//! docs/SECURITY.md.

use serde_json::{Value, json};

use super::corpus::Attack;
use super::run::{Observed, Outcome, describe};

/// Counts of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    /// Attacks that ran.
    pub(crate) total: usize,
    /// Of those, detected for their expected reason.
    pub(crate) detected: usize,
    /// Not run.
    pub(crate) skipped: usize,
}

impl Tally {
    /// Counts `outcomes`.
    pub(crate) fn of(attacks: &[Attack], outcomes: &[Outcome]) -> Tally {
        let mut tally = Tally::default();
        for (attack, outcome) in attacks.iter().zip(outcomes) {
            if outcome.skipped() {
                tally.skipped = tally.skipped.saturating_add(1);
                continue;
            }
            tally.total = tally.total.saturating_add(1);
            if outcome.detected(attack) {
                tally.detected = tally.detected.saturating_add(1);
            }
        }
        tally
    }

    /// Attacks that ran and were not detected.
    pub(crate) fn missed(self) -> usize {
        self.total.saturating_sub(self.detected)
    }
}

fn expected(attack: &Attack) -> String {
    match attack.error {
        Some(error) => format!("{} ({error})", attack.expected),
        None => attack.expected.to_string(),
    }
}

fn result(attack: &Attack, outcome: &Outcome) -> &'static str {
    if outcome.skipped() {
        "- skipped"
    } else if outcome.detected(attack) {
        "✓ detected"
    } else {
        "✗ MISSED"
    }
}

/// Cuts `text` to `max` characters, marking the cut.
fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The text table: `id | attack | expected | observed | result`, then a summary line.
pub(crate) fn text(mode: &str, attacks: &[Attack], outcomes: &[Outcome]) -> String {
    const ATTACK_WIDTH: usize = 60;
    let rows: Vec<[String; 5]> = attacks
        .iter()
        .zip(outcomes)
        .map(|(attack, outcome)| {
            [
                attack.id.to_owned(),
                clip(attack.description, ATTACK_WIDTH),
                expected(attack),
                describe(&outcome.observed),
                result(attack, outcome).to_owned(),
            ]
        })
        .collect();
    let header = ["id", "attack", "expected", "observed", "result"].map(str::to_owned);
    let mut widths = [0usize; 5];
    for row in std::iter::once(&header).chain(&rows) {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |row: &[String; 5]| {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .enumerate()
            .map(|(i, (cell, width))| {
                // The last column is not padded, so lines carry no trailing spaces.
                if i == 4 {
                    cell.clone()
                } else {
                    let pad = width.saturating_sub(cell.chars().count());
                    format!("{cell}{}", " ".repeat(pad))
                }
            })
            .collect();
        cells.join(" | ")
    };
    let mut out = format!("attest attack: {mode}\n\n");
    out.push_str(&line(&header));
    out.push('\n');
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    out.push_str(&rule.join("-|-"));
    out.push('\n');
    for row in &rows {
        out.push_str(&line(row));
        out.push('\n');
    }
    let notes: Vec<String> = attacks
        .iter()
        .zip(outcomes)
        .filter_map(|(attack, outcome)| {
            let note = outcome.note.as_ref()?;
            Some(format!("  {}: {note}\n", attack.id))
        })
        .collect();
    if !notes.is_empty() {
        out.push_str("\nnotes:\n");
        out.push_str(&notes.concat());
    }
    let tally = Tally::of(attacks, outcomes);
    out.push_str(&format!(
        "\n{} attacks ran: {} detected, {} missed; {} skipped.\n",
        tally.total,
        tally.detected,
        tally.missed(),
        tally.skipped
    ));
    out
}

/// One JSON object: `{"attacks": [...], "detected": n, "total": n, ...}`. `total` counts the
/// attacks that ran.
pub(crate) fn json(mode: &str, attacks: &[Attack], outcomes: &[Outcome]) -> Value {
    let entries: Vec<Value> = attacks
        .iter()
        .zip(outcomes)
        .map(|(attack, outcome)| {
            let (observed_reason, observed_error) = match &outcome.observed {
                Observed::Rejected { reason, error } => {
                    (Value::from(reason.as_str()), json!(error))
                }
                _ => (Value::Null, Value::Null),
            };
            let status = if outcome.skipped() {
                "skipped"
            } else if outcome.detected(attack) {
                "detected"
            } else {
                "missed"
            };
            json!({
                "id": attack.id,
                "description": attack.description,
                "expected_reason": attack.expected.as_str(),
                "expected_error": attack.error,
                "observed_reason": observed_reason,
                "observed_error": observed_error,
                "observed": describe(&outcome.observed),
                "detected": outcome.detected(attack),
                "status": status,
                "note": outcome.note,
                "vector": attack.vector,
            })
        })
        .collect();
    let tally = Tally::of(attacks, outcomes);
    json!({
        "mode": mode,
        "attacks": entries,
        "detected": tally.detected,
        "total": tally.total,
        "missed": tally.missed(),
        "skipped": tally.skipped,
    })
}

/// A Markdown table cell: `|` escaped, newlines flattened.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// The attack table of docs/SECURITY.md, generated from the corpus.
pub(crate) fn markdown(attacks: &[Attack]) -> String {
    let mut out = String::from(
        "| id | attack | expected reason (precise error) | mitigation | enforced by | `--target` |\n\
         |---|---|---|---|---|---|\n",
    );
    for attack in attacks {
        let expected = match attack.error {
            Some(error) => format!("`{}` (`{error}`)", attack.expected),
            None => format!("`{}`", attack.expected),
        };
        let id = match attack.vector {
            Some(vector) => format!("`{}` (vector `{vector}`)", attack.id),
            None => format!("`{}`", attack.id),
        };
        out.push_str(&format!(
            "| {id} | {} | {} | {} | {} | {} |\n",
            cell(attack.description),
            expected,
            cell(attack.mitigation.text),
            cell(attack.mitigation.enforced_by),
            attack.needs.target_mode(),
        ));
    }
    out
}
