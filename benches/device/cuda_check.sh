#!/usr/bin/env bash
# The checks that need a CUDA GPU, as one script for a borrowed GPU machine, which has Python's
# torch 2.11.0 but no cargo. Two halves:
#
#   benches/device/cuda_check.sh prepare [MIRROR]
#       here, with cargo: builds the release `charrnn`, `xtask` and the model crate's test
#       binary, strips them into .device/bin (git-ignored), and copies the AG News Parquet files and the mirror's CSV
#       files (default ../shared/data/ag_news) into .device/ag_news: about 40 MB to carry.
#   benches/device/cuda_check.sh run OUT [DEVICE] [--quick]
#       there, from the repository root, with `.device` carried: each check in turn, its output
#       under OUT (default device cuda; --quick for a trial of the plumbing on the CPU):
#       1. data-parallel smoke: a group of one on the device, whose note must name NCCL on CUDA;
#       2. `xtask bench --dist`: the group of one against none (issue 16's overhead figure);
#       3. `xtask bench` against the PyTorch reference, 1,024 samples (issue 14's six targets);
#       4. `charrnn experiment --preset gpu` (issue 14's test bpc and its time);
#       5. the model crate's CUDA tests (CUDA against the CPU, mixed precision, NCCL);
#       6. mixed precision: the gpu preset's model for a few hundred steps in fp32 and in bf16,
#          the two done lines side by side (speed and validation bpc).
#
# Every check runs even when an earlier one failed; the script exits 1 if any did.
set -u

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

prepare() {
    local mirror=${1:-../shared/data/ag_news}
    cargo build --release --workspace --bins || exit 1
    cargo build --release --package xtask || exit 1
    local tests
    tests=$(cargo test --release --workspace --test model --no-run --message-format json |
        python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "model" and m.get("executable"):
        print(m["executable"])') || exit 1
    mkdir -p .device/bin .device/ag_news
    cp target/release/charrnn target/release/xtask .device/bin/
    cp "$tests" .device/bin/model-tests
    strip .device/bin/charrnn .device/bin/xtask .device/bin/model-tests
    CHARRNN_BIN=$root/target/release/charrnn target/release/xtask fetch --mirror "$mirror" || exit 1
    cp data/ag_news/*.parquet data/ag_news/SOURCE.json .device/ag_news/
    cp "$mirror"/train.csv "$mirror"/test.csv .device/ag_news/
    du -sh .device
}

run() {
    local out=${1:?run OUT [DEVICE] [--quick]} device=${2:-cuda} quick=${3:-}
    mkdir -p "$out"
    local bin=$root/.device/bin data=$root/.device/ag_news failed=0
    export CHARRNN_BIN=$bin/charrnn
    if [ "$device" != cpu ]; then
        local torch_lib
        torch_lib=$(python3 -c 'import torch, os; print(os.path.dirname(torch.__file__))')/lib
        export LD_LIBRARY_PATH=$torch_lib:${LD_LIBRARY_PATH:-}
    fi
    step() { echo "== $1 ($(date +%T))"; }
    check() { # NAME COMMAND...: runs it, keeps its output, notes a failure
        local name=$1
        shift
        step "$name"
        local t0=$SECONDS
        "$@" >"$out/$name.out" 2>"$out/$name.err"
        local rc=$?
        echo "   exit $rc after $((SECONDS - t0)) s"
        tail -n 25 "$out/$name.out"
        tail -n 5 "$out/$name.err"
        [ $rc -eq 0 ] || failed=1
    }
    local steps=500 exp_steps=() bench_quick=()
    if [ "$quick" = --quick ]; then
        steps=20
        exp_steps=(--max-steps 20 --samples 1)
        bench_quick=(--quick)
    fi

    check smoke "$bin/charrnn" train --train "$data/train.parquet" --column title \
        --out "$out/smoke" --device "$device" --nproc 1 --max-steps "$steps" --batch-size 256
    if [ "$device" != cpu ] && ! grep -q "summed over NCCL" "$out/smoke.err"; then
        echo "   the group did not use NCCL"
        failed=1
    fi
    check dist "$bin/xtask" bench --dist --device "$device" --data "$data" --out "$out/bench" \
        --dist-steps "$steps"
    check bench "$bin/xtask" bench --device "$device" --data "$data" --out "$out/bench" \
        --gen-samples 1024 "${bench_quick[@]}"
    check gpu-preset "$bin/charrnn" experiment --preset gpu --device "$device" --data "$data" \
        --out "$out/experiments" --json "${exp_steps[@]}"
    check model-tests "$bin/model-tests" cuda --test-threads 1
    local p
    for p in fp32 bf16; do
        check "precision-$p" "$bin/charrnn" train --train "$data/train.parquet" \
            --valid "$data/test.parquet" --column title --out "$out/precision-$p" \
            --device "$device" --preset gpu --max-steps "$steps" --eval-every "$steps" \
            --precision "$p" --json --quiet
    done
    return $failed
}

case ${1:-} in
prepare) shift; prepare "$@" ;;
run) shift; run "$@" ;;
*) echo "usage: $0 prepare [MIRROR] | run OUT [DEVICE] [--quick]" >&2; exit 2 ;;
esac
