# `cpack -G DEB` in a build folder makes libsockets-dev_VERSION_all.deb: the headers, the CMake
# package and sockets.pc under /usr. Header-only, so one package serves every architecture.
set(CPACK_PACKAGE_NAME libsockets-dev)
set(CPACK_PACKAGE_VENDOR "sockets")
set(CPACK_PACKAGE_CONTACT "sockets maintainers <sockets@invalid>")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_RESOURCE_FILE_LICENSE ${PROJECT_SOURCE_DIR}/LICENSE)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE all)
set(CPACK_DEBIAN_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "Sockets made safe: send_all/recv_exact, timeouts, pollers, message framing.
Header-only; find it with find_package(sockets CONFIG) or pkg-config sockets.")
# The headers, CMake package and sockets.pc only: the compiled-mode libraries (component
# "compiled") are architecture-specific and stay out of this architecture-independent package.
set(CPACK_INSTALL_CMAKE_PROJECTS "${CMAKE_BINARY_DIR};${PROJECT_NAME};Unspecified;/")
set(CPACK_GENERATOR DEB)
include(CPack)
