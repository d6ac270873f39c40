#!/usr/bin/env bash
# Regenerate docs/img/report.png, the README's sample: page 1 of the weekly report (PDF) made
# from the demo data in a throwaway database. Needs poppler-utils (pdftoppm).
#   bash scripts/sample_report.sh            # uses .venv/bin/repmon
#   REPMON=/path/to/repmon bash scripts/sample_report.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
repmon=$(realpath "${REPMON:-.venv/bin/repmon}")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"  # no ./repmon.toml here: the built-in demo settings, on the database below
unset REPMON_CONFIG
export REPMON_DATABASE_URL="sqlite:///$tmp/demo.db"
"$repmon" demo >/dev/null
"$repmon" report --output "$tmp/report.pdf"
pdftoppm -png -r 110 -f 1 -l 1 -singlefile "$tmp/report.pdf" "$root/docs/img/report"
echo "docs/img/report.png: $(( $(stat -c %s "$root/docs/img/report.png") / 1024 )) KB"
