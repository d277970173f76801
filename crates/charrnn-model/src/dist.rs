//! Process groups on PyTorch's own distributed engine, c10d: ranks meet through a
//! `TCPStore` and all-reduce over Gloo (CPU tensors) and NCCL (CUDA tensors), as PyTorch DDP
//! does (`csrc/c10d_shim.cpp`, a C interface that build.rs compiles against libtorch's headers
//! when Gloo's headers are installed, with NCCL when NCCL's and CUDA's headers are too; `cargo
//! xtask setup` installs Debian's libgloo-dev and the CUDA headers the wheel leaves out). The
//! crate's `unsafe` is here, in `host_memory` and in `precision`.
#![allow(unsafe_code)]

use std::time::Duration;

use tch::{Device, Tensor};

use crate::error::ModelError;
#[cfg(charrnn_c10d)]
use crate::shim::ErrBuf;

/// Where a group meets and who this process is in it, as torchrun (`RANK`, `WORLD_SIZE`,
/// `LOCAL_RANK`, `MASTER_ADDR`, `MASTER_PORT`) or Slurm (`SLURM_PROCID`, `SLURM_NTASKS`,
/// `SLURM_LOCALID`, and `MASTER_ADDR`/`MASTER_PORT`) describe it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendezvous {
    /// This process's rank, `0..world`.
    pub rank: usize,
    /// Number of processes.
    pub world: usize,
    /// This process's rank among those on its machine, which names its GPU (`cuda:LOCAL_RANK`);
    /// `None` when the launcher did not say.
    pub local_rank: Option<usize>,
    /// Host of rank 0's store.
    pub addr: String,
    /// Port of rank 0's store.
    pub port: u16,
}

impl Rendezvous {
    /// Reads the launcher's environment through `var`: `None` when it names no world size
    /// above 1 (a plain single process).
    ///
    /// # Errors
    /// [`ModelError::Distributed`] when a variable is missing or not a number.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, ModelError> {
        let bad = |m: String| ModelError::Distributed(m);
        let number = |name: &str| -> Result<Option<usize>, ModelError> {
            var(name)
                .map(|v| {
                    v.trim()
                        .parse::<usize>()
                        .map_err(|_| bad(format!("{name}={v:?} is not a whole number")))
                })
                .transpose()
        };
        let (rank, world, local_rank) = match (number("WORLD_SIZE")?, number("SLURM_NTASKS")?) {
            (Some(w), _) => (number("RANK")?, w, number("LOCAL_RANK")?),
            (None, Some(w)) => (number("SLURM_PROCID")?, w, number("SLURM_LOCALID")?),
            (None, None) => return Ok(None),
        };
        if world <= 1 {
            return Ok(None);
        }
        let rank = rank.ok_or_else(|| bad("a world size is set but no RANK".into()))?;
        if rank >= world {
            return Err(bad(format!(
                "rank {rank} is not below the world size {world}"
            )));
        }
        let addr = var("MASTER_ADDR").ok_or_else(|| bad("MASTER_ADDR is not set".into()))?;
        let port = var("MASTER_PORT")
            .ok_or_else(|| bad("MASTER_PORT is not set".into()))?
            .trim()
            .parse::<u16>()
            .map_err(|_| bad("MASTER_PORT is not a port number".into()))?;
        Ok(Some(Self {
            rank,
            world,
            local_rank,
            addr,
            port,
        }))
    }

    /// The device this rank trains on when the command asked for `device`: with CUDA, the GPU
    /// its local rank names (`cuda:LOCAL_RANK`, or the rank modulo the number of GPUs when the
    /// launcher gave no local rank), as torchrun's ranks use them; the CPU stays the CPU. An
    /// explicit `cuda:N` is taken as `cuda` here: every rank of a group runs the same command.
    ///
    /// # Errors
    /// [`ModelError::Distributed`] when the local rank names a GPU this machine does not have.
    pub fn device(&self, device: Device, gpus: usize) -> Result<Device, ModelError> {
        if !device.is_cuda() {
            return Ok(device);
        }
        let index = match self.local_rank {
            Some(local) => local,
            None => self.rank % gpus.max(1),
        };
        if index >= gpus {
            return Err(ModelError::Distributed(format!(
                "rank {} has local rank {index}, but this machine has {gpus} GPU(s): start at \
                 most one rank per GPU on each machine",
                self.rank
            )));
        }
        Ok(Device::Cuda(index))
    }
}

/// A process group: this process's membership in a c10d group. CPU tensors go through Gloo;
/// CUDA tensors through NCCL when the group was joined on a CUDA device and the build has NCCL
/// ([`ProcessGroup::nccl`]), else through Gloo via host memory. Gloo collectives block and
/// fail (never hang) after the group's timeout. NCCL collectives are queued on the current
/// CUDA stream without blocking the host. When a rank is gone or stopped (its heartbeat stands
/// still for 10 s, or rank 0's store does not answer), the group stops: a waiting Gloo
/// collective fails, NCCL's communicators are aborted, and the error names the rank.
#[derive(Debug)]
#[cfg_attr(not(charrnn_c10d), allow(dead_code))]
pub struct ProcessGroup {
    group: std::ptr::NonNull<std::ffi::c_void>,
    rank: usize,
    world: usize,
}

// SAFETY: the group is a heap object of the shim that no other thread knows of; c10d's
// process groups may be used from any one thread at a time, and `&mut self` on every
// collective keeps it at one.
unsafe impl Send for ProcessGroup {}

#[cfg(charrnn_c10d)]
mod ffi {
    use std::ffi::{c_char, c_int, c_long, c_void};
    unsafe extern "C" {
        pub(super) fn charrnn_c10d_new(
            rank: c_int,
            world: c_int,
            host: *const c_char,
            port: c_int,
            timeout_ms: c_long,
            cuda_device: c_int,
            err: *mut c_char,
            err_len: usize,
        ) -> *mut c_void;
        pub(super) fn charrnn_c10d_free(group: *mut c_void);
        pub(super) fn charrnn_c10d_has_nccl(group: *mut c_void) -> c_int;
        pub(super) fn charrnn_c10d_stopped(
            group: *mut c_void,
            why: *mut c_char,
            why_len: usize,
        ) -> c_int;
        pub(super) fn charrnn_c10d_allreduce(
            group: *mut c_void,
            tensor: *mut c_void,
            average: c_int,
            err: *mut c_char,
            err_len: usize,
        ) -> c_int;
        pub(super) fn charrnn_c10d_broadcast(
            group: *mut c_void,
            tensor: *mut c_void,
            root: c_int,
            err: *mut c_char,
            err_len: usize,
        ) -> c_int;
        pub(super) fn charrnn_c10d_barrier(
            group: *mut c_void,
            err: *mut c_char,
            err_len: usize,
        ) -> c_int;
        pub(super) fn charrnn_c10d_lost(
            group: *mut c_void,
            wait_ms: c_long,
            lost: *mut c_int,
            lost_len: c_int,
            err: *mut c_char,
            err_len: usize,
        ) -> c_int;
    }
}

/// How long a rank's heartbeat may stand still before a failed collective calls it gone (it
/// beats four times a second).
#[cfg(charrnn_c10d)]
const SILENCE: Duration = Duration::from_secs(2);

impl ProcessGroup {
    /// Joins the group `rv` describes (rank 0 serves the store at `rv.addr:rv.port`),
    /// waiting at most `timeout` for the others. On `Device::Cuda(i)`, GPU `i` becomes this
    /// thread's current device and the group gets an NCCL backend for CUDA tensors, when the
    /// build has NCCL.
    ///
    /// # Errors
    /// [`ModelError::Distributed`]: the ranks did not all arrive in time, the port is taken,
    /// NCCL refused the device, or this build has no c10d (Gloo's headers were missing when it
    /// was compiled).
    pub fn join(rv: &Rendezvous, device: Device, timeout: Duration) -> Result<Self, ModelError> {
        #[cfg(charrnn_c10d)]
        {
            let cuda = match device {
                Device::Cuda(i) => i32::try_from(i).map_err(|_| too_big("CUDA device"))?,
                _ => -1,
            };
            let rank = i32::try_from(rv.rank).map_err(|_| too_big("rank"))?;
            let world = i32::try_from(rv.world).map_err(|_| too_big("world size"))?;
            let host = std::ffi::CString::new(rv.addr.as_str())
                .map_err(|_| ModelError::Distributed("MASTER_ADDR holds a NUL byte".into()))?;
            let ms =
                std::ffi::c_long::try_from(timeout.as_millis()).unwrap_or(std::ffi::c_long::MAX);
            let mut err = ErrBuf::new();
            let (e, n) = err.ptr();
            // SAFETY: `host` is a NUL-terminated string and `e` a writable buffer of `n` bytes,
            // both alive for the call; the shim catches every C++ exception.
            let ptr = unsafe {
                ffi::charrnn_c10d_new(
                    rank,
                    world,
                    host.as_ptr(),
                    i32::from(rv.port),
                    ms,
                    cuda,
                    e,
                    n,
                )
            };
            let group = std::ptr::NonNull::new(ptr).ok_or_else(|| {
                err.message(
                    &format!(
                        "rank {} of {} could not join the group at {}:{}",
                        rv.rank, rv.world, rv.addr, rv.port
                    ),
                    ModelError::Distributed,
                )
            })?;
            Ok(Self {
                group,
                rank: rv.rank,
                world: rv.world,
            })
        }
        #[cfg(not(charrnn_c10d))]
        {
            let _ = (rv, device, timeout);
            Err(ModelError::Distributed(
                "this charrnn was built without c10d (Gloo's headers were missing): run \
                 `cargo xtask setup`, which installs libgloo-dev, and rebuild"
                    .into(),
            ))
        }
    }

    /// This process's rank.
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// Number of processes in the group.
    pub fn world(&self) -> usize {
        self.world
    }

    /// Whether CUDA tensors go through NCCL (else through Gloo, via host memory).
    pub fn nccl(&self) -> bool {
        #[cfg(charrnn_c10d)]
        // SAFETY: the group is this one's, from `charrnn_c10d_new` and alive until drop.
        unsafe {
            ffi::charrnn_c10d_has_nccl(self.group.as_ptr()) != 0
        }
        #[cfg(not(charrnn_c10d))]
        false
    }

    /// Sums `tensor` over the ranks in place (contiguous, on the CPU or this rank's GPU); with
    /// `average`, divides by the world size.
    ///
    /// # Errors
    /// [`ModelError::Distributed`] when a rank is gone or the timeout passes.
    pub fn all_reduce(&mut self, tensor: &mut Tensor, average: bool) -> Result<(), ModelError> {
        #[cfg(charrnn_c10d)]
        {
            let (t, average) = (tensor.as_mut_ptr().cast(), i32::from(average));
            // SAFETY: `g` is this group's, from `charrnn_c10d_new` and alive until drop; `t` is
            // tch's `at::Tensor*`, alive and exclusively borrowed; `e` holds `n` writable bytes.
            self.collective("all-reduce", |g, e, n| unsafe {
                ffi::charrnn_c10d_allreduce(g, t, average, e, n)
            })
        }
        #[cfg(not(charrnn_c10d))]
        {
            let _ = (tensor, average);
            Err(unavailable())
        }
    }

    /// Copies rank `root`'s `tensor` into every rank's, in place.
    ///
    /// # Errors
    /// [`ModelError::Distributed`] when a rank is gone or the timeout passes.
    pub fn broadcast(&mut self, tensor: &mut Tensor, root: usize) -> Result<(), ModelError> {
        #[cfg(charrnn_c10d)]
        {
            let root = i32::try_from(root).map_err(|_| too_big("root rank"))?;
            let t = tensor.as_mut_ptr().cast();
            // SAFETY: as in `all_reduce`.
            self.collective("broadcast", |g, e, n| unsafe {
                ffi::charrnn_c10d_broadcast(g, t, root, e, n)
            })
        }
        #[cfg(not(charrnn_c10d))]
        {
            let _ = (tensor, root);
            Err(unavailable())
        }
    }

    /// Waits until every rank has called it.
    ///
    /// # Errors
    /// [`ModelError::Distributed`] when a rank is gone or the timeout passes.
    pub fn barrier(&mut self) -> Result<(), ModelError> {
        #[cfg(charrnn_c10d)]
        {
            // SAFETY: `g` is this group's, alive until drop; `e` holds `n` writable bytes.
            self.collective("barrier", |g, e, n| unsafe {
                ffi::charrnn_c10d_barrier(g, e, n)
            })
        }
        #[cfg(not(charrnn_c10d))]
        Err(unavailable())
    }

    /// Runs one of the shim's collectives on this group: `call` gets the group and an error
    /// buffer and returns the shim's status; a failure becomes an error naming `what` and
    /// this rank, with the shim's message.
    #[cfg(charrnn_c10d)]
    fn collective(
        &mut self,
        what: &str,
        call: impl FnOnce(*mut std::ffi::c_void, *mut std::ffi::c_char, usize) -> std::ffi::c_int,
    ) -> Result<(), ModelError> {
        let mut err = ErrBuf::new();
        let (e, n) = err.ptr();
        if call(self.group.as_ptr(), e, n) != 0 {
            let mut why = ErrBuf::new();
            let (w, wn) = why.ptr();
            // SAFETY: `g` is this group's, alive until drop; `w` holds `wn` writable bytes.
            if unsafe { ffi::charrnn_c10d_stopped(self.group.as_ptr(), w, wn) } != 0 {
                // The watch stopped the group and knows why; the store may not answer.
                return Err(why.message(
                    &format!("{what} on rank {}", self.rank),
                    ModelError::Distributed,
                ));
            }
            let who = self.lost_ranks();
            return Err(err.message(
                &format!("{what} on rank {}{who}", self.rank),
                ModelError::Distributed,
            ));
        }
        Ok(())
    }

    /// After a failed collective: which ranks are gone, as words to put in the error (", rank
    /// 1 is gone (no heartbeat for 2 s)"), found from the heartbeats every rank keeps in the
    /// group's store; empty when every rank still beats.
    #[cfg(charrnn_c10d)]
    fn lost_ranks(&mut self) -> String {
        let mut lost = vec![0 as std::ffi::c_int; self.world.min(64)];
        let lost_len = std::ffi::c_int::try_from(lost.len()).unwrap_or(0);
        let mut err = ErrBuf::new();
        let (e, n) = err.ptr();
        let wait = std::ffi::c_long::try_from(SILENCE.as_millis()).unwrap_or(2000);
        // SAFETY: `g` is this group's, alive until drop; `lost` holds `lost_len` writable ints
        // and `e` `n` writable bytes, both alive for the call.
        let count = unsafe {
            ffi::charrnn_c10d_lost(self.group.as_ptr(), wait, lost.as_mut_ptr(), lost_len, e, n)
        };
        let secs = SILENCE.as_secs();
        match usize::try_from(count) {
            Err(_) => ", rank 0 is gone (its rendezvous store does not answer)".into(),
            Ok(0) => String::new(),
            Ok(1) => format!(", rank {} is gone (no heartbeat for {secs} s)", lost[0]),
            Ok(k) => {
                let named: Vec<String> = lost.iter().take(k).map(|r| r.to_string()).collect();
                let more = if k > named.len() { " and more" } else { "" };
                format!(
                    ", ranks {}{more} are gone (no heartbeat for {secs} s)",
                    named.join(", ")
                )
            }
        }
    }

    /// Whether this build can make process groups (it found Gloo's headers).
    pub fn available() -> bool {
        cfg!(charrnn_c10d)
    }

    /// Whether this build has c10d's NCCL backend for CUDA tensors (it found a CUDA libtorch
    /// and NCCL's and CUDA's headers).
    pub fn nccl_built() -> bool {
        cfg!(charrnn_nccl)
    }
}

/// What a build without c10d answers to a collective.
#[cfg(not(charrnn_c10d))]
fn unavailable() -> ModelError {
    ModelError::Distributed("no c10d in this build".into())
}

#[cfg(charrnn_c10d)]
fn too_big(what: &str) -> ModelError {
    ModelError::Distributed(format!("the {what} does not fit in 32 bits"))
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        #[cfg(charrnn_c10d)]
        // SAFETY: the pointer came from `charrnn_c10d_new` and is freed exactly once, here.
        unsafe {
            ffi::charrnn_c10d_free(self.group.as_ptr());
        }
    }
}
