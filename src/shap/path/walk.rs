//! The traversal of path-dependent TreeSHAP (the method is described in `path.rs`): one recursive
//! visit per internal node for R rows at once (the rows share the node loads, branches and
//! calls; each row's arithmetic is exactly what it would be alone), polynomials held by their
//! values at the N quadrature nodes, nothing allocated.

// Index loops walk several fixed-size arrays in step (rows × quadrature nodes); that is the point.
#![allow(clippy::needless_range_loop)]

use super::{Child, LEAF, Split};

/// R rows' polynomials.
type Polys<const N: usize, const R: usize> = [[f64; N]; R];

/// The traversal state of R rows.
pub(super) struct Walk<'a, const N: usize, const R: usize> {
    pub(super) splits: &'a [Split],
    pub(super) t: [f64; N],
    /// 1 / (1 − t): an edge x does not follow has L = b (1 − t).
    pub(super) inv_1mt: [f64; N],
    pub(super) xs: [&'a [f64]; R],
    pub(super) n_features: usize,
    /// Per depth slot and row: a of the edge entering it, 1 / L, and Σ S(c') of the next
    /// same-feature edges below it (written only for edges whose feature is split again below).
    pub(super) a: &'a mut [[f64; R]],
    pub(super) inv_l: &'a mut [Polys<N, R>],
    pub(super) acc: &'a mut [Polys<N, R>],
    /// Per row and feature (index row × n_features + feature), the integrands still to be
    /// integrated: `with_w` against w, `with_w_1mt` against w / (1 − t). Integrating once per
    /// feature and row, not once per edge.
    pub(super) with_w: &'a mut [[f64; N]],
    pub(super) with_w_1mt: &'a mut [[f64; N]],
}

/// A node being visited: its feature, the slot of that feature's previous edge, and per row
/// each child edge's a and the path polynomial without the feature's earlier factor.
struct Open<const N: usize, const R: usize> {
    feature: usize,
    prev: usize,
    a: [[f64; 2]; R],
    base: Polys<N, R>,
}

/// Leaf children fold into S = base · (alpha + beta t), with integrand beta · base, because
/// S(leaf) = value · base · (b + (a − b) t) and S(leaf) / L = value · base.
struct Leaves<const R: usize> {
    alpha: [f64; R],
    beta: [f64; R],
    any: bool,
}

impl<const R: usize> Leaves<R> {
    #[inline(always)]
    fn new() -> Self {
        Leaves { alpha: [0.0; R], beta: [0.0; R], any: false }
    }

    #[inline(always)]
    fn add(&mut self, leaf: &Child, a: impl Fn(usize) -> f64) {
        for r in 0..R {
            self.alpha[r] += leaf.value_or_inv_b * leaf.b;
            self.beta[r] += leaf.value_or_inv_b * (a(r) - leaf.b);
        }
        self.any = true;
    }
}

/// The recursive part of the traversal, compiled once per instruction set: `$attr` is empty or
/// a `target_feature`. No FMA is enabled, so every variant rounds identically.
macro_rules! traversal {
    ($(#[$attr:meta])* $visit:ident, $internal_child:ident, $visit_child:ident) => {
        impl<const N: usize, const R: usize> Walk<'_, N, R> {
            /// Visits internal node `n` at `depth`, whose incoming path polynomials are `p`;
            /// returns S(n) = Σ_{leaves under n} value · P_leaf(t) per row and books the
            /// integrands of the edges into its two children.
            $(#[$attr])*
            fn $visit(&mut self, n: usize, depth: usize, p: &Polys<N, R>) -> Polys<N, R> {
                let splits = self.splits;
                let split = &splits[n];
                let node = self.open(split, p);
                let mut leaves = Leaves::new();
                let mut s = [[0.0; N]; R];
                for (k, child) in split.children.iter().enumerate() {
                    if child.index == LEAF {
                        leaves.add(child, |r| node.a[r][k]);
                    } else {
                        let a = std::array::from_fn(|r| node.a[r][k]);
                        let s_child = self.$internal_child(child, &a, depth + 1, &node.base, node.feature);
                        add_to(&mut s, &s_child);
                    }
                }
                self.close(&node, &leaves, s)
            }

            /// Enters internal child `child` at `slot` (edge factor L = a t + b (1 − t)) and,
            /// once its subtree is summed, books the edge's integrand
            /// (a − b) · (S(c) − the deeper same-feature part) / L.
            #[inline]
            $(#[$attr])*
            fn $internal_child(
                &mut self,
                child: &Child,
                a: &[f64; R],
                slot: usize,
                base: &Polys<N, R>,
                feature: usize,
            ) -> Polys<N, R> {
                let (b, t, inv_1mt) = (child.b, self.t, self.inv_1mt);
                let mut p = [[0.0; N]; R];
                for r in 0..R {
                    for j in 0..N {
                        p[r][j] = base[r][j] * (b + (a[r] - b) * t[j]);
                    }
                }
                // 1 / L; when x does not follow the edge, L = b (1 − t) and 1 / L needs no division.
                let inv_l = |r: usize| {
                    if a[r] == 0.0 {
                        inv_1mt.map(|v| v * child.value_or_inv_b)
                    } else {
                        t.map(|tj| 1.0 / (b + (1.0 - b) * tj))
                    }
                };
                let mut inv_ls = [[0.0; N]; R];
                if child.repeats {
                    inv_ls = std::array::from_fn(inv_l);
                    self.enter(slot, a, &inv_ls);
                }
                let s = self.$visit_child(child, slot, &p);
                for r in 0..R {
                    let own = self.own_part(&s[r], slot, r, child.repeats);
                    let at = r * self.n_features + feature;
                    if a[r] == 0.0 {
                        // (a − b) / L = −1 / (1 − t), integrated against w / (1 − t).
                        sub_from(&mut self.with_w_1mt[at], &own);
                    } else {
                        let inv_l = if child.repeats { inv_ls[r] } else { inv_l(r) };
                        let integrand = &mut self.with_w[at];
                        for j in 0..N {
                            integrand[j] += (1.0 - b) * own[j] * inv_l[j];
                        }
                    }
                }
                s
            }

            #[inline]
            $(#[$attr])*
            fn $visit_child(&mut self, child: &Child, slot: usize, p: &Polys<N, R>) -> Polys<N, R> {
                if child.twig {
                    self.visit_twig(child.index as usize, p)
                } else {
                    self.$visit(child.index as usize, slot, p)
                }
            }
        }
    };
}

traversal!(visit, internal_child, visit_child);
#[cfg(target_arch = "x86_64")]
traversal!(
    #[target_feature(enable = "avx")]
    visit_avx,
    internal_child_avx,
    visit_child_avx
);

/// Which compiled variant of the traversal runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Isa {
    Baseline,
    #[cfg(target_arch = "x86_64")]
    Avx,
}

impl Isa {
    /// The fastest variant this CPU runs.
    pub(crate) fn detect() -> Isa {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx") {
            return Isa::Avx;
        }
        Isa::Baseline
    }
}

impl<const N: usize, const R: usize> Walk<'_, N, R> {
    /// Walks every tree from its root split.
    pub(super) fn trees(&mut self, roots: impl Iterator<Item = usize>, isa: Isa) {
        let one = [[1.0; N]; R];
        for root in roots {
            match isa {
                Isa::Baseline => {
                    self.visit(root, 0, &one);
                }
                #[cfg(target_arch = "x86_64")]
                // SAFETY: `Isa::Avx` is only chosen by `Isa::detect` when the CPU has AVX.
                Isa::Avx => unsafe {
                    self.visit_avx(root, 0, &one);
                },
            }
        }
    }

    /// [`Walk::visit`] for a node whose children are both leaves, inlined into its parent.
    #[inline(always)]
    fn visit_twig(&mut self, n: usize, p: &Polys<N, R>) -> Polys<N, R> {
        let splits = self.splits;
        let split = &splits[n];
        let node = self.open(split, p);
        let mut leaves = Leaves::new();
        leaves.add(&split.children[0], |r| node.a[r][0]);
        leaves.add(&split.children[1], |r| node.a[r][1]);
        self.close(&node, &leaves, [[0.0; N]; R])
    }

    #[inline(always)]
    fn open(&self, split: &Split, p: &Polys<N, R>) -> Open<N, R> {
        let feature = split.feature as usize;
        let prev = split.prev as usize;
        let mut node = Open { feature, prev, a: [[0.0; 2]; R], base: *p };
        for r in 0..R {
            let a_prev = if prev == 0 {
                1.0
            } else {
                node.base[r] = mul(&p[r], &self.inv_l[prev][r]);
                self.a[prev][r]
            };
            node.a[r] = if self.xs[r][feature] <= split.threshold { [a_prev, 0.0] } else { [0.0, a_prev] };
        }
        node
    }

    /// Adds the leaf children's share to S, books their integrand, and hands S to the previous
    /// edge on this feature.
    #[inline(always)]
    fn close(&mut self, node: &Open<N, R>, leaves: &Leaves<R>, mut s: Polys<N, R>) -> Polys<N, R> {
        if leaves.any {
            let t = self.t;
            for r in 0..R {
                let integrand = &mut self.with_w[r * self.n_features + node.feature];
                let (alpha, beta, base) = (leaves.alpha[r], leaves.beta[r], &node.base[r]);
                for j in 0..N {
                    s[r][j] += base[j] * (alpha + beta * t[j]);
                    integrand[j] += beta * base[j];
                }
            }
        }
        if node.prev != 0 {
            add_to(&mut self.acc[node.prev], &s);
        }
        s
    }

    /// Opens depth `slot` for an edge whose feature is split again below it.
    #[inline(always)]
    fn enter(&mut self, slot: usize, a: &[f64; R], inv_l: &Polys<N, R>) {
        self.a[slot] = *a;
        self.inv_l[slot] = *inv_l;
        self.acc[slot] = [[0.0; N]; R];
    }

    /// Row r's S(c) minus the part booked at deeper edges on the same feature.
    #[inline(always)]
    fn own_part(&self, s: &[f64; N], slot: usize, r: usize, repeats: bool) -> [f64; N] {
        if !repeats {
            return *s;
        }
        let acc = &self.acc[slot][r];
        std::array::from_fn(|j| s[j] - acc[j])
    }
}

#[inline(always)]
fn add_to<const N: usize, const R: usize>(y: &mut Polys<N, R>, x: &Polys<N, R>) {
    for r in 0..R {
        for j in 0..N {
            y[r][j] += x[r][j];
        }
    }
}

#[inline(always)]
fn sub_from<const N: usize>(y: &mut [f64; N], x: &[f64; N]) {
    for j in 0..N {
        y[j] -= x[j];
    }
}

#[inline(always)]
fn mul<const N: usize>(u: &[f64; N], v: &[f64; N]) -> [f64; N] {
    std::array::from_fn(|j| u[j] * v[j])
}

#[inline]
pub(super) fn dot<const N: usize>(u: &[f64; N], v: &[f64; N]) -> f64 {
    let mut sum = 0.0;
    for j in 0..N {
        sum += u[j] * v[j];
    }
    sum
}
