//! Data-parallel `charrnn train`: where this process stands in a group (the launcher's
//! environment, or `--nproc N`, which starts ranks 1..N itself on 127.0.0.1).
use std::ffi::OsString;
use std::process::{Child, Command};

use anyhow::{Context, Result, bail};
use charrnn_model::Rendezvous;
use charrnn_model::tch::Device;

use crate::flags::TrainArgs;

/// This process's place in a data-parallel group, and the ranks it started.
pub struct Group {
    /// Where the group meets and which rank this is.
    pub rendezvous: Rendezvous,
    children: Vec<(usize, Child)>,
}

impl Group {
    /// The group of this run, if any: the launcher's environment (torchrun, Slurm) when it
    /// names a world of more than one; else, with `--nproc N`, a group of N on 127.0.0.1 whose
    /// ranks 1..N this process starts (the same command line) and whose rank 0 it is (with
    /// N = 1, a group of one).
    /// Before any rank starts, `--nproc` is held to what `batch_size` and `device` allow.
    pub fn of(args: &TrainArgs, batch_size: usize, device: Device) -> Result<Option<Group>> {
        if let Some(rendezvous) = Rendezvous::from_env(|k| std::env::var(k).ok())? {
            return Ok(Some(Group {
                rendezvous,
                children: Vec::new(),
            }));
        }
        let Some(nproc) = args.nproc else {
            return Ok(None);
        };
        check_nproc(nproc, batch_size, device)?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .context("--nproc: cannot find a free port on 127.0.0.1")?
            .port();
        let exe = std::env::current_exe().context("--nproc: cannot find the charrnn binary")?;
        let argv: Vec<OsString> = std::env::args_os().skip(1).collect();
        let mut group = Group {
            rendezvous: Rendezvous {
                rank: 0,
                world: nproc,
                local_rank: Some(0),
                addr: "127.0.0.1".into(),
                port,
            },
            children: Vec::new(),
        };
        for rank in 1..nproc {
            let child = Command::new(&exe)
                .args(&argv)
                .env("RANK", rank.to_string())
                .env("LOCAL_RANK", rank.to_string())
                .env("WORLD_SIZE", nproc.to_string())
                .env("MASTER_ADDR", "127.0.0.1")
                .env("MASTER_PORT", port.to_string())
                .stdout(std::process::Stdio::null())
                .spawn()
                .with_context(|| format!("--nproc: cannot start rank {rank}"))?;
            group.children.push((rank, child));
        }
        Ok(Some(group))
    }

    /// Waits for the ranks this process started; an error names the first that failed.
    pub fn wait(mut self) -> Result<()> {
        for (rank, child) in &mut self.children {
            let status = child
                .wait()
                .with_context(|| format!("cannot wait for rank {rank}"))?;
            if !status.success() {
                bail!("rank {rank} of {} failed ({status})", self.rendezvous.world);
            }
        }
        self.children.clear();
        Ok(())
    }
}

impl Drop for Group {
    /// Stops the ranks this process started when it ends without waiting for them (an
    /// error), so that none is left waiting for a rank 0 that is gone.
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Refuses a `--nproc` this machine cannot run: more processes than rows in a batch (each takes
/// a slice of every batch), than GPUs on CUDA (one rank per GPU), or than CPU cores on the CPU
/// (they would only share them, each holding its own libtorch).
fn check_nproc(nproc: usize, batch_size: usize, device: Device) -> Result<()> {
    if nproc > batch_size {
        bail!(
            "--nproc {nproc} is more than the {batch_size} rows of a batch (--batch-size): each \
             process takes a slice of every batch"
        );
    }
    let (limit, what) = if device.is_cuda() {
        let gpus = usize::try_from(charrnn_model::tch::Cuda::device_count()).unwrap_or(0);
        (gpus, "GPU(s)")
    } else {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        (cores, "CPU core(s)")
    };
    if nproc > limit {
        bail!(
            "--nproc {nproc} is more than the {limit} {what} of this machine: start at most one \
             process per {}",
            if device.is_cuda() { "GPU" } else { "core" }
        );
    }
    Ok(())
}
