# install.cmake - `cmake --install` rules, included at the end of the top-level CMakeLists.txt.
#
# Installs:
#   <includedir>/taskring.h
#   <libdir>/libtaskring.a, libtaskring.so -> libtaskring.so.0 -> libtaskring.so.0.1.0
#   <libdir>/cmake/taskring/  find_package(taskring): taskring::taskring (= shared),
#                             taskring::shared, taskring::static; components `shared`, `static`
#   <libdir>/pkgconfig/taskring.pc
#   <bindir>/taskring-ps, <mandir>/man1/taskring-ps.1
#
# The installed package needs no find_dependency(): liburing, boost_context, pthread and dl
# are plain system libraries, so the exported static target names them (-luring, ...) rather
# than recording this machine's absolute paths, and the shared library carries them as its
# own DT_NEEDED entries.
include(CMakePackageConfigHelpers)

set(TASKRING_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/taskring"
    CACHE STRING "Where to install the CMake package files (relative to the prefix)")
set(TASKRING_INSTALL_PKGCONFIGDIR "${CMAKE_INSTALL_LIBDIR}/pkgconfig"
    CACHE STRING "Where to install taskring.pc (relative to the prefix)")

# ---- Link interface: build paths in-tree, library names once installed -------------------------
# The top level links both libraries PUBLIC against absolute paths (pkg-config's liburing.so,
# find_library's boost_context) and Threads::Threads. Keep exactly that for in-tree users
# (tests, examples, bench), and export names only.
set(_taskring_static_install_libs uring boost_context pthread ${CMAKE_DL_LIBS})
foreach(_tgt taskring_static taskring_shared)
  get_target_property(_build_libs ${_tgt} INTERFACE_LINK_LIBRARIES)
  set(_iface "")
  if(_build_libs)
    foreach(_item IN LISTS _build_libs)
      list(APPEND _iface "$<BUILD_INTERFACE:${_item}>")
    endforeach()
  endif()
  if(_tgt STREQUAL "taskring_static")
    foreach(_item IN LISTS _taskring_static_install_libs)
      list(APPEND _iface "$<INSTALL_INTERFACE:${_item}>")
    endforeach()
  endif()
  set_property(TARGET ${_tgt} PROPERTY INTERFACE_LINK_LIBRARIES "${_iface}")
endforeach()
unset(_iface)
unset(_build_libs)

# ---- Files -------------------------------------------------------------------------------------
install(TARGETS taskring_static taskring_shared
  EXPORT taskringTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${PROJECT_SOURCE_DIR}/include/taskring.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

# ---- CMake package -----------------------------------------------------------------------------
install(EXPORT taskringTargets
  NAMESPACE taskring::
  FILE taskring-targets.cmake
  DESTINATION ${TASKRING_INSTALL_CMAKEDIR})
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/taskring-config.cmake.in
  ${PROJECT_BINARY_DIR}/taskring-config.cmake
  INSTALL_DESTINATION ${TASKRING_INSTALL_CMAKEDIR})
# 0.x: a minor version may break the API, so only the same 0.MINOR is compatible.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/taskring-config-version.cmake
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/taskring-config.cmake
              ${PROJECT_BINARY_DIR}/taskring-config-version.cmake
  DESTINATION ${TASKRING_INSTALL_CMAKEDIR})

# ---- pkg-config --------------------------------------------------------------------------------
# taskring.pc holds absolute paths for the prefix actually installed to, which
# `cmake --install --prefix DIR` may choose after configuration: configure everything but the
# prefix now (stage 1), and the prefix when installing (stage 2, in the install script).
foreach(_kind LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${_kind}}")
    set(TASKRING_PC_${_kind} "${CMAKE_INSTALL_${_kind}}")
  else()
    set(TASKRING_PC_${_kind} "\${prefix}/${CMAKE_INSTALL_${_kind}}")
  endif()
endforeach()
set(TASKRING_PC_PREFIX "@TASKRING_PC_INSTALL_PREFIX@") # substituted in stage 2
configure_file(${CMAKE_CURRENT_LIST_DIR}/taskring.pc.in ${PROJECT_BINARY_DIR}/taskring.pc.stage1 @ONLY)
install(CODE "
  # --prefix may be relative (to the working directory): taskring.pc needs it absolute.
  get_filename_component(TASKRING_PC_INSTALL_PREFIX \"\${CMAKE_INSTALL_PREFIX}\" ABSOLUTE)
  configure_file(\"${PROJECT_BINARY_DIR}/taskring.pc.stage1\" \"${PROJECT_BINARY_DIR}/taskring.pc\" @ONLY)")
install(FILES ${PROJECT_BINARY_DIR}/taskring.pc DESTINATION ${TASKRING_INSTALL_PKGCONFIGDIR})

# taskring-ps and its man page (tools/taskring-ps.c, docs/taskring-ps.1).
install(TARGETS taskring-ps RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${PROJECT_SOURCE_DIR}/docs/taskring-ps.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
