# libsdpp: the shared library embedders link, its installed headers, and the CMake package and
# pkg-config files that find it. Included from the top-level CMakeLists.txt after the modules.
#
# The module libraries (sdpp_core ... sdpp_hub) stay static: the tests and the CLI link them and
# reach internal headers. They are compiled with hidden visibility, and libsdpp is linked from
# them, so libsdpp exports exactly the declarations marked SDPP_API in include/sdpp and every
# source file is compiled once for both uses.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# The version, written once in project(VERSION), reaches code through sdpp/version.h.
configure_file(${PROJECT_SOURCE_DIR}/cmake/version.h.in ${PROJECT_BINARY_DIR}/include/sdpp/version.h @ONLY)
target_include_directories(sdpp_core PUBLIC ${PROJECT_BINARY_DIR}/include)

set(sdpp_static_modules sdpp_core sdpp_backend sdpp_io sdpp_text sdpp_sample sdpp_model sdpp_pipeline sdpp_hub)
foreach(t ${sdpp_static_modules} sdpp_kernels_avx2 sdpp_kernels_avx512)
  if(TARGET ${t})
    set_target_properties(${t} PROPERTIES CXX_VISIBILITY_PRESET hidden C_VISIBILITY_PRESET hidden
                                          VISIBILITY_INLINES_HIDDEN ON)
  endif()
endforeach()

# The public API is defined in core (Error, logging), io (Image, resize modes), hub (the default
# model) and pipeline (everything else): their objects go in whole; the other archives give what
# those need.
add_library(sdpp_shared SHARED $<TARGET_OBJECTS:sdpp_core> $<TARGET_OBJECTS:sdpp_io>
                               $<TARGET_OBJECTS:sdpp_pipeline> $<TARGET_OBJECTS:sdpp_hub>)
target_link_libraries(sdpp_shared PRIVATE sdpp_all)
if(NOT SDPP_SANITIZE)  # sanitizer runtimes leave their symbols for the executable to provide
  target_link_options(sdpp_shared PRIVATE -Wl,--no-undefined)
endif()
target_include_directories(sdpp_shared INTERFACE
  $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include> $<BUILD_INTERFACE:${PROJECT_BINARY_DIR}/include>
  $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
target_compile_features(sdpp_shared INTERFACE cxx_std_17)
# 0.x makes no ABI promise between minor versions, so the soname carries major.minor.
set_target_properties(sdpp_shared PROPERTIES OUTPUT_NAME sdpp EXPORT_NAME sdpp
  VERSION ${PROJECT_VERSION} SOVERSION ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR}
  CXX_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON)
add_library(sdpp::sdpp ALIAS sdpp_shared)

# Installed as component "sdpp_lib", so `cmake --install build --component sdpp_lib` needs only
# the library built (tests/install_consumer does that).
install(TARGETS sdpp_shared EXPORT sdppTargets COMPONENT sdpp_lib
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(FILES ${PROJECT_SOURCE_DIR}/include/sdpp/sdpp.hpp ${PROJECT_SOURCE_DIR}/include/sdpp/sdpp.h
              ${PROJECT_SOURCE_DIR}/include/sdpp/image.hpp ${PROJECT_SOURCE_DIR}/include/sdpp/error.hpp
              ${PROJECT_SOURCE_DIR}/include/sdpp/log.hpp ${PROJECT_SOURCE_DIR}/include/sdpp/export.h
              ${PROJECT_BINARY_DIR}/include/sdpp/version.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/sdpp COMPONENT sdpp_lib)
set(sdpp_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/sdpp)
install(EXPORT sdppTargets NAMESPACE sdpp:: DESTINATION ${sdpp_cmake_dir} COMPONENT sdpp_lib)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/sdppConfig.cmake.in
  ${PROJECT_BINARY_DIR}/sdppConfig.cmake INSTALL_DESTINATION ${sdpp_cmake_dir})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/sdppConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/sdppConfig.cmake ${PROJECT_BINARY_DIR}/sdppConfigVersion.cmake
        DESTINATION ${sdpp_cmake_dir} COMPONENT sdpp_lib)
file(RELATIVE_PATH SDPP_PC_TO_PREFIX /prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig /prefix)
configure_file(${PROJECT_SOURCE_DIR}/cmake/sdpp.pc.in ${PROJECT_BINARY_DIR}/sdpp.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/sdpp.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT sdpp_lib)
