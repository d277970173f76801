//! Sampling on the logits' device: the filters of `charrnn-sampling` (banned ids, temperature
//! and its schedule, top-k, top-p, min-p, greedy) written as tensor ops, so that a batch on a
//! GPU does not copy `[rows, vocab]` logits to the host every step.
//!
//! The random numbers still come from the host sampler's streams
//! ([`charrnn_sampling::Sampler::next_draw`]): the host hands over one uniform number and one
//! temperature per row and step, a block of steps at a time (a few kilobytes), and the device
//! draws by inverse CDF in id order, as the host sampler does. The same seed therefore gives
//! the same samples on every device and batch, and the same as the host sampler up to
//! rounding in the probabilities (both work in double precision).
//!
//! A logit of `-inf` is probability 0 here as on the host: banned ids are themselves filled
//! with `-inf`, softmax gives them exactly 0, and the inverse-CDF draw only lands on an id of
//! positive probability (even where a parallel cumulative sum rounds differently at the ids
//! of probability 0), so a masked id is never drawn, greedy or not. Unlike the host sampler,
//! the device sampler does not read the logits back to check them every step: a row holding
//! NaN or `+inf`, or nothing but `-inf` and banned ids, which the host sampler refuses
//! ([`charrnn_sampling::SamplingError`]), draws a mark instead of an id, and the host, seeing
//! it when the block's ids come back, fails with the host sampler's error.
use std::fmt;
use std::str::FromStr;

use charrnn_sampling::{Sampler, Temperature};
use tch::{Device, Kind, Tensor};

use crate::error::{ModelError, Result};

/// Where the next ids of a generation batch are drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SampleOn {
    /// The logits come to the host every step and `charrnn-sampling` draws there: exact and the
    /// same on every platform. The default on the CPU, where there is no copy to save.
    Host,
    /// Drawn on the logits' device with tensor ops; the host learns the ids once per block of
    /// steps. The default on CUDA.
    Device,
}

impl SampleOn {
    /// The default for a model on `device`: [`SampleOn::Device`] on CUDA, else
    /// [`SampleOn::Host`].
    pub fn default_for(device: Device) -> SampleOn {
        if device.is_cuda() {
            SampleOn::Device
        } else {
            SampleOn::Host
        }
    }

    /// `host` or `device`.
    pub fn name(self) -> &'static str {
        match self {
            SampleOn::Host => "host",
            SampleOn::Device => "device",
        }
    }
}

impl fmt::Display for SampleOn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SampleOn {
    type Err = ModelError;

    /// Parses `host` or `device`, in any case.
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "host" | "cpu" => Ok(SampleOn::Host),
            "device" | "gpu" => Ok(SampleOn::Device),
            _ => Err(ModelError::InvalidInput(format!(
                "unknown sampler placement {s:?}: expected host or device"
            ))),
        }
    }
}

/// Which filters a row uses (after the host sampler's normalisation: a filter that keeps
/// everything is off).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct RowFlags {
    greedy: bool,
    top_k: bool,
    top_p: bool,
    min_p: bool,
}

/// The filters of every row of a running batch, as device tensors, selected and concatenated
/// along with the batch's state.
pub(crate) struct DeviceFilters {
    /// `[n]` bool: the row decodes greedily.
    greedy: Tensor,
    /// `[n]` bool: the row uses top-k or top-p, and so draws in descending-logit order.
    sorts: Tensor,
    /// `[n, 1]` i64: index of the `k`-th best logit (`vocab − 1` when top-k is off).
    kth: Tensor,
    /// `[n, 1]` f64: the nucleus mass (2 when top-p is off: nothing is ever outside).
    top_p: Tensor,
    /// `[n, 1]` f64: `ln(min_p)` (−∞ when min-p is off).
    log_min_p: Tensor,
    /// `[n, vocab]` bool: banned ids.
    banned: Tensor,
    flags: Vec<RowFlags>,
}

impl DeviceFilters {
    /// The filters of rows drawn by the host samplers `samplers` (one per row, all over
    /// `vocab_size` ids), on `device`.
    pub(crate) fn new(
        samplers: &[&Sampler],
        vocab_size: usize,
        device: Device,
    ) -> Result<DeviceFilters> {
        let n = samplers.len();
        let v = vocab_size;
        let mut greedy = Vec::with_capacity(n);
        let mut sorts = Vec::with_capacity(n);
        let mut kth = Vec::with_capacity(n);
        let mut top_p = Vec::with_capacity(n);
        let mut log_min_p = Vec::with_capacity(n);
        let mut banned = vec![false; n * v];
        let mut flags = Vec::with_capacity(n);
        for (r, sampler) in samplers.iter().enumerate() {
            // The host sampler's own normalisation: a filter that keeps everything is off.
            let active = sampler.active_filters();
            let row = &mut banned[r * v..(r + 1) * v];
            for &id in active.banned {
                if let Some(slot) = row.get_mut(id) {
                    *slot = true;
                }
            }
            let f = RowFlags {
                greedy: sampler.config().temperature == Temperature::Greedy,
                top_k: active.top_k.is_some(),
                top_p: active.top_p.is_some(),
                min_p: active.min_p.is_some(),
            };
            greedy.push(f.greedy);
            sorts.push(f.top_k || f.top_p);
            kth.push(active.top_k.map_or(v, |k| k) as i64 - 1);
            top_p.push(active.top_p.unwrap_or(2.0));
            log_min_p.push(active.min_p.map_or(f64::NEG_INFINITY, f64::ln));
            flags.push(f);
        }
        let column =
            |t: Tensor| -> Result<Tensor> { Ok(t.f_view([n as i64, 1])?.f_to_device(device)?) };
        Ok(DeviceFilters {
            greedy: Tensor::f_from_slice(&greedy)?.f_to_device(device)?,
            sorts: Tensor::f_from_slice(&sorts)?.f_to_device(device)?,
            kth: column(Tensor::f_from_slice(&kth)?)?,
            top_p: column(Tensor::f_from_slice(&top_p)?)?,
            log_min_p: column(Tensor::f_from_slice(&log_min_p)?)?,
            banned: Tensor::f_from_slice(&banned)?
                .f_view([n as i64, v as i64])?
                .f_to_device(device)?,
            flags,
        })
    }

    /// These rows followed by `other`'s.
    pub(crate) fn cat(self, other: DeviceFilters) -> Result<DeviceFilters> {
        let mut flags = self.flags;
        flags.extend(other.flags);
        Ok(DeviceFilters {
            greedy: Tensor::f_cat(&[self.greedy, other.greedy], 0)?,
            sorts: Tensor::f_cat(&[self.sorts, other.sorts], 0)?,
            kth: Tensor::f_cat(&[self.kth, other.kth], 0)?,
            top_p: Tensor::f_cat(&[self.top_p, other.top_p], 0)?,
            log_min_p: Tensor::f_cat(&[self.log_min_p, other.log_min_p], 0)?,
            banned: Tensor::f_cat(&[self.banned, other.banned], 0)?,
            flags,
        })
    }

    /// The rows at positions `keep` (ascending), `index` being the same positions as a tensor
    /// on the device.
    pub(crate) fn select(&self, keep: &[usize], index: &Tensor) -> Result<DeviceFilters> {
        Ok(DeviceFilters {
            greedy: self.greedy.f_index_select(0, index)?,
            sorts: self.sorts.f_index_select(0, index)?,
            kth: self.kth.f_index_select(0, index)?,
            top_p: self.top_p.f_index_select(0, index)?,
            log_min_p: self.log_min_p.f_index_select(0, index)?,
            banned: self.banned.f_index_select(0, index)?,
            flags: keep.iter().map(|&j| self.flags[j]).collect(),
        })
    }

    /// Draws one id per row from `logits` (`[n, vocab]`, any float kind) with the uniform
    /// numbers `u` (`[n]`, f64, in `[0, 1)`) and inverse temperatures `inv_t` (`[n, 1]`, f64;
    /// ignored by greedy rows). The arithmetic is in double precision, as on the host. Returns `[n]` i64 ids on the logits' device; nothing is read
    /// back to the host.
    ///
    /// The order is the host sampler's: banned ids out, temperature, top-k (ties with the
    /// `k`-th kept), top-p over what top-k left (the id that crosses `p` kept; ties ordered by
    /// id), min-p against the top probability, then an inverse-CDF draw: in descending-logit
    /// order (ties by id) for rows with top-k or top-p, in id order for the others, as the host
    /// sampler draws for vocabularies of up to 256 ids.
    ///
    /// A row the host sampler refuses draws no id but a mark, found when the ids come back:
    /// [`BROKEN_LOGITS`] for a NaN or `+inf` logit among the ids not banned, [`NOTHING_LEFT`]
    /// for a row of nothing but `-inf` and banned ids. (Feed the network `ids.clamp_min(0)`.)
    pub(crate) fn sample(&self, logits: &Tensor, u: &Tensor, inv_t: &Tensor) -> Result<Tensor> {
        let z = logits
            .f_to_kind(Kind::Double)?
            .f_masked_fill(&self.banned, f64::NEG_INFINITY)?;
        let broken = z
            .f_isnan()?
            .f_logical_or(&z.f_isposinf()?)?
            .f_any_dim(1, false)?;
        let nothing_left = z.f_amax(1, false)?.f_eq(f64::NEG_INFINITY)?;
        Ok(self
            .draw(z, u, inv_t)?
            .f_masked_fill(&nothing_left, NOTHING_LEFT)?
            .f_masked_fill(&broken, BROKEN_LOGITS)?)
    }

    /// [`DeviceFilters::sample`]'s draw from `z`, the logits in double precision with the
    /// banned ids at `-inf`.
    fn draw(&self, z: Tensor, u: &Tensor, inv_t: &Tensor) -> Result<Tensor> {
        let any = |f: fn(&RowFlags) -> bool| self.flags.iter().any(f);
        let greedy = if any(|f| f.greedy) {
            Some(z.f_argmax(1, false)?)
        } else {
            None
        };
        let greedy = match greedy {
            Some(ids) if !any(|f| !f.greedy) => return Ok(ids),
            g => g,
        };
        let zt = z.f_mul(inv_t)?;
        let mut dropped: Option<Tensor> = None;
        let (top_k, top_p) = (any(|f| f.top_k), any(|f| f.top_p));
        let mut sorted_order = None;
        if top_k || top_p {
            // Descending and stable: ties keep ascending ids, the host sampler's order.
            let (sorted, order) = zt.f_sort_stable(true, 1, true)?;
            let mut out: Option<Tensor> = None;
            if top_k {
                let kth = sorted.f_gather(1, &self.kth, false)?;
                out = Some(sorted.f_lt_tensor(&kth)?);
            }
            if top_p {
                let kept = match &out {
                    Some(o) => sorted.f_masked_fill(o, f64::NEG_INFINITY)?,
                    None => sorted.shallow_clone(),
                };
                let p = kept.f_softmax(1, Kind::Double)?;
                let before = p.f_cumsum(1, Kind::Double)?.f_sub(&p)?;
                let outside = before.f_ge_tensor(&self.top_p)?;
                out = Some(match out {
                    Some(o) => o.f_logical_or(&outside)?,
                    None => outside,
                });
            }
            if let Some(o) = out {
                dropped = Some(o.f_zeros_like()?.f_scatter(1, &order, &o)?);
            }
            sorted_order = Some(order);
        }
        if any(|f| f.min_p) {
            let top = zt.f_amax(1, true)?;
            let low = zt.f_sub(&top)?.f_lt_tensor(&self.log_min_p)?;
            dropped = Some(match dropped {
                Some(d) => d.f_logical_or(&low)?,
                None => low,
            });
        }
        let kept = match &dropped {
            Some(d) => zt.f_masked_fill(d, f64::NEG_INFINITY)?,
            None => zt,
        };
        let p = kept.f_softmax(1, Kind::Double)?;
        let ids = match sorted_order {
            None => inverse_cdf(&p, u)?,
            Some(order) => {
                let in_order = inverse_cdf(&p.f_gather(1, &order, false)?, u)?;
                let sorted_ids = order
                    .f_gather(1, &in_order.f_unsqueeze(1)?, false)?
                    .f_squeeze_dim(1)?;
                if any(|f| !(f.top_k || f.top_p || f.greedy)) {
                    sorted_ids.f_where_self(&self.sorts, &inverse_cdf(&p, u)?)?
                } else {
                    sorted_ids
                }
            }
        };
        match greedy {
            Some(g) => Ok(g.f_where_self(&self.greedy, &ids)?),
            None => Ok(ids),
        }
    }
}

/// The mark [`DeviceFilters::sample`] draws for a row whose logits hold NaN or `+inf` (among
/// the ids not banned): the host sampler's [`SamplingError::NonFiniteLogit`].
///
/// [`SamplingError::NonFiniteLogit`]: charrnn_sampling::SamplingError::NonFiniteLogit
pub(crate) const BROKEN_LOGITS: i64 = -1;

/// The mark [`DeviceFilters::sample`] draws for a row with no id left (all `-inf` or banned):
/// the host sampler's [`SamplingError::AllMasked`].
///
/// [`SamplingError::AllMasked`]: charrnn_sampling::SamplingError::AllMasked
pub(crate) const NOTHING_LEFT: i64 = -2;

/// The position of each row's draw in `p` (`[n, m]` probabilities, f64) for the uniform
/// numbers `u` (`[n]`): the first position of positive probability whose cumulative sum
/// exceeds `u` times the total.
///
/// A cumulative sum added in order (the CPU's) never rises at a position of probability 0, so
/// there the first position past the target always has a positive probability, and this is
/// the count of positions at or below it, as the host sampler draws. A parallel one (CUDA's)
/// may associate the additions differently at two neighbouring positions and round one up:
/// asking for a positive probability keeps a masked or banned id out whatever the rounding.
/// A row without any (NaN throughout: a row of nothing but `-inf`) gets position 0.
fn inverse_cdf(p: &Tensor, u: &Tensor) -> Result<Tensor> {
    let cdf = p.f_cumsum(1, Kind::Double)?;
    let total = cdf.f_narrow(1, cdf.size()[1] - 1, 1)?;
    // Just under the total, so that rounding never puts the target past the last position
    // with any mass (a bias of 2^-40 at most).
    let target = u
        .f_unsqueeze(1)?
        .f_mul(&total)?
        .f_mul_scalar(1.0 - 2f64.powi(-40))?;
    let hit = cdf
        .f_gt_tensor(&target)?
        .f_logical_and(&p.f_gt(0.0)?)?
        .f_to_kind(Kind::Uint8)?;
    // The first hit: argmax returns the first of equal maxima.
    Ok(hit.f_argmax(1, false)?)
}

impl fmt::Debug for DeviceFilters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceFilters")
            .field("rows", &self.flags.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use charrnn_sampling::SamplingConfig;

    use super::*;

    /// Draws `draws` ids from one row of logits on the device path, with the host sampler's
    /// numbers, and counts them.
    fn counts(config: &SamplingConfig, logits: &[f32], draws: usize, seed: u64) -> Vec<u64> {
        let v = logits.len();
        let mut host = Sampler::new(config.clone(), v, seed).unwrap();
        // Many draws of one row at once: the row repeated, each copy with its own number.
        let n = draws;
        let rows = DeviceFilters::new(&vec![&host; n], v, Device::Cpu).unwrap();
        let (mut u, mut inv_t): (Vec<f64>, Vec<f64>) =
            (Vec::with_capacity(n), Vec::with_capacity(n));
        for _ in 0..n {
            let (t, x) = host.next_draw(0).unwrap_or((1.0, 0.0));
            u.push(x);
            inv_t.push(1.0 / f64::from(t));
        }
        let l = Tensor::from_slice(logits)
            .view([1, v as i64])
            .repeat([n as i64, 1]);
        let ids = rows
            .sample(
                &l,
                &Tensor::from_slice(&u),
                &Tensor::from_slice(&inv_t).view([n as i64, 1]),
            )
            .unwrap();
        let ids: Vec<i64> = Vec::try_from(ids).unwrap();
        let mut c = vec![0u64; v];
        for id in ids {
            c[id as usize] += 1;
        }
        c
    }

    /// Pearson's chi-square statistic of `counts` against `probs` over the ids with mass, and
    /// whether a count fell on an id without mass.
    fn chi_square(counts: &[u64], probs: &[f64]) -> (f64, bool) {
        let n: u64 = counts.iter().sum();
        let mut stat = 0.0;
        let mut impossible = false;
        for (&c, &p) in counts.iter().zip(probs) {
            if p == 0.0 {
                impossible |= c > 0;
                continue;
            }
            let e = p * n as f64;
            stat += (c as f64 - e).powi(2) / e;
        }
        (stat, impossible)
    }

    /// The distribution the host sampler would draw `config` from.
    fn expected(config: &SamplingConfig, logits: &[f32]) -> Vec<f64> {
        let s = Sampler::new(config.clone(), logits.len(), 0).unwrap();
        let mut p = vec![0.0; logits.len()];
        s.distribution(0, logits, &mut p).unwrap();
        p
    }

    const LOGITS: [f32; 10] = [2.0, 1.5, 1.5, 0.3, -0.2, 0.9, -1.0, 3.0, 0.0, -2.5];

    /// The chi-square test passes at 12 degrees of freedom or fewer when the statistic is
    /// below 40 (p < 1e-4 of a false alarm), and draws from the wrong distribution fail it.
    #[test]
    fn device_draws_follow_the_filtered_tempered_distribution() {
        let base = SamplingConfig::with_temperature(1.0).banned([9u32]);
        let cases = [
            (
                "T=0.5",
                SamplingConfig::with_temperature(0.5).banned([9u32]),
            ),
            ("T=1", base.clone()),
            ("T=2", SamplingConfig::with_temperature(2.0).banned([9u32])),
            ("top-k 3 (a tie at the boundary)", base.clone().top_k(3)),
            ("top-p 0.8", base.clone().top_p(0.8)),
            ("min-p 0.2", base.clone().min_p(0.2)),
            ("all three at T=1.3", {
                let mut c = base.clone().top_k(6).top_p(0.9).min_p(0.05);
                c.temperature = Temperature::Fixed(1.3);
                c
            }),
        ];
        for (i, (name, config)) in cases.iter().enumerate() {
            let probs = expected(config, &LOGITS);
            let c = counts(config, &LOGITS, 20_000, 100 + i as u64);
            let (stat, impossible) = chi_square(&c, &probs);
            assert!(
                !impossible,
                "{name}: drew a filtered id: {c:?} vs {probs:?}"
            );
            assert!(stat < 40.0, "{name}: chi-square {stat}: {c:?} vs {probs:?}");
        }
        // The test has power: draws at T = 1 judged against T = 0.5 or T = 2, or with the
        // filters ignored, fail it.
        for (drawn, judged) in [
            (&base, &cases[0].1),
            (&base, &cases[2].1),
            (&base, &cases[3].1),
            (&base, &cases[4].1),
            (&base, &cases[5].1),
        ] {
            let c = counts(drawn, &LOGITS, 20_000, 7);
            let (stat, impossible) = chi_square(&c, &expected(judged, &LOGITS));
            assert!(impossible || stat > 40.0, "wrong draws passed: {stat}");
        }
    }

    /// 2,000 draws from one row of 10 `logits` by the device path, given the numbers of the
    /// host sampler seeded `seed`, and the host sampler's own 2,000 draws.
    fn host_and_device_draws(
        config: &SamplingConfig,
        logits: &[f32; 10],
        seed: u64,
    ) -> (Vec<i64>, Vec<i64>) {
        let mut host = Sampler::new(config.clone(), logits.len(), seed).unwrap();
        let host_ids: Vec<i64> = (0..2000)
            .map(|_| i64::from(host.sample_row(0, logits).unwrap()))
            .collect();
        let mut numbers = Sampler::new(config.clone(), logits.len(), seed).unwrap();
        let rows = DeviceFilters::new(&vec![&numbers; 2000], logits.len(), Device::Cpu).unwrap();
        let (u, inv_t): (Vec<f64>, Vec<f64>) = (0..2000)
            .map(|_| {
                let (t, u) = numbers.next_draw(0).unwrap();
                (u, 1.0 / f64::from(t))
            })
            .unzip();
        let l = Tensor::from_slice(logits).view([1, 10]).repeat([2000, 1]);
        let ids = rows
            .sample(
                &l,
                &Tensor::from_slice(&u),
                &Tensor::from_slice(&inv_t).view([2000, 1]),
            )
            .unwrap();
        (Vec::try_from(ids).unwrap(), host_ids)
    }

    #[test]
    fn draws_match_the_host_sampler_given_its_numbers() {
        // Same streams, same inverse CDF in id order: the device path draws the host's ids
        // (up to rounding, which these logits do not meet in 2,000 draws).
        for config in [
            SamplingConfig::with_temperature(0.8).banned([0u32]),
            SamplingConfig::with_temperature(1.0)
                .top_k(4)
                .banned([0u32]),
            SamplingConfig::with_temperature(1.3)
                .top_p(0.9)
                .min_p(0.05)
                .banned([0u32]),
        ] {
            let (ids, host_ids) = host_and_device_draws(&config, &LOGITS, 5);
            assert_eq!(ids, host_ids, "{config:?}");
        }
    }

    #[test]
    fn greedy_and_banned_ids() {
        // Greedy is the host's argmax over allowed ids, lowest id on ties; a banned id never
        // comes out however large its logit, greedy or not.
        let logits = [0.0f32, 5.0, 5.0, 1e30, 2.0];
        let greedy = SamplingConfig::greedy().banned([3u32]);
        let hot = SamplingConfig::with_temperature(5.0).banned([3u32, 1]);
        let mut host = Sampler::new(greedy.clone(), 5, 0).unwrap();
        let hot_sampler = Sampler::new(hot.clone(), 5, 0).unwrap();
        let rows = DeviceFilters::new(&[&host, &hot_sampler, &host], 5, Device::Cpu).unwrap();
        let l = Tensor::from_slice(&logits).view([1, 5]).repeat([3, 1]);
        let want = i64::from(host.sample_row(0, &logits).unwrap());
        for u in [0.0, 0.5, 0.999_999] {
            let ids = rows
                .sample(
                    &l,
                    &Tensor::from_slice(&[u; 3]),
                    &Tensor::from_slice(&[1.0f64, 0.2, 1.0]).view([3, 1]),
                )
                .unwrap();
            let ids: Vec<i64> = Vec::try_from(ids).unwrap();
            assert_eq!((ids[0], ids[2]), (want, want));
            assert!(ids[1] != 3 && ids[1] != 1, "{ids:?}");
        }
        let c = counts(&hot, &logits, 5000, 3);
        assert_eq!((c[1], c[3]), (0, 0), "{c:?}");
    }

    /// The rows the host sampler refuses draw marks, in every mode (greedy, plain, top-k,
    /// top-p, min-p); a NaN at a banned id is no fault, and the other rows draw as ever.
    #[test]
    fn rows_the_host_sampler_refuses_draw_marks() {
        const NEG: f32 = f32::NEG_INFINITY;
        let rows_of_logits: [[f32; 4]; 5] = [
            [0.5, f32::NAN, 1.0, 0.0],
            [0.5, f32::INFINITY, 1.0, 0.0],
            [NEG, NEG, NEG, NEG],
            [NEG, 2.0, NEG, NEG],
            [f32::NAN, 0.0, 1.0, 0.5],
        ];
        let want = [BROKEN_LOGITS, BROKEN_LOGITS, NOTHING_LEFT, 1, 2];
        for config in [
            SamplingConfig::greedy(),
            SamplingConfig::with_temperature(1.0),
            SamplingConfig::with_temperature(1.0).top_k(2),
            SamplingConfig::with_temperature(1.0).top_p(0.9),
            SamplingConfig::with_temperature(1.0).min_p(0.1),
        ] {
            // Row 4's NaN is at a banned id; the greedy row 4 then picks id 2.
            let plain = Sampler::new(config.clone(), 4, 0).unwrap();
            let banning = Sampler::new(config.clone().banned([0u32, 3]), 4, 0).unwrap();
            let samplers = [&plain, &plain, &plain, &plain, &banning];
            let rows = DeviceFilters::new(&samplers, 4, Device::Cpu).unwrap();
            let flat: Vec<f32> = rows_of_logits.iter().flatten().copied().collect();
            let ids = rows
                .sample(
                    &Tensor::from_slice(&flat).view([5, 4]),
                    &Tensor::from_slice(&[0.99f64; 5]),
                    &Tensor::from_slice(&[1.0f64; 5]).view([5, 1]),
                )
                .unwrap();
            let ids: Vec<i64> = Vec::try_from(ids).unwrap();
            assert_eq!(ids[..4], want[..4], "{config:?}");
            assert!([1, 2].contains(&ids[4]), "{config:?}: {ids:?}");
        }
    }

    #[test]
    fn minus_infinity_logits_are_never_drawn_and_match_the_host_sampler() {
        // Masked ids first, last and between the best ones; top-k larger than what is left
        // keeps them at the k-th place, with probability 0.
        const NEG: f32 = f32::NEG_INFINITY;
        let logits = [NEG, 2.0, NEG, 1.5, -0.2, NEG, 3.0, NEG, 0.1, NEG];
        let masked = [0usize, 2, 5, 7, 9];
        for config in [
            SamplingConfig::with_temperature(1.0),
            SamplingConfig::with_temperature(1e6),
            SamplingConfig::with_temperature(1e6).top_k(8),
            SamplingConfig::with_temperature(2.0)
                .top_k(3)
                .banned([6u32]),
            SamplingConfig::with_temperature(1e6).top_p(0.999),
            SamplingConfig::with_temperature(1e6).min_p(0.5),
        ] {
            let (ids, host_ids) = host_and_device_draws(&config, &logits, 9);
            assert!(
                ids.iter().all(|&id| !masked.contains(&(id as usize))),
                "{config:?}: {ids:?}"
            );
            assert_eq!(ids, host_ids, "{config:?}");
        }
        // Greedy: the argmax of what is left, as on the host.
        let mut host = Sampler::new(SamplingConfig::greedy(), 10, 0).unwrap();
        let rows = DeviceFilters::new(&[&host], 10, Device::Cpu).unwrap();
        let ids = rows
            .sample(
                &Tensor::from_slice(&logits).view([1, 10]),
                &Tensor::from_slice(&[0.5f64]),
                &Tensor::from_slice(&[1.0f64]).view([1, 1]),
            )
            .unwrap();
        let want = i64::from(host.sample_row(0, &logits).unwrap());
        assert_eq!(Vec::<i64>::try_from(ids).unwrap(), [want]);
    }

    #[test]
    fn the_inverse_cdf_lands_on_positive_probabilities_only() {
        // Ids 1 and 3 hold the mass; 0, 2 and 4 hold none, even at the edges of the draws.
        let p = Tensor::from_slice(&[0.0f64, 0.5, 0.0, 0.5, 0.0]).view([1, 5]);
        let top = 1.0 - f64::EPSILON / 2.0;
        for (u, want) in [
            (0.0, 1),
            (0.25, 1),
            // (u = 0.5 still draws id 1: the target is kept just under u times the total.)
            (0.5, 1),
            (0.501, 3),
            (0.75, 3),
            (top, 3),
        ] {
            let id = inverse_cdf(&p, &Tensor::from_slice(&[u])).unwrap();
            assert_eq!(Vec::<i64>::try_from(id).unwrap(), [want], "u = {u}");
        }
        // A row without any mass (NaN: a row of nothing but -inf) gives position 0.
        let nan = Tensor::from_slice(&[f64::NAN; 3]).view([1, 3]);
        let id = inverse_cdf(&nan, &Tensor::from_slice(&[0.3])).unwrap();
        assert_eq!(Vec::<i64>::try_from(id).unwrap(), [0]);
    }

    #[test]
    fn placement_names_parse() {
        assert_eq!("Device".parse::<SampleOn>().unwrap(), SampleOn::Device);
        assert_eq!("host".parse::<SampleOn>().unwrap(), SampleOn::Host);
        assert!(
            "tpu"
                .parse::<SampleOn>()
                .unwrap_err()
                .to_string()
                .contains("host or device")
        );
        assert_eq!(SampleOn::default_for(Device::Cpu), SampleOn::Host);
        assert_eq!(SampleOn::default_for(Device::Cuda(0)), SampleOn::Device);
    }
}
