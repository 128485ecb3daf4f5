#!/usr/bin/env bash
# gpu-check.sh - everything the frameworks issue wants measured on a real GPU, in one go.
# NOT RUN YET: no GPU machine has been lent to this project since it was written.
#
#   scripts/gpu-check.sh prepare   on a machine with PyPI: the few wheels the GPU machine lacks
#                                  (rich, nvidia-ml-py) into .test-cache/gpu-wheels/ (~4 MB)
#   scripts/gpu-check.sh           on the GPU machine, in the repository root; writes to $OUT
#
# With the device tool: run(command="bash scripts/gpu-check.sh", carry=[".test-cache/gpu-wheels"],
# timeout_s=540). It needs a Python with a CUDA PyTorch (JLC_GPU_PYTHON, default python3), and
# uses TensorFlow, nbconvert and ipykernel where that Python has them. No Docker, no registry,
# no network: the benchmark and the start-up file are the very files the labs run.
#
# What lands in $OUT:
#   env.txt                     nvidia-smi -L, driver, PCIe, torch/CUDA/cuDNN versions
#   startup-tf32-{1,0}.json     the kernel start-up file with JLC_TF32=1 and 0: every PyTorch
#                               reader, warnings seen, then a user's later fp32_precision change;
#                               TF32 proven on or off by matmul and conv error against float64
#   dmon-um-idle.txt, dmon-u-idle.txt   raw `nvidia-smi dmon` headers and rows (a new fixture
#                               for tests/data/dmon/: the `-s um` header was never captured)
#   bench.json, bench.txt       `python -m jlcompose.gpu.bench --json --startup ...`, full sizes
#   dmon-um-bench.txt           dmon -s um during the benchmark
#   monitor.json                `jlcompose monitor --count 5 --json` during the benchmark
#   bench-tf.json               TensorFlow's half (and memory growth), where TensorFlow sees the GPU
#   example.ipynb, example.txt  examples/lstm/lstm_comparison.ipynb at full size, where nbconvert is
#   checks.txt                  one PASS/FAIL/SKIP line per check, for the session to read first
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
WHEELS="${JLC_GPU_WHEELS:-$REPO/.test-cache/gpu-wheels}"

if [ "${1:-}" = prepare ]; then
  mkdir -p "$WHEELS"
  python3 -m pip download --quiet --disable-pip-version-check --only-binary=:all: -d "$WHEELS" \
    rich nvidia-ml-py 2>&1 | grep -v '^WARNING: Location' || true
  ls -la "$WHEELS"; du -sh "$WHEELS"
  exit 0
fi

OUT="${OUT:-/tmp/jlc-gpu-out}"
mkdir -p "$OUT"
PY="${JLC_GPU_PYTHON:-python3}"
STARTUP="$REPO/docker_files/lab/jlcompose_startup.py"
CHECKS="$OUT/checks.txt"
: >"$CHECKS"
say() { printf '[gpu-check %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
check() { printf '%s %s\n' "$1" "$2" | tee -a "$CHECKS" >&2; }

# -- a Python that has jlcompose's few needs (rich for the CLI, pynvml for SM sampling) --------
if ! "$PY" -c 'import rich, pynvml' 2>/dev/null; then
  venv=/tmp/jlc-gpu-venv
  if "$PY" -m venv --system-site-packages "$venv" 2>/dev/null; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-index \
      --find-links "$WHEELS" rich nvidia-ml-py 2>&1 | tail -n 3 >&2 || true
    "$venv/bin/python" -c 'import torch' 2>/dev/null && PY="$venv/bin/python"
  fi
fi
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
"$PY" -c 'import rich' 2>/dev/null || check SKIP "rich missing: jlcompose monitor cannot run (scripts/gpu-check.sh prepare, then carry .test-cache/gpu-wheels)"
"$PY" -c 'import pynvml' 2>/dev/null || check INFO "pynvml missing: SM sampling falls back to nvidia-smi"

# -- the machine ---------------------------------------------------------------------------
{
  nvidia-smi -L
  nvidia-smi --query-gpu=name,driver_version,pcie.link.gen.max,pcie.link.width.max,memory.total --format=csv
  "$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version(), "gpu", torch.cuda.is_available())'
  "$PY" -c 'import tensorflow as tf; print("tensorflow", tf.__version__, tf.config.list_physical_devices("GPU"))' 2>&1 | tail -n 1
  "$PY" -c 'import nbconvert, ipykernel; print("nbconvert", nbconvert.__version__, "ipykernel", ipykernel.__version__)' 2>&1 | tail -n 1
} >"$OUT/env.txt" 2>&1
cat "$OUT/env.txt" >&2
if ! "$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  check FAIL "no CUDA PyTorch in $PY: nothing to measure"
  exit 1
fi

# -- 1. the kernel start-up file, both settings, then a user's later change -----------------
for tf32 in 1 0; do
  say "start-up file with JLC_TF32=$tf32"
  JLC_TF32=$tf32 JLC_CUDNN_BENCHMARK=1 timeout 300 "$PY" - "$STARTUP" >"$OUT/startup-tf32-$tf32.json" 2>"$OUT/startup-tf32-$tf32.err" <<'EOF'
import json, sys, warnings
caught = []
with warnings.catch_warnings(record=True) as seen:
    warnings.simplefilter("always")
    with open(sys.argv[1]) as fh:
        exec(compile(fh.read(), "jlcompose_startup.py", "exec"), {"__name__": "__main__"})
    caught = [str(w.message)[:200] for w in seen if "NumPy" not in str(w.message)]
import torch
from tests.fake_torch import every_reading
from jlcompose.gpu import bench

def error(kind):
    # relative error of fp32 work against float64: ~1e-3 with TF32, ~1e-6 without
    g = torch.Generator(device="cuda").manual_seed(0)
    if kind == "matmul":
        a = torch.randn(4096, 4096, device="cuda", generator=g)
        b = torch.randn(4096, 4096, device="cuda", generator=g)
        got, ref = a @ b, (a.double() @ b.double())
    else:
        x = torch.randn(32, 64, 56, 56, device="cuda", generator=g)
        w = torch.randn(64, 64, 3, 3, device="cuda", generator=g)
        got = torch.nn.functional.conv2d(x, w, padding=1)
        ref = torch.nn.functional.conv2d(x.double(), w.double(), padding=1)
    return float((got.double() - ref).abs().max() / ref.abs().max())

out = {"warnings": caught, "benchmark": torch.backends.cudnn.benchmark,
       "readings": every_reading(torch), "bench_reads": bench.torch_precision(torch),
       "matmul_rel_error": error("matmul"), "conv_rel_error": error("conv")}
torch.backends.cuda.matmul.fp32_precision = "ieee"  # a user's later change, new API
out["after_user_ieee"] = {"readings": every_reading(torch), "bench_reads": bench.torch_precision(torch),
                          "matmul_rel_error": error("matmul")}
print(json.dumps(out, indent=1))
EOF
  "$PY" - "$OUT/startup-tf32-$tf32.json" "$tf32" >>"$CHECKS" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1])); on = sys.argv[2] == "1"
mode = "tf32" if on else "ieee"
r = doc["readings"]
print("PASS" if not doc["warnings"] else "FAIL", f"JLC_TF32={sys.argv[2]}: start-up file silent", doc["warnings"])
print("PASS" if "raises" not in r.values() else "FAIL", f"JLC_TF32={sys.argv[2]}: every PyTorch reader answers", r)
print("PASS" if doc["bench_reads"] == {"matmul": mode, "conv": mode, "rnn": mode} else "FAIL", "precision", doc["bench_reads"])
for kind in ("matmul", "conv"):
    e = doc[f"{kind}_rel_error"]
    ok = (e > 1e-4) if on else (e < 1e-5)
    print("PASS" if ok else "FAIL", f"JLC_TF32={sys.argv[2]}: {kind} error vs float64 {e:.2e} ({'TF32' if on else 'fp32'} expected)")
later = doc["after_user_ieee"]
print("PASS" if later["bench_reads"]["matmul"] == "ieee" and later["matmul_rel_error"] < 1e-5 else "FAIL",
      "a later fp32_precision='ieee' takes effect and the bench reads it", later)
EOF
done

# -- 2. raw dmon output from a real driver -------------------------------------------------
say "dmon captures"
timeout 30 nvidia-smi dmon -s um -c 3 >"$OUT/dmon-um-idle.txt" 2>&1
timeout 30 nvidia-smi dmon -s u -c 3 >"$OUT/dmon-u-idle.txt" 2>&1
"$PY" - "$OUT/dmon-um-idle.txt" >>"$CHECKS" <<'EOF'
import sys
from jlcompose.gpu.dmon import parse_dmon
samples = parse_dmon(open(sys.argv[1]).read())
ok = samples and all(s.sm is not None and s.fb_used_mib is not None for s in samples)
print("PASS" if ok else "FAIL", "dmon -s um parses by its header (sm and fb found)", samples[:2])
EOF

# -- 3. the benchmark at full size, with dmon and monitor watching --------------------------
say "benchmark (PyTorch; TensorFlow where it sees the GPU)"
timeout 200 nvidia-smi dmon -s um -d 1 -c 150 >"$OUT/dmon-um-bench.txt" 2>&1 &
dmon_pid=$!
timeout 420 "$PY" -m jlcompose.gpu.bench --json --only torch --startup "$STARTUP" \
  >"$OUT/bench.json" 2>"$OUT/bench.log" &
bench_pid=$!
sleep 25  # into the matmul and LSTM rows
timeout 60 "$PY" -m jlcompose monitor --count 5 --json >"$OUT/monitor.json" 2>"$OUT/monitor.err"
wait "$bench_pid"; bench_rc=$?
kill "$dmon_pid" 2>/dev/null; wait "$dmon_pid" 2>/dev/null
[ $bench_rc = 0 ] && check PASS "bench ran (exit 0)" || check FAIL "bench exit $bench_rc (bench.log)"
if "$PY" -c 'import tensorflow as tf, sys; sys.exit(0 if tf.config.list_physical_devices("GPU") else 1)' 2>/dev/null; then
  timeout 400 "$PY" -m jlcompose.gpu.bench --json --only tf --startup "$STARTUP" >"$OUT/bench-tf.json" 2>"$OUT/bench-tf.log" \
    && check PASS "TensorFlow bench ran" || check FAIL "TensorFlow bench failed (bench-tf.log)"
  for growth in true false; do  # the labs set TF_FORCE_GPU_ALLOW_GROWTH=true: memory as needed
    TF_FORCE_GPU_ALLOW_GROWTH=$growth TF_CPP_MIN_LOG_LEVEL=2 timeout 120 "$PY" - "$growth" >>"$CHECKS" 2>/dev/null <<'EOF'
import os, subprocess, sys
import tensorflow as tf
tf.ones([1024]).numpy()
query = ["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"]
used = {int(p): float(m) for p, m in (l.split(",") for l in subprocess.run(query, capture_output=True, text=True).stdout.splitlines() if l.strip())}
mine = used.get(os.getpid())
ok = mine is not None and ((mine < 4096) if sys.argv[1] == "true" else (mine > 16384))
print("PASS" if ok else "FAIL", f"TF_FORCE_GPU_ALLOW_GROWTH={sys.argv[1]}: TensorFlow holds {mine} MiB after one small op")
EOF
  done
else
  check SKIP "TensorFlow with a GPU is not installed here: the TensorFlow GPU rows stay unmeasured"
fi
"$PY" - "$OUT" >"$OUT/bench.txt" 2>>"$CHECKS" <<'EOF'
import json, pathlib, sys
from jlcompose.gpu import bench, report
out = pathlib.Path(sys.argv[1])
runs = [(p.stem, json.loads(p.read_text())) for p in (out / "bench.json", out / "bench-tf.json") if p.exists() and p.stat().st_size]
for where, result in runs:
    print(bench.format_text(result))
header, rows = report.side_by_side(report.columns(runs))
print(" | ".join(header))
for row in rows:
    print(" | ".join(row))
for label, fw in report.columns(runs):
    for what, factor in report.speedups(fw):
        print(f"{label}: {what}: {factor}")
    for r in fw["rows"]:
        # the defect the issue named: a copy row far above PCIe (Gen5 x16 ~ 64 GB/s) moved nothing
        if r["name"].startswith(("h2d", "d2h")) and r["value"]:
            verdict = "PASS" if r["value"] < 80 else "FAIL"
            print(f"{verdict} {label} {r['name']} {r['value']:.1f} GB/s is a PCIe figure", file=sys.stderr)
        if r["sm_util"] is not None:
            print(f"INFO {label} {r['name']} SM {r['sm_util']:.0f} % from {r['sm_samples']} readings", file=sys.stderr)
EOF
cat "$OUT/bench.txt" >&2
"$PY" - "$OUT/monitor.json" "$OUT/dmon-um-bench.txt" >>"$CHECKS" <<'EOF'
import json, sys
from jlcompose.gpu.dmon import parse_dmon, summarize
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
summary = lines[-1].get("summary") if lines else None
print("PASS" if summary else "FAIL", "monitor --count 5 --json during the bench", summary)
print("INFO dmon during the bench:", [s.to_json() for s in summarize(parse_dmon(open(sys.argv[2]).read()))])
EOF

# -- 4. the example notebook at full size ---------------------------------------------------
if "$PY" -c 'import nbconvert, ipykernel' 2>/dev/null; then
  say "example notebook (full sizes)"
  rm -f examples/lstm/results/lstm-*.json
  if (cd examples/lstm && timeout 400 "$PY" -m jupyter nbconvert --to notebook --execute \
      --ExecutePreprocessor.timeout=380 lstm_comparison.ipynb --output-dir "$OUT" --output example) \
      >"$OUT/example.log" 2>&1; then
    "$PY" -c 'import json,sys; nb=json.load(open(sys.argv[1])); print("".join("".join(o.get("text","")) for o in nb["cells"][-2]["outputs"]))' \
      "$OUT/example.ipynb" >"$OUT/example.txt"
    cp examples/lstm/results/*.json examples/lstm/results/*.png "$OUT/" 2>/dev/null
    check PASS "example notebook ran (example.txt)"
  else
    check FAIL "example notebook failed (example.log)"
  fi
else
  check SKIP "nbconvert/ipykernel not installed here: the example notebook did not run on the GPU"
fi
say "done: $OUT"
cat "$CHECKS" >&2
