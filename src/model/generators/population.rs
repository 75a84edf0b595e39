//! Population processes.

use super::{Args, Exploration, GeneratorError, explore};
use crate::graph::Graph;

pub(super) fn birth_death(a: &Args, how: &Exploration<'_>) -> Result<Graph, GeneratorError> {
    let n0 = a.int("initial", None, 1, 1_000_000)?;
    let max = a.int("max", None, n0 as i64, 1_000_000)?;
    explore(how, 1, 2, &[n0], |s, out| {
        let n = s[0];
        if n == 0 {
            return;
        }
        if n < max {
            out.push((vec![n + 1], vec![n as f64, 0.0]));
        }
        out.push((vec![n - 1], vec![0.0, n as f64]));
    })
}
