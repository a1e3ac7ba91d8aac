#!/usr/bin/env bash
# Profile the Keras zoo on a GPU machine with Keras 3 on JAX, writing the profile to $OUT.
#
# The GPU machine (see the device tool's README) has Python 3.12 with JAX, but no Keras and nothing
# can be downloaded there, so Keras and the two packages it needs that the image lacks (namex,
# optree) travel as wheels in .whl/ (ignored by git through .git/info/exclude).
#
#   1. Here, on a machine that reaches PyPI, once per session:
#        bash calibrate/device_profile.sh wheels
#   2. On the GPU machine, as one device run with carry [".whl"] and timeout_s 600:
#        bash calibrate/device_profile.sh run                  # the FULL preset
#        bash calibrate/device_profile.sh run --models mlp,resnet50-imagenet --batch-sizes 32,64
#      It writes $OUT/gpu-profile.json (step times, and each configuration's measured peak GPU memory
#      where JAX can attribute it: see docs/calibration.md) and $OUT/profile.log; copy the profile to
#      calibrate/profiles/<gpu type>-jax.json (for example h200-jax.json) and commit it.
#
# Extra arguments go to `python -m calibrate.runner` (the same flags as `gpusim calibrate run`).
# The run stops after RUN_LIMIT seconds (default 540), so that the 600-second device call still
# returns the log; the profile is written only by a run that finishes.
set -euo pipefail
cd "$(dirname "$0")/.."

KERAS=3.15.1 NAMEX=0.1.0 OPTREE=0.20.0

case "${1:-}" in
wheels)
    exclude="$(git rev-parse --git-path info/exclude)"
    mkdir -p "$(dirname "$exclude")"
    grep -qx '/.whl/' "$exclude" 2>/dev/null || echo '/.whl/' >>"$exclude"
    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 --platform manylinux1_x86_64 --platform any \
        -d .whl "keras==$KERAS" "namex==$NAMEX" "optree==$OPTREE"
    ls -l .whl
    ;;
run)
    shift
    : "${OUT:?run this on the device machine, where OUT is set}"
    ls .whl/keras-*.whl .whl/namex-*.whl .whl/optree-*.whl >/dev/null  # carried? (see step 1)
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
        .whl/*.whl
    export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1 KERAS_BACKEND=jax
    {
        nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
        python3 -c 'import jax, keras; print("jax", jax.__version__, jax.devices(), "keras", keras.__version__)'
        # The runner records each configuration's peak GPU memory from these counters (calibrate/memory.py).
        python3 -c 'import jax; s = jax.devices()[0].memory_stats() or {}; print("memory counters:", sorted(k for k in s if "bytes_in_use" in k) or "none (memory will be estimated)")'
        timeout "${RUN_LIMIT:-540}" python3 -m calibrate.runner --out "$OUT/gpu-profile.json" --force "$@"
    } 2>&1 | tee "$OUT/profile.log"
    ;;
*)
    echo "usage: bash calibrate/device_profile.sh wheels | run [runner flags]" >&2
    exit 2
    ;;
esac
