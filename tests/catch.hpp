// Includes Catch2 whichever major version the system has: 2.x (Debian) or 3.x.
#pragma once
#if defined(SOCKETS_CATCH3)
#include <catch2/catch_all.hpp>
#else
#include <catch2/catch.hpp>
#endif
