# SPDX-License-Identifier: Apache-2.0
# Turns the wallboard page (page/index.html, board.js, board.css) into a C
# table (cp__board_assets[]), so crmpulse-board serves the exact files we
# ship with no file system access and no CDN.
#   cmake -DPAGE_DIR=lib/board/page -DOUT=board_page.c -P embed_page.cmake
# name, URL path, content type (types hold ';', so three parallel lists)
set(names index.html board.js i18n.js board.css)
set(urls /index.html /board.js /i18n.js /board.css)
set(types "text/html\\; charset=utf-8" "text/javascript\\; charset=utf-8"
          "text/javascript\\; charset=utf-8" "text/css\\; charset=utf-8")
set(body "")
set(entries "")
list(LENGTH names count)
math(EXPR last "${count} - 1")
foreach(i RANGE ${last})
  list(GET names ${i} name)
  list(GET urls ${i} url)
  list(GET types ${i} type)
  file(READ ${PAGE_DIR}/${name} hex HEX)
  file(SIZE ${PAGE_DIR}/${name} size)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," hex "${hex}")
  string(APPEND body "static const unsigned char asset_${i}[] = {${hex} 0x00};\n")
  string(APPEND entries "    {\"${url}\", \"${type}\", asset_${i}, ${size}},\n")
endforeach()
file(WRITE ${OUT}.tmp "/* Generated from lib/board/page by embed_page.cmake: do not edit. */\n#include \"board_int.h\"\n\n${body}\nconst struct cp__board_asset cp__board_assets[] = {\n${entries}    {0, 0, 0, 0},\n};\n")
execute_process(COMMAND ${CMAKE_COMMAND} -E copy_if_different ${OUT}.tmp ${OUT})
file(REMOVE ${OUT}.tmp)
