# Sourced by the other scripts: one build directory outside the clone, so that RocksDB's C++
# (about 30 minutes cold on 2 cores) is compiled once per machine, not once per checkout; and
# ccache in front of the C/C++ compilers (through PATH, which leaves cargo's fingerprints alone),
# so that a build that differs only in Rust host-dependency features reuses the compiled objects.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/tidemark-target}
if [[ -d /usr/lib/ccache ]]; then
  export PATH="/usr/lib/ccache:$PATH"
  export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache}
  export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-5G}
  # Builds of different feature variants run the compiler from different directories.
  export CCACHE_NOHASHDIR=1
fi
