//! How commands print: status lines on standard error (`    Verb text`, hidden by `--quiet`),
//! reports on standard output, either as text (each report knows how to show itself) or as JSON.

use serde::Serialize;

/// The global flags every command sees.
#[derive(Clone, Copy)]
pub struct Out {
    pub offline: bool,
    pub quiet: bool,
}

impl Out {
    /// A status line on standard error: the verb right-aligned, as cargo prints them.
    pub fn status(&self, verb: &str, text: &str) {
        if !self.quiet {
            // One write per line: standard error is unbuffered, and lines of several processes
            // then do not interleave.
            let line = format!("{verb:>12} {text}\n");
            let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
        }
    }
}

/// A report that can print itself for people; its JSON form is its serialisation.
pub trait Show: Serialize {
    fn show(&self, out: &Out);
}

/// Prints `report` as pretty JSON (with `--json`) or as text.
pub fn emit<T: Show + ?Sized>(out: &Out, report: &T, json: bool) {
    if json {
        print_json(report);
    } else {
        report.show(out);
    }
}

pub fn print_json<T: Serialize + ?Sized>(v: &T) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).expect("output serializes")
    );
}

/// Sizes for people: bytes, KiB or MiB.
pub fn human_size(n: u64) -> String {
    if n < 10 * 1024 {
        format!("{n} B")
    } else if n < 10 * 1024 * 1024 {
        format!("{} KiB", n / 1024)
    } else {
        format!("{} MiB", n / (1024 * 1024))
    }
}

/// `reward sets:`, one line per set: name, count, labels (and state columns).
pub fn print_reward_sets(sets: &[ptd::model::rewards::Summary]) {
    if sets.is_empty() {
        println!("  reward sets: none");
        return;
    }
    println!("  reward sets (ptd eval --rewards NAME):");
    for s in sets {
        let columns = match &s.columns {
            Some(c) => {
                let c: Vec<String> = c.iter().map(|c| c.to_string()).collect();
                format!(", state columns {}", c.join(", "))
            }
            None => String::new(),
        };
        println!(
            "    {} ({} vector{}{columns}): {}",
            s.name,
            s.count,
            if s.count == 1 { "" } else { "s" },
            s.labels.join(", ")
        );
    }
}
