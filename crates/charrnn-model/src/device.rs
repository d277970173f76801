//! Device selection and CPU threads.
use tch::Device;

use crate::error::{ModelError, Result};

/// Parses `auto` (CUDA device 0 when available, else the CPU), `cpu`, `cuda` (= `cuda:0`) or
/// `cuda:N`. Asking for CUDA where there is none (or for a device index that does not exist)
/// is an error that says so.
pub fn parse_device(spec: &str) -> Result<Device> {
    let s = spec.trim().to_ascii_lowercase();
    let index = match s.as_str() {
        "auto" => return Ok(Device::cuda_if_available()),
        "cpu" => return Ok(Device::Cpu),
        "cuda" | "gpu" => 0,
        _ => match s.strip_prefix("cuda:") {
            Some(n) => n
                .parse::<usize>()
                .map_err(|_| ModelError::UnknownDevice(spec.to_owned()))?,
            None => return Err(ModelError::UnknownDevice(spec.to_owned())),
        },
    };
    let count = usize::try_from(tch::Cuda::device_count()).unwrap_or(0);
    if !tch::Cuda::is_available() || count == 0 {
        return Err(ModelError::CudaUnavailable {
            requested: spec.to_owned(),
            reason: "no CUDA device is available (no GPU, no driver, or a CPU-only libtorch); \
                     use parse_device(\"cpu\") or parse_device(\"auto\")"
                .into(),
        });
    }
    if index >= count {
        return Err(ModelError::CudaUnavailable {
            requested: spec.to_owned(),
            reason: format!(
                "only {count} CUDA device(s) exist (cuda:0..cuda:{})",
                count - 1
            ),
        });
    }
    Ok(Device::Cuda(index))
}

/// Sets the number of threads libtorch uses for CPU work (intra-op parallelism); 0 leaves the
/// default (one per core).
pub fn set_cpu_threads(threads: usize) {
    if threads > 0 {
        tch::set_num_threads(i32::try_from(threads).unwrap_or(i32::MAX));
    }
}

/// The number of threads libtorch uses for CPU work now (intra-op parallelism).
pub fn cpu_threads() -> usize {
    usize::try_from(tch::get_num_threads()).unwrap_or(1)
}

/// A short description of a device, e.g. `cpu` or `cuda:0`.
pub fn device_name(device: Device) -> String {
    match device {
        Device::Cpu => "cpu".into(),
        Device::Cuda(i) => format!("cuda:{i}"),
        Device::Mps => "mps".into(),
        Device::Vulkan => "vulkan".into(),
    }
}
