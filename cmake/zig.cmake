# Cross-compiling with Zig's bundled clang, libc and SDK stubs (`zig c++ -target ...`), for
# platforms this machine cannot run or has no native toolchain for. Included by the per-target
# files (cmake/zig-macos-x86_64.cmake, ...), which set SOCKETS_ZIG_TARGET and CMAKE_SYSTEM_NAME.
# The wrappers in cmake/zig/ run $SOCKETS_ZIG (default: zig on PATH).
set(CMAKE_SYSTEM_PROCESSOR ${SOCKETS_ZIG_ARCH})
set(CMAKE_C_COMPILER ${CMAKE_CURRENT_LIST_DIR}/zig/cc)
set(CMAKE_CXX_COMPILER ${CMAKE_CURRENT_LIST_DIR}/zig/c++)
set(CMAKE_AR ${CMAKE_CURRENT_LIST_DIR}/zig/ar CACHE FILEPATH "zig ar")
set(CMAKE_RANLIB ${CMAKE_CURRENT_LIST_DIR}/zig/ranlib CACHE FILEPATH "zig ranlib")
set(CMAKE_C_FLAGS_INIT "-target ${SOCKETS_ZIG_TARGET}")
set(CMAKE_CXX_FLAGS_INIT "-target ${SOCKETS_ZIG_TARGET}")
# Nothing from the host: no glibc headers, libraries or packages may leak into the build.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
