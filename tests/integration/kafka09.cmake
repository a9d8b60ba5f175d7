# SPDX-License-Identifier: Apache-2.0
# crmpulse-gen and two crmpulse workers against a real Apache Kafka 0.9.0.1
# broker started by deploy/kafka09.sh (rebalance, SIGKILL and restart,
# exact results by the oracle). Skipped (exit 77, loudly) where the broker
# cannot be installed. Included from the top-level CMakeLists.txt, after
# include(CTest) and the lib/ layers.
if(NOT DEFINED BUILD_TESTING OR BUILD_TESTING)
  add_test(NAME test_kafka09
           COMMAND /usr/bin/python3
                   ${CMAKE_CURRENT_SOURCE_DIR}/tests/integration/test_kafka09.py
                   ${CMAKE_BINARY_DIR} ${CMAKE_CURRENT_SOURCE_DIR})
  set_tests_properties(test_kafka09 PROPERTIES
    LABELS integration RUN_SERIAL ON TIMEOUT 600 SKIP_RETURN_CODE 77
    FAIL_REGULAR_EXPRESSION "LeakSanitizer|AddressSanitizer|runtime error:")
endif()
