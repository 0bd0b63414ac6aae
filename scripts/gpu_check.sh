#!/usr/bin/env bash
# The Unsloth path measured on a lent GPU in one command: unpack the carried kit, then run scripts/gpu_check.py's
# steps in order of value, each within its time budget, writing report.txt, finished.txt, log.txt and the figures
# (JSON) into OUT_DIR.
#
#   scripts/gpu_check.sh "$OUT"                                   # on the GPU machine (carry: [".gpukit"])
#   scripts/gpu_check.sh "$OUT" --resume .gpucheck/finished.txt --budget 300   # a second, shorter command
#   scripts/gpu_check.sh /tmp/check --smoke                       # the dry run on a CPU (tests/test_gpu_check.py)
#
# The kit is ../shared/gpu-kit/build.sh's .gpukit/site.tar.gz (see its README); without it the packages of the
# current environment are used. PYTHON names the interpreter (default python3, the GPU machine's).
set -uo pipefail
out=${1:?usage: scripts/gpu_check.sh OUT_DIR [--smoke] [--resume FILE] [--budget SECONDS] [--budgets STEP=S,...]}
shift
mkdir -p "$out" || exit 1
out=$(cd "$out" && pwd)
cd "$(dirname "$0")/.." || exit 1
started=$(date +%s)
if [ -f .gpukit/site.tar.gz ]; then
  mkdir -p /tmp/site && tar -xzf .gpukit/site.tar.gz -C /tmp/site || { echo "gpu_check: the kit does not unpack"; exit 1; }
  export PYTHONPATH=/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}
  kit="carried kit .gpukit/site.tar.gz, unpacked into /tmp/site in $(( $(date +%s) - started )) s"
else
  export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
  kit="no kit carried (.gpukit/site.tar.gz absent): this environment's own packages"
fi
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec "${PYTHON:-python3}" scripts/gpu_check.py "$out" --kit "$kit" --started "$started" "$@"
