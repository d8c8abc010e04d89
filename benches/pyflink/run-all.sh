#!/usr/bin/env bash
# Runs the PyFlink side of udfbox's streaming-latency comparison:
# {process, thread} x {bundle.size=1, defaults} x {1, 1000, 50000} events/s,
# plus no-UDF baselines per rate (source + parse + print sink alone),
# and prints one Markdown table. See README.md for what the columns mean.
#
# Installs apache-flink into $VENV when it is missing (~850 MB, ~1-2 min).
# Needs python3 with venv (tested: 3.11) and java on PATH (tested: 17;
# Flink 2.x also runs on 11 and 21).
#
# Event counts can be lowered and rates picked for a quick check, e.g.
#   EVENTS_1=5 EVENTS_1000=2000 EVENTS_50000=5000 ./run-all.sh
#   RATES=1000 ./run-all.sh
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
# Its own venv (PyFlink pins its own pandas, pyarrow and Beam), beside the project's `.venv`.
VENV="${VENV:-$here/../../.venv-pyflink}"
FLINK_VERSION="${FLINK_VERSION:-2.3.0}"
EVENTS_1="${EVENTS_1:-20}"
EVENTS_1000="${EVENTS_1000:-5000}"
EVENTS_50000="${EVENTS_50000:-20000}"
RATES="${RATES:-1 1000 50000}"

if ! "$VENV/bin/python" -c "import pyflink.version as v; assert v.__version__ == '$FLINK_VERSION'" 2>/dev/null; then
    echo "installing apache-flink==$FLINK_VERSION into $VENV ..." >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet "apache-flink==$FLINK_VERSION"
fi
command -v java >/dev/null || { echo "java not found (PyFlink needs a JRE 11 or 17)" >&2; exit 1; }

py="$VENV/bin/python"
bench="$here/stream_latency.py"

"$py" "$bench" --header
for rate in $RATES; do
    case $rate in
        1) events=$EVENTS_1 ;;
        1000) events=$EVENTS_1000 ;;
        50000) events=$EVENTS_50000 ;;
        *) events=${EVENTS:-2000} ;;
    esac
    # Baselines without the Python UDF: what source, JSON parse, print sink
    # and harness cost by themselves (regex = cheaper parse, see README).
    # A failing configuration prints its error to stderr and the table goes on.
    for parse in json regex; do
        "$py" "$bench" --no-udf --parse "$parse" --rate "$rate" --events "$events" \
            || echo "| no-udf/$parse | - | $rate | FAILED (exit $?) | | | | | |"
    done
    for mode in process thread; do
        for bundle in --bundle-size-one --defaults; do
            "$py" "$bench" --mode "$mode" "$bundle" --rate "$rate" --events "$events" \
                || echo "| $mode | $bundle | $rate | FAILED (exit $?) | | | | | |"
        done
    done
done
