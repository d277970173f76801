//! The training loss kept on the device between read-backs.
use std::time::Instant;

use tch::{Device, Kind, Tensor};

use crate::error::Result;

/// A loss sum kept on the device, with the characters and time it covers.
pub(crate) struct Window {
    nats: Tensor,
    chars: usize,
    start: Instant,
}

impl Window {
    pub(crate) fn new(device: Device) -> Result<Window> {
        Ok(Window {
            nats: Tensor::f_zeros([], (Kind::Double, device))?,
            chars: 0,
            start: Instant::now(),
        })
    }

    pub(crate) fn add(&mut self, sum: &Tensor, chars: usize) -> Result<()> {
        let _ = self.nats.f_add_(sum)?;
        self.chars += chars;
        Ok(())
    }

    /// Reads the sum back (one device sync) and starts a new window.
    pub(crate) fn take(&mut self) -> Result<(f64, usize, f64)> {
        let nats = self.nats.f_double_value(&[])?;
        let out = (nats, self.chars, self.start.elapsed().as_secs_f64());
        let _ = self.nats.f_zero_()?;
        self.chars = 0;
        self.start = Instant::now();
        Ok(out)
    }

    pub(crate) fn restart(&mut self) {
        self.start = Instant::now();
    }
}
