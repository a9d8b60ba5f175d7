# SPDX-License-Identifier: Apache-2.0
# Turns deploy/model.conf into a C array (cp__churn_default_model), so the
# library carries the very model file we ship as its built-in default.
file(READ ${MODEL} hex HEX)
string(LENGTH "${hex}" hexlen)
math(EXPR len "${hexlen} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," hex "${hex}")
file(WRITE ${OUT}.tmp "/* Generated from deploy/model.conf: do not edit. */\n#include <stddef.h>\n\n#include \"churn_int.h\"\n\nconst char cp__churn_default_model[] = {${hex} 0x00};\nconst size_t cp__churn_default_model_len = ${len};\n")
execute_process(COMMAND ${CMAKE_COMMAND} -E copy_if_different ${OUT}.tmp ${OUT})
