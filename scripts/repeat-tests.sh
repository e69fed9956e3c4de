#!/usr/bin/env bash
# Runs the README's test command (`npm test`, bootstrap included) N times in a row in this checkout and
# records one JSON line per run (issue 11: "run the suite 20 times in a row on one machine"). Every run is
# recorded, a failed one too, and the loop goes on after a failure, so the record gives a failure rate.
# It is resumable: it counts the runs already in the record for this commit and goes on from there, and it
# refuses a dirty work tree (the record would name a commit that is not what ran).
#
#   bash scripts/repeat-tests.sh [N=20] [RECORD=repeat/results/<commit>.jsonl]
#
# The record is meant to be committed (repeat/results/); each run's full output goes to
# reports/repeat/<commit>/run-<i>.log (not committed).
set -uo pipefail
cd "$(dirname "$0")/.."
n=${1:-20}
commit=$(git rev-parse --short=12 HEAD)
record=${2:-repeat/results/$commit.jsonl}
logs=reports/repeat/$commit
if [ -n "$(git status --porcelain --untracked-files=no -- . ':(exclude)repeat/results')" ]; then
  echo "repeat-tests: the work tree has changes; commit or stash them first (the record names commit $commit)" >&2
  exit 2
fi
mkdir -p "$(dirname "$record")" "$logs"
done_runs=$(grep -c "\"commit\":\"$commit\"" "$record" 2>/dev/null || true)
for i in $(seq $((done_runs + 1)) "$n"); do
  log="$logs/run-$i.log"
  started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  t0=$(date +%s)
  npm test >"$log" 2>&1
  rc=$?
  secs=$(($(date +%s) - t0))
  node --input-type=module - "$log" "$commit" "$i" "$started" "$secs" "$rc" >>"$record" <<'JS'
const [log, commit, run, startedAt, seconds, exitCode] = process.argv.slice(2);
const { readFileSync } = await import('node:fs');
const os = await import('node:os');
const text = readFileSync(log, 'utf8').replace(/\x1b\[[0-9;]*m/g, '');
const counts = (label) => {
  const line = [...text.matchAll(new RegExp(`^ *${label} +(.*)$`, 'gm'))].at(-1)?.[1] ?? '';
  const n = (word) => Number(new RegExp(`(\\d+) ${word}`).exec(line)?.[1] ?? 0);
  return { passed: n('passed'), failed: n('failed'), skipped: n('skipped'), total: Number(/\((\d+)\)/.exec(line)?.[1] ?? 0) };
};
const failed = [...new Set([...text.matchAll(/^ FAIL +(.+)$/gm)].map((m) => m[1].trim()))];
const line = {
  commit, run: Number(run), startedAt, seconds: Number(seconds), exitCode: Number(exitCode),
  testFiles: counts('Test Files'), tests: counts('Tests'), failed,
  machine: { cpus: os.availableParallelism(), memGiB: Math.round(os.totalmem() / 2 ** 30), kernel: os.release(), node: process.version },
};
console.log(JSON.stringify(line));
JS
  echo "repeat-tests: run $i/$n exit $rc in ${secs}s"
done
