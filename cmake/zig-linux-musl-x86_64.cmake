# Linux with musl instead of glibc, static executables that run on any x86_64 Linux, this
# machine included (scripts/test-platforms runs the suite under CTest). See cmake/zig.cmake.
set(CMAKE_SYSTEM_NAME Linux)
set(SOCKETS_ZIG_ARCH x86_64)
set(SOCKETS_ZIG_TARGET x86_64-linux-musl)
include(${CMAKE_CURRENT_LIST_DIR}/zig.cmake)
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static")
