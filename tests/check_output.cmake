# check_output.cmake - run a program and compare its output with an expected text.
#
#   cmake -DPROGRAM=<exe> [-DARGS=<a;b>] -DEXPECTED=<file> [-DEXPECT_EXIT=0|nonzero]
#         -P check_output.cmake
#
# stdout and stderr are compared together (programs flush stdout before writing to stderr).
# Before comparing, both texts are normalised:
#   - addresses (0x followed by hex digits) become 0xADDR;
#   - every run of consecutive lines starting with "> " (a set of tasks, printed in no
#     particular order) is sorted.
cmake_minimum_required(VERSION 3.20)

foreach(var PROGRAM EXPECTED)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "check_output.cmake: ${var} is not set")
  endif()
endforeach()
if(NOT DEFINED EXPECT_EXIT)
  set(EXPECT_EXIT 0)
endif()

execute_process(
  COMMAND ${PROGRAM} ${ARGS}
  OUTPUT_VARIABLE out
  ERROR_VARIABLE out
  RESULT_VARIABLE rc
  TIMEOUT 60)

function(normalise text outvar)
  string(REPLACE "\r" "" text "${text}")
  # Protect list separators before turning lines into a CMake list.
  string(REPLACE ";" "<semicolon>" text "${text}")
  string(REPLACE "[" "<lbracket>" text "${text}")
  string(REPLACE "]" "<rbracket>" text "${text}")
  string(REGEX REPLACE "0x[0-9a-fA-F]+" "0xADDR" text "${text}")
  string(REGEX REPLACE "\n$" "" text "${text}")
  string(REPLACE "\n" ";" lines "${text}")
  set(result "")
  set(block "")
  foreach(line IN LISTS lines)
    if(line MATCHES "^> ")
      list(APPEND block "${line}")
    else()
      if(block)
        list(SORT block)
        list(APPEND result ${block})
        set(block "")
      endif()
      list(APPEND result "${line}")
    endif()
  endforeach()
  if(block)
    list(SORT block)
    list(APPEND result ${block})
  endif()
  string(REPLACE ";" "\n" text "${result}")
  set(${outvar} "${text}" PARENT_SCOPE)
endfunction()

file(READ "${EXPECTED}" expected)
normalise("${expected}" want)
normalise("${out}" got)

set(ok TRUE)
if(EXPECT_EXIT STREQUAL "nonzero")
  if(rc STREQUAL "0" OR NOT rc MATCHES "^[0-9]+$")
    message("expected a non-zero exit status, got: ${rc}")
    set(ok FALSE)
  endif()
elseif(NOT rc STREQUAL "${EXPECT_EXIT}")
  message("expected exit status ${EXPECT_EXIT}, got: ${rc}")
  set(ok FALSE)
endif()
if(NOT got STREQUAL want)
  message("output differs from ${EXPECTED} (normalised, '> ' lines sorted)")
  set(ok FALSE)
endif()
if(NOT ok)
  message("---- expected ----\n${want}\n---- actual ----\n${got}\n------------------")
  message(FATAL_ERROR "check failed: ${PROGRAM} ${ARGS}")
endif()
message(STATUS "output of ${PROGRAM} ${ARGS} matches ${EXPECTED}")
