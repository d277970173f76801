//! The foundation's smoke test: libtorch links, runs on the CPU and gives finite gradients.
use tch::{Device, Kind, Tensor, nn, nn::RNN};

#[test]
fn tiny_lstm_forward_backward_on_cpu() {
    tch::manual_seed(0);
    let vs = nn::VarStore::new(Device::Cpu);
    let (batch, steps, input, hidden) = (3, 5, 4, 8);
    let lstm = nn::lstm(vs.root() / "lstm", input, hidden, Default::default());
    let xs = Tensor::randn([batch, steps, input], (Kind::Float, Device::Cpu));
    let (out, _) = lstm.seq(&xs);
    assert_eq!(out.size(), vec![batch, steps, hidden]);
    let loss = out.square().mean(Kind::Float);
    loss.backward();
    let vars = vs.trainable_variables();
    assert!(!vars.is_empty());
    for var in vars {
        let grad = var.grad();
        assert!(grad.defined(), "a parameter got no gradient");
        assert!(
            bool::try_from(grad.isfinite().all()).unwrap(),
            "non-finite gradient"
        );
    }
    assert!(grad_norm_is_positive(&lstm_params(&vs)));
}

fn lstm_params(vs: &nn::VarStore) -> Vec<Tensor> {
    vs.trainable_variables()
}

fn grad_norm_is_positive(params: &[Tensor]) -> bool {
    params
        .iter()
        .map(|p| p.grad().square().sum(Kind::Float).double_value(&[]))
        .sum::<f64>()
        > 0.0
}

#[test]
fn cuda_availability_is_reported() {
    // On a CUDA machine this must be true: the binary links libtorch_cuda. Here it only runs.
    let n = tch::Cuda::device_count();
    assert_eq!(tch::Cuda::is_available(), n > 0);
}
