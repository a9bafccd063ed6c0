# One helper per kind of target (abseil's absl_cc_library, FBGEMM's
# gpu_cpp_library). Source lists are explicit; module dependencies are declared
# only through DEPS, so the link graph is the dependency rule of style.md §5.
#
#   ecps_cc_library(NAME n SRCS a.cc ... [CUDA_SRCS k.cu ...] DEPS ...)
#   ecps_cc_binary(NAME n SRCS main.cc DEPS ...)
#   ecps_cc_test(NAME n SRCS t.cc DEPS ... [LABELS l ...] [TSAN])   (default label: unit)
#
# ECPS_SANITIZE=thread (CMakeLists.txt) compiles and links every target of
# the project with ThreadSanitizer; the prebuilt libraries it links (Abseil,
# ZeroMQ, OpenBLAS, libgomp, ...) are not instrumented: scripts/tsan.supp.
# -O1 (after the build type's -O3) keeps stacks readable at a bearable speed.
if(ECPS_SANITIZE STREQUAL "thread")
  add_compile_options("$<$<COMPILE_LANGUAGE:C,CXX>:-fsanitize=thread;-g;-O1>")
  add_link_options(-fsanitize=thread)
elseif(NOT ECPS_SANITIZE STREQUAL "")
  message(FATAL_ERROR "ECPS_SANITIZE='${ECPS_SANITIZE}': supported values are '' and 'thread'")
endif()

function(ecps_warnings target)
  target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:C,CXX>:-Wall;-Wextra;-Wno-unused-parameter>
    # GCC 12 reports false -Wrestrict positives inside libstdc++ string code.
    $<$<AND:$<COMPILE_LANGUAGE:CXX>,$<CXX_COMPILER_ID:GNU>>:-Wno-restrict>
    # nvcc (cmake/EcpsCuda.cmake): the same warnings for the host side of .cu files.
    $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall,-Wextra,-Wno-unused-parameter>)
  if(ECPS_WERROR)
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:C,CXX>:-Werror>
      $<$<COMPILE_LANGUAGE:CUDA>:-Werror=all-warnings;-Xcompiler=-Werror>)
  endif()
endfunction()

function(ecps_cc_library)
  cmake_parse_arguments(A "" "NAME" "SRCS;CUDA_SRCS;DEPS" ${ARGN})
  set(srcs ${A_SRCS})
  foreach(cu ${A_CUDA_SRCS})
    get_filename_component(cu ${cu} ABSOLUTE)
    set_property(GLOBAL APPEND PROPERTY ECPS_LISTED_CUDA_SOURCES ${cu})
  endforeach()
  if(ECPS_ENABLE_CUDA AND A_CUDA_SRCS)
    list(APPEND srcs ${A_CUDA_SRCS})
  endif()
  add_library(${A_NAME} STATIC ${srcs})
  add_library(ecps::${A_NAME} ALIAS ${A_NAME})
  target_link_libraries(${A_NAME} PUBLIC ${A_DEPS})
  ecps_warnings(${A_NAME})
  ecps_tsan_skip_multiversion(${A_NAME})
endfunction()

# ThreadSanitizer and function multiversioning do not mix: GCC instruments the
# resolver of a target_clones function, which the dynamic loader runs before
# the TSan runtime is initialised (a crash before main). The files of `target`
# that use it (vectorised kernels: arithmetic on buffers their callers own and
# lock; those accesses are checked in the callers) go uninstrumented. A
# library whose sources are added later (target_sources from subdirectories,
# as compressors/ does per family) calls this again after adding them.
function(ecps_tsan_skip_multiversion target)
  if(NOT ECPS_SANITIZE STREQUAL "thread")
    return()
  endif()
  get_target_property(srcs ${target} SOURCES)
  foreach(src ${srcs})
    get_filename_component(path ${src} ABSOLUTE)
    if(NOT EXISTS ${path})
      continue()  # generated at build time
    endif()
    file(READ ${path} text)
    if(text MATCHES "target_clones")
      set_source_files_properties(${src} TARGET_DIRECTORY ${target}
                                  PROPERTIES COMPILE_OPTIONS -fno-sanitize=thread)
    endif()
  endforeach()
endfunction()

function(ecps_cc_binary)
  cmake_parse_arguments(A "" "NAME" "SRCS;DEPS" ${ARGN})
  add_executable(${A_NAME} ${A_SRCS})
  target_link_libraries(${A_NAME} PRIVATE ${A_DEPS})
  ecps_warnings(${A_NAME})
endfunction()

function(ecps_cc_test)
  cmake_parse_arguments(A "TSAN" "NAME" "SRCS;DEPS;LABELS" ${ARGN})
  add_executable(${A_NAME} ${A_SRCS})
  target_link_libraries(${A_NAME} PRIVATE ${A_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  ecps_warnings(${A_NAME})
  set(labels unit)
  if(A_LABELS)
    set(labels ${A_LABELS})
  endif()
  # TSAN: scripts/tsan.sh also builds the test (target tsan_tests) and runs it
  # under ThreadSanitizer; in that tree (ECPS_SANITIZE=thread) its label is
  # `tsan`, the one it selects by. One label per test: gtest_discover_tests
  # cannot pass a list of them.
  if(A_TSAN)
    if(NOT TARGET tsan_tests)
      add_custom_target(tsan_tests)
    endif()
    add_dependencies(tsan_tests ${A_NAME})
    if(ECPS_SANITIZE STREQUAL "thread")
      set(labels tsan)
    endif()
  endif()
  # Listing the tests runs the binary at build time: slower under a sanitizer.
  set(discovery_timeout 60)
  if(ECPS_SANITIZE)
    set(discovery_timeout 300)
  endif()
  gtest_discover_tests(${A_NAME}
    WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR}
    PROPERTIES LABELS "${labels}"
    DISCOVERY_TIMEOUT ${discovery_timeout})
endfunction()

# Fails the configure, naming the files, when a source file of the tree is
# built by no target: a method file left out of its family's list, a test
# folder no CMakeLists.txt adds, a test file its folder forgot. Without this
# such code would compile nowhere and its tests would silently never run.
# CUDA sources count as built when a library lists them (CUDA_SRCS), CUDA on
# or off. Run once, at the end of the top-level CMakeLists.txt.
function(ecps_collect_target_sources dir out)
  set(found "")
  get_property(targets DIRECTORY ${dir} PROPERTY BUILDSYSTEM_TARGETS)
  foreach(t ${targets})
    get_target_property(srcs ${t} SOURCES)
    get_target_property(tdir ${t} SOURCE_DIR)
    if(NOT srcs)
      continue()
    endif()
    foreach(s ${srcs})
      if(NOT IS_ABSOLUTE ${s})
        set(s ${tdir}/${s})
      endif()
      get_filename_component(s ${s} ABSOLUTE)
      list(APPEND found ${s})
    endforeach()
  endforeach()
  get_property(subdirs DIRECTORY ${dir} PROPERTY SUBDIRECTORIES)
  foreach(sub ${subdirs})
    ecps_collect_target_sources(${sub} more)
    list(APPEND found ${more})
  endforeach()
  set(${out} ${found} PARENT_SCOPE)
endfunction()

function(ecps_check_every_source_is_built)
  ecps_collect_target_sources(${PROJECT_SOURCE_DIR} built)
  get_property(cuda GLOBAL PROPERTY ECPS_LISTED_CUDA_SOURCES)
  list(APPEND built ${cuda})
  set(folders common comm compressors embedding ps scheduler worker launch tools)
  # fuzz/replay_main.cc is built only when the fuzz targets are not libFuzzer's.
  if(NOT ECPS_FUZZ)
    list(APPEND folders fuzz)
  endif()
  if(ECPS_BUILD_TESTS)
    list(APPEND folders tests)
  endif()
  if(ECPS_BUILD_BENCH)
    list(APPEND folders bench)
  endif()
  set(missing "")
  foreach(f ${folders})
    file(GLOB_RECURSE files ${PROJECT_SOURCE_DIR}/${f}/*.cc ${PROJECT_SOURCE_DIR}/${f}/*.cu)
    foreach(file ${files})
      list(FIND built ${file} i)
      if(i EQUAL -1)
        file(RELATIVE_PATH rel ${PROJECT_SOURCE_DIR} ${file})
        list(APPEND missing ${rel})
      endif()
    endforeach()
  endforeach()
  if(missing)
    list(JOIN missing "\n  " text)
    message(FATAL_ERROR "these source files are built by no target (add them to their "
                        "folder's CMakeLists.txt, or add the folder to its parent's list):\n  ${text}")
  endif()
endfunction()
