# SPDX-License-Identifier: Apache-2.0
# crmpulse-scenario: produces scripted CRM events from a text file (see its
# --help); the churn integration tests drive the worker with it.
add_executable(crmpulse-scenario
  ${CMAKE_CURRENT_SOURCE_DIR}/tests/integration/scenario.c)
target_link_libraries(crmpulse-scenario PRIVATE crmpulse_all cp_warnings)
