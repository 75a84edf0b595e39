//! Built-in graph generators. Each explores its state space breadth-first from the initial
//! state, creating vertices in the order they are first reached and listing each state's
//! transitions in a fixed order, so a generator and its arguments determine the graph exactly.
//! `docs/model-recipes.md` describes each generator's state space, rates and reward sets.

mod beta;
mod coalescent;
mod population;
mod queue;
mod reliability;
mod two_locus;

use super::rewards::{RewardSet, RewardSets};
use crate::graph::{Graph, GraphBuilder, GraphError, SizeLimits, TooLarge};
use toml::Table;

/// A generator's description, for listings and error messages.
pub struct GeneratorInfo {
    pub name: &'static str,
    pub parameters: &'static [&'static str],
    pub args: &'static [(&'static str, &'static str)],
    pub about: &'static str,
    /// The reward sets it provides ([`reward_sets`]): name and what its vectors are.
    pub rewards: &'static [(&'static str, &'static str)],
}

pub const GENERATORS: &[GeneratorInfo] = &[
    GeneratorInfo {
        name: "coalescent/kingman",
        parameters: &["theta"],
        args: &[("samples", "number of sampled lineages, >= 2")],
        about: "time to the most recent common ancestor; state = number of lineages",
        rewards: &[(
            "lineages",
            "the number of lineages (state[0]); its total is the total branch length",
        )],
    },
    GeneratorInfo {
        name: "coalescent/block-counting",
        parameters: &["theta"],
        args: &[("samples", "number of sampled lineages, >= 2")],
        about: "standard coalescent with state[i] = lineages subtending i+1 samples (site frequency spectrum)",
        rewards: &[(
            "sfs",
            "xi_1 .. xi_{n-1}: xi_i = state[i-1], the lineages subtending i samples (site frequency spectrum)",
        )],
    },
    GeneratorInfo {
        name: "coalescent/two-island",
        parameters: &["coalescence", "migration"],
        args: &[
            ("samples1", "lineages sampled in island 1"),
            ("samples2", "lineages sampled in island 2"),
        ],
        about: "structured coalescent of two islands with symmetric migration; state = lineages per island",
        rewards: &[(
            "lineages",
            "island1, island2: the lineages in each island (state[0], state[1]); their totals add up to the total branch length",
        )],
    },
    GeneratorInfo {
        name: "coalescent/islands",
        parameters: &["coalescence", "migration"],
        args: &[
            ("islands", "number of islands, 1..=64"),
            (
                "samples",
                "lineages sampled in each island (islands * samples in 2..=10000)",
            ),
        ],
        about: "structured coalescent of k islands, each lineage moving to each other island at rate migration; state = lineages per island",
        rewards: &[(
            "lineages",
            "island1 .. islandk: the lineages in each island (state[i-1]); their totals add up to the total branch length",
        )],
    },
    GeneratorInfo {
        name: "coalescent/two-locus",
        parameters: &["coalescence", "recombination"],
        args: &[("samples", "number of sampled lineages, 2..=200")],
        about: "two-locus coalescent with recombination until both loci have their most recent common ancestor; state = lineages carrying unresolved material at both loci, locus 1 only, locus 2 only",
        rewards: &[(
            "heights",
            "t1, t2: 1 while locus 1 (2) has more than one ancestral lineage; their totals are the tree heights at the two loci",
        )],
    },
    GeneratorInfo {
        name: "coalescent/beta",
        parameters: &["theta"],
        args: &[
            ("samples", "number of sampled lineages, 2..=100"),
            (
                "alpha",
                "the Beta(2 - alpha, alpha) measure's alpha, 1 <= alpha < 2 (1: Bolthausen-Sznitman)",
            ),
        ],
        about: "Beta-coalescent (multiple mergers) with state[i] = lineages subtending i+1 samples",
        rewards: &[(
            "sfs",
            "xi_1 .. xi_{n-1}: xi_i = state[i-1], the lineages subtending i samples (site frequency spectrum)",
        )],
    },
    GeneratorInfo {
        name: "queue/mm1k",
        parameters: &["arrival", "service"],
        args: &[
            ("capacity", "places in the system, >= 1"),
            ("initial", "customers at time 0 (default 1)"),
        ],
        about: "busy period of an M/M/1/K queue: time until the system is empty; state = customers",
        rewards: &[(
            "customers",
            "the customers in the system (state[0]); its total is the customer-time of the busy period",
        )],
    },
    GeneratorInfo {
        name: "queue/mmc",
        parameters: &["arrival", "service"],
        args: &[
            ("servers", "servers c, >= 1"),
            ("capacity", "places in the system K, >= servers"),
            ("initial", "customers at time 0 (default 1)"),
        ],
        about: "busy period of an M/M/c/K queue: time until the system is empty; state = customers",
        rewards: &[(
            "customers",
            "the customers in the system (state[0]); its total is the customer-time of the busy period",
        )],
    },
    GeneratorInfo {
        name: "reliability/erlang",
        parameters: &["rate"],
        args: &[("phases", "components in cold standby, >= 1")],
        about: "lifetime of a cold-standby system (Erlang distribution); state = working components left",
        rewards: &[],
    },
    GeneratorInfo {
        name: "reliability/k-out-of-n",
        parameters: &["failure", "repair"],
        args: &[
            ("k", "working components the system needs, 1..=n"),
            ("n", "components, all working at time 0, >= 1"),
        ],
        about: "lifetime of a k-out-of-n system with one repair per broken component; state = working components",
        rewards: &[(
            "working",
            "the working components (state[0]); its total is the component-time worked before the system fails",
        )],
    },
    GeneratorInfo {
        name: "population/birth-death",
        parameters: &["birth", "death"],
        args: &[
            ("initial", "population size at time 0, >= 1"),
            (
                "max",
                "largest population size (births beyond it are blocked)",
            ),
        ],
        about: "time to extinction of a linear birth-death process; state = population size",
        rewards: &[(
            "population",
            "the population size (state[0]); its total is the individual-time lived before extinction",
        )],
    },
];

/// Why a generator could not run.
#[derive(Debug, thiserror::Error)]
pub enum GeneratorError {
    #[error("unknown generator '{0}'; built-in generators: {list}", list = GENERATORS.iter().map(|g| g.name).collect::<Vec<_>>().join(", "))]
    Unknown(String),
    #[error("argument '{arg}': {message}")]
    Arg { arg: String, message: String },
    #[error("the generated graph is invalid: {0}")]
    Graph(#[from] GraphError),
    #[error(
        "{0}; choose smaller arguments, or raise the limit with PTD_MAX_VERTICES, PTD_MAX_EDGES or PTD_MAX_MEMORY (or max-vertices, max-edges, max-memory under [build] in $PTD_HOME/config.toml)"
    )]
    TooLarge(#[from] TooLarge),
}

/// How a state space is explored: the bounds it must stay within, and what to tell about its
/// progress.
#[derive(Clone, Copy)]
pub struct Exploration<'a> {
    pub limits: SizeLimits,
    /// Called now and then with the vertices and edges found so far.
    pub progress: Option<&'a dyn Fn(usize, usize)>,
}

impl Default for Exploration<'_> {
    fn default() -> Self {
        Exploration {
            limits: SizeLimits::DEFAULT,
            progress: None,
        }
    }
}

/// Vertices explored between two calls of [`Exploration::progress`].
const PROGRESS_EVERY: usize = 1 << 12;

fn arg_err(arg: &str, message: impl Into<String>) -> GeneratorError {
    GeneratorError::Arg {
        arg: arg.to_string(),
        message: message.into(),
    }
}

struct Args<'a> {
    table: &'a Table,
    known: &'static [(&'static str, &'static str)],
}

impl Args<'_> {
    fn check_known(&self) -> Result<(), GeneratorError> {
        for k in self.table.keys() {
            if !self.known.iter().any(|(n, _)| n == k) {
                let names: Vec<&str> = self.known.iter().map(|a| a.0).collect();
                return Err(arg_err(
                    k,
                    format!(
                        "not an argument of this generator (it takes {})",
                        names.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }

    fn int(
        &self,
        name: &str,
        default: Option<i64>,
        min: i64,
        max: i64,
    ) -> Result<i32, GeneratorError> {
        let v = match self.table.get(name) {
            None => default.ok_or_else(|| arg_err(name, "is required"))?,
            Some(toml::Value::Integer(i)) => *i,
            Some(other) => {
                return Err(arg_err(
                    name,
                    format!("must be an integer, found {}", other.type_str()),
                ));
            }
        };
        if v < min || v > max {
            return Err(arg_err(name, format!("{v} is outside {min}..={max}")));
        }
        Ok(v as i32)
    }

    /// A number; an integer is taken as a float. The caller checks its range.
    fn float(&self, name: &str, default: Option<f64>) -> Result<f64, GeneratorError> {
        let v = match self.table.get(name) {
            None => default.ok_or_else(|| arg_err(name, "is required"))?,
            Some(toml::Value::Integer(i)) => *i as f64,
            Some(toml::Value::Float(x)) => *x,
            Some(other) => {
                return Err(arg_err(
                    name,
                    format!("must be a number, found {}", other.type_str()),
                ));
            }
        };
        if !v.is_finite() {
            return Err(arg_err(name, format!("{v} is not a finite number")));
        }
        Ok(v)
    }
}

/// A state's transitions: target states and their rates' coefficients, one per parameter.
type Transitions = Vec<(Vec<i32>, Vec<f64>)>;

/// Runs a generator over its state space, stopping once it passes `how.limits`.
fn explore(
    how: &Exploration<'_>,
    state_length: usize,
    param_length: usize,
    initial: &[i32],
    mut transitions: impl FnMut(&[i32], &mut Transitions),
) -> Result<Graph, GeneratorError> {
    let mut b = GraphBuilder::new(state_length, param_length);
    let (first, _) = b.find_or_create(initial);
    b.add_start_edge(first, 1.0);
    let mut next = Vec::new();
    let mut v = first;
    let mut state = Vec::with_capacity(state_length);
    while v < b.vertex_count() {
        state.clear();
        state.extend_from_slice(b.state(v));
        next.clear();
        transitions(&state, &mut next);
        for (to, coeffs) in next.drain(..) {
            let (w, _) = b.find_or_create(&to);
            b.add_edge(v, w, &coeffs);
        }
        b.check(&how.limits)?;
        if let Some(tell) = how.progress
            && v % PROGRESS_EVERY == 0
        {
            tell(b.vertex_count(), b.edge_count());
        }
        v += 1;
    }
    Ok(b.build()?)
}

/// Builds the graph of a built-in generator, within the default [`SizeLimits`].
pub fn generate(name: &str, args: &Table) -> Result<Graph, GeneratorError> {
    generate_with(name, args, &Exploration::default())
}

/// Builds the graph of a built-in generator, exploring as `how` says.
pub fn generate_with(
    name: &str,
    args: &Table,
    how: &Exploration<'_>,
) -> Result<Graph, GeneratorError> {
    let info = GENERATORS
        .iter()
        .find(|g| g.name == name)
        .ok_or_else(|| GeneratorError::Unknown(name.to_string()))?;
    let a = Args {
        table: args,
        known: info.args,
    };
    a.check_known()?;
    match name {
        "coalescent/kingman" => coalescent::kingman(&a, how),
        "coalescent/block-counting" => coalescent::block_counting(&a, how),
        "coalescent/two-island" => coalescent::two_island(&a, how),
        "coalescent/islands" => coalescent::islands(&a, how),
        "coalescent/two-locus" => two_locus::build(&a, how),
        "coalescent/beta" => beta::build(&a, how),
        "queue/mm1k" => queue::mm1k(&a, how),
        "queue/mmc" => queue::mmc(&a, how),
        "reliability/erlang" => reliability::erlang(&a, how),
        "reliability/k-out-of-n" => reliability::k_out_of_n(&a, how),
        "population/birth-death" => population::birth_death(&a, how),
        _ => unreachable!("every listed generator is matched"),
    }
}

/// The reward sets a generator provides for its graph `graph` (as [`GeneratorInfo::rewards`]
/// describes them): state columns, or explicit vectors for `coalescent/two-locus`; empty for a
/// generator with none.
pub fn reward_sets(name: &str, graph: &Graph) -> RewardSets {
    let one = |set: &str| RewardSets {
        sets: vec![RewardSet::columns(set, &[(set.to_string(), 0)])],
    };
    let sfs = || {
        // State column i - 1 counts the lineages subtending i samples; n samples give
        // classes 1..n-1 (column n-1 holds the single lineage of the absorbing state).
        let classes: Vec<(String, usize)> = (1..graph.state_length())
            .map(|i| (format!("xi_{i}"), i - 1))
            .collect();
        RewardSets {
            sets: vec![RewardSet::columns("sfs", &classes)],
        }
    };
    match name {
        "coalescent/kingman" => one("lineages"),
        "coalescent/block-counting" | "coalescent/beta" => sfs(),
        "coalescent/two-island" => RewardSets {
            sets: vec![RewardSet::columns(
                "lineages",
                &[("island1".into(), 0), ("island2".into(), 1)],
            )],
        },
        "coalescent/islands" => {
            let islands: Vec<(String, usize)> = (0..graph.state_length())
                .map(|i| (format!("island{}", i + 1), i))
                .collect();
            RewardSets {
                sets: vec![RewardSet::columns("lineages", &islands)],
            }
        }
        "coalescent/two-locus" => RewardSets {
            sets: vec![two_locus::heights(graph)],
        },
        "queue/mm1k" | "queue/mmc" => one("customers"),
        "reliability/k-out-of-n" => one("working"),
        "population/birth-death" => one("population"),
        _ => RewardSets::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Table {
        s.parse().unwrap()
    }

    #[test]
    fn sizes() {
        let g = generate("coalescent/kingman", &args("samples = 10")).unwrap();
        assert_eq!(g.vertex_count(), 11);
        let g = generate("coalescent/block-counting", &args("samples = 4")).unwrap();
        // Partitions of 4: 4 states reachable from 1111, plus the start.
        assert_eq!(g.vertex_count(), 6);
        let g = generate("queue/mm1k", &args("capacity = 5")).unwrap();
        assert_eq!(g.vertex_count(), 7);
    }

    #[test]
    fn exploration_stops_at_each_limit_and_says_how_large_it_got() {
        let big = args("samples = 200");
        let limits = |v, e, b| Exploration {
            limits: SizeLimits {
                max_vertices: v,
                max_edges: e,
                max_bytes: b,
            },
            progress: None,
        };
        let e = generate_with(
            "coalescent/block-counting",
            &big,
            &limits(2000, usize::MAX, u64::MAX),
        )
        .unwrap_err();
        let GeneratorError::TooLarge(t) = &e else {
            panic!("{e}")
        };
        assert_eq!(t.limit, crate::graph::SizeLimit::Vertices);
        assert!(t.vertices > 2000 && t.vertices < 2000 + 200 * 200, "{t:?}");
        assert!(t.edges > 0 && t.bytes > 2000 * 200 * 4, "{t:?}");
        let text = e.to_string();
        assert!(
            text.contains("limit of 2000 vertices")
                && text.contains(&format!("at {} vertices, {} edges", t.vertices, t.edges))
                && text.contains("PTD_MAX_VERTICES")
                && text.contains("[build]"),
            "{text}"
        );
        let e = generate_with(
            "coalescent/block-counting",
            &big,
            &limits(usize::MAX, 5000, u64::MAX),
        )
        .unwrap_err();
        assert!(e.to_string().contains("limit of 5000 edges"), "{e}");
        let e = generate_with(
            "coalescent/block-counting",
            &big,
            &limits(usize::MAX, usize::MAX, 8 << 20),
        )
        .unwrap_err();
        let GeneratorError::TooLarge(t) = &e else {
            panic!("{e}")
        };
        assert_eq!(t.limit, crate::graph::SizeLimit::Bytes);
        assert!(t.bytes > 8 << 20, "{t:?}");
        assert!(e.to_string().contains("limit of 8.0 MiB of memory"), "{e}");
        // Within the limits the graph is whole; progress is told as vertices are found.
        let seen = std::cell::Cell::new(0);
        let tell = |v: usize, _e: usize| seen.set(v);
        let how = Exploration {
            limits: SizeLimits {
                max_vertices: 10_000,
                ..SizeLimits::DEFAULT
            },
            progress: Some(&tell),
        };
        let g = generate_with("queue/mm1k", &args("capacity = 9000"), &how).unwrap();
        assert_eq!(g.vertex_count(), 9002);
        assert!(seen.get() > PROGRESS_EVERY, "{}", seen.get());
    }

    #[test]
    fn reward_sets_are_the_listed_ones_and_fit_their_graphs() {
        let small = [
            ("coalescent/kingman", "samples = 4"),
            ("coalescent/block-counting", "samples = 6"),
            ("coalescent/two-island", "samples1 = 2\nsamples2 = 2"),
            ("coalescent/islands", "islands = 3\nsamples = 2"),
            ("coalescent/two-locus", "samples = 3"),
            ("coalescent/beta", "samples = 5\nalpha = 1.5"),
            ("queue/mm1k", "capacity = 3"),
            ("queue/mmc", "servers = 2\ncapacity = 4"),
            ("reliability/erlang", "phases = 3"),
            ("reliability/k-out-of-n", "k = 2\nn = 4"),
            ("population/birth-death", "initial = 2\nmax = 4"),
        ];
        assert_eq!(small.len(), GENERATORS.len());
        for (info, (name, a)) in GENERATORS.iter().zip(small) {
            assert_eq!(info.name, name);
            let g = generate(name, &args(a)).unwrap();
            let sets = reward_sets(name, &g);
            let listed: Vec<&str> = info.rewards.iter().map(|r| r.0).collect();
            assert_eq!(sets.names(), listed, "{name}");
            sets.check(&g).unwrap();
            assert_eq!(g.param_length(), info.parameters.len(), "{name}");
        }
        let g = generate("coalescent/islands", &args("islands = 3\nsamples = 1")).unwrap();
        let r = reward_sets("coalescent/islands", &g)
            .get("lineages")
            .unwrap()
            .resolve(&g);
        assert_eq!(r.names, ["island1", "island2", "island3"]);
        assert_eq!(r.vectors[2][1], 1.0);
        let g = generate("coalescent/block-counting", &args("samples = 6")).unwrap();
        let sfs = reward_sets("coalescent/block-counting", &g);
        let r = sfs.get("sfs").unwrap().resolve(&g);
        assert_eq!(r.names, ["xi_1", "xi_2", "xi_3", "xi_4", "xi_5"]);
        for (i, v) in r.vectors.iter().enumerate() {
            for (id, &x) in v.iter().enumerate() {
                assert_eq!(x, f64::from(g.state(id)[i]));
            }
        }
        // Six singletons at first: xi_1 counts them.
        assert_eq!(r.vectors[0][1], 6.0);
    }

    #[test]
    fn bad_arguments_are_named() {
        let e = generate("coalescent/kingman", &args("samples = 1")).unwrap_err();
        assert!(e.to_string().contains("'samples': 1 is outside"), "{e}");
        let e = generate("coalescent/kingman", &args("sample = 3")).unwrap_err();
        assert!(e.to_string().contains("'sample': not an argument"), "{e}");
        let e = generate("coalescent/kingman", &args("samples = 'x'")).unwrap_err();
        assert!(e.to_string().contains("must be an integer"), "{e}");
        let e = generate("coalescent/nope", &args("")).unwrap_err();
        assert!(
            e.to_string()
                .contains("built-in generators: coalescent/kingman"),
            "{e}"
        );
    }
}
