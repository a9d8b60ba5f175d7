# SPDX-License-Identifier: Apache-2.0
# What `cmake --install` puts where, and the Debian package (`cpack -G DEB`
# in a build directory). Included from the top-level CMakeLists.txt after
# every target exists.
#
#   <prefix>/bin/crmpulse*                      every cmd/* executable
#   <prefix>/share/crmpulse/schemas/            Avro schemas, key and model docs
#   <prefix>/lib/systemd/system/crmpulse.service  ExecStart = <prefix>/bin
#   /etc/crmpulse/crmpulse.conf, model.conf,    samples; an existing file is
#   bridge.conf                                 kept (a package marks them
#                                               as conffiles)
#
# systemd reads units from /usr/local/lib/systemd/system as well as from
# /usr/lib/systemd/system, so both the default prefix and the package's
# (/usr) give a unit that `systemctl` finds.
include(GNUInstallDirs)

set(CP_ETC_DIR /etc/crmpulse)

# Executables: each cmd/<name> builds target <name>; one whose own
# CMakeLists.txt has no install() rule is installed here.
file(GLOB CP_INSTALL_CMDS ${PROJECT_SOURCE_DIR}/cmd/*/CMakeLists.txt)
foreach(cmdfile ${CP_INSTALL_CMDS})
  get_filename_component(dir ${cmdfile} DIRECTORY)
  get_filename_component(name ${dir} NAME)
  file(READ ${cmdfile} body)
  string(FIND "${body}" "install(" has_rule)
  if(TARGET ${name} AND has_rule EQUAL -1)
    install(TARGETS ${name} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  endif()
endforeach()

install(DIRECTORY ${PROJECT_SOURCE_DIR}/schemas/
        DESTINATION ${CMAKE_INSTALL_DATADIR}/crmpulse/schemas)
# The Redis settings we recommend, for an operator to include.
install(FILES ${PROJECT_SOURCE_DIR}/deploy/redis.conf
        DESTINATION ${CMAKE_INSTALL_DATADIR}/crmpulse)

# The unit names the binary by its installed path: written at install time,
# when the prefix (the package's or the user's) is known.
install(CODE "
  set(unit_dir \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/lib/systemd/system\")
  file(READ \"${PROJECT_SOURCE_DIR}/deploy/crmpulse.service\" unit)
  string(REPLACE \"/usr/local/bin/\" \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}/\" unit \"\${unit}\")
  message(STATUS \"Installing: \${unit_dir}/crmpulse.service\")
  file(MAKE_DIRECTORY \"\${unit_dir}\")
  file(WRITE \"\${unit_dir}/crmpulse.service\" \"\${unit}\")
")

# Sample settings: never overwrite what an operator has edited.
set(CP_SAMPLE_CONFIGS ${PROJECT_SOURCE_DIR}/deploy/crmpulse.conf)
if(EXISTS ${PROJECT_SOURCE_DIR}/deploy/bridge.conf)
  list(APPEND CP_SAMPLE_CONFIGS ${PROJECT_SOURCE_DIR}/deploy/bridge.conf)
endif()
if(EXISTS ${PROJECT_SOURCE_DIR}/deploy/model.conf)
  list(APPEND CP_SAMPLE_CONFIGS ${PROJECT_SOURCE_DIR}/deploy/model.conf)
endif()
foreach(conf ${CP_SAMPLE_CONFIGS})
  get_filename_component(conf_name ${conf} NAME)
  install(CODE "
    set(dest \"\$ENV{DESTDIR}${CP_ETC_DIR}/${conf_name}\")
    if(EXISTS \"\${dest}\")
      message(STATUS \"Keeping: \${dest} (exists)\")
    else()
      # file(INSTALL) adds DESTDIR itself.
      file(INSTALL \"${conf}\" DESTINATION \"${CP_ETC_DIR}\"
           FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
    endif()
  ")
  list(APPEND CP_CONFFILES ${CP_ETC_DIR}/${conf_name})
endforeach()

# ---- Debian package ----
set(CP_DEB_MAINTAINER "crmpulse maintainers <crmpulse@example.org>"
    CACHE STRING "Maintainer field of the Debian package")
set(CPACK_PACKAGE_NAME crmpulse)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR crmpulse)
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "Real-time CRM analytics: Kafka events to Redis counters and churn alerts")
set(CPACK_PACKAGE_CONTACT ${CP_DEB_MAINTAINER})
set(CPACK_DEBIAN_PACKAGE_MAINTAINER ${CP_DEB_MAINTAINER})
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# The runtime libraries: computed by dpkg-shlibdeps (package dpkg-dev) with
# their minimum versions, else this list of Debian 12 names.
find_program(CP_DPKG_SHLIBDEPS dpkg-shlibdeps)
if(CP_DPKG_SHLIBDEPS)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
else()
  set(CPACK_DEBIAN_PACKAGE_DEPENDS
      "librdkafka1, libavro23, libhiredis0.14, libmicrohttpd12, libjansson4, libcurl4, libssl3")
endif()
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "redis-server")
# The settings under /etc are the operator's once installed.
string(REPLACE ";" "\n" CP_CONFFILES_TEXT "${CP_CONFFILES}")
file(WRITE ${CMAKE_BINARY_DIR}/debian/conffiles "${CP_CONFFILES_TEXT}\n")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${CMAKE_BINARY_DIR}/debian/conffiles)
set(CPACK_GENERATOR DEB)
include(CPack)
