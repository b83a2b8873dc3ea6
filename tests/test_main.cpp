// The one Catch2 main, built once and linked into every test executable.
#if defined(SOCKETS_CATCH3)
#include <catch2/catch_session.hpp>
#else
#define CATCH_CONFIG_RUNNER
#include "catch.hpp"
#endif

int main(int argc, char* argv[]) { return Catch::Session().run(argc, argv); }
