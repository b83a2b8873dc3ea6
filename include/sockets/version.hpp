/// @file
/// The library's version: the one place it is written down. CMake's project version, the
/// installed `sockets.pc`, the Debian package and Meson's dependency version are all read from
/// these three numbers, so they cannot disagree.
#pragma once

/// Major version: changes when the API breaks (while it is 0, a minor change may break).
#define SOCKETS_VERSION_MAJOR 0
/// Minor version: new features.
#define SOCKETS_VERSION_MINOR 1
/// Patch version: fixes only.
#define SOCKETS_VERSION_PATCH 0

/// The version as one comparable number: MAJOR * 10000 + MINOR * 100 + PATCH.
#define SOCKETS_VERSION \
    (SOCKETS_VERSION_MAJOR * 10000 + SOCKETS_VERSION_MINOR * 100 + SOCKETS_VERSION_PATCH)

/// @cond SOCKETS_DETAIL
#define SOCKETS_DETAIL_STRINGIZE2(x) #x
#define SOCKETS_DETAIL_STRINGIZE(x) SOCKETS_DETAIL_STRINGIZE2(x)
/// @endcond

/// The version as text, "MAJOR.MINOR.PATCH".
#define SOCKETS_VERSION_STRING                                                                  \
    SOCKETS_DETAIL_STRINGIZE(SOCKETS_VERSION_MAJOR)                                             \
    "." SOCKETS_DETAIL_STRINGIZE(SOCKETS_VERSION_MINOR) "." SOCKETS_DETAIL_STRINGIZE(            \
        SOCKETS_VERSION_PATCH)
