//! `harpoon-bench`: scale benchmarks of the harpoon scheduler. Prints one
//! markdown table per part, each figure beside a baseline measured in the
//! same run and the ratio. `--quick` runs every part at a small size (CI
//! runs it so that the benchmarks cannot rot); figures from it mean little.
//!
//! Wall-clock time is measured here, and only here: the core and the
//! simulator never read a clock.

mod alloc_counter;
mod backlog;
mod cluster;
mod daemon;
mod ingestion;
mod memory;
mod placement;
mod quality;
mod reconcile;
mod report;
mod simulation;
mod status_page;
mod workload;

use std::process::ExitCode;

use clap::Parser;

/// Counts the bytes in use, for part 3.
#[global_allocator]
static ALLOCATOR: alloc_counter::Counting = alloc_counter::Counting;

/// Scale benchmarks of the harpoon scheduler.
#[derive(Debug, Parser)]
#[command(about)]
struct Args {
    /// Every part at a small size, in well under a minute.
    #[arg(long)]
    quick: bool,
    /// Run only these parts (1-9); default: all.
    #[arg(long = "part", value_name = "N")]
    parts: Vec<u8>,
    /// Also write everything printed to this file, under a header naming
    /// the command and the date (for `BENCHMARKS.md`).
    #[arg(long, value_name = "PATH")]
    markdown: Option<std::path::PathBuf>,
}

/// How big to make things.
#[derive(Clone, Copy, Debug)]
pub struct Size {
    /// Small sizes for a smoke run.
    pub quick: bool,
}

impl Size {
    /// `full` normally, `quick` under `--quick`.
    pub fn pick<T>(self, full: T, quick: T) -> T {
        if self.quick { quick } else { full }
    }
}

/// One part of the benchmark: runs at a size, returns its table.
type Part = fn(Size) -> report::Table;

fn main() -> ExitCode {
    let args = Args::parse();
    let size = Size { quick: args.quick };
    let wanted = |part: u8| args.parts.is_empty() || args.parts.contains(&part);
    let parts: [(u8, Part); 9] = [
        (1, placement::run),
        (2, reconcile::run),
        (3, memory::run),
        (4, ingestion::run),
        (5, simulation::run),
        (6, quality::run),
        (7, daemon::run),
        (8, backlog::run),
        (9, status_page::run),
    ];
    // Everything printed is also kept, for `--markdown`.
    let mut output = String::new();
    let mut emit = |text: String| {
        println!("{text}");
        output.push_str(&text);
        output.push('\n');
    };
    emit(format!(
        "## harpoon-bench{}\n",
        if size.quick { " --quick" } else { "" }
    ));
    emit(format!("{}\n", machine()));
    for (number, run) in parts {
        if wanted(number) {
            let table = run(size);
            emit(table.markdown());
        }
    }
    if let Some(path) = &args.markdown {
        let command: Vec<String> = std::env::args().collect();
        let header = format!(
            "# Benchmarks\n\nThe latest figures of `harpoon-bench` (`bench/`), printed by\n\n    {}\n\non {} (UTC). Regenerate this file with the same command; every figure is\nmeasured beside its baseline in the same run.\n\n",
            command.join(" "),
            utc_date(std::time::SystemTime::now()),
        );
        if let Err(error) = std::fs::write(path, header + &output) {
            eprintln!("cannot write {}: {error}", path.display());
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

/// The UTC date of `time` as `YYYY-MM-DD`, from the civil-from-days
/// algorithm (Howard Hinnant's `chrono`-compatible date algorithms), so
/// that no date crate is needed for one header line.
fn utc_date(time: std::time::SystemTime) -> String {
    let secs = time
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64 + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// One line saying what machine this ran on.
fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb / (1 << 20));
    format!(
        "Machine: {cpus} cores ({model}), {mem_gib} GiB; {} build.",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    )
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::utc_date;

    #[test]
    fn dates_are_civil_utc_dates() {
        for (secs, date) in [
            (0, "1970-01-01"),
            (951_868_800, "2000-03-01"),
            (1_709_164_800, "2024-02-29"),
            (1_767_225_599, "2025-12-31"),
        ] {
            assert_eq!(utc_date(UNIX_EPOCH + Duration::from_secs(secs)), date);
        }
    }
}
