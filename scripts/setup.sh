#!/usr/bin/env bash
# Installs what Casulo needs to build and test on Debian bookworm, as root,
# then configures and builds into build/release. Idempotent: packages already
# present are not fetched again, and the build is incremental.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  cmake ninja-build g++ pkg-config
  libssl-dev libsodium-dev libzstd-dev libsqlite3-dev librust-blake3-dev
  libcli11-dev nlohmann-json3-dev libfmt-dev
  libxxhash-dev zlib1g-dev libexpat1-dev libcurl4-openssl-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  e2fsprogs
  qemu-utils xva-img libvhdi-utils xxhash
  nbdkit nbdkit-plugin-dev libnbd-dev libnbd-bin
  clang libclang-rt-14-dev
  libcpp-httplib-dev curl
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

BUILD_DIR=${CASULO_BUILD_DIR:-build/release}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo ${CASULO_CMAKE_ARGS:-} >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)"
