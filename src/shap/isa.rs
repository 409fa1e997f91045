//! Which instruction set the TreeSHAP kernels run with, chosen at run time. Every variant is the
//! same Rust code compiled for more registers, without FMA or reassociation, so all of them give
//! the same bits as the plain reference.

/// A compiled variant of the kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Isa {
    /// The target's baseline (SSE2 on x86_64): the reference every other variant must equal.
    Baseline,
    /// 256-bit vectors.
    #[cfg(target_arch = "x86_64")]
    Avx,
    /// 512-bit vectors (one quadrature polynomial of 8 nodes per register).
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

impl Isa {
    /// The widest variant this CPU runs.
    pub(crate) fn detect() -> Isa {
        Isa::available().last().copied().unwrap_or(Isa::Baseline)
    }

    /// Every variant this CPU runs, narrowest first (the baseline always).
    pub(crate) fn available() -> Vec<Isa> {
        let mut isas = vec![Isa::Baseline];
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx") {
                isas.push(Isa::Avx);
            }
            if std::arch::is_x86_feature_detected!("avx512f") {
                isas.push(Isa::Avx512);
            }
        }
        isas
    }
}
