# Shared by the scripts: install Debian packages that are missing (as root, non-interactive).
# Usage: need_packages PACKAGE...   (checks dpkg first, so a machine that has them is untouched)
need_packages() {
  local missing=()
  for p in "$@"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "== installing: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  if [ -z "${SOCKETS_APT_UPDATED:-}" ]; then
    $sudo apt-get update -q >/dev/null
    export SOCKETS_APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

# The tools every build needs.
need_build_tools() {
  need_packages cmake ninja-build g++ "$@"
}
