# The CUDA backend. CTest never needs a GPU: `cuda_build` checks that the CUDA
# translation units are compiled and linked into the binary and that a machine without
# a GPU gets a clear report, not a crash; `cuda_libraries_load` that cuBLASLt and NCCL
# load with every entry point. The kernels are checked against the CPU
# kernels by cuda_device_check, which scripts/device-check runs on a GPU machine.
if(VERITAS_CUDA)
  add_test(NAME cuda_build COMMAND ${PROJECT_BINARY_DIR}/veritas --version)
  set_tests_properties(cuda_build PROPERTIES PASS_REGULAR_EXPRESSION "cuda: built \\(CUDA [0-9]+\\.[0-9]+, sm_[0-9]+\\)"
                       TIMEOUT 60)
  # The GPU code itself is in the binary: a non-empty .nv_fatbin section.
  add_test(NAME cuda_fatbin_linked COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/fatbin_linked.sh ${PROJECT_BINARY_DIR}/veritas)
  add_executable(cuda_device_check ${CMAKE_CURRENT_LIST_DIR}/device/check_kernels.cpp
                                   ${CMAKE_CURRENT_LIST_DIR}/device/check_training.cpp
                                   ${CMAKE_CURRENT_LIST_DIR}/device/check_decode.cpp)
  target_link_libraries(cuda_device_check PRIVATE veritas_cuda veritas_kernels veritas_train veritas_infer)
  # The libraries loaded at run time are there and have every entry point veritas calls.
  add_test(NAME cuda_libraries_load COMMAND cuda_device_check --libraries)
  set_tests_properties(cuda_libraries_load PROPERTIES PASS_REGULAR_EXPRESSION "every entry point found" TIMEOUT 60)
  # The device check's engine comparison itself, with cpu-staged in the GPU's place.
  add_test(NAME cuda_check_engine_harness COMMAND cuda_device_check --engine-check-on-cpu-staged)
  set_tests_properties(cuda_check_engine_harness PROPERTIES TIMEOUT 300)
else()
  add_test(NAME cuda_build COMMAND ${PROJECT_BINARY_DIR}/veritas --version)
  set_tests_properties(cuda_build PROPERTIES PASS_REGULAR_EXPRESSION "cuda: not built" TIMEOUT 60)
endif()
