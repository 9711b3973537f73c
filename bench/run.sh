#!/usr/bin/env bash
# The benchmark, in one command (see README.md, "Benchmark"):
#
#   bench/run.sh            full run (~26 minutes on 2 cores): 3 repetitions of every scenario
#   bench/run.sh --quick    smoke test (~2 minutes): small sizes, one repetition
#
# Builds the gateway in Release, installs the reference server @localfirst/relay 4.2.2 and ws for the
# Node pipe driver bench/pipe-driver.mjs (pinned by bench/package-lock.json), socat, gnuplot and redis-server when
# missing, then runs bench/Relay.Bench, which starts every server itself and drives the same load at each.
# Results: bench/results/<UTC time>/ (results.md, results.json, chart.png, logs/), and bench/results/latest
# pointing at them. Other options are passed to Relay.Bench (e.g. --scenarios pipe,latency --reps 5); it
# exits 1 if anything was lost or reordered.
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

missing=()
command -v socat >/dev/null || missing+=(socat)
command -v gnuplot >/dev/null || missing+=(gnuplot-nox)
command -v redis-server >/dev/null || missing+=(redis-server)
if ((${#missing[@]})); then
  echo "Installing ${missing[*]} (Debian packages)..." >&2
  sudo_cmd=(); [[ $(id -u) == 0 ]] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null \
    || { "${sudo_cmd[@]}" apt-get update -q >/dev/null && "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null; }
fi

echo "Installing the reference server and ws (npm install in bench/, versions pinned by package-lock.json)..." >&2
# Not `npm ci`: the lock was resolved against a registry mirror that lacks msgpackr-extract's darwin and
# win32 builds (optional), so npm ci calls it out of sync; npm install keeps every version the lock pins.
npm install --prefix bench --no-audit --no-fund --loglevel=error >&2
version=$(node -p 'require("./bench/node_modules/@localfirst/relay/package.json").version')
[[ $version == 4.2.2 ]] || { echo "expected @localfirst/relay 4.2.2, found $version" >&2; exit 1; }

echo "Building the gateway and the load generator in Release..." >&2
dotnet build src/Relay.Gateway -c Release -v quiet -nologo >&2
dotnet build bench/Relay.Bench -c Release -v quiet -nologo >&2

# Tens of thousands of sockets, in the server and in the load generator: as many open files as allowed.
ulimit -Hn 1048576 2>/dev/null || true
hard=$(ulimit -Hn)
[[ $hard == unlimited ]] && hard=1048576
ulimit -n "$hard"

out=bench/results/$(date -u +%Y%m%d-%H%M%S)
mkdir -p "$out"
status=0
BENCH_COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown) \
  dotnet bench/Relay.Bench/bin/Release/net10.0/Relay.Bench.dll \
    --gateway src/Relay.Gateway/bin/Release/net10.0/Relay.Gateway.dll \
    --reference bench/node_modules/@localfirst/relay/dist/start.js \
    --bind-loopback bench/bind-loopback.mjs \
    --node-driver bench/pipe-driver.mjs \
    --out "$out" "$@" || status=$?

if [[ -f $out/chart/storm.dat ]]; then
  gnuplot -e "dir='$out'" bench/chart.gp || echo "chart: gnuplot failed" >&2
fi
ln -sfn "$(basename "$out")" bench/results/latest
echo "Results: $out/results.md, $out/results.json, $out/chart.png" >&2
exit "$status"
