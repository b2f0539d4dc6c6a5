#!/bin/bash
# The README's "your own documents in five commands" on the built-in sample, timed:
#   scripts/five_commands.sh [WORKDIR]     (default /tmp/ragft-five; prints one line per command)
# Users' votes and edits are stood in for by six edits imported from a file: answers corrected to
# invented facts, with held-out paraphrases to decide the promotion on (as tests/test_improve.py).
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-/tmp/ragft-five}
WS=$WORK/ws
RAGFT=.venv/bin/ragft
rm -rf "$WORK" && mkdir -p "$WORK"
.venv/bin/python - "$WORK" <<'PY'
import json, sys
sys.path.insert(0, "tests")
from test_improve import FACTS
work = sys.argv[1]
with open(f"{work}/edits.jsonl", "w") as out:
    for question, answer, _ in FACTS:
        out.write(json.dumps({"question": question, "answer": "I am not sure, sorry.", "corrected_answer": answer}) + "\n")
with open(f"{work}/held-out.jsonl", "w") as out:
    for _, answer, paraphrase in FACTS:
        out.write(json.dumps({"question": paraphrase, "answer": answer}) + "\n")
PY
timed() {
  local label=$1; shift
  local start=$(date +%s.%N)
  "$@" > "$WORK/$label.out" 2>&1
  printf '%-9s %6.1f s   %s\n' "$label" "$(echo "$(date +%s.%N) - $start" | bc)" "$*"
}
timed ingest   $RAGFT ingest builtin:sample -w "$WS" --chunker recursive --chunk-size 800
timed study    $RAGFT study configs/sample.yaml -w "$WS"
timed deploy   $RAGFT deploy "$WS/runs/sample" -w "$WS"
timed ask      $RAGFT ask "How many days of annual leave does a shore-based employee get?" -w "$WS"
timed feedback $RAGFT feedback import "$WORK/edits.jsonl" -w "$WS"
timed improve  $RAGFT improve -w "$WS" --test "$WORK/held-out.jsonl" --method sft --max-steps 12 --lr 3e-3 \
                 --batch-size 6 --max-length 128 --max-new-tokens 16
grep -h "recommended\|Inconclusive\|promoted\|rejected" "$WORK/study.out" "$WORK/improve.out" | head -4
