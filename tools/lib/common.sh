# Shared by tools/check.sh, tools/quickstart.sh and tools/bench.sh: installing Debian packages
# only when missing, and running as root or through sudo. Source it; it defines functions only.

# The packages every build of shmq needs (libmicrohttpd: the HTTP server of `shmq serve`).
SHMQ_BUILD_PACKAGES=(cmake make gcc g++ pkg-config liburcu-dev libjemalloc-dev libhwloc-dev
                     hwloc-nox libcmocka-dev libbenchmark-dev libmicrohttpd-dev)

shmq_say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# shmq_as_root CMD...: run as root, through sudo when we are not.
shmq_as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        echo "need root (or sudo) to run: $*" >&2
        return 1
    fi
}

# shmq_install_packages PKG...: install the packages that are missing; nothing when none are.
shmq_install_packages() {
    local missing=() pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" ||
            missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    shmq_say "installing ${missing[*]}"
    shmq_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
    shmq_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        "${missing[@]}" >/dev/null
}

# Remove the queues a run of ours left in /dev/shm (by name prefix); print how many.
shmq_leftover_segments() {
    local prefix="$1" n
    n=$(find /dev/shm -maxdepth 1 -name "shmq.${prefix}*" 2>/dev/null | wc -l)
    find /dev/shm -maxdepth 1 -name "shmq.${prefix}*" -delete 2>/dev/null || true
    echo "$n"
}
