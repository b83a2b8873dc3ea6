# macOS on Apple silicon, compile-and-link only (scripts/test-platforms). See cmake/zig.cmake.
set(CMAKE_SYSTEM_NAME Darwin)
set(SOCKETS_ZIG_ARCH arm64)
set(SOCKETS_ZIG_TARGET aarch64-macos)
include(${CMAKE_CURRENT_LIST_DIR}/zig.cmake)
