#!/usr/bin/env bash
# Sets up aarch64 cross testing: the GNU cross linker + libc (for linking and for qemu's sysroot),
# qemu-user (the test runner configured in .cargo/config.toml) and the Rust target.
#
#   bash tools/setup_aarch64.sh
#   cargo test -p ferrolite-runtime --target aarch64-unknown-linux-gnu --lib
#
# Debian/Ubuntu only (apt-get, run as root or with sudo available). Every step is skipped when
# its result is already present, so re-running is cheap.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

target="aarch64-unknown-linux-gnu"
packages=(qemu-user gcc-aarch64-linux-gnu libc6-dev-arm64-cross)

missing=()
command -v qemu-aarch64 >/dev/null 2>&1 || missing+=(qemu-user)
command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || missing+=(gcc-aarch64-linux-gnu)
[[ -e /usr/aarch64-linux-gnu/lib/libc.so.6 ]] || missing+=(libc6-dev-arm64-cross)

if ((${#missing[@]})); then
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "setup_aarch64: apt-get not found; install ${packages[*]} by hand" >&2
        exit 1
    fi
    sudo=()
    if [[ "$(id -u)" != 0 ]]; then
        command -v sudo >/dev/null 2>&1 || {
            echo "setup_aarch64: need root (or sudo) to install ${missing[*]}" >&2
            exit 1
        }
        sudo=(sudo)
    fi
    echo "setup_aarch64: installing ${missing[*]}"
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}"
fi

if ! rustup target list --installed | grep -qx "$target"; then
    echo "setup_aarch64: adding the Rust target $target"
    if ! rustup target add "$target"; then
        echo "setup_aarch64: 'rustup target add $target' failed (no network access to" \
            "static.rust-lang.org?); install the target another way and re-run" >&2
        exit 1
    fi
fi

# The runner and linker come from .cargo/config.toml; check they are the ones installed.
for tool in qemu-aarch64 aarch64-linux-gnu-gcc; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "setup_aarch64: $tool still missing after installation" >&2
        exit 1
    }
done
grep -q "^\[target\.$target\]" .cargo/config.toml || {
    echo "setup_aarch64: .cargo/config.toml lacks the [target.$target] runner/linker" >&2
    exit 1
}
echo "setup_aarch64: ready (cargo test --target $target runs under qemu-aarch64)"
