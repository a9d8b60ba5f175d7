# SPDX-License-Identifier: Apache-2.0
# crmpulse-board's integration tests (included from the top-level
# CMakeLists.txt). They start their own redis-server and board on free
# loopback ports:
#   board_browser  headless Chromium: no console errors, the API's numbers
#                  on the page, a KPI moving within 2 s of a live message,
#                  a new alert in the ticker, screenshots (1920x1080,
#                  1280x800) in the build directory
#   board_load     200 SSE clients + 1,000 API requests/s for 20 s, then
#                  CPU, RSS, p99 and the board's Redis commands/s
# A larger load for manual runs:
#   python3 tests/integration/board/load_test.py build/crmpulse-board \
#       build/board_loadgen --sse 250 --rps 3000 --seconds 60
# (250: the board serves at most 256 SSE streams, cp_board_limits).
if(BUILD_TESTING)
  add_executable(board_loadgen
    ${CMAKE_CURRENT_SOURCE_DIR}/tests/integration/board/loadgen.c)
  target_link_libraries(board_loadgen PRIVATE cp_warnings)

  add_test(NAME board_browser
    COMMAND /usr/bin/python3
            ${CMAKE_CURRENT_SOURCE_DIR}/tests/integration/board/test_browser.py
            ${CMAKE_BINARY_DIR}/crmpulse-board
            ${CMAKE_BINARY_DIR}/board-screenshots)
  set_tests_properties(board_browser PROPERTIES LABELS integration
    RUN_SERIAL ON TIMEOUT 300)

  # Sanitizers make the board several times slower: there the latency and
  # rate bounds are loose; correctness (no error, no missed message, one
  # subscription, constant Redis load) is checked the same.
  if(CMAKE_BUILD_TYPE STREQUAL "Asan")
    set(BOARD_LOAD_BOUNDS --max-p99-ms 5000 --min-rate-frac 0.1)
  else()
    set(BOARD_LOAD_BOUNDS --max-p99-ms 100 --min-rate-frac 0.9)
  endif()
  add_test(NAME board_load
    COMMAND /usr/bin/python3
            ${CMAKE_CURRENT_SOURCE_DIR}/tests/integration/board/load_test.py
            ${CMAKE_BINARY_DIR}/crmpulse-board
            ${CMAKE_BINARY_DIR}/board_loadgen ${BOARD_LOAD_BOUNDS})
  set_tests_properties(board_load PROPERTIES LABELS integration
    RUN_SERIAL ON TIMEOUT 300)
endif()
