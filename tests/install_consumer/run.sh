#!/usr/bin/env bash
# Installs libsdpp (component sdpp_lib) from BUILD_DIR into a temporary prefix, then builds and runs
# outside programs against it: main.cpp through find_package(sdpp), main.c through pkg-config.
# Also checks that the library exports only what the headers mark SDPP_API.
#   run.sh BUILD_DIR
set -euo pipefail
build=$1
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

cmake --install "$build" --prefix "$prefix" --component sdpp_lib >/dev/null
cmake -S "$here" -B "$tmp/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$tmp/build" >/dev/null
"$tmp/build/consumer"

pc=$(find "$prefix" -name sdpp.pc)
libdir=$(dirname "$(dirname "$pc")")
flags=$(PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --cflags --libs sdpp)
echo "pkg-config --cflags --libs sdpp: $flags"
cc -std=c99 -Wall -Wextra -Werror "$here/main.c" $flags -o "$tmp/consumer_c"
LD_LIBRARY_PATH=$libdir "$tmp/consumer_c"

# Exported C++ symbols in namespace sdpp must be declared SDPP_API in the installed headers.
names=$(grep -ho 'SDPP_API [^(;]*[ *]\([a-z_][a-z_0-9]*\)(' "$prefix"/include/sdpp/*.hpp | sed 's/.*[ *]\([a-z_0-9]*\)($/\1/' | sort -u | paste -sd'|')
classes=$(grep -ho '\(class\|struct\) SDPP_API [A-Za-z]*' "$prefix"/include/sdpp/*.hpp | awk '{print $3}' | paste -sd'|')
leaks=$(nm -DC --defined-only "$libdir/libsdpp.so" | cut -d' ' -f3- | grep -E '^(typeinfo|typeinfo name|vtable|VTT) for sdpp::|^sdpp::' \
        | grep -Ev "^((typeinfo|typeinfo name|vtable) for )?sdpp::(($classes)::|($classes)\$|($names)(\[abi:cxx11\])?\()" || true)
if [ -n "$leaks" ]; then
  echo "libsdpp exports symbols its headers do not mark SDPP_API:"; echo "$leaks" | head -20; exit 1
fi
echo "libsdpp exports $(nm -D --defined-only "$libdir/libsdpp.so" | grep -c ' T sdpp_') C functions and only SDPP_API C++ symbols"
