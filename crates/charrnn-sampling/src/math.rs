//! Platform-independent arithmetic: only IEEE-754 `+ - * /` and exact conversions, so the same
//! inputs give bit-identical results on every target (no libm, no fused multiply-add).

/// `2^(j/64)` for `j = 0..64`, correctly rounded (bit patterns, so no parsing is involved).
const EXP2_TABLE: [u64; 64] = [
    0x3ff0000000000000,
    0x3ff02c9a3e778061,
    0x3ff059b0d3158574,
    0x3ff0874518759bc8,
    0x3ff0b5586cf9890f,
    0x3ff0e3ec32d3d1a2,
    0x3ff11301d0125b51,
    0x3ff1429aaea92de0,
    0x3ff172b83c7d517b,
    0x3ff1a35beb6fcb75,
    0x3ff1d4873168b9aa,
    0x3ff2063b88628cd6,
    0x3ff2387a6e756238,
    0x3ff26b4565e27cdd,
    0x3ff29e9df51fdee1,
    0x3ff2d285a6e4030b,
    0x3ff306fe0a31b715,
    0x3ff33c08b26416ff,
    0x3ff371a7373aa9cb,
    0x3ff3a7db34e59ff7,
    0x3ff3dea64c123422,
    0x3ff4160a21f72e2a,
    0x3ff44e086061892d,
    0x3ff486a2b5c13cd0,
    0x3ff4bfdad5362a27,
    0x3ff4f9b2769d2ca7,
    0x3ff5342b569d4f82,
    0x3ff56f4736b527da,
    0x3ff5ab07dd485429,
    0x3ff5e76f15ad2148,
    0x3ff6247eb03a5585,
    0x3ff6623882552225,
    0x3ff6a09e667f3bcd,
    0x3ff6dfb23c651a2f,
    0x3ff71f75e8ec5f74,
    0x3ff75feb564267c9,
    0x3ff7a11473eb0187,
    0x3ff7e2f336cf4e62,
    0x3ff82589994cce13,
    0x3ff868d99b4492ed,
    0x3ff8ace5422aa0db,
    0x3ff8f1ae99157736,
    0x3ff93737b0cdc5e5,
    0x3ff97d829fde4e50,
    0x3ff9c49182a3f090,
    0x3ffa0c667b5de565,
    0x3ffa5503b23e255d,
    0x3ffa9e6b5579fdbf,
    0x3ffae89f995ad3ad,
    0x3ffb33a2b84f15fb,
    0x3ffb7f76f2fb5e47,
    0x3ffbcc1e904bc1d2,
    0x3ffc199bdd85529c,
    0x3ffc67f12e57d14b,
    0x3ffcb720dcef9069,
    0x3ffd072d4a07897c,
    0x3ffd5818dcfba487,
    0x3ffda9e603db3285,
    0x3ffdfc97337b9b5f,
    0x3ffe502ee78b3ff6,
    0x3ffea4afa2a490da,
    0x3ffefa1bee615a27,
    0x3fff50765b6e4540,
    0x3fffa7c1819e90d8,
];
/// `64 / ln 2`.
const INV_LN2_64: f64 = f64::from_bits(0x4057_1547_652b_82fe);
/// `ln 2 / 64` split so that `k * LN2_64_HI` is exact for `|k| < 2^17` (Cody–Waite reduction).
const LN2_64_HI: f64 = f64::from_bits(0x3f86_2e42_fefa_0000);
const LN2_64_LO: f64 = f64::from_bits(0x3d1c_f79a_bc9e_3b3a);
/// Adding this rounds a small `f64` to an integer held in the low mantissa bits (1.5 · 2^52).
const ROUND_SHIFT: f64 = 6_755_399_441_055_744.0;

/// Below this, `e^x` is under the smallest normal `f64` (~2.2e-308) and is returned as 0.
const EXP_CUTOFF: f64 = -708.0;

/// `e^x` for `x ≤ 0` (larger inputs are clamped to 0, i.e. return 1), deterministic to the bit.
///
/// `x = (k/64) ln 2 + r` with `|r| ≤ ln 2 / 128`; `e^x = 2^(k/64) · e^r`, the first from a table,
/// the second from a degree-5 Taylor polynomial (truncation error < 1e-16). Relative error is
/// about 1 ulp; results under the smallest normal `f64` are flushed to 0 (such weights are
/// invisible to a 53-bit uniform draw anyway). `exp_nonpos(0.0) == 1.0` exactly.
/// Written without branches on the value so that loops over it can be vectorised.
#[inline]
pub(crate) fn exp_nonpos(x: f64) -> f64 {
    let xc = if x > 0.0 { 0.0 } else { x };
    let xc = if xc < EXP_CUTOFF { EXP_CUTOFF } else { xc };
    let shifted = xc * INV_LN2_64 + ROUND_SHIFT;
    let k = (shifted.to_bits() as i64).wrapping_sub(ROUND_SHIFT.to_bits() as i64);
    let kf = shifted - ROUND_SHIFT;
    let r = (xc - kf * LN2_64_HI) - kf * LN2_64_LO;
    // e^r - 1 = r + r^2 (1/2 + r (1/6 + r (1/24 + r/120)))
    let p = r + (r * r) * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0))));
    let t = f64::from_bits(EXP2_TABLE[(k & 63) as usize]);
    // k >> 6 is in [-1022, 0], so 2^(k >> 6) is a normal number built from its exponent bits.
    let scale = f64::from_bits((((k >> 6) + 1023) as u64) << 52);
    let e = (t + t * p) * scale;
    // `x >= CUTOFF` is false for NaN too (callers never pass NaN).
    if x >= EXP_CUTOFF { e } else { 0.0 }
}

/// A uniform `f64` in `[0, 1)` from the top 53 bits of a `u64` (exact, every platform alike).
#[inline]
pub(crate) fn unit_f64(bits: u64) -> f64 {
    const SCALE: f64 = 1.0 / (1u64 << 53) as f64;
    (bits >> 11) as f64 * SCALE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_matches_std_within_a_few_ulp() {
        let mut worst = 0.0f64;
        let mut x = 0.0f64;
        while x > -707.0 {
            let ours = exp_nonpos(x);
            let std = x.exp();
            let rel = ((ours - std) / std).abs();
            worst = worst.max(rel);
            x -= 0.001_37;
        }
        assert!(worst < 2.0 * f64::EPSILON, "worst relative error {worst:e}");
    }

    #[test]
    fn exp_edge_cases() {
        assert_eq!(exp_nonpos(0.0), 1.0);
        assert_eq!(exp_nonpos(-0.0), 1.0);
        assert_eq!(exp_nonpos(3.0), 1.0);
        assert_eq!(exp_nonpos(-709.0), 0.0);
        assert_eq!(exp_nonpos(f64::NEG_INFINITY), 0.0);
        assert_eq!(exp_nonpos(f64::NAN), 0.0);
        assert!(exp_nonpos(-707.9) > 0.0);
        let ln2 = std::f64::consts::LN_2;
        let v = exp_nonpos(-ln2 * 10.0) * 1024.0;
        assert!((v - 1.0).abs() < 4.0 * f64::EPSILON, "{v}");
    }

    #[test]
    fn exp_is_monotone_on_a_fine_grid() {
        let mut prev = exp_nonpos(0.0);
        for i in 1..200_000 {
            let v = exp_nonpos(-(i as f64) * 1e-4);
            assert!(v <= prev, "not monotone at step {i}");
            prev = v;
        }
    }

    #[test]
    fn unit_f64_range() {
        assert_eq!(unit_f64(0), 0.0);
        assert_eq!(unit_f64(1 << 11), 1.0 / (1u64 << 53) as f64);
        assert_eq!(unit_f64(1 << 63), 0.5);
        let top = unit_f64(u64::MAX);
        assert!(top < 1.0 && top > 1.0 - 2.0 * f64::EPSILON);
    }
}
