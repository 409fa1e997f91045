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
            use std::arch::is_x86_feature_detected as has;
            // What the AVX variants are compiled with (the interventional walk's bit
            // operations too); every CPU with AVX2 has the rest.
            let avx = has!("avx") && has!("avx2") && has!("popcnt") && has!("bmi1") && has!("bmi2");
            if avx {
                isas.push(Isa::Avx);
            }
            if avx && has!("avx512f") && has!("avx512bw") {
                isas.push(Isa::Avx512);
            }
        }
        isas
    }
}

/// Whether PEXT (BMI2) runs in a few cycles: on AMD before Zen 3 (family 0x19) and on Hygon it
/// is microcoded, tens to hundreds of cycles, so the interventional walk does without it there.
pub(crate) fn fast_bit_extract() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        if !std::arch::is_x86_feature_detected!("bmi2") {
            return false;
        }
        let (vendor, signature) = (std::arch::x86_64::__cpuid(0), std::arch::x86_64::__cpuid(1));
        let amd = (vendor.ebx, vendor.edx, vendor.ecx) == (0x6874_7541, 0x6974_6e65, 0x444d_4163);
        let hygon = (vendor.ebx, vendor.edx, vendor.ecx) == (0x6f67_7948, 0x6e65_476e, 0x656e_6975);
        let base = (signature.eax >> 8) & 0xf;
        let family = if base == 0xf { base + ((signature.eax >> 20) & 0xff) } else { base };
        !(hygon || amd && family < 0x19)
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}
