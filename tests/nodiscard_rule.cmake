# The [[nodiscard]] rule (docs/guide.md, "Errors"), checked over every public header:
#   - marked: a result that is lost if ignored and that success does not imply: a count that may
#     be short (send, recv, try_*, recv_some, read_some, recv_many), data taken from a stream
#     (recv_from, read_message, read_line, ...), a new owner of a handle (accept, open,
#     listen_on, connect_to, tls_connect, ...);
#   - never marked: a count that equals the request whenever ec is clear (send_all,
#     recv_exact, send_to, send_many, send_message, ...), so `call(..., ec); if (ec)` is complete.
# tests/call_forms_test.cpp compiles the second half under -Werror=unused-result; this script
# checks every declaration of both lists.   cmake -DSOURCE_DIR=... -P nodiscard_rule.cmake
cmake_minimum_required(VERSION 3.13)
set(marked send recv try_send try_recv recv_some recv_from recv_many read_some read_message read_line
    read_line_or_remainder try_message try_line next_message next_line accept try_accept release open tcp
    udp listen_on socket_pair connect_to tls_connect tls_accept)
set(unmarked send_all recv_exact send_all_buffers send_to send_many send_message send_line read_exact)

# async.hpp is left out: its calls return awaitables, and an awaitable that is not awaited does
# nothing at all, so every awaitable type (and Task) is itself [[nodiscard]], whatever it yields.
file(GLOB headers "${SOURCE_DIR}/include/sockets/*.hpp")
list(FILTER headers EXCLUDE REGEX "/async\\.hpp$")
set(failures "")
set(checked 0)
foreach(header IN LISTS headers)
  file(STRINGS "${header}" lines)
  get_filename_component(file "${header}" NAME)
  foreach(line IN LISTS lines)
    if(line MATCHES "^ *(\\[\\[nodiscard\\]\\] )?((static|inline|SOCKETS_DECL|constexpr) +)*([A-Za-z_][A-Za-z0-9_:<>, ]*[A-Za-z0-9_>]) +([a-z_]+)\\(")
      set(tag "${CMAKE_MATCH_1}")
      set(type "${CMAKE_MATCH_4}")
      set(name "${CMAKE_MATCH_5}")
      if(type STREQUAL "return" OR type STREQUAL "void")
        continue()
      endif()
      if(name IN_LIST marked)
        math(EXPR checked "${checked} + 1")
        if(tag STREQUAL "")
          string(APPEND failures "${file}: ${name} must be [[nodiscard]]: ${line}\n")
        endif()
      elseif(name IN_LIST unmarked)
        math(EXPR checked "${checked} + 1")
        if(NOT tag STREQUAL "")
          string(APPEND failures "${file}: ${name} must not be [[nodiscard]]: ${line}\n")
        endif()
      endif()
    endif()
  endforeach()
endforeach()
if(checked LESS 100)
  message(FATAL_ERROR "nodiscard rule: only ${checked} declarations found; the pattern is stale")
endif()
if(NOT failures STREQUAL "")
  message(FATAL_ERROR "nodiscard rule broken:\n${failures}")
endif()
message(STATUS "nodiscard rule: ${checked} declarations follow it")
