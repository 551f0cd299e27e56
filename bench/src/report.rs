//! Markdown tables of figures beside their baselines.

use std::fmt::Write;

/// One row: what was measured, the figure, the baseline measured in the
/// same run, and the goal if there is one.
#[derive(Clone, Debug)]
pub struct Row {
    /// What the row measures.
    pub what: String,
    /// The figure.
    pub value: f64,
    /// The baseline measured in the same run, if any.
    pub baseline: Option<f64>,
    /// The unit of `value` and `baseline`.
    pub unit: &'static str,
    /// The goal, in words (e.g. `≥ 1,000,000/s`), and whether it was met.
    pub goal: Option<(String, bool)>,
}

/// A titled table of rows.
#[derive(Clone, Debug)]
pub struct Table {
    /// The part's title.
    pub title: String,
    /// Its rows.
    pub rows: Vec<Row>,
    /// Notes printed under the table.
    pub notes: Vec<String>,
}

impl Table {
    /// An empty table.
    pub fn new(title: &str) -> Table {
        Table {
            title: title.to_owned(),
            rows: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Adds a row.
    pub fn row(
        &mut self,
        what: impl Into<String>,
        value: f64,
        baseline: Option<f64>,
        unit: &'static str,
        goal: Option<(String, bool)>,
    ) {
        self.rows.push(Row {
            what: what.into(),
            value,
            baseline,
            unit,
            goal,
        });
    }

    /// The table as markdown.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        writeln!(out, "### {}\n", self.title).unwrap();
        writeln!(out, "| measure | figure | baseline | ratio | goal |").unwrap();
        writeln!(out, "|---|---:|---:|---:|---|").unwrap();
        for row in &self.rows {
            let baseline = row
                .baseline
                .map_or("—".to_owned(), |b| format!("{} {}", human(b), row.unit));
            let ratio = row
                .baseline
                .filter(|b| *b != 0.0)
                .map_or("—".to_owned(), |b| ratio(row.value / b));
            let goal = row.goal.as_ref().map_or("—".to_owned(), |(text, met)| {
                format!("{text} {}", if *met { "✅" } else { "❌" })
            });
            writeln!(
                out,
                "| {} | {} {} | {baseline} | {ratio} | {goal} |",
                row.what,
                human(row.value),
                row.unit
            )
            .unwrap();
        }
        for note in &self.notes {
            writeln!(out, "\n{note}").unwrap();
        }
        out
    }
}

/// A number for a person: thousands separated, at most three significant
/// decimals for small values.
pub fn human(value: f64) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    if value.abs() >= 100.0 {
        let whole = value.round() as i128;
        let digits = whole.abs().to_string();
        let mut grouped = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                grouped.push(',');
            }
            grouped.push(c);
        }
        if whole < 0 {
            format!("-{grouped}")
        } else {
            grouped
        }
    } else if value.abs() >= 1.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.4}")
    }
}

/// A ratio for a person: `1,234×`, `12.3×`, `1.23×`, and small ones with
/// two significant digits (`0.0012×`) rather than a misleading `0.0×`.
pub fn ratio(value: f64) -> String {
    if !value.is_finite() || value <= 0.0 {
        return format!("{value}×");
    }
    if value >= 100.0 {
        format!("{}×", human(value))
    } else if value >= 10.0 {
        format!("{value:.1}×")
    } else if value >= 0.1 {
        format!("{value:.2}×")
    } else {
        // Two significant digits: as many decimals as leading zeros, plus two.
        let decimals = (-value.log10()).floor() as usize + 2;
        format!("{value:.decimals$}×")
    }
}

/// A count for a person: `1,000`, `7`.
pub fn count(value: u64) -> String {
    if value < 100 {
        value.to_string()
    } else {
        human(value as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(human(1_234_567.4), "1,234,567");
        assert_eq!(human(12.345), "12.35");
        assert_eq!(human(0.01234), "0.0123");
        assert_eq!(count(7), "7");
        assert_eq!(count(10_000), "10,000");
    }

    #[test]
    fn ratios_keep_two_significant_digits_when_small() {
        assert_eq!(ratio(4025.2), "4,025×");
        assert_eq!(ratio(12.34), "12.3×");
        assert_eq!(ratio(1.234), "1.23×");
        assert_eq!(ratio(0.000248), "0.00025×");
        assert_eq!(ratio(0.0123), "0.012×");
    }
}
