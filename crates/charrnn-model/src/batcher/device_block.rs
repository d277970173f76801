//! [`Batcher::step_block`] sampling on the device: K steps with the ids staying on the device,
//! one copy back, finished rows leaving at the block's end.
use tch::{Device, Tensor};

use charrnn_sampling::SamplingError;

use super::{Batcher, RowEvent, label_tensor};
use crate::device_sampling::{BROKEN_LOGITS, NOTHING_LEFT};
use crate::error::{ModelError, Result};
use crate::eval::upload;

impl Batcher<'_> {
    /// [`Batcher::step_block`] sampling on the device.
    pub(super) fn device_block(&mut self, steps: usize) -> Result<Vec<RowEvent>> {
        let Some((mut logits, mut state)) = self.next.take() else {
            return Ok(Vec::new());
        };
        let Some(filters) = &self.filters else {
            return Err(ModelError::InvalidInput(
                "device sampling without the rows' filters".into(),
            ));
        };
        let _guard = tch::no_grad_guard();
        let device = self.model.device();
        let n = self.rows.len();
        let longest = self
            .rows
            .iter()
            .map(|r| r.stop.max_len.saturating_sub(r.ids.len()));
        let k = steps.clamp(1, longest.max().unwrap_or(1).max(1));
        // The block's random numbers and temperatures, from each row's host stream: what the
        // host sampler would draw with, so both placements follow the same streams.
        let mut u = vec![0f64; n * k];
        let mut inv_t = vec![1f64; n * k];
        for (r, row) in self.rows.iter_mut().enumerate() {
            for j in 0..k {
                if let Some((t, x)) = row.sampler.next_draw(row.stream) {
                    u[r * k + j] = x;
                    inv_t[r * k + j] = 1.0 / f64::from(t);
                }
            }
        }
        let u = upload(
            Tensor::f_from_slice(&u)?.f_view([n as i64, k as i64])?,
            device,
        )?;
        let inv_t = upload(
            Tensor::f_from_slice(&inv_t)?.f_view([n as i64, k as i64])?,
            device,
        )?;
        let labels = label_tensor(self.rows.iter().map(|r| r.label), device)?;
        let mut ids = Vec::with_capacity(k);
        for j in 0..k as i64 {
            let id = filters.sample(&logits, &u.f_select(1, j)?, &inv_t.f_narrow(1, j, 1)?)?;
            // Sampled ids: inside the vocabulary, and checking them would wait for the device.
            // A row's mark (below 0) is found on the host, its id then no longer used.
            let (l, s) = self.model.forward_unchecked(
                &id.f_clamp_min(0)?.f_view([n as i64, 1])?,
                labels.as_ref(),
                Some(&state),
                false,
            )?;
            logits = l.f_select(1, 0)?;
            state = s;
            ids.push(id);
        }
        // The one copy back of the block.
        let block = Tensor::f_stack(&ids, 1)?.f_to_device(Device::Cpu)?;
        let mut host = vec![0i64; n * k];
        block.f_copy_data(&mut host, n * k)?;
        let mut events = Vec::with_capacity(n * k);
        let mut done = vec![false; n];
        for j in 0..k {
            for (r, row) in self.rows.iter_mut().enumerate() {
                if done[r] {
                    continue;
                }
                let id = match host[r * k + j] {
                    BROKEN_LOGITS => {
                        return Err(ModelError::InvalidInput(format!(
                            "row {}: a logit is NaN or +inf (found on the device, at generated \
                             character {}); logits must be finite or -inf (NaN or +inf means \
                             a broken model output)",
                            row.stream,
                            row.ids.len() + 1
                        )));
                    }
                    NOTHING_LEFT => {
                        return Err(SamplingError::AllMasked { row: row.stream }.into());
                    }
                    id => u32::try_from(id).map_err(|_| {
                        ModelError::InvalidInput(format!("the device sampler drew id {id}"))
                    })?,
                };
                let event = row.advance(id, self.vocab);
                done[r] = event.done.is_some();
                events.push(event);
            }
        }
        // The logits and state after the block's last id; finished rows leave them.
        self.next = Some((logits, state));
        let keep: Vec<usize> = (0..n).filter(|&r| !done[r]).collect();
        self.keep_rows(&keep)?;
        Ok(events)
    }
}
