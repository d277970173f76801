//! Process groups on c10d's Gloo backend, two ranks as two threads on 127.0.0.1; and the
//! launcher's environment.
use std::collections::HashMap;
use std::time::Duration;

use charrnn_model::tch::{Device, Kind, Tensor};
use charrnn_model::{ModelError, ProcessGroup, Rendezvous};

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Whether this build has c10d (its build script found Gloo's headers); says so when not.
fn c10d() -> bool {
    let built = ProcessGroup::available();
    if !built {
        eprintln!("skipped: this build has no c10d (install libgloo-dev and rebuild)");
    }
    built
}

/// Rank `rank` of a group of two on 127.0.0.1:`port`, waiting up to a minute for the other.
fn join_two(rank: usize, port: u16) -> ProcessGroup {
    ProcessGroup::join(
        &rendezvous(rank, 2, port),
        Device::Cpu,
        Duration::from_secs(60),
    )
    .unwrap()
}

fn rendezvous(rank: usize, world: usize, port: u16) -> Rendezvous {
    Rendezvous {
        rank,
        world,
        local_rank: Some(rank),
        addr: "127.0.0.1".into(),
        port,
    }
}

/// Runs `rank_body(rank, port)` for ranks 0 and 1, each on a thread of its own, with a fresh
/// port for their group; returns what each returned, in rank order.
fn on_two_ranks<T: Send>(rank_body: impl Fn(usize, u16) -> T + Sync) -> Vec<T> {
    let port = free_port();
    std::thread::scope(|scope| {
        let ranks: Vec<_> = (0..2)
            .map(|rank| {
                let rank_body = &rank_body;
                scope.spawn(move || rank_body(rank, port))
            })
            .collect();
        ranks.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

#[test]
fn two_ranks_all_reduce_broadcast_and_meet() {
    if !c10d() {
        return;
    }
    let ranks = on_two_ranks(|rank, port| {
        let mut g = join_two(rank, port);
        assert_eq!((g.rank(), g.world()), (rank, 2));
        let mut t = Tensor::from_slice(&[1.0f32, 2.0, 3.0]) * (rank as f64 + 1.0);
        g.all_reduce(&mut t, false).unwrap();
        let sum = Vec::<f32>::try_from(&t).unwrap();
        let mut a = Tensor::from_slice(&[2.0f32, 4.0]) * (rank as f64 + 1.0);
        g.all_reduce(&mut a, true).unwrap();
        let avg = Vec::<f32>::try_from(&a).unwrap();
        let mut b = Tensor::full([2], rank as f64 + 10.0, (Kind::Float, a.device()));
        g.broadcast(&mut b, 1).unwrap();
        let from_one = Vec::<f32>::try_from(&b).unwrap();
        g.barrier().unwrap();
        (sum, avg, from_one)
    });
    for (sum, avg, from_one) in ranks {
        assert_eq!(sum, [3.0, 6.0, 9.0], "1·x + 2·x");
        assert_eq!(avg, [3.0, 6.0], "(2 + 4) / 2, (4 + 8) / 2");
        assert_eq!(from_one, [11.0, 11.0], "rank 1's value everywhere");
    }
}

#[test]
fn a_rank_that_never_comes_is_an_error_within_the_timeout() {
    if !c10d() {
        return;
    }
    let err = ProcessGroup::join(
        &rendezvous(0, 2, free_port()),
        Device::Cpu,
        Duration::from_secs(2),
    )
    .unwrap_err();
    assert!(matches!(err, ModelError::Distributed(_)), "{err}");
    let text = err.to_string();
    assert!(text.contains("rank 0 of 2"), "{text}");
    assert!(!text.contains('\n'), "one line: {text}");
}

/// [`Rendezvous::from_env`] of an environment holding exactly `pairs`.
fn from_env(pairs: &[(&str, &str)]) -> Result<Option<Rendezvous>, ModelError> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Rendezvous::from_env(move |k| map.get(k).cloned())
}

#[test]
fn the_launchers_environment_is_read_as_torchrun_and_slurm_set_it() {
    let env = from_env;
    assert_eq!(env(&[]).unwrap(), None, "no launcher: one process");
    assert_eq!(env(&[("WORLD_SIZE", "1"), ("RANK", "0")]).unwrap(), None);
    let torchrun = [
        ("RANK", "1"),
        ("WORLD_SIZE", "4"),
        ("MASTER_ADDR", "10.0.0.1"),
        ("MASTER_PORT", "29500"),
    ];
    assert_eq!(
        env(&torchrun).unwrap(),
        Some(Rendezvous {
            rank: 1,
            world: 4,
            local_rank: None,
            addr: "10.0.0.1".into(),
            port: 29500
        })
    );
    let slurm = [
        ("SLURM_PROCID", "3"),
        ("SLURM_NTASKS", "8"),
        ("MASTER_ADDR", "node1"),
        ("MASTER_PORT", "1234"),
    ];
    assert_eq!(
        env(&slurm).unwrap().map(|r| (r.rank, r.world)),
        Some((3, 8))
    );
    for (bad, what) in [
        (
            &[
                ("WORLD_SIZE", "2"),
                ("MASTER_ADDR", "a"),
                ("MASTER_PORT", "1"),
            ][..],
            "RANK",
        ),
        (
            &[
                ("WORLD_SIZE", "2"),
                ("RANK", "2"),
                ("MASTER_ADDR", "a"),
                ("MASTER_PORT", "1"),
            ][..],
            "below",
        ),
        (&[("WORLD_SIZE", "two"), ("RANK", "0")][..], "WORLD_SIZE"),
        (
            &[("WORLD_SIZE", "2"), ("RANK", "0"), ("MASTER_PORT", "1")][..],
            "MASTER_ADDR",
        ),
        (
            &[
                ("WORLD_SIZE", "2"),
                ("RANK", "0"),
                ("MASTER_ADDR", "a"),
                ("MASTER_PORT", "99999"),
            ][..],
            "MASTER_PORT",
        ),
    ] {
        let err = env(bad).unwrap_err();
        assert!(err.to_string().contains(what), "{bad:?}: {err}");
    }
}

#[test]
fn ranks_take_the_gpu_their_local_rank_names() {
    let env = |pairs: &[(&str, &str)]| from_env(pairs).unwrap().unwrap();
    let at = [("MASTER_ADDR", "a"), ("MASTER_PORT", "1")];
    let torchrun = env(&[
        &at[..],
        &[("RANK", "5"), ("WORLD_SIZE", "8"), ("LOCAL_RANK", "1")],
    ]
    .concat());
    assert_eq!(torchrun.local_rank, Some(1));
    let slurm = env(&[
        &at[..],
        &[
            ("SLURM_PROCID", "6"),
            ("SLURM_NTASKS", "8"),
            ("SLURM_LOCALID", "2"),
        ],
    ]
    .concat());
    assert_eq!(slurm.local_rank, Some(2));
    let plain = env(&[&at[..], &[("RANK", "3"), ("WORLD_SIZE", "4")]].concat());
    assert_eq!(plain.local_rank, None);

    assert_eq!(
        torchrun.device(Device::Cuda(0), 2).unwrap(),
        Device::Cuda(1)
    );
    assert_eq!(slurm.device(Device::Cuda(0), 4).unwrap(), Device::Cuda(2));
    assert_eq!(
        torchrun.device(Device::Cpu, 2).unwrap(),
        Device::Cpu,
        "the CPU stays the CPU"
    );
    // Without a local rank, the rank modulo the GPUs, as ProcessGroupNCCL guesses it.
    assert_eq!(plain.device(Device::Cuda(0), 2).unwrap(), Device::Cuda(1));
    // A local rank beyond the machine's GPUs is an error naming both.
    let err = slurm.device(Device::Cuda(0), 2).unwrap_err().to_string();
    assert!(
        err.contains("local rank 2") && err.contains("2 GPU(s)"),
        "{err}"
    );
}

/// A group joined on a CUDA device: with NCCL and a GPU, CUDA tensors are reduced and
/// broadcast (a group of one) while CPU tensors still go through Gloo; with NCCL but no GPU
/// (this CI), joining fails with a one-line reason instead of hanging or crashing.
#[test]
fn a_group_on_a_cuda_device_reduces_with_nccl() {
    if !c10d() {
        return;
    }
    if !ProcessGroup::nccl_built() {
        eprintln!("skipped: this build has no NCCL (a CPU-only libtorch, or no CUDA headers)");
        return;
    }
    let rv = Rendezvous {
        world: 1,
        ..rendezvous(0, 1, free_port())
    };
    if !charrnn_model::tch::Cuda::is_available() {
        let err = ProcessGroup::join(&rv, Device::Cuda(0), Duration::from_secs(10)).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("rank 0 of 1") && text.contains("cannot use cuda:0"),
            "{text}"
        );
        assert!(!text.contains('\n'), "one line: {text}");
        // The port is free again: a CPU group of one forms on it.
        let mut g = ProcessGroup::join(&rv, Device::Cpu, Duration::from_secs(10)).unwrap();
        assert!(!g.nccl());
        g.barrier().unwrap();
        return;
    }
    let mut g = ProcessGroup::join(&rv, Device::Cuda(0), Duration::from_secs(60)).unwrap();
    assert!(g.nccl());
    let mut t = Tensor::from_slice(&[1.0f32, 2.0, 3.0]).to_device(Device::Cuda(0));
    g.all_reduce(&mut t, false).unwrap();
    g.all_reduce(&mut t, true).unwrap();
    g.broadcast(&mut t, 0).unwrap();
    assert_eq!(t.device(), Device::Cuda(0));
    assert_eq!(
        Vec::<f32>::try_from(&t.to_device(Device::Cpu)).unwrap(),
        [1.0, 2.0, 3.0]
    );
    let mut c = Tensor::from_slice(&[4.0f64]);
    g.all_reduce(&mut c, false).unwrap();
    assert_eq!(c.double_value(&[0]), 4.0);
    g.barrier().unwrap();
}

fn logits_of(model: &charrnn_model::CharRnn) -> Tensor {
    let input = Tensor::from_slice(&[3i64, 1, 4, 1, 5, 9, 2, 6]).view([2, 4]);
    model.forward(&input, None, None, false).unwrap().0
}

/// Trains the five-title corpus for `steps` steps with a global batch of 4 (4 parallel
/// streams of windows of `stateful` positions, if given), alone or as `rank` of `world`;
/// returns the final logits on a fixed input and whether the run directory was written.
fn train(
    rank_world: Option<(usize, usize, u16)>,
    steps: u64,
    stateful: Option<usize>,
) -> (Vec<f32>, bool) {
    use crate::common::{Data, config, train_config};
    use charrnn_model::{Cell, CharRnn, InputMode, Trainer};
    let data = Data::new(false);
    let model = CharRnn::new(
        &config(
            data.vocab.len(),
            Cell::Lstm,
            InputMode::Embedding { dim: 8 },
        ),
        Device::Cpu,
        3,
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let cfg = charrnn_model::TrainConfig {
        batch_size: 4,
        stateful,
        ..train_config(steps)
    };
    let mut trainer = Trainer::new(model, cfg, &run).unwrap();
    if let Some((rank, world, port)) = rank_world {
        let group = ProcessGroup::join(
            &rendezvous(rank, world, port),
            Device::Cpu,
            Duration::from_secs(60),
        )
        .unwrap();
        trainer.join_group(group, 42).unwrap();
    }
    trainer.fit(&data.borrow(), &mut ()).unwrap();
    let logits = Vec::<f32>::try_from(logits_of(trainer.model()).flatten(0, -1)).unwrap();
    (logits, run.join("last").is_dir())
}

/// 2 ranks × half the batch give, on both ranks, the parameters one process reaches with the
/// whole batch: the epochs of 4 + 1 titles include a last batch of which rank 0 has no row.
#[test]
fn two_ranks_with_half_batches_train_as_one_process_with_the_whole() {
    if !c10d() {
        return;
    }
    // Per-text batches, and stateful training where each rank keeps two of the four
    // streams (and their recurrent state) from window to window.
    for stateful in [None, Some(7)] {
        let (alone, wrote) = train(None, 20, stateful);
        assert!(wrote);
        let results = on_two_ranks(|rank, port| train(Some((rank, 2, port)), 20, stateful));
        assert_eq!(results[0].0, results[1].0, "the ranks' parameters differ");
        // Gradients summed over two ranks are added in another order than over one batch:
        // after 20 steps, logits of about 0.5 differ by 1e-5 on an AVX2 CPU. A wrong average
        // or a dropped row moves them by 1e-2 and more.
        for (a, b) in alone.iter().zip(&results[0].0) {
            assert!((a - b).abs() < 1e-4, "{stateful:?}: {a} vs {b}");
        }
        assert!(results[0].1, "rank 0 writes the run");
        assert!(!results[1].1, "rank 1 writes nothing");
    }
}

#[test]
fn ranks_that_train_different_things_all_stop_with_an_error() {
    if !c10d() {
        return;
    }
    use crate::common::{Data, config, train_config};
    use charrnn_model::{Cell, CharRnn, InputMode, Trainer};
    let errors = on_two_ranks(|rank, port| {
        let data = Data::new(false);
        let cfg = config(
            data.vocab.len(),
            Cell::Lstm,
            InputMode::Embedding { dim: 8 },
        );
        let model = CharRnn::new(&cfg, Device::Cpu, 3).unwrap();
        let dir = tempfile::tempdir().unwrap();
        // Rank 1 asks for another learning rate.
        let tc = charrnn_model::TrainConfig {
            learning_rate: if rank == 0 { 0.01 } else { 0.02 },
            ..train_config(5)
        };
        let mut trainer = Trainer::new(model, tc, dir.path()).unwrap();
        let group = join_two(rank, port);
        trainer.join_group(group, 42).unwrap_err()
    });
    for err in errors {
        assert!(matches!(err, ModelError::Distributed(_)), "{err}");
        assert!(err.to_string().contains("1 rank(s)"), "{err}");
    }
}

/// A rank that goes away (its group dropped, as when its process is killed) makes the next
/// collective of the other fail with an error naming it, not hang.
#[test]
fn a_rank_that_goes_away_fails_the_others_collective() {
    if !c10d() {
        return;
    }
    let port = free_port();
    let (left_tx, left_rx) = std::sync::mpsc::channel();
    let leaver = std::thread::spawn(move || {
        let group = join_two(1, port);
        drop(group);
        left_tx.send(()).unwrap();
    });
    let mut group = ProcessGroup::join(
        &rendezvous(0, 2, port),
        Device::Cpu,
        Duration::from_secs(20),
    )
    .unwrap();
    leaver.join().unwrap();
    left_rx.recv().unwrap();
    let mut t = Tensor::from_slice(&[1.0f32]);
    let err = group.all_reduce(&mut t, false).unwrap_err();
    assert!(matches!(err, ModelError::Distributed(_)), "{err}");
    assert!(err.to_string().contains("all-reduce on rank 0"), "{err}");
    // Its heartbeat stopped with it: the error names it.
    assert!(err.to_string().contains("rank 1 is gone"), "{err}");
}

/// Two ranks train `steps` steps into `run` (written by rank 0), from scratch or resumed from
/// it; the logits each rank ends with.
fn two_ranks(run: &std::path::Path, steps: u64, resume: bool) -> Vec<Vec<f32>> {
    use crate::common::{Data, config, train_config};
    use charrnn_model::tch::Device;
    use charrnn_model::{Cell, CharRnn, InputMode, TrainConfig, Trainer};
    on_two_ranks(|rank, port| {
        let data = Data::new(false);
        let cfg = TrainConfig {
            batch_size: 4,
            ..train_config(steps)
        };
        let mut trainer = if resume {
            Trainer::resume(run, Device::Cpu, Some(cfg)).unwrap()
        } else {
            let m = config(
                data.vocab.len(),
                Cell::Lstm,
                InputMode::Embedding { dim: 8 },
            );
            Trainer::new(CharRnn::new(&m, Device::Cpu, 3).unwrap(), cfg, run).unwrap()
        };
        trainer.join_group(join_two(rank, port), 42).unwrap();
        trainer.fit(&data.borrow(), &mut ()).unwrap();
        Vec::<f32>::try_from(logits_of(trainer.model()).flatten(0, -1)).unwrap()
    })
}

/// A 2-rank run stopped after 6 steps and resumed at 2 ranks ends where an uninterrupted one
/// does.
#[test]
fn a_two_rank_run_resumes_exactly() {
    if !c10d() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let whole = two_ranks(&dir.path().join("whole"), 12, false);
    let parts = dir.path().join("parts");
    two_ranks(&parts, 6, false);
    let resumed = two_ranks(&parts, 12, true);
    assert_eq!(resumed[0], resumed[1], "the ranks agree");
    for (a, b) in whole[0].iter().zip(&resumed[0]) {
        assert!((a - b).abs() < 1e-6, "{a} vs {b}");
    }
}
