//! Strongly connected components (iterative Tarjan), which order the elimination.

use crate::graph::Graph;

/// Strongly connected components of the graph restricted to `alive` vertices, in topological
/// order (sources first). Iterative Tarjan; edges are visited in target order.
pub(super) fn components(
    g: &Graph,
    alive: &[bool],
    live: impl Fn(&[f64]) -> bool,
) -> Vec<Vec<u32>> {
    let n = g.vertex_count();
    let succ: Vec<Vec<u32>> = (0..n)
        .map(|v| {
            if !alive[v] {
                return Vec::new();
            }
            g.edges(v)
                .filter(|e| alive[e.to] && live(e.coeffs))
                .map(|e| e.to as u32)
                .collect()
        })
        .collect();
    tarjan(&succ, |v| alive[v])
}

/// Strongly connected components of the `alive` vertices of a successor list (whose targets
/// are alive), in topological order (sources first), each sorted.
pub(super) fn tarjan(succ: &[Vec<u32>], alive: impl Fn(usize) -> bool) -> Vec<Vec<u32>> {
    let n = succ.len();
    const NONE: u32 = u32::MAX;
    let mut index = vec![NONE; n];
    let mut low = vec![0u32; n];
    let mut on_stack = vec![false; n];
    let mut stack: Vec<u32> = Vec::new();
    let mut comps: Vec<Vec<u32>> = Vec::new();
    let mut next = 0u32;
    let mut call: Vec<(u32, usize)> = Vec::new();
    for root in 0..n as u32 {
        if !alive(root as usize) || index[root as usize] != NONE {
            continue;
        }
        call.push((root, 0));
        index[root as usize] = next;
        low[root as usize] = next;
        next += 1;
        stack.push(root);
        on_stack[root as usize] = true;
        while let Some(&mut (v, ref mut k)) = call.last_mut() {
            let vs = &succ[v as usize];
            if *k < vs.len() {
                let w = vs[*k];
                *k += 1;
                if index[w as usize] == NONE {
                    index[w as usize] = next;
                    low[w as usize] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[w as usize] = true;
                    call.push((w, 0));
                } else if on_stack[w as usize] {
                    low[v as usize] = low[v as usize].min(index[w as usize]);
                }
            } else {
                call.pop();
                if let Some(&(p, _)) = call.last() {
                    low[p as usize] = low[p as usize].min(low[v as usize]);
                }
                if low[v as usize] == index[v as usize] {
                    let mut comp = Vec::new();
                    loop {
                        let w = stack.pop().expect("tarjan stack");
                        on_stack[w as usize] = false;
                        comp.push(w);
                        if w == v {
                            break;
                        }
                    }
                    comp.sort_unstable();
                    comps.push(comp);
                }
            }
        }
    }
    comps.reverse();
    comps
}
