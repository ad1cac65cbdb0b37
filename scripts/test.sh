#!/usr/bin/env bash
# Runs the whole test suite against a real PostgreSQL: starts the private instance if it is not running
# (see scripts/postgres.sh; DEFERRED_PG_CONNECTION selects an external server instead), runs every test, then packs
# the NuGet packages and runs samples/Deferred.Sample against them (see pack_and_run_sample), and stops the instance
# again if this script started it, so no server is left running. DEFERRED_SKIP_SAMPLE=1 skips the package step.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

started_here=0
if [[ -z "${DEFERRED_PG_CONNECTION:-}" ]] && ! scripts/postgres.sh status >/dev/null 2>&1; then
  started_here=1
fi
cleanup() {
  if [[ "$started_here" == 1 ]]; then
    scripts/postgres.sh stop || true
  fi
}
trap cleanup EXIT

# The dashboard's browser tests drive Debian's chromium through Playwright (Playwright's own browser download is not
# used and does not work here). Installed once when missing; apt-get prints what it does.
if ! command -v chromium >/dev/null 2>&1; then
  echo "test.sh: chromium is missing; installing Debian's package (apt-get install -y chromium)"
  as_root=()
  if [[ "$(id -u)" != 0 ]]; then
    as_root=(sudo)
  fi
  "${as_root[@]}" apt-get update
  DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y chromium
fi
echo "test.sh: browser for the dashboard tests: $(command -v chromium) ($(chromium --version 2>/dev/null || echo 'version unknown'))"

# Proves the packages install and work as a user gets them: packs Deferred.Abstractions, Deferred.Orleans,
# Deferred.Dashboard and Deferred.Tool into the local feed .data/packages under a version no cache can hold yet (the prefix from
# Directory.Build.props plus -local.<UTC time>), then builds samples/Deferred.Sample from that feed alone (its own
# NuGet.config; not in Deferred.sln, no project references) and runs it on the migrated database: it enqueues a
# task, waits for its handler, sees its row deleted, and checks it loaded the version just packed.
pack_and_run_sample() {
  local started suffix version feed cache
  started=$SECONDS
  suffix="local.$(date -u +%Y%m%d%H%M%S)"
  feed="$ROOT/.data/packages"
  mkdir -p "$feed"
  rm -f "$feed"/Deferred.*.nupkg "$feed"/Deferred.*.snupkg
  # Earlier local versions in the global package cache are never used again (each run has its own version); drop
  # them so the cache does not grow with every run.
  cache="$(dotnet nuget locals global-packages --list | sed -E 's/^[^:]*: *//')"
  if [[ -d "$cache" ]]; then
    for id in deferred.abstractions deferred.orleans deferred.dashboard deferred.tool; do
      rm -rf "${cache%/}/$id"/*-local.*
    done
  fi
  for project in Deferred.Abstractions Deferred.Grains Deferred.Dashboard Deferred.Tool; do
    dotnet pack "$project" -c Release -o "$feed" --version-suffix "$suffix" -v q -nologo
  done
  version="$(ls "$feed" | sed -nE 's/^Deferred\.Orleans\.(.+)\.nupkg$/\1/p')"
  [[ -n "$version" ]] || { echo "test.sh: no Deferred.Orleans package in $feed" >&2; return 1; }
  dotnet build samples/Deferred.Sample -c Release -v q -nologo -p:DeferredPackageVersion="$version"
  dotnet samples/Deferred.Sample/bin/Release/net10.0/Deferred.Sample.dll "$(scripts/postgres.sh url)" "$version"

  # The migration tool as a user installs it (from the feed, into a folder of its own): the schema version it needs,
  # a migrate that finds nothing to do on the migrated database, and the script for a DBA with every migration.
  local tools="$ROOT/.data/tools" schema scripted
  rm -rf "$tools"
  dotnet tool install Deferred.Tool --version "$version" --tool-path "$tools" --add-source "$feed" >/dev/null
  schema="$("$tools/deferred" version --schema)"
  [[ "$("$tools/deferred" version)" == "deferred $version (schema $schema)" ]] \
    || { echo "test.sh: deferred version printed '$("$tools/deferred" version)', expected 'deferred $version (schema $schema)'" >&2; return 1; }
  "$tools/deferred" migrate --connection "$(scripts/postgres.sh url)"
  scripted="$("$tools/deferred" migrate --script --from 0 | grep -c '^BEGIN;')"
  [[ "$scripted" == "$schema" ]] || { echo "test.sh: deferred migrate --script printed $scripted migrations, expected $schema" >&2; return 1; }
  echo "tool: deferred $version needs schema $schema; migrate applied nothing new; --script printed $scripted migrations"
  echo "test.sh: packages and sample took $((SECONDS - started)) s"
}

# A failing run ends with every failed test's name, message and stack again, so the last lines of a long log (all a CI
# summary may show) say what failed. The full results stay in .data/test-results/*.trx.
print_failures() {
  local results="$ROOT/.data/test-results"
  [[ -d "$results" ]] || return 0
  python3 - "$results" <<'PY' || true
import glob, sys, xml.etree.ElementTree as ET
ns = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}
for path in sorted(glob.glob(sys.argv[1] + "/*.trx")):
    for result in ET.parse(path).getroot().iterfind(".//t:UnitTestResult", ns):
        if result.get("outcome") != "Failed":
            continue
        print(f"test.sh: FAILED {result.get('testName')} ({result.get('duration')})")
        for tag in ("Message", "StackTrace"):
            node = result.find(f".//t:ErrorInfo/t:{tag}", ns)
            if node is not None and node.text:
                lines = node.text.strip().splitlines()
                print("\n".join("    " + line for line in lines[:40]))
PY
}

scripts/postgres.sh start
rm -rf "$ROOT/.data/test-results"
if ! dotnet test Deferred.sln -c Release --logger "console;verbosity=normal" \
    --logger "trx;LogFilePrefix=tests" --results-directory "$ROOT/.data/test-results" "$@"; then
  print_failures
  exit 1
fi
if [[ -z "${DEFERRED_SKIP_SAMPLE:-}" ]]; then
  pack_and_run_sample
fi
