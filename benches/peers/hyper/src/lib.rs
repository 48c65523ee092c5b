//! Helpers shared by the peer's measurement binaries (`pgbench`, `httpsbench`, `execbench`).
//!
//! Every measurement is printed as one JSON object on its own line, the same format the Python
//! peers and rasgi's own bench binaries print, so the harness reads all of them with one parser:
//!
//! ```text
//! {"bench":"pg","impl":"tokio-postgres","measure":"roundtrips_c1","value":21034.2,"unit":"ops/s","ops":105171,"seconds":5.0}
//! ```

use std::collections::HashMap;
use std::time::Duration;

/// `--name value` pairs from the command line. Stray words are an error so that a typo in the
/// harness fails loudly instead of silently measuring the defaults.
pub struct Flags {
    values: HashMap<String, String>,
}

impl Flags {
    /// Parses the process arguments, accepting only the flag names in `known`.
    pub fn parse(program: &str, known: &[&str]) -> Flags {
        let mut values = HashMap::new();
        let mut args = std::env::args().skip(1);
        while let Some(flag) = args.next() {
            let Some(name) = flag.strip_prefix("--").filter(|n| known.contains(n)) else {
                fail(
                    program,
                    &format!(
                        "unknown argument {flag}; known flags: --{}",
                        known.join(", --")
                    ),
                );
            };
            let Some(value) = args.next() else {
                fail(program, &format!("{flag} needs a value"));
            };
            values.insert(name.to_string(), value);
        }
        Flags { values }
    }

    /// The flag's value, or `default` when absent.
    pub fn get(&self, name: &str, default: &str) -> String {
        self.values
            .get(name)
            .cloned()
            .unwrap_or_else(|| default.to_string())
    }

    /// True when the flag was given.
    pub fn has(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// The flag parsed as a number of seconds.
    pub fn seconds(&self, program: &str, name: &str, default: f64) -> Duration {
        let text = self.get(name, &default.to_string());
        match text.parse::<f64>() {
            Ok(s) if s > 0.0 && s.is_finite() => Duration::from_secs_f64(s),
            _ => fail(
                program,
                &format!("--{name} must be a positive number of seconds, not {text}"),
            ),
        }
    }

    /// The flag parsed as a positive integer.
    pub fn count(&self, program: &str, name: &str, default: usize) -> usize {
        let text = self.get(name, &default.to_string());
        match text.parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => fail(
                program,
                &format!("--{name} must be a positive integer, not {text}"),
            ),
        }
    }
}

/// Prints an error and exits with status 2 (bad usage).
pub fn fail(program: &str, message: &str) -> ! {
    eprintln!("{program}: {message}");
    std::process::exit(2)
}

/// One measurement, printed as one JSON line on stdout.
pub struct Measurement<'a> {
    /// Which suite the line belongs to: `pg`, `https` or `exec`.
    pub bench: &'a str,
    /// The implementation measured, e.g. `tokio-postgres`.
    pub implementation: &'a str,
    /// The measurement's name, shared by every implementation, e.g. `roundtrips_c16`.
    pub measure: &'a str,
    /// The number the table shows.
    pub value: f64,
    /// `ops/s`, `rows/s`, `req/s` or `ns/op`.
    pub unit: &'a str,
    /// How many operations the value was computed from.
    pub ops: u64,
    /// How long the measurement ran: wall clock, or CPU time where the value is CPU-based
    /// (execbench's `timers`).
    pub seconds: f64,
}

impl Measurement<'_> {
    /// Writes the line to stdout.
    pub fn emit(&self) {
        let line = serde_json::json!({
            "bench": self.bench,
            "impl": self.implementation,
            "measure": self.measure,
            "value": (self.value * 100.0).round() / 100.0,
            "unit": self.unit,
            "ops": self.ops,
            "seconds": (self.seconds * 1000.0).round() / 1000.0,
        });
        println!("{line}");
    }
}
