# Sourced by the scripts that drive a fresh Roster (they set `root`, the repository).
# `start_fresh_roster URL [VAR=VALUE ...]` builds the debug binary, makes a new empty directory
# (`$dir`, then the working directory), starts `roster serve` there with the given environment
# (its output in roster.log), stops it and removes the directory on exit, and waits until
# URL/healthz answers.
start_fresh_roster() {
  local url=$1
  shift
  cargo build -q --bin roster --manifest-path "$root/Cargo.toml"
  dir=$(mktemp -d)
  cd "$dir"
  env "$@" "${CARGO_TARGET_DIR:-$root/target}/debug/roster" serve > roster.log 2>&1 &
  roster_pid=$!
  trap 'kill $roster_pid 2>/dev/null; wait $roster_pid 2>/dev/null; rm -rf "$dir"' EXIT
  for _ in $(seq 100); do curl -sf "$url/healthz" >/dev/null && return 0; sleep 0.1; done
  echo "Roster did not start"
  cat roster.log
  exit 1
}
