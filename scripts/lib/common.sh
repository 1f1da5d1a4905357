# Shared by scripts/demo and scripts/test: installs what Hopscope needs, when it is missing.
# Sourced, not run.

# Debian packages: build (libpcap-dev, libmnl-dev, pkg-config) and the lab and its oracles.
HOPSCOPE_PACKAGES=(
  libpcap-dev libmnl-dev pkg-config
  iproute2 util-linux procps openvswitch-switch iptables ipset nftables conntrack
  dnsmasq-base busybox dnsutils iputils-ping ethtool tcpdump tshark graphviz
)

# Installs every package of HOPSCOPE_PACKAGES that dpkg does not list as installed.
# Without root it says which are missing and how to install them, and returns 1.
ensure_packages() {
  local missing=() p
  for p in "${HOPSCOPE_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "hopscope: missing Debian packages: ${missing[*]}" >&2
    echo "hopscope: install them with: sudo apt-get install -y ${missing[*]}" >&2
    return 1
  fi
  echo "hopscope: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

# Swift toolchain on PATH (it lives in /opt/swift on the project's machines).
ensure_swift() {
  if ! command -v swift >/dev/null 2>&1 && [ -x /opt/swift/usr/bin/swift ]; then
    export PATH="/opt/swift/usr/bin:$PATH"
  fi
  command -v swift >/dev/null 2>&1 || { echo "hopscope: Swift 6.2 or newer is required (swift not found)" >&2; return 1; }
}

# Builds, and fails when the compiler warned about any of the project's own files.
build_clean() {
  local log
  log=$(mktemp)
  if ! swift build "$@" 2>&1 | tee "$log"; then rm -f "$log"; return 1; fi
  if grep -E "^$(pwd)/(Sources|Tests)/.*: warning:" "$log" >/dev/null; then
    echo "hopscope: the build has warnings in the project's own code (zero warnings is the rule):" >&2
    grep -E "^$(pwd)/(Sources|Tests)/.*: warning:" "$log" | sort -u >&2
    rm -f "$log"; return 1
  fi
  rm -f "$log"
}
