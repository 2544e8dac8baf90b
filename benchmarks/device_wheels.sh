#!/usr/bin/env bash
# Download the wheels that benchmarks/device_checks.sh installs on the GPU machine, which
# cannot reach the package registry: Python 3.12 x86-64 builds of benchmarks/device_wheels.txt
# into .whl/ (git-ignored; the device tool carries it when asked: carry [".whl"]).
# xgboost is taken as its 4.5 MB CPU-only manylinux2014 build (the manylinux_2_28 one is 224 MB;
# synthcity only imports it). A package with no wheel (autograd-gamma) is built here; it is
# pure Python. Usage, from the repository root: bash benchmarks/device_wheels.sh
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf .whl && mkdir .whl
platforms=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64)
grep -v '^#' benchmarks/device_wheels.txt | grep . | while read -r req; do
    case "$req" in
        xgboost==*) only=(--platform manylinux2014_x86_64) ;;
        *) only=("${platforms[@]}") ;;
    esac
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp "${only[@]}" -d .whl "$req" 2>/dev/null \
        || python3 -m pip wheel -q --no-deps -w .whl "$req"
done
# a fallback build that compiled is tagged linux_x86_64 (this machine's Python): it cannot travel
if ls .whl | grep -e '-linux_x86_64\.whl$'; then
    echo "error: the wheels above were compiled here; find a Python 3.12 manylinux wheel" >&2
    exit 1
fi
echo "$(ls .whl | wc -l) wheels, $(du -sh .whl | cut -f1) in .whl/"
