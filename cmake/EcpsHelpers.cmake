# One helper per kind of target (abseil's absl_cc_library, FBGEMM's
# gpu_cpp_library). Source lists are explicit; module dependencies are declared
# only through DEPS, so the link graph is the dependency rule of style.md §5.
#
#   ecps_cc_library(NAME n SRCS a.cc ... [CUDA_SRCS k.cu ...] DEPS ...)
#   ecps_cc_binary(NAME n SRCS main.cc DEPS ...)
#   ecps_cc_test(NAME n SRCS t.cc DEPS ... [LABELS l ...])

function(ecps_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-unused-parameter
    # GCC 12 reports false -Wrestrict positives inside libstdc++ string code.
    $<$<CXX_COMPILER_ID:GNU>:-Wno-restrict>)
  if(ECPS_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

function(ecps_cc_library)
  cmake_parse_arguments(A "" "NAME" "SRCS;CUDA_SRCS;DEPS" ${ARGN})
  set(srcs ${A_SRCS})
  if(ECPS_ENABLE_CUDA AND A_CUDA_SRCS)
    list(APPEND srcs ${A_CUDA_SRCS})
  endif()
  add_library(${A_NAME} STATIC ${srcs})
  add_library(ecps::${A_NAME} ALIAS ${A_NAME})
  target_link_libraries(${A_NAME} PUBLIC ${A_DEPS})
  ecps_warnings(${A_NAME})
endfunction()

function(ecps_cc_binary)
  cmake_parse_arguments(A "" "NAME" "SRCS;DEPS" ${ARGN})
  add_executable(${A_NAME} ${A_SRCS})
  target_link_libraries(${A_NAME} PRIVATE ${A_DEPS})
  ecps_warnings(${A_NAME})
endfunction()

function(ecps_cc_test)
  cmake_parse_arguments(A "" "NAME" "SRCS;DEPS;LABELS" ${ARGN})
  add_executable(${A_NAME} ${A_SRCS})
  target_link_libraries(${A_NAME} PRIVATE ${A_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  ecps_warnings(${A_NAME})
  set(labels unit)
  if(A_LABELS)
    set(labels ${A_LABELS})
  endif()
  gtest_discover_tests(${A_NAME}
    WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR}
    PROPERTIES LABELS "${labels}"
    DISCOVERY_TIMEOUT 60)
endfunction()
