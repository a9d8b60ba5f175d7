# SPDX-License-Identifier: Apache-2.0
# Operations endpoint against a real Prometheus (Debian package
# `prometheus`): ops_serve serves known metric values on an ephemeral
# loopback port, test_prometheus.py has a real prometheus scrape it and
# reads the values back through its query API. Included from the top-level
# CMakeLists.txt, after include(CTest) and the lib/ layers.
add_executable(ops_serve ${CMAKE_CURRENT_SOURCE_DIR}/tests/integration/ops_serve.c)
target_link_libraries(ops_serve PRIVATE cp_ops cp_warnings)

if(NOT DEFINED BUILD_TESTING OR BUILD_TESTING)
  add_test(NAME test_prometheus
           COMMAND /usr/bin/python3
                   ${CMAKE_CURRENT_SOURCE_DIR}/tests/integration/test_prometheus.py
                   $<TARGET_FILE:ops_serve>)
  set_tests_properties(test_prometheus PROPERTIES
    LABELS integration TIMEOUT 90
    FAIL_REGULAR_EXPRESSION "LeakSanitizer|AddressSanitizer|runtime error:")
endif()

# The worker's /readyz against a real redis-server that goes away and back.
if(NOT DEFINED BUILD_TESTING OR BUILD_TESTING)
  add_test(NAME test_readyz
           COMMAND /usr/bin/python3
                   ${CMAKE_CURRENT_SOURCE_DIR}/tests/integration/test_readyz.py
                   $<TARGET_FILE:crmpulse>)
  set_tests_properties(test_readyz PROPERTIES LABELS integration TIMEOUT 120)
endif()
