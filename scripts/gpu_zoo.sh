#!/usr/bin/env bash
# Train the zoo with the gpu recipe of scripts/train_zoo.py on one GPU within a time budget, then pack
# what comes back: the shipped (fp16) checkpoints with their manifest, the logs and learning curves.
#
#   scripts/gpu_zoo.sh OUT [BUDGET_SECONDS] [JOBS]      (photos in $SEMCOM_PHOTOS; RECIPE=tiny to try it on a CPU)
#
# OUT receives driver.log, gpu.txt, logs.tgz (logs, curves, plan, summary, GPU load) and pub.tar.* (the fp16
# checkpoints, split in 15 MB parts: cat pub.tar.* | tar x).  Unpack here, then copy the chosen files into
# semcom/zoo/checkpoints and their entries into semcom/zoo/manifest.json (docs/training.md).
set -u
out=${1:?usage: scripts/gpu_zoo.sh OUT [BUDGET_SECONDS] [JOBS]}
budget=${2:-400}
jobs=${3:-ev-jscc-cbr1-48-adaptive,ev-jscc-cbr1-96-adaptive,deepjscc-deblur-cbr1-48-adaptive,deepjscc-deblur-cbr1-96-adaptive,deepjscc-cbr1-48-adaptive,deepjscc-cbr1-96-adaptive,sp-jscc-cbr1-48-adaptive,edi-tx-deepjscc-cbr1-48-adaptive,edi-tx-deepjscc-cbr1-96-adaptive}
work=${WORK:-/tmp/semcom-gpu-zoo}
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1 SEMCOM_CACHE=$work/cache
py=$(command -v python3 || command -v python)
mkdir -p "$out" "$work/zoo"
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
  "$py" -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name() if torch.cuda.is_available() else 'no cuda')"
  nproc --all; } > "$out/gpu.txt" 2>&1
nvidia-smi dmon -s u -d 5 > "$work/zoo/dmon.txt" 2>&1 &
dmon=$!
timeout $((budget * 11 / 10 + 60)) "$py" scripts/train_zoo.py --recipe "${RECIPE:-gpu}" --out "$work/zoo" \
    --budget "$budget" --only "$jobs" --publish "$work/pub" 2>&1 | tee "$out/driver.log"
kill $dmon 2>/dev/null
tar czf "$out/logs.tgz" -C "$work" --exclude='*.ckpt' zoo
tar cf - -C "$work" pub | split -b 15m - "$out/pub.tar."
ls -l "$out"
