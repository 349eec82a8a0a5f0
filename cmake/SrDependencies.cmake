# Finds everything the module builds against, all from Debian 12 packages (see README).
find_package(PkgConfig REQUIRED)

# httpd: apxs knows where headers and modules live (Debian: /usr/include/apache2, /usr/lib/apache2/modules).
find_program(APXS_EXECUTABLE NAMES apxs apxs2 REQUIRED)
function(sr_apxs_query var key)
  execute_process(COMMAND ${APXS_EXECUTABLE} -q ${key} OUTPUT_VARIABLE _v OUTPUT_STRIP_TRAILING_WHITESPACE
                  RESULT_VARIABLE _rc)
  if(NOT _rc EQUAL 0)
    message(FATAL_ERROR "apxs -q ${key} failed")
  endif()
  set(${var} "${_v}" PARENT_SCOPE)
endfunction()
sr_apxs_query(HTTPD_INCLUDE_DIR INCLUDEDIR)
sr_apxs_query(HTTPD_MODULES_DIR LIBEXECDIR)
sr_apxs_query(HTTPD_SBINDIR SBINDIR)
sr_apxs_query(HTTPD_PROGNAME PROGNAME)
sr_apxs_query(HTTPD_SYSCONFDIR SYSCONFDIR)
set(HTTPD_EXECUTABLE "${HTTPD_SBINDIR}/${HTTPD_PROGNAME}" CACHE FILEPATH "httpd binary used by the tests")
if(NOT EXISTS "${HTTPD_INCLUDE_DIR}/httpd.h")
  message(FATAL_ERROR "httpd.h not found in ${HTTPD_INCLUDE_DIR} (install apache2-dev)")
endif()

pkg_check_modules(APR REQUIRED IMPORTED_TARGET apr-1)
pkg_check_modules(APU REQUIRED IMPORTED_TARGET apr-util-1)
pkg_check_modules(JANSSON REQUIRED IMPORTED_TARGET jansson)
pkg_check_modules(PQXX REQUIRED IMPORTED_TARGET libpqxx)
pkg_check_modules(PQ REQUIRED IMPORTED_TARGET libpq)
find_package(CURL REQUIRED)
find_package(OpenSSL REQUIRED)
find_package(ICU 60 REQUIRED COMPONENTS uc i18n)
find_package(absl REQUIRED)

# libphonenumber ships neither a .pc nor a CMake config in Debian 12.
find_library(PHONENUMBER_LIBRARY NAMES phonenumber REQUIRED)
find_path(PHONENUMBER_INCLUDE_DIR phonenumbers/phonenumberutil.h REQUIRED)
find_package(Protobuf REQUIRED)
add_library(sr_phonenumber INTERFACE)
target_include_directories(sr_phonenumber SYSTEM INTERFACE "${PHONENUMBER_INCLUDE_DIR}")
target_link_libraries(sr_phonenumber INTERFACE "${PHONENUMBER_LIBRARY}" protobuf::libprotobuf ICU::uc ICU::i18n)

find_path(MUSTACHE_INCLUDE_DIR kainjow/mustache.hpp REQUIRED)

if(SR_BUILD_TESTS)
  pkg_check_modules(CPPUNIT REQUIRED IMPORTED_TARGET cppunit)
  find_package(Python3 REQUIRED COMPONENTS Interpreter)
endif()
