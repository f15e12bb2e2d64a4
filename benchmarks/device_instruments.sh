#!/usr/bin/env bash
# One call on a lent GPU machine (KERAS_BACKEND=jax; keras and music21 carried as wheels in .whl/,
# the parse cache in .cache/): the cost of the instrument stream, then the default preset trained
# for TRAIN_MINUTES on midi_ensembles/, its music report, and one quartet generated from it.
#   run: bash benchmarks/device_instruments.sh   (carry .whl and .cache)
set -uo pipefail
OUT=${OUT:-/tmp/device-out}
mkdir -p "$OUT"
if [ -d .whl ] && [ -z "${PY:-}" ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site
fi
export KERAS_BACKEND=jax PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2
PY=${PY:-python3}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null
$PY benchmarks/run.py --only instruments --seconds "${SECONDS_PER_ROW:-10}" 2>&1 | tee "$OUT/instruments.txt"
start=$(date +%s)
$PY train.py --data midi_ensembles --batch-size 256 --max-minutes "${TRAIN_MINUTES:-3}" --epochs 1000 --run-name gpu \
    --weights-dir /tmp/w --verbose 2 2>&1 | tee "$OUT/train.txt" | grep -v "^Epoch\|step -" | tail -8
echo "train.py wall: $(( $(date +%s) - start )) s"
$PY -m lstm_music.evaluate --checkpoint /tmp/w/gpu --data midi_ensembles --generate 10 --length 500 \
    --json "$OUT/evaluate.json" 2>&1 | tee "$OUT/evaluate.txt" | tail -40
$PY generate_music.py --checkpoint /tmp/w/gpu --out "$OUT/quartet.mid" --seed 0 --png 2>&1 | tail -3
