# The CUDA backends (issue 20): ECPS_ENABLE_CUDA is ON when nvcc is found and
# OFF otherwise; an explicit -DECPS_ENABLE_CUDA=OFF (or ON) wins. CI and the
# development machines have the toolkit but no GPU, so every CUDA target is
# compiled and linked there and the GPU tests skip themselves at run time.
#
# CUDA code lives only in */cuda/ folders, in targets made by the helpers
# below (scripts/check_deps.sh refuses a CUDA header anywhere else), so the
# rest of the tree builds the same with CUDA on or off.
#
#   ecps_cuda_library(NAME n SRCS k.cu host.cc ... DEPS ...)
#   ecps_cuda_test(NAME n SRCS t.cc ... DEPS ...)
#
# Their sources count as built for ecps_check_every_source_is_built whether
# CUDA is on or not; the targets exist only when it is on.
if(NOT DEFINED ECPS_ENABLE_CUDA)
  set(ecps_cuda_default OFF)
  # Sanitizer and libFuzzer trees instrument every C/C++ file; nvcc takes none
  # of those flags, and those trees test host code only.
  if(NOT ECPS_FUZZ AND ECPS_SANITIZE STREQUAL "")
    include(CheckLanguage)
    check_language(CUDA)
    if(CMAKE_CUDA_COMPILER)
      set(ecps_cuda_default ON)
    endif()
  endif()
  set(ECPS_ENABLE_CUDA ${ecps_cuda_default} CACHE BOOL
      "Build the CUDA backends (default: ON when nvcc is found)")
endif()

if(ECPS_ENABLE_CUDA)
  # Chosen without a GPU to detect: 90 is the H200 (Hopper) as SASS; 75-virtual
  # embeds PTX that the driver JIT-compiles on any other GPU CUDA 13 supports.
  # One SASS target keeps nvcc time small on the 2-core CI box.
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
    set(CMAKE_CUDA_ARCHITECTURES "90-real;75-virtual" CACHE STRING "CUDA architectures")
  endif()
  enable_language(CUDA)
  find_package(CUDAToolkit REQUIRED)
  # CMake 3.25 knows no C++20 flag for nvcc; .cu files include only headers
  # that are C++17 (kernels.h, reference.h). Host .cc files stay C++20.
  set(CMAKE_CUDA_STANDARD 17)
  set(CMAKE_CUDA_STANDARD_REQUIRED ON)
  # cudart is linked explicitly (CUDA::cudart), shared like cuBLAS.
  set(CMAKE_CUDA_RUNTIME_LIBRARY Shared)
  add_compile_definitions(ECPS_HAVE_CUDA=1)
endif()

function(ecps_cuda_list_sources)
  foreach(src ${ARGN})
    get_filename_component(src ${src} ABSOLUTE)
    set_property(GLOBAL APPEND PROPERTY ECPS_LISTED_CUDA_SOURCES ${src})
  endforeach()
endfunction()

function(ecps_cuda_library)
  cmake_parse_arguments(A "" "NAME" "SRCS;DEPS" ${ARGN})
  ecps_cuda_list_sources(${A_SRCS})
  if(NOT ECPS_ENABLE_CUDA)
    return()
  endif()
  add_library(${A_NAME} STATIC ${A_SRCS})
  add_library(ecps::${A_NAME} ALIAS ${A_NAME})
  target_link_libraries(${A_NAME} PUBLIC ${A_DEPS})
  ecps_warnings(${A_NAME})
endfunction()

function(ecps_cuda_test)
  cmake_parse_arguments(A "" "NAME" "SRCS;DEPS" ${ARGN})
  ecps_cuda_list_sources(${A_SRCS})
  if(NOT ECPS_ENABLE_CUDA)
    return()
  endif()
  ecps_cc_test(NAME ${A_NAME} SRCS ${A_SRCS} DEPS ${A_DEPS} LABELS cuda)
endfunction()
