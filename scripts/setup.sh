#!/usr/bin/env bash
# Installs what is missing, then builds: Debian packages (as root), npm dependencies, TypeScript, the
# shim. Idempotent and quick when everything is in place; `npm test` and `npm run demo` run it first.
#
# System services: installing a package here never starts its daemon (a temporary policy-rc.d
# denies it while apt runs), so no system RabbitMQ or sshd appears on ports 5672/4369/22 because of
# us. Daemons that were already running are left alone: the sandbox and the tests run their own
# RabbitMQ node (own epmd, own free ports) and their own loopback sshd, so nothing collides.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*"; }
fail() {
  printf 'setup: FAILED: %s\n' "$*" >&2
  exit 1
}
started=$(date +%s%N)

# --- Debian packages ---------------------------------------------------------------------------
packages=(rabbitmq-server openssh-server openssh-client rsync gcc make lsyncd faketime iproute2 procps git python3 perl tar systemd util-linux openssl time)
command -v dpkg >/dev/null 2>&1 || fail "this script expects Debian 12 (no dpkg); install by hand: ${packages[*]} gcc-multilib"
# 32-bit builds of the shim need multilib, which only exists on amd64.
[[ "$(dpkg --print-architecture)" == amd64 ]] && packages+=(gcc-multilib)

missing=()
declare -A installed=()
while read -r name state; do
  [[ "$state" == "installed" ]] && installed[$name]=1
done < <(dpkg-query -W -f='${Package} ${Status}\n' "${packages[@]}" 2>/dev/null | awk '{print $1, $4}')
for p in "${packages[@]}"; do
  [[ -n "${installed[$p]:-}" ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  say "system packages: all ${#packages[@]} present"
elif ((EUID != 0)); then
  fail "missing packages: ${missing[*]}. As root run: apt-get update && apt-get install -y ${missing[*]}"
else
  say "system packages: installing ${missing[*]}"
  policy=/usr/sbin/policy-rc.d
  if [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\n# hpcmirror setup.sh: no daemon starts while packages install\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    trap 'rm -f "$policy"' EXIT
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/tmp/hpcm-apt.log 2>&1 || fail "apt-get update failed (see /tmp/hpcm-apt.log)"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >>/tmp/hpcm-apt.log 2>&1 ||
    fail "apt-get install ${missing[*]} failed (see /tmp/hpcm-apt.log)"
  if [[ -e "$policy" ]] && grep -q 'hpcmirror setup.sh' "$policy"; then
    rm -f "$policy"
    trap - EXIT
  fi
  say "system packages: installed"
fi

# --- Node ----------------------------------------------------------------------------------------
command -v node >/dev/null 2>&1 || fail "node not found; install Node.js 20 (>= 20.19)"
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' ||
  fail "node $(node -v) is too old; need >= 20.19"

# --- npm dependencies: `npm ci` only when node_modules is missing or package-lock.json changed ----
stamp=node_modules/.hpcm-lock-sha
lock_sha=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ -f "$stamp" && "$(cat "$stamp")" == "$lock_sha" && -d node_modules/.bin ]]; then
  say "npm dependencies: up to date"
elif [[ -d node_modules && ! -f "$stamp" ]] && npm ls --all --silent >/dev/null 2>&1; then
  # A tree installed before this script kept stamps: verified, so no reinstall under others' feet.
  echo "$lock_sha" >"$stamp"
  say "npm dependencies: present and consistent"
else
  say "npm dependencies: npm ci"
  npm ci --no-audit --no-fund --loglevel=error >/tmp/hpcm-npm-ci.log 2>&1 || fail "npm ci failed (see /tmp/hpcm-npm-ci.log)"
  echo "$lock_sha" >"$stamp"
fi

# --- build ---------------------------------------------------------------------------------------
node_modules/.bin/tsc -b || fail "TypeScript build failed (tsc -b); errors above"
say "typescript: built"
make -s -C native-shim || fail "native shim build failed (make -C native-shim); errors above"
say "native shim: built"
make -s -C native-scan || fail "native scanner build failed (make -C native-scan); errors above"
say "native scanner: built"
make -s -C packages/subscriber/native || fail "subscriber xattr calls build failed (make -C packages/subscriber/native); errors above"
say "subscriber xattr calls: built"
make -s -C native-watch || fail "native watcher build failed (make -C native-watch); errors above"
say "native watcher: built"

say "ready in $(((($(date +%s%N) - started) / 1000000)))ms"
