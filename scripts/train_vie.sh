#!/usr/bin/env bash
# Rebuild pipeline/ocr/data/sohoa_vie.traineddata: today's `vie` (tessdata_fast, Lfx192)
# fine-tuned on Vietnamese administrative text lines rendered, damaged and enlarged the
# way the pipeline hands office copies to Tesseract (scripts/training/render.py).
#
#   scripts/train_vie.sh [WORK_DIR]        # default /tmp/sohoa-train
#
# Needs: tesseract's training tools (Debian tesseract-ocr: lstmtraining, combine_tessdata),
# the fonts fonts-texgyre, fonts-liberation2, fonts-noto-core, fonts-dejavu-core and
# fonts-freefont-ttf (held out), and shared/data (SOHOA_SHARED_DATA, else found above the
# checkout). Runs niced, one thread: about an hour on a shared 2-core machine. Same
# inputs, same lines and images (seeded); lstmtraining itself is single-threaded here.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="${1:-/tmp/sohoa-train}"
PY="${PYTHON:-/work/main/.venv/bin/python}"
DATA="${SOHOA_SHARED_DATA:-}"
if [[ -z "$DATA" ]]; then
  for dir in "$ROOT"/.. "$ROOT"/../.. "$ROOT"/../../..; do
    [[ -d "$dir/shared/data" ]] && DATA="$(cd "$dir/shared/data" && pwd)" && break
  done
fi
BASE="$DATA/tesseract-models/vie_fast_float.traineddata"
OUT="$ROOT/pipeline/ocr/data/sohoa_vie.traineddata"
TRAIN_LINES="${TRAIN_LINES:-4000}"
EVAL_LINES="${EVAL_LINES:-640}"
ITERATIONS="${ITERATIONS:-6000}"
export OMP_THREAD_LIMIT=1 PYTHONPATH="$ROOT" SOHOA_SHARED_DATA="$DATA"
NICE=(nice -n 19 ionice -c3)

mkdir -p "$WORK/ckpt"
combine_tessdata -u "$BASE" "$WORK/base." >/dev/null
if [[ ! -s "$WORK/set/train.list" ]]; then
  "${NICE[@]}" "$PY" "$ROOT/scripts/training/make_set.py" --out "$WORK/set" \
    --train "$TRAIN_LINES" --eval "$EVAL_LINES" --jobs 2 --base "$WORK/base.lstm-unicharset"
fi
# Held-out lines: the even blocks of 16 watch the training, the odd ones are the report.
awk 'int((NR-1)/16)%2==0' "$WORK/set/eval.list" >"$WORK/set/watch.list"
awk 'int((NR-1)/16)%2==1' "$WORK/set/eval.list" >"$WORK/set/report.list"

"${NICE[@]}" lstmtraining \
  --continue_from "$WORK/base.lstm" --traineddata "$BASE" \
  --model_output "$WORK/ckpt/sohoa" \
  --train_listfile "$WORK/set/train.list" --eval_listfile "$WORK/set/watch.list" \
  --max_iterations "$ITERATIONS" --debug_interval 0 2>&1 | tee "$WORK/train.log" | grep -E "^At iteration|Eval|Finished" || true

"${NICE[@]}" lstmtraining --stop_training --convert_to_int \
  --continue_from "$WORK/ckpt/sohoa_checkpoint" --traineddata "$BASE" \
  --model_output "$OUT"
echo "wrote $OUT ($(stat -c %s "$OUT") bytes)"

"${NICE[@]}" "$PY" "$ROOT/scripts/training/evaluate.py" --set "$WORK/set" --list "$WORK/set/report.list" \
  --model "vie=$("$PY" -c 'from pipeline.ocr import tessdata; print(tessdata.find("vie.traineddata"))')/vie.traineddata" \
  --model "sohoa_vie=$OUT"
