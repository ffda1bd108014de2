#!/usr/bin/env bash
# The demo's workload, run under the shim: what an operational suite does to its output tree.
# Usage: demo-workload.sh ROOT TARBALL MODEL_WRITER [PRODUCTS]
set -euo pipefail
root=$1 tarball=$2 writer=$3 products=${4:-200}
run="$root/run_$(date +%Y%m%d%H%M%S)"
mkdir -p "$run/out" "$run/logs" "$run/scratch"

# A job writes products through .tmp names and renames them into place (the .tmp is never mirrored).
for i in $(seq 1 "$products"); do
  printf 'product %d\n%s\n' "$i" "$(head -c 2000 /dev/urandom | base64 -w 0)" > "$run/out/prod_$i.txt.tmp"
  mv "$run/out/prod_$i.txt.tmp" "$run/out/prod_$i.txt"
  echo "$(date +%T.%N) wrote prod_$i" >> "$run/logs/job.log"          # appended every step
  ln -sf "prod_$i.txt" "$run/out/latest"                                 # the 'latest' pointer moves
done

# Hard links for a second name, a chmod alone, removes, and a directory that comes and goes.
for i in $(seq 1 20); do ln "$run/out/prod_$i.txt" "$run/out/archive_$i.txt"; done
chmod 600 "$run/out/prod_1.txt"
rm -f "$run/out/prod_"1[0-9].txt
mkdir -p "$run/scratch/tmpdir/a/b" && echo x > "$run/scratch/tmpdir/a/b/f" && rm -rf "$run/scratch/tmpdir"
mkdir "$run/scratch/keep" && touch "$run/scratch/keep/.placeholder"

# Unpack a few thousand files, as a job staging its inputs does.
mkdir -p "$run/inputs" && tar -xf "$tarball" -C "$run/inputs"

# A compiled model writing fields in records, rewriting its restart file, appending its log.
"$writer" "$run/out" $((products / 4))

# Rename a whole directory at the end of the run.
mv "$run/scratch" "$run/scratch.done"
echo "$run"
