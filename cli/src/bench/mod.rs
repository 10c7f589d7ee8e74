//! `merchant bench AREA [--rows N] [--runs K] [--json]`: figures of one area
//! of the core, each beside a reference measured in the same run on the same
//! machine, so that the ratio means something on a noisy machine where the
//! absolute times do not.
//!
//! An area is a [`Area`] in [`AREAS`]: its name, what it measures, the
//! measurement, and the work its child processes do for clean peak-memory
//! figures (see [`peak_rss_mb`]). Adding an area is one line in [`AREAS`]
//! (and its `mod`).

mod alerts;
mod photo;
mod qr;
mod trades;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// One area of the benches.
pub struct Area {
    pub name: &'static str,
    pub about: &'static str,
    /// Measures, returning the figures in the order they are shown.
    pub run: fn(&Options) -> Result<Vec<Figure>, String>,
    /// The work a child process does for a peak-memory figure: `probe` names
    /// it, `input` is a file the parent wrote. Returns when the work is done.
    pub child: fn(probe: &str, input: &Path) -> Result<(), String>,
}

/// Every area, by name.
pub const AREAS: &[Area] = &[photo::AREA, qr::AREA, trades::AREA, alerts::AREA];

/// What the command line asked for.
pub struct Options {
    /// Rows of input, for areas that take a size (ignored by `photo`).
    #[allow(dead_code, reason = "for the areas that take a size")]
    pub rows: Option<usize>,
    /// Runs of each timed measurement; the median is reported.
    pub runs: usize,
}

/// One figure: a JSON key, its value (`None`: not measurable here, such as
/// peak memory off Linux), its unit and what it is.
pub struct Figure {
    pub key: &'static str,
    pub value: Option<f64>,
    pub unit: &'static str,
    pub about: &'static str,
}

impl Figure {
    pub fn new(
        key: &'static str,
        value: Option<f64>,
        unit: &'static str,
        about: &'static str,
    ) -> Self {
        Figure {
            key,
            value,
            unit,
            about,
        }
    }

    /// A yes-or-no figure: `true`/`false` in JSON, `yes`/`no` in the table.
    pub fn flag(key: &'static str, value: bool, about: &'static str) -> Self {
        Figure::new(key, Some(f64::from(u8::from(value))), FLAG, about)
    }

    /// `measured / reference`, when both are there and the reference is not zero.
    pub fn ratio(
        key: &'static str,
        measured: Option<f64>,
        reference: Option<f64>,
        about: &'static str,
    ) -> Self {
        let value = match (measured, reference) {
            (Some(m), Some(r)) if r > 0.0 => Some(m / r),
            _ => None,
        };
        Figure::new(key, value, "x", about)
    }
}

/// The unit of a yes-or-no figure ([`Figure::flag`]).
const FLAG: &str = "y/n";

#[derive(clap::Args)]
pub struct Args {
    /// The area to measure.
    #[arg(value_parser = clap::builder::PossibleValuesParser::new(AREAS.iter().map(|a| a.name)))]
    area: String,
    /// Rows of input, for areas that take a size.
    #[arg(long)]
    rows: Option<usize>,
    /// Runs of each timed measurement (the median is reported).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=50))]
    runs: u16,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

/// The hidden child: `merchant bench-child AREA PROBE INPUT` does the work
/// and prints its own peak memory (`vm_hwm_kb N`).
#[derive(clap::Args)]
pub struct ChildArgs {
    area: String,
    probe: String,
    input: PathBuf,
}

pub fn run(args: Args) -> i32 {
    let Some(area) = AREAS.iter().find(|a| a.name == args.area) else {
        eprintln!("no bench area {}", args.area);
        return 2;
    };
    let options = Options {
        rows: args.rows,
        runs: usize::from(args.runs),
    };
    let figures = match (area.run)(&options) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("bench {} failed: {e}", area.name);
            return 1;
        }
    };
    let build = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    if args.json {
        let mut object = serde_json::Map::new();
        object.insert("area".into(), area.name.into());
        object.insert("build".into(), build.into());
        for f in &figures {
            if f.unit == FLAG {
                let value = f
                    .value
                    .map_or(serde_json::Value::Null, |v| (v != 0.0).into());
                object.insert(f.key.into(), value);
                continue;
            }
            let value = f.value.map(round).map_or(serde_json::Value::Null, |v| {
                // Whole figures (bytes) as integers, the others with decimals.
                if v.fract() == 0.0 && v.abs() < 9.0e15 {
                    serde_json::Value::from(v as i64)
                } else {
                    serde_json::Value::from(v)
                }
            });
            object.insert(f.key.into(), value);
        }
        println!("{}", serde_json::Value::Object(object));
    } else {
        println!(
            "bench {} ({build} build, median of {} runs): {}",
            area.name, options.runs, area.about
        );
        let width = figures.iter().map(|f| f.key.len()).max().unwrap_or(0);
        for f in &figures {
            let value = match f.value {
                None => "n/a".to_owned(),
                Some(v) if f.unit == FLAG => if v != 0.0 { "yes" } else { "no" }.to_owned(),
                Some(v) => format!("{}", round(v)),
            };
            let unit = if f.unit == FLAG { "" } else { f.unit };
            println!("{:<width$}  {value:>12} {unit:<3}  {}", f.key, f.about);
        }
    }
    0
}

pub fn child(args: ChildArgs) -> i32 {
    let Some(area) = AREAS.iter().find(|a| a.name == args.area) else {
        eprintln!("no bench area {}", args.area);
        return 2;
    };
    if let Err(e) = (area.child)(&args.probe, &args.input) {
        eprintln!("bench child {} {} failed: {e}", args.area, args.probe);
        return 1;
    }
    match vm_hwm_kb() {
        Some(kb) => println!("vm_hwm_kb {kb}"),
        None => println!("vm_hwm_kb n/a"),
    }
    0
}

/// Two decimals for display and JSON.
fn round(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// Times of a closure run `runs` times, in milliseconds.
pub struct Timing {
    #[allow(dead_code, reason = "for the areas that report their best run")]
    pub best_ms: f64,
    pub median_ms: f64,
}

/// Runs `work` `runs` times (at least once) and gives the best and the
/// median time. The result of each run is kept from the optimiser.
pub fn time<T>(runs: usize, mut work: impl FnMut() -> T) -> Timing {
    let mut times: Vec<f64> = (0..runs.max(1))
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(work());
            start.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    Timing {
        best_ms: times.first().copied().unwrap_or_default(),
        median_ms: times.get(times.len() / 2).copied().unwrap_or_default(),
    }
}

/// This process's peak resident memory (VmHWM) in kB, on Linux; `None`
/// elsewhere.
pub fn vm_hwm_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// What a child process (this binary again, `bench-child AREA PROBE INPUT`)
/// printed and its peak resident memory in MB (`None` where it cannot tell).
pub struct ChildRun {
    pub peak_mb: Option<f64>,
    pub stdout: String,
}

/// Runs one piece of work in a child process that does nothing else: a
/// memory figure free of what the parent allocated before. `None` when the
/// child could not run or failed (its error is printed).
pub fn child_run(area: &str, probe: &str, input: &Path) -> Option<ChildRun> {
    let exe = std::env::current_exe().ok()?;
    let out = Command::new(exe)
        .arg("bench-child")
        .arg(area)
        .arg(probe)
        .arg(input)
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!(
            "bench child {area} {probe} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        return None;
    }
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let peak_mb = stdout
        .lines()
        .find_map(|l| l.strip_prefix("vm_hwm_kb "))
        .and_then(|kb| kb.trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0);
    Some(ChildRun { peak_mb, stdout })
}

/// The peak resident memory, in MB, of a child process (see [`child_run`])
/// that does one piece of work and nothing else.
pub fn peak_rss_mb(area: &str, probe: &str, input: &Path) -> Option<f64> {
    child_run(area, probe, input)?.peak_mb
}
