# hpcmirror: turns the LD_PRELOAD shim on for this user's interactive and batch shells.
#
# Install (deploy/README.md): copy to ~/.config/hpcmirror/hpcmirror.bashrc, write the shim
# environment once with
#     hpcmirror shim env --config ~/.config/hpcmirror/ops.yaml > ~/.config/hpcmirror/shim.env
# and source this file near the TOP of ~/.bashrc, before any "not interactive: return" guard
# (so that batch and ssh-started shells reach it too):
#     [ -r ~/.config/hpcmirror/hpcmirror.bashrc ] && . ~/.config/hpcmirror/hpcmirror.bashrc
#
# Reading the static file instead of `eval "$(hpcmirror shim env)"` keeps every shell start free of
# a node process: this file runs no external command at all. Rewrite shim.env after changing the
# config or moving the installation. Another file: set HPCM_SHIM_ENV_FILE before sourcing this.
#
# Never shimmed: file transfers and hpcmirror's own commands started over ssh (rsync --server,
# rrsync, sftp-server, scp -t/-f, hpcmirror helper, judged by BASH_EXECUTION_STRING and
# SSH_ORIGINAL_COMMAND). Their writes are the mirror's own
# (reverse flow, failback) or a transfer; the safety-net scan catches transfers into the tree.
# For those it exports HPCM_SHIM=0, which also silences a shim inherited from elsewhere.
# Any other ssh command (an MPI launcher's `ssh node orted ...`) is shimmed like a batch shell.
#
# A no-op, printing nothing, when: not bash; HPCM_SHIM=0 is already set (hpcmirror's services and
# anyone opting out); shim.env is missing or not owned by this user; the library it names is missing.
# Existing LD_PRELOAD entries are kept (the shim is appended, once). Safe under set -u and set -e.

[ -n "${BASH_VERSION:-}" ] || return 0

# rsync and sftp servers may come wrapped (`ionice rsync --server`, `exec .../sftp-server`). scp and
# hpcmirror, as their clients send them, are a simple command; a composed one
# (`hpcmirror wait && ./post.sh`) is a job step and is shimmed.
__hpcm_shim_is_transfer() {
  case ${1#exec } in
    *'rsync --server'* | *rrsync* | *sftp-server*) return 0 ;;
  esac
  case $1 in
    *[\;\&\|$'\n']*) return 1 ;;
  esac
  case ${1#exec } in
    'scp '* | /*/scp\ * | 'hpcmirror '* | /*/hpcmirror\ *) return 0 ;;
  esac
  return 1
}

# The value of `export LD_PRELOAD='...'` as `hpcmirror shim env` quotes it ('\'' for a quote).
__hpcm_shim_preload_of() {
  local line value
  while IFS= read -r line || [[ -n $line ]]; do
    case $line in
      'export LD_PRELOAD='*)
        value=${line#export LD_PRELOAD=}
        if [[ $value == \'*\' ]]; then
          value=${value:1:${#value}-2}
          value=${value//\'\\\'\'/\'}
        fi
        printf -v "$2" '%s' "$value"
        return 0
        ;;
    esac
  done <"$1"
  return 1
}

__hpcm_shim_enable() {
  local env_file=${HPCM_SHIM_ENV_FILE:-${HOME:-/nonexistent}/.config/hpcmirror/shim.env}
  if __hpcm_shim_is_transfer "${BASH_EXECUTION_STRING:-}" || __hpcm_shim_is_transfer "${SSH_ORIGINAL_COMMAND:-}"; then
    export HPCM_SHIM=0
    return 0
  fi
  if [[ ${HPCM_SHIM:-} == 0 ]]; then return 0; fi
  if ! [[ -f $env_file && -r $env_file && -O $env_file ]]; then return 0; fi

  local lib=
  if ! __hpcm_shim_preload_of "$env_file" lib 2>/dev/null || [[ -z $lib ]]; then return 0; fi
  # ld.so expands $LIB: lib/<arch>-linux-gnu on Debian, lib64 on RHEL-likes, lib elsewhere.
  local probe=${lib//'${LIB}'/'$LIB'} dir found=
  for dir in "lib/${HOSTTYPE:-x86_64}-linux-gnu" lib64 lib; do
    if [[ -f ${probe//'$LIB'/$dir} ]]; then found=1; break; fi
  done
  if [[ -z $found ]]; then return 0; fi

  local before=${LD_PRELOAD:-}
  . "$env_file" >/dev/null 2>&1 || true
  case " ${before//:/ } " in
    *" $lib "*) LD_PRELOAD=$before ;;
    *) LD_PRELOAD=${before:+$before:}$lib ;;
  esac
  export LD_PRELOAD
  return 0
}

__hpcm_shim_enable
unset -f __hpcm_shim_enable __hpcm_shim_is_transfer __hpcm_shim_preload_of
