# Registers the install/consumer test. Include from tests/CMakeLists.txt:
#   include(${PROJECT_SOURCE_DIR}/tests/install/ctest.cmake)
# It installs this build tree into a temporary prefix and builds tests/install/ against it
# with CMake and with pkg-config (shared and static). Not for sanitizer builds, whose
# libraries need the sanitizer runtime at the consumer's link.
if(TASKRING_SANITIZE STREQUAL "")
  add_test(NAME install_consumer
           COMMAND ${PROJECT_SOURCE_DIR}/tests/install/run.sh ${PROJECT_BINARY_DIR})
  set_tests_properties(install_consumer PROPERTIES LABELS install TIMEOUT 300)
endif()
