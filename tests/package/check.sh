#!/usr/bin/env bash
# Builds and runs a user's program through each way of getting sockets:
#   tests/package/check.sh WORK_DIR ROUTE...
# ROUTE: find_package add_subdirectory fetchcontent pkgconfig single_header meson deb (or all).
# Everything is built in WORK_DIR (emptied first); installs go to WORK_DIR/prefix, except deb,
# which installs the package system-wide with dpkg -i and removes it again (needs root).
# A route whose tool is missing is skipped (exit 77) unless SOCKETS_PACKAGE_STRICT=1.
# CXX picks the compiler (default c++).
# Every route but the single header and the Debian package (both header-only) also builds the
# consumer in compiled mode: sockets::compiled, sockets-compiled.pc, dependency('sockets-compiled').
set -euo pipefail
[ $# -ge 2 ] || { sed -n '2,8p' "$0"; exit 2; }
src=$(cd "$(dirname "$0")/../.." && pwd)
work=$1; shift
routes=("$@")
[ "${routes[*]}" = all ] && routes=(find_package add_subdirectory fetchcontent pkgconfig single_header meson deb)
case "$work" in /|"$src"|"$src/") echo "refusing to empty $work" >&2; exit 2 ;; esac
rm -rf "$work"; mkdir -p "$work"; work=$(cd "$work" && pwd)
cxx=${CXX:-c++}
command -v ninja >/dev/null && export CMAKE_GENERATOR=Ninja
version=$(awk '/^#define SOCKETS_VERSION_(MAJOR|MINOR|PATCH) /{v = v sep $3; sep = "."} END{print v}' \
  "$src/include/sockets/version.hpp")
strict=${SOCKETS_PACKAGE_STRICT:-0}
skipped=0

# Runs a command quietly; on failure shows its output and stops.
run() {
  local log=$work/last.log
  if ! "$@" >"$log" 2>&1; then
    echo "FAILED: $*" >&2; cat "$log" >&2; exit 1
  fi
}
skip() {
  if [ "$strict" = 1 ]; then echo "FAILED: $1 (SOCKETS_PACKAGE_STRICT=1: nothing may be skipped)" >&2; exit 1; fi
  echo "SKIPPED: $1"; skipped=1
}
need_tool() { command -v "$1" >/dev/null || { skip "$route: $1 is not installed"; return 1; }; }
cmake_consumer() {  # BUILD_DIR CMAKE_ARGS...: configure, build and run tests/package
  local dir=$1; shift
  run cmake -S "$src/tests/package" -B "$dir" -DCMAKE_CXX_COMPILER="$cxx" "$@"
  run cmake --build "$dir"
  run "$dir/consumer"
  echo "  $(cat "$work/last.log")"
}
# The scratch prefix is the only place the prefix routes may look: a copy installed in /usr
# (e.g. libsockets-dev, installed by hand or left by an interrupted run) can neither shadow it
# nor make a version check pass.
only_prefix=(-DCMAKE_PREFIX_PATH="$work/prefix" -DSOCKETS_IGNORE_SYSTEM=ON)
installed=""
install_prefix() {  # cmake --install into WORK_DIR/prefix, once
  [ -n "$installed" ] && return 0
  run cmake -S "$src" -B "$work/lib" -DSOCKETS_BUILD_TESTS=OFF -DSOCKETS_BUILD_EXAMPLES=OFF \
      -DCMAKE_INSTALL_PREFIX="$work/prefix"
  run cmake --build "$work/lib"  # the compiled-mode libraries
  run cmake --install "$work/lib"
  installed=1
}
changelog_has_version() {
  grep -q "^## \[$version\]" "$src/CHANGELOG.md" || { echo "FAILED: CHANGELOG.md has no '## [$version]' entry" >&2; exit 1; }
}

route_find_package() {
  install_prefix
  cmake_consumer "$work/find_package" "${only_prefix[@]}" -DSOCKETS_EXPECT_DIR_UNDER="$work/prefix"
  cmake_consumer "$work/find_package_exact" "${only_prefix[@]}" -DSOCKETS_EXPECT_DIR_UNDER="$work/prefix" \
    -DSOCKETS_REQUEST="$version"
  cmake_consumer "$work/find_package_compiled" "${only_prefix[@]}" -DSOCKETS_EXPECT_DIR_UNDER="$work/prefix" \
    -DSOCKETS_COMPILED=ON
  # Asking for a newer version than the installed one must fail at configure time, and say why.
  local too_new
  for too_new in 0.2 1.0; do
    if cmake -S "$src/tests/package" -B "$work/too_new_$too_new" "${only_prefix[@]}" \
         -DSOCKETS_REQUEST="$too_new" >"$work/too_new.log" 2>&1; then
      echo "FAILED: find_package(sockets $too_new) accepted version $version" >&2; exit 1
    fi
    if ! grep -q "requested version \"$too_new\"" "$work/too_new.log" || ! grep -q "version: $version" "$work/too_new.log"; then
      echo "FAILED: find_package(sockets $too_new) failed without naming both versions:" >&2
      cat "$work/too_new.log" >&2; exit 1
    fi
  done
  echo "  find_package(sockets 0.2) and (sockets 1.0) fail clearly: installed $version is not compatible"
}

route_add_subdirectory() {
  cmake_consumer "$work/add_subdirectory" -DSOCKETS_SOURCE_DIR="$src"
  cmake_consumer "$work/add_subdirectory_compiled" -DSOCKETS_SOURCE_DIR="$src" -DSOCKETS_COMPILED=ON
}

route_fetchcontent() {
  need_tool git || return 0
  if ! git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then skip "fetchcontent: $src is not a git checkout"; return 0; fi
  local commit
  commit=$(git -C "$src" rev-parse HEAD)
  [ -z "$(git -C "$src" status --porcelain -- include CMakeLists.txt cmake)" ] ||
    echo "  note: FetchContent builds the committed $commit; uncommitted changes are not in it"
  run git clone -q --bare "$src" "$work/sockets.git"
  cmake_consumer "$work/fetchcontent" -DSOCKETS_GIT_REPOSITORY="file://$work/sockets.git" -DSOCKETS_GIT_TAG="$commit"
  cmake_consumer "$work/fetchcontent_compiled" -DSOCKETS_GIT_REPOSITORY="file://$work/sockets.git" \
    -DSOCKETS_GIT_TAG="$commit" -DSOCKETS_COMPILED=ON
}

route_pkgconfig() {
  need_tool pkg-config || return 0
  install_prefix
  export PKG_CONFIG_LIBDIR=$work/prefix/share/pkgconfig PKG_CONFIG_PATH=""
  local cflags libs modversion
  cflags=$(pkg-config --cflags sockets); libs=$(pkg-config --libs sockets)
  modversion=$(pkg-config --modversion sockets)
  [ "$modversion" = "$version" ] || { echo "FAILED: sockets.pc says $modversion, version.hpp $version" >&2; exit 1; }
  [[ $cflags == *"$work/prefix/"* ]] || { echo "FAILED: pkg-config --cflags sockets = '$cflags', not in $work/prefix" >&2; exit 1; }
  pkg-config --atleast-version=0.1 sockets && ! pkg-config --atleast-version=0.2 sockets ||
    { echo "FAILED: pkg-config --atleast-version" >&2; exit 1; }
  # shellcheck disable=SC2086 # word splitting of the flags is the point
  run "$cxx" -std=c++17 -Wall -Wextra -Werror $cflags -DSOCKETS_EXPECTED_VERSION="\"$modversion\"" \
      "$src/tests/package/main.cpp" -o "$work/pkgconfig-consumer" $libs
  run "$work/pkgconfig-consumer"
  echo "  pkg-config --cflags sockets: $cflags"
  echo "  $(cat "$work/last.log")"
  # Compiled mode: sockets-compiled.pc, in the architecture-specific lib/pkgconfig.
  export PKG_CONFIG_LIBDIR=$work/prefix/share/pkgconfig:$work/prefix/lib/pkgconfig
  cflags=$(pkg-config --cflags sockets-compiled); libs=$(pkg-config --libs sockets-compiled)
  [ "$(pkg-config --modversion sockets-compiled)" = "$version" ] ||
    { echo "FAILED: sockets-compiled.pc is not version $version" >&2; exit 1; }
  [[ $cflags == *-DSOCKETS_SEPARATE_COMPILATION* && $libs == *-lsockets* ]] ||
    { echo "FAILED: sockets-compiled.pc: cflags '$cflags', libs '$libs'" >&2; exit 1; }
  # shellcheck disable=SC2086
  run "$cxx" -std=c++17 -Wall -Wextra -Werror $cflags -DSOCKETS_EXPECT_COMPILED \
      -DSOCKETS_EXPECTED_VERSION="\"$version\"" "$src/tests/package/main.cpp" -o "$work/pkgconfig-compiled" $libs
  run "$work/pkgconfig-compiled"
  echo "  pkg-config sockets-compiled: $cflags $libs"
  echo "  $(cat "$work/last.log")"
  unset PKG_CONFIG_LIBDIR PKG_CONFIG_PATH
}

route_single_header() {
  local out=$work/single
  run "$src/scripts/single-header" "$out"
  if grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$out/sockets_single.hpp"; then
    echo "FAILED: sockets_single.hpp still includes a quoted header" >&2; exit 1
  fi
  # Each example, the README's program and the consumer, with <sockets/...> rewritten to the
  # single header and only OUT_DIR on the include path.
  mkdir -p "$work/single-src"
  local f name async_examples=()
  for f in "$src"/examples/*.cpp "$src"/examples/*.hpp "$src/tests/package/main.cpp"; do
    name=$(basename "$f")
    [ "$f" = "$src/tests/package/main.cpp" ] && name=consumer.cpp
    # An optional header (tls.hpp) has its own sockets_NAME.hpp; TLS examples need OpenSSL's headers.
    if grep -q '<sockets/tls.hpp>' "$f" && [ ! -e /usr/include/openssl/ssl.h ]; then continue; fi
    # The event loop's examples are C++20: compiled on their own below.
    if grep -q '<sockets/async.hpp>' "$f"; then async_examples+=("$f"); continue; fi
    sed -E -e 's|<sockets/tls.hpp>|"sockets_tls.hpp"|' \
        -e 's|^([[:space:]]*#[[:space:]]*include[[:space:]]*)<sockets/[^>]+>|\1"sockets_single.hpp"|' "$f" >"$work/single-src/$name"
  done
  awk '/^```cpp$/ && !done {p = 1; next} /^```$/ && p {p = 0; done = 1} p' "$src/README.md" |
    sed 's|<sockets/sockets.hpp>|"sockets_single.hpp"|' >"$work/single-src/readme.cpp"
  if grep -l 'sockets/' "$work"/single-src/*.cpp "$work"/single-src/*.hpp; then
    echo "FAILED: an example still includes a sockets/ header" >&2; exit 1
  fi
  # Two compilers at a time (the machine is shared); every file must compile warning-free.
  if ! (cd "$work/single-src" && printf '%s\n' *.cpp |
        xargs -P 2 -I{} "$cxx" -std=c++17 -Wall -Wextra -Wpedantic -Werror -I "$out" -c {} -o {}.o) \
        >"$work/single.log" 2>&1; then
    echo "FAILED: compiling against sockets_single.hpp" >&2; cat "$work/single.log" >&2; exit 1
  fi
  # async.hpp (C++20) goes to sockets_async.hpp like any optional header.
  mkdir -p "$work/single-async"
  for f in "${async_examples[@]}"; do
    sed -E -e 's|<sockets/async.hpp>|"sockets_async.hpp"|' -e 's|<sockets/tls.hpp>|"sockets_tls.hpp"|' \
      "$f" >"$work/single-async/$(basename "$f")"
    cp "$work"/single-src/*.hpp "$work/single-async/"  # common.hpp, http_reply.hpp: already rewritten
    run "$cxx" -std=c++20 -Wall -Wextra -Wpedantic -Werror -I "$out" -c "$work/single-async/$(basename "$f")" \
      -o "$work/single-async/$(basename "$f").o"
  done
  run "$cxx" "$work/single-src/consumer.cpp.o" -o "$work/single-consumer" -pthread
  run "$work/single-consumer"
  echo "  $(ls "$work"/single-src/*.cpp | wc -l) programs compiled against $(wc -l <"$out/sockets_single.hpp") lines of sockets_single.hpp"
  echo "  $(cat "$work/last.log")"
  # An optional public header that sockets.hpp does not include (as tls.hpp will be) gets its own
  # file on top of sockets_single.hpp; both together must still compile (nothing twice).
  cp -r "$src/include" "$work/optional-include"
  printf '#pragma once\n#include "socket.hpp"\n#include <string>\nnamespace sockets {\ninline std::string optional_name(const Socket& s) { return s.is_open() ? "open" : "closed"; }\n}\n' \
    >"$work/optional-include/sockets/zz_optional.hpp"
  SOCKETS_INCLUDE_DIR=$work/optional-include run "$src/scripts/single-header" "$work/optional-out"
  printf '#include "sockets_single.hpp"\n#include "sockets_zz_optional.hpp"\nint main() { return sockets::optional_name(sockets::Socket()) == "closed" ? 0 : 1; }\n' \
    >"$work/optional.cpp"
  if grep -q 'class Socket' "$work/optional-out/sockets_zz_optional.hpp"; then
    echo "FAILED: sockets_zz_optional.hpp repeats the main header" >&2; exit 1
  fi
  run "$cxx" -std=c++17 -Wall -Wextra -Werror -I "$work/optional-out" "$work/optional.cpp" -o "$work/optional"
  run "$work/optional"
  echo "  an optional header (not included by sockets.hpp) goes to its own sockets_NAME.hpp"
  # The same header must serve Windows: cross-compile the consumer when mingw-w64 is here.
  local mingw=x86_64-w64-mingw32-g++-posix
  if command -v $mingw >/dev/null; then
    run $mingw -std=c++17 -Wall -Wextra -Werror -I "$out" -c "$work/single-src/consumer.cpp" -o "$work/single-consumer-win.o"
    echo "  and for Windows ($mingw)"
  fi
}

route_meson() {
  need_tool meson || return 0
  need_tool pkg-config || return 0
  install_prefix
  local how mode name dep
  for how in pkgconfig subproject; do
    for mode in header-only compiled; do
      name=meson-$how-$mode dep=sockets
      [ $mode = compiled ] && dep=sockets-compiled
      mkdir -p "$work/$name"
      cp "$src/tests/package/meson.build" "$src/tests/package/meson_options.txt" "$src/tests/package/main.cpp" "$work/$name/"
      if [ $how = pkgconfig ]; then
        PKG_CONFIG_LIBDIR=$work/prefix/share/pkgconfig:$work/prefix/lib/pkgconfig PKG_CONFIG_PATH="" CXX=$cxx \
          run meson setup --wrap-mode=nofallback -Dcompiled=$([ $mode = compiled ] && echo true || echo false) \
            "$work/$name/build" "$work/$name"
        grep -q "Run-time dependency $dep found: YES" "$work/last.log" ||
          { echo "FAILED: meson did not find $dep through pkg-config" >&2; cat "$work/last.log" >&2; exit 1; }
      else
        mkdir -p "$work/$name/subprojects"
        ln -s "$src" "$work/$name/subprojects/sockets"
        CXX=$cxx run meson setup --force-fallback-for=$dep -Dcompiled=$([ $mode = compiled ] && echo true || echo false) \
          "$work/$name/build" "$work/$name"
        grep -q 'Executing subproject sockets' "$work/last.log" && grep -q "Dependency $dep found: YES" "$work/last.log" ||
          { echo "FAILED: meson did not use sockets as a subproject for $dep" >&2; cat "$work/last.log" >&2; exit 1; }
      fi
      run meson compile -C "$work/$name/build"
      run "$work/$name/build/consumer"
      echo "  meson ($how, $dep): $(cat "$work/last.log")"
    done
  done
}

# The Debian package goes into /usr: remove it on every way out, and refuse to start over a
# copy left behind by an interrupted run (it would shadow nothing in-tree, which uses -I, but it
# would make this check prove nothing).
deb_installed() { dpkg-query -W -f='${Status}' libsockets-dev 2>/dev/null | grep -q 'install ok installed'; }
sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
dpkg_locked() {  # dpkg may be busy with another apt-get on a shared machine: retry a while
  local i
  for i in $(seq 60); do
    if sudo_if_needed "$@" >"$work/dpkg.log" 2>&1; then return 0; fi
    grep -q 'lock' "$work/dpkg.log" || { cat "$work/dpkg.log" >&2; return 1; }
    sleep 2
  done
  cat "$work/dpkg.log" >&2; return 1
}
remove_deb() { deb_installed && dpkg_locked dpkg -r libsockets-dev && echo "  dpkg -r libsockets-dev: removed"; return 0; }
route_deb() {
  need_tool dpkg || return 0
  need_tool cpack || return 0
  need_tool pkg-config || return 0
  if [ "$(id -u)" -ne 0 ] && ! sudo -n true 2>/dev/null; then skip "deb: dpkg -i needs root"; return 0; fi
  if deb_installed; then
    echo "  libsockets-dev was left installed by an earlier run: removing it first"
    remove_deb
  fi
  run cmake -S "$src" -B "$work/deb" -DSOCKETS_BUILD_TESTS=OFF -DSOCKETS_BUILD_EXAMPLES=OFF
  (cd "$work/deb" && run cpack -G DEB)
  local deb
  deb=$(ls "$work"/deb/libsockets-dev_*_all.deb)
  # Architecture-independent: the compiled-mode libraries stay out (cmake --install has them).
  if dpkg-deb -c "$deb" | grep -E '\.a$|sockets-compiled\.pc|CompiledTargets'; then
    echo "FAILED: $deb (Architecture: all) contains the compiled-mode library" >&2; exit 1
  fi
  [ "$(dpkg-deb -f "$deb" Version)" = "$version" ] ||
    { echo "FAILED: $deb has version $(dpkg-deb -f "$deb" Version), version.hpp $version" >&2; exit 1; }
  trap remove_deb EXIT
  trap 'exit 130' INT TERM
  dpkg_locked dpkg -i "$deb"
  echo "  dpkg -i $(basename "$deb"): installed"
  # Found from /usr with no hints, by CMake and by pkg-config.
  cmake_consumer "$work/deb-cmake" -DSOCKETS_EXPECT_DIR_UNDER=/usr/share/cmake
  local cflags
  cflags=$(env -u PKG_CONFIG_PATH -u PKG_CONFIG_LIBDIR pkg-config --cflags sockets)
  [ "$(env -u PKG_CONFIG_PATH -u PKG_CONFIG_LIBDIR pkg-config --modversion sockets)" = "$version" ] ||
    { echo "FAILED: pkg-config does not find sockets $version from the package" >&2; exit 1; }
  # shellcheck disable=SC2086
  run "$cxx" -std=c++17 -Wall -Wextra -Werror $cflags -DSOCKETS_EXPECTED_VERSION="\"$version\"" \
      "$src/tests/package/main.cpp" -o "$work/deb-pkgconfig-consumer"
  run "$work/deb-pkgconfig-consumer"
  echo "  pkg-config (from /usr/share/pkgconfig, cflags '$cflags'): $(cat "$work/last.log")"
  remove_deb
  trap - EXIT INT TERM
  ! deb_installed || { echo "FAILED: libsockets-dev still installed" >&2; exit 1; }
}

changelog_has_version
for route in "${routes[@]}"; do
  start=$SECONDS
  echo "== $route"
  declare -F "route_$route" >/dev/null || { echo "unknown route $route" >&2; exit 2; }
  "route_$route"
  echo "== $route: $((SECONDS - start)) s"
done
[ $skipped = 0 ] || exit 77
