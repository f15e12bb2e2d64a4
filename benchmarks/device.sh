#!/usr/bin/env bash
# One call on a lent GPU machine (KERAS_BACKEND=jax; keras, music21 and mido carried as wheels in .whl/
# with the packages they need that the machine lacks: `pip download --no-deps --python-version 3.12
# --only-binary=:all: -d .whl keras music21 mido optree namex jsonpickle webcolors chardet more-itertools`;
# the parse cache in .cache/): training and sampling speed, then the default preset trained for
# TRAIN_MINUTES on midi_songs/, scored on its held-out pieces, and one piece generated from it.
#   run: bash benchmarks/device.sh   (carry .whl and .cache; SECONDS_PER_ROW, TRAIN_MINUTES to shorten)
#   PART=instruments bash benchmarks/device.sh: the cost of the instrument stream and a short run on
#   midi_ensembles/ instead
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
$PY -c "import jax, keras; print('jax', jax.__version__, jax.devices(), 'keras', keras.__version__)"
if [ "${PART:-}" = instruments ]; then  # the cost of the instrument stream, and a short run on midi_ensembles/
    $PY benchmarks/run.py --only instruments --seconds "${SECONDS_PER_ROW:-10}" 2>&1 | tee "$OUT/instruments.txt"
    $PY train.py --data midi_ensembles --batch-size 256 --max-minutes "${TRAIN_MINUTES:-3}" --epochs 1000 \
        --run-name gpu --weights-dir /tmp/w --progress 2 2>&1 | tee "$OUT/train.txt" | grep -v "^Epoch\|step -" | tail -8
    $PY -m lstm_music.evaluate --checkpoint /tmp/w/gpu --data midi_ensembles --generate 10 --length 500 \
        --json "$OUT/evaluate.json" 2>&1 | tee "$OUT/evaluate.txt" | tail -40
    $PY generate_music.py --checkpoint /tmp/w/gpu --out "$OUT/quartet.mid" --seed 0 --png 2>&1 | tail -3
    exit 0
fi
$PY benchmarks/run.py --only training --seconds "${SECONDS_PER_ROW:-8}" 2>&1 | tee "$OUT/training.txt"
[ -n "${ONLY_TRAINING:-}" ] && exit 0
$PY benchmarks/run.py --only sampling 2>&1 | tee "$OUT/sampling.txt"
start=$(date +%s)
$PY train.py --max-minutes "${TRAIN_MINUTES:-2}" --epochs 1000 --run-name device --weights-dir /tmp/w 2>&1 \
    | tee "$OUT/train.txt" | grep -v "^Epoch\|step -" | tail -25
echo "train.py wall: $(( $(date +%s) - start )) s"
$PY -m lstm_music.evaluate --checkpoint /tmp/w/device --data midi_songs --json "$OUT/evaluate.json" 2>&1 \
    | tee "$OUT/evaluate.txt" | tail -30
start=$(date +%s)
$PY generate_music.py --checkpoint /tmp/w/device --out "$OUT/device.mid" --seed 0 2>&1 | tail -3
echo "generate_music.py wall: $(( $(date +%s) - start )) s"
