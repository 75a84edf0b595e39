//! Densities and distribution functions of a phase-type distribution at many times.
//!
//! A [`Chain`] is one theta's numeric chain: the initial distribution `alpha` over its transient
//! states (possibly defective: the rest is an atom at 0), the rates between states and the exit
//! rates `s`. Its density is `pdf(t) = alpha e^{St} s` and its distribution function
//! `cdf(t) = atom + alpha (integral_0^t e^{Su} du) s`.
//!
//! Both are sums of nonnegative terms in either method used here, so small values keep their
//! relative accuracy (no `1 - x` cancellation):
//!
//! * **uniformization** (the default): with `lambda = max_u q_u` (the largest total out-rate)
//!   and `P = I + S / lambda >= 0`, `pdf(t) = sum_k w_k(lambda t) alpha P^k s` with Poisson weights
//!   `w_k(x) = e^-x x^k / k!`, and `cdf(t) = atom + sum_k (alpha P^k s / lambda) P(N_{lambda t} > k)`.
//!   One pass of `K` sparse vector-matrix products serves every time; the weights are computed
//!   outward from the mode and normalised (no overflow or underflow for any `lambda t`), and the
//!   series is cut where the weights fall below 1e-40 of the mode's, so the truncated mass is far
//!   below rounding.
//! * **scaling and squaring of nonnegative matrices**, for stiff chains where `lambda t` is
//!   large and the chain small: the full generator `G` (transient states plus one absorbing
//!   state) has `e^{G tau} = e^{-lambda tau} sum_k ((G + lambda I) tau)^k / k!` with a nonnegative
//!   matrix, summed for `lambda tau <= 1`, then squared; every product is of nonnegative matrices,
//!   so each entry keeps a relative error of a few rounding units per squaring.
//!
//! The method with the smaller operation count is chosen per call.

/// Poisson weights are cut where they fall below this fraction of the mode's weight.
const WEIGHT_CUT: f64 = 1e-40;
/// Taylor terms of the nonnegative series for `lambda tau <= 1`: the first omitted term is below
/// `1 / 26!`, about 2.5e-27.
const TAYLOR_TERMS: usize = 26;

/// One theta's chain, in compressed rows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Chain {
    /// Initial probability of each state.
    pub alpha: Vec<f64>,
    /// Probability of absorption at time 0 (the initial mass on no transient state).
    pub atom: f64,
    /// Row offsets into `cols` / `rates`.
    pub offsets: Vec<usize>,
    /// Target state of each rate (never the row's own state).
    pub cols: Vec<u32>,
    pub rates: Vec<f64>,
    /// Exit rate of each state (to absorption).
    pub exit: Vec<f64>,
}

/// Density and distribution function at the requested times, in their order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Density {
    pub pdf: Vec<f64>,
    pub cdf: Vec<f64>,
}

/// Why times cannot be evaluated.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum TimeError {
    #[error("time[{index}] = {value} is not a finite number >= 0")]
    Bad { index: usize, value: f64 },
    #[error("step[{index}] = {value} is not a whole number of steps >= 0 (the graph is discrete)")]
    NotStep { index: usize, value: f64 },
    #[error(
        "the density up to t = {t_max} needs about {work:.1e} operations ({states} states, largest rate {lambda:e}, so {steps:.1e} uniformization steps): more than the limit of {limit:.0e}; ask for smaller times"
    )]
    TooStiff {
        t_max: f64,
        states: usize,
        lambda: f64,
        steps: f64,
        work: f64,
        limit: f64,
    },
}

/// Checks step counts of a discrete chain: whole numbers >= 0.
pub fn check_steps(steps: &[f64]) -> Result<(), TimeError> {
    match steps
        .iter()
        .enumerate()
        .find(|(_, k)| !(k.is_finite() && **k >= 0.0 && k.fract() == 0.0 && **k < 1e15))
    {
        Some((index, &value)) => Err(TimeError::NotStep { index, value }),
        None => Ok(()),
    }
}

/// The most floating-point operations one density call may take (about a minute).
pub const WORK_LIMIT: f64 = 5e10;

/// Checks times: finite and nonnegative.
pub fn check_times(times: &[f64]) -> Result<(), TimeError> {
    match times
        .iter()
        .enumerate()
        .find(|(_, t)| !(t.is_finite() && **t >= 0.0))
    {
        Some((index, &value)) => Err(TimeError::Bad { index, value }),
        None => Ok(()),
    }
}

/// Which method [`Chain::density`] uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Uniformization,
    Squaring,
}

/// Normalised Poisson weights `w_k(x)` for `k` in `lo..lo + weights.len()`.
struct Window {
    lo: usize,
    weights: Vec<f64>,
}

fn poisson_window(x: f64) -> Window {
    if x == 0.0 {
        return Window {
            lo: 0,
            weights: vec![1.0],
        };
    }
    let mode = x.floor() as usize;
    let mut right = vec![1.0];
    let mut w = 1.0;
    let mut k = mode;
    loop {
        w *= x / (k + 1) as f64;
        k += 1;
        if w < WEIGHT_CUT {
            break;
        }
        right.push(w);
    }
    let mut left = Vec::new();
    let mut w = 1.0;
    let mut k = mode;
    while k > 0 {
        w *= k as f64 / x;
        k -= 1;
        if w < WEIGHT_CUT {
            break;
        }
        left.push(w);
    }
    let lo = mode - left.len();
    left.reverse();
    left.extend(right);
    // Sum from the smallest terms up.
    let mut order: Vec<usize> = (0..left.len()).collect();
    order.sort_by(|&a, &b| left[a].total_cmp(&left[b]));
    let total: f64 = order.iter().map(|&i| left[i]).sum();
    for w in &mut left {
        *w /= total;
    }
    Window { lo, weights: left }
}

impl Chain {
    /// Number of transient states.
    pub fn len(&self) -> usize {
        self.alpha.len()
    }

    pub fn is_empty(&self) -> bool {
        self.alpha.is_empty()
    }

    /// Total out-rate of each state.
    fn totals(&self) -> Vec<f64> {
        (0..self.len())
            .map(|u| {
                self.rates[self.offsets[u]..self.offsets[u + 1]]
                    .iter()
                    .sum::<f64>()
                    + self.exit[u]
            })
            .collect()
    }

    /// The uniformization rate: the largest total out-rate.
    pub fn lambda(&self) -> f64 {
        self.totals().into_iter().fold(0.0, f64::max)
    }

    /// The method [`Chain::density`] picks for these times: the smaller operation count.
    pub fn method(&self, times: &[f64]) -> Method {
        let (uniform, dense) = self.costs(times);
        if dense < uniform {
            Method::Squaring
        } else {
            Method::Uniformization
        }
    }

    /// Operation counts of uniformization and of squaring for these times.
    pub fn costs(&self, times: &[f64]) -> (f64, f64) {
        let x = self.lambda() * times.iter().copied().fold(0.0, f64::max);
        let uniform = self.steps(times) * (self.cols.len() + 2 * self.len()) as f64;
        let n = (self.len() + 1) as f64;
        let squarings = x.max(1.0).log2().ceil();
        let mut distinct: Vec<f64> = times.to_vec();
        distinct.sort_by(f64::total_cmp);
        distinct.dedup();
        let dense = distinct.len() as f64 * (TAYLOR_TERMS as f64 + squarings) * 2.0 * n * n * n;
        (uniform, dense)
    }

    /// About how many uniformization steps these times need.
    fn steps(&self, times: &[f64]) -> f64 {
        let x = self.lambda() * times.iter().copied().fold(0.0, f64::max);
        x + 14.0 * x.sqrt() + 100.0
    }

    /// Density and distribution function at `times` (checked by the caller with
    /// [`check_times`]), by the cheaper method; an error if both would take more than
    /// [`WORK_LIMIT`] operations.
    pub fn density(&self, times: &[f64]) -> Result<Density, TimeError> {
        let (uniform, dense) = self.costs(times);
        let work = uniform.min(dense);
        if work > WORK_LIMIT && self.lambda() > 0.0 {
            return Err(TimeError::TooStiff {
                t_max: times.iter().copied().fold(0.0, f64::max),
                states: self.len(),
                lambda: self.lambda(),
                steps: self.steps(times),
                work,
                limit: WORK_LIMIT,
            });
        }
        Ok(self.density_with(times, self.method(times)))
    }

    /// [`Chain::density`] with a chosen method.
    pub fn density_with(&self, times: &[f64], method: Method) -> Density {
        let lambda = self.lambda();
        if self.is_empty() || lambda == 0.0 {
            return Density {
                pdf: vec![0.0; times.len()],
                cdf: vec![self.atom; times.len()],
            };
        }
        match method {
            Method::Uniformization => self.uniformization(times, lambda),
            Method::Squaring => self.squaring(times, lambda),
        }
    }

    fn uniformization(&self, times: &[f64], lambda: f64) -> Density {
        let n = self.len();
        let windows: Vec<Window> = times.iter().map(|&t| poisson_window(lambda * t)).collect();
        let steps = windows
            .iter()
            .map(|w| w.lo + w.weights.len())
            .max()
            .unwrap_or(0);
        let totals = self.totals();
        let diag: Vec<f64> = totals.iter().map(|&q| (lambda - q) / lambda).collect();
        let scaled: Vec<f64> = self.rates.iter().map(|&a| a / lambda).collect();
        // a_k = alpha P^k s, for k < steps.
        let mut a = Vec::with_capacity(steps);
        let mut f = self.alpha.clone();
        let mut next = vec![0.0; n];
        for k in 0..steps {
            a.push(f.iter().zip(&self.exit).map(|(x, s)| x * s).sum::<f64>());
            if k + 1 == steps {
                break;
            }
            for (u, &fu) in f.iter().enumerate() {
                next[u] += fu * diag[u];
                if fu == 0.0 {
                    continue;
                }
                for i in self.offsets[u]..self.offsets[u + 1] {
                    next[self.cols[i] as usize] += fu * scaled[i];
                }
            }
            std::mem::swap(&mut f, &mut next);
            next.iter_mut().for_each(|x| *x = 0.0);
        }
        let mut out = Density {
            pdf: Vec::with_capacity(times.len()),
            cdf: Vec::with_capacity(times.len()),
        };
        for w in &windows {
            let mut pdf = 0.0;
            // P(N > k) inside the window, from the right.
            let mut tail = vec![0.0; w.weights.len()];
            let mut acc = 0.0;
            for i in (0..w.weights.len()).rev() {
                tail[i] = acc;
                acc += w.weights[i];
            }
            let mut cdf = 0.0;
            for (i, (&wk, &tk)) in w.weights.iter().zip(&tail).enumerate() {
                let ak = a[w.lo + i];
                pdf += wk * ak;
                cdf += ak / lambda * tk;
            }
            // Below the window P(N > k) is 1 to within the cut.
            cdf += a[..w.lo].iter().sum::<f64>() / lambda;
            out.pdf.push(pdf);
            out.cdf.push(self.atom + cdf);
        }
        out
    }

    /// A discrete chain's probability mass function and distribution function at step counts
    /// (checked with [`check_steps`]): `pmf(0) = atom`, `pmf(k) = alpha P^(k-1) p_exit`, with
    /// `P` the step probabilities and each state's remaining mass its chance to stay; `cdf(k)`
    /// the sum up to `k`. All sums of nonnegative terms.
    pub fn pmf(&self, steps: &[f64]) -> Result<Density, TimeError> {
        let k_max = steps.iter().copied().fold(0.0, f64::max);
        let work = k_max * (self.cols.len() + 2 * self.len()) as f64;
        if work > WORK_LIMIT {
            return Err(TimeError::TooStiff {
                t_max: k_max,
                states: self.len(),
                lambda: 1.0,
                steps: k_max,
                work,
                limit: WORK_LIMIT,
            });
        }
        let totals = self.totals();
        let stay: Vec<f64> = totals.iter().map(|&q| (1.0 - q).max(0.0)).collect();
        let k_max = k_max as usize;
        let mut pmf = vec![self.atom];
        let mut f = self.alpha.clone();
        let mut next = vec![0.0; self.len()];
        for _ in 1..=k_max {
            pmf.push(f.iter().zip(&self.exit).map(|(x, s)| x * s).sum());
            for (u, &fu) in f.iter().enumerate() {
                next[u] += fu * stay[u];
                for i in self.offsets[u]..self.offsets[u + 1] {
                    next[self.cols[i] as usize] += fu * self.rates[i];
                }
            }
            std::mem::swap(&mut f, &mut next);
            next.iter_mut().for_each(|x| *x = 0.0);
        }
        let mut cdf = Vec::with_capacity(pmf.len());
        let mut acc = 0.0;
        for p in &pmf {
            acc += p;
            cdf.push(acc);
        }
        Ok(Density {
            pdf: steps.iter().map(|&k| pmf[k as usize]).collect(),
            cdf: steps.iter().map(|&k| cdf[k as usize]).collect(),
        })
    }

    /// The largest total out-probability of a state, for checking a discrete chain.
    pub fn max_total(&self) -> (usize, f64) {
        self.totals()
            .into_iter()
            .enumerate()
            .fold((0, 0.0), |a, b| if b.1 > a.1 { b } else { a })
    }

    /// Dense scaling and squaring of the nonnegative uniformized series, per time.
    fn squaring(&self, times: &[f64], lambda: f64) -> Density {
        let n = self.len();
        let d = n + 1; // transient states, then the absorbing state
        let totals = self.totals();
        // A = G + lambda I >= 0.
        let mut a = vec![0.0; d * d];
        for u in 0..n {
            a[u * d + u] = lambda - totals[u];
            for i in self.offsets[u]..self.offsets[u + 1] {
                a[u * d + self.cols[i] as usize] += self.rates[i];
            }
            a[u * d + n] = self.exit[u];
        }
        a[n * d + n] = lambda;
        let mut row0 = self.alpha.clone();
        row0.push(self.atom);
        let mut out = Density::default();
        for &t in times {
            let x = lambda * t;
            let mut j = 0;
            while x / f64::powi(2.0, j) > 1.0 {
                j += 1;
            }
            let tau = t / f64::powi(2.0, j);
            // E = e^{-lambda tau} sum_k (A tau)^k / k!, by Horner: E = I + A tau/1 (I + A tau/2 (...)).
            let mut e = identity(d);
            for k in (1..=TAYLOR_TERMS).rev() {
                let scale = tau / k as f64;
                let mut m = matmul(&a, &e, d);
                m.iter_mut().for_each(|x| *x *= scale);
                for i in 0..d {
                    m[i * d + i] += 1.0;
                }
                e = m;
            }
            let damp = (-lambda * tau).exp();
            e.iter_mut().for_each(|x| *x *= damp);
            normalise_rows(&mut e, d);
            for _ in 0..j {
                e = matmul(&e, &e, d);
                normalise_rows(&mut e, d);
            }
            let mut p = vec![0.0; d];
            for (i, &ri) in row0.iter().enumerate() {
                if ri != 0.0 {
                    for (pk, ek) in p.iter_mut().zip(&e[i * d..(i + 1) * d]) {
                        *pk += ri * ek;
                    }
                }
            }
            out.pdf
                .push(p[..n].iter().zip(&self.exit).map(|(x, s)| x * s).sum());
            out.cdf.push(p[n]);
        }
        out
    }
}

/// Scales each row to sum 1: `e^{G tau}` of a full generator is stochastic, and restoring that
/// after each squaring keeps rounding from accumulating in the total mass over `2^j` steps.
fn normalise_rows(e: &mut [f64], d: usize) {
    for row in e.chunks_exact_mut(d) {
        let mut terms: Vec<f64> = row.to_vec();
        terms.sort_by(f64::total_cmp);
        let total: f64 = terms.iter().sum();
        if total > 0.0 {
            row.iter_mut().for_each(|x| *x /= total);
        }
    }
}

fn identity(d: usize) -> Vec<f64> {
    let mut m = vec![0.0; d * d];
    for i in 0..d {
        m[i * d + i] = 1.0;
    }
    m
}

/// Row-major `x y`, skipping zero entries of `x` (generators are sparse).
fn matmul(x: &[f64], y: &[f64], d: usize) -> Vec<f64> {
    let mut out = vec![0.0; d * d];
    for i in 0..d {
        let row = &mut out[i * d..(i + 1) * d];
        for k in 0..d {
            let xik = x[i * d + k];
            if xik == 0.0 {
                continue;
            }
            for (o, &ykj) in row.iter_mut().zip(&y[k * d..(k + 1) * d]) {
                *o += xik * ykj;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hypoexponential: states 0 -> 1 -> exit with rates a, b.
    fn two(a: f64, b: f64) -> Chain {
        Chain {
            alpha: vec![1.0, 0.0],
            atom: 0.0,
            offsets: vec![0, 1, 1],
            cols: vec![1],
            rates: vec![a],
            exit: vec![0.0, b],
        }
    }

    fn hypo(a: f64, b: f64, t: f64) -> (f64, f64) {
        let pdf = a * b / (b - a) * ((-a * t).exp() - (-b * t).exp());
        // 1 - (b e^-at - a e^-bt) / (b - a), without its cancellation at small t.
        let cdf = (a * (-b * t).exp_m1() - b * (-a * t).exp_m1()) / (b - a);
        (pdf, cdf)
    }

    #[test]
    fn both_methods_match_the_closed_form() {
        let c = two(1.0, 3.0);
        let times = [0.0, 0.01, 0.5, 1.0, 4.0, 30.0];
        for method in [Method::Uniformization, Method::Squaring] {
            let d = c.density_with(&times, method);
            for (i, &t) in times.iter().enumerate() {
                let (pdf, cdf) = hypo(1.0, 3.0, t);
                let rel = |a: f64, b: f64| {
                    if b == 0.0 {
                        a.abs()
                    } else {
                        ((a - b) / b).abs()
                    }
                };
                assert!(
                    rel(d.pdf[i], pdf) < 1e-12,
                    "{method:?} t={t}: {} vs {pdf}",
                    d.pdf[i]
                );
                // Small cdf values keep their relative accuracy.
                assert!(
                    rel(d.cdf[i], cdf) < 1e-11,
                    "{method:?} t={t}: {} vs {cdf}",
                    d.cdf[i]
                );
            }
        }
    }

    #[test]
    fn weights_sum_to_one_without_overflow() {
        for x in [0.0, 1e-9, 0.3, 7.0, 745.5, 1e5] {
            let w = poisson_window(x);
            let s: f64 = w.weights.iter().sum();
            assert!((s - 1.0).abs() < 1e-14, "{x}: {s}");
            assert!(w.weights.iter().all(|v| v.is_finite() && *v >= 0.0));
        }
        // e^-x x^k / k! near the mode, against the log form.
        let w = poisson_window(50.0);
        let k = 50;
        let ln: f64 = -50.0 + k as f64 * 50f64.ln() - (1..=k).map(|i| (i as f64).ln()).sum::<f64>();
        assert!((w.weights[k - w.lo] / ln.exp() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn stiff_chain_uses_squaring_and_keeps_small_values() {
        // Rates 1e-4 and 1e4: lambda t is 1e5 at t = 10.
        let c = two(1e-4, 1e4);
        assert_eq!(c.method(&[10.0]), Method::Squaring);
        let d = c.density(&[10.0, 1e-6]).unwrap();
        for (i, t) in [10.0, 1e-6].into_iter().enumerate() {
            let (pdf, cdf) = hypo(1e-4, 1e4, t);
            assert!(
                ((d.pdf[i] - pdf) / pdf).abs() < 1e-10,
                "{} vs {pdf}",
                d.pdf[i]
            );
            assert!(
                ((d.cdf[i] - cdf) / cdf).abs() < 1e-9,
                "{} vs {cdf}",
                d.cdf[i]
            );
        }
    }

    #[test]
    fn atoms_and_empty_chains() {
        let mut c = two(2.0, 2.0);
        c.alpha = vec![0.25, 0.0];
        c.atom = 0.75;
        let d = c.density(&[0.0]).unwrap();
        assert_eq!(d.pdf, [0.0]);
        assert_eq!(d.cdf, [0.75]);
        let e = Chain {
            atom: 1.0,
            offsets: vec![0],
            ..Chain::default()
        };
        assert_eq!(e.density(&[1.0]).unwrap().cdf, [1.0]);
        // A large chain at a huge lambda t is refused, not run for hours.
        let n = 3000;
        let big = Chain {
            alpha: (0..n).map(|i| if i == 0 { 1.0 } else { 0.0 }).collect(),
            atom: 0.0,
            offsets: (0..=n).map(|i| i.min(n - 1)).collect(),
            cols: (1..n as u32).collect(),
            rates: vec![1e6; n - 1],
            exit: (0..n).map(|i| if i == n - 1 { 1.0 } else { 0.0 }).collect(),
        };
        let e = big.density(&[1e3]).unwrap_err();
        assert!(e.to_string().contains("ask for smaller times"), "{e}");
        assert!(check_times(&[0.0, 1.0]).is_ok());
        assert_eq!(
            check_times(&[1.0, -0.5]),
            Err(TimeError::Bad {
                index: 1,
                value: -0.5
            })
        );
        assert!(check_times(&[f64::NAN]).is_err());
    }
}
