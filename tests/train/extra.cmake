# AdamW against torch.optim.AdamW: a small tool runs veritas's optimizer, the script
# runs PyTorch's on the same parameters and gradients and compares.
add_executable(train_adamw_tool ${CMAKE_CURRENT_LIST_DIR}/tools/adamw_tool.cpp)
target_link_libraries(train_adamw_tool PRIVATE veritas_train)
add_test(NAME train.adamw_vs_torch
         COMMAND ${DEBIAN_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/adamw_torch.py $<TARGET_FILE:train_adamw_tool>)

# Data-parallel training under mpirun -np 2 on loopback (tests/train/mpi_test.py): loss
# curve and parameters against one process, ZeRO-1, a killed rank, checkpoints across
# rank counts, SFT, the device code path (cpu-staged). Fails (never skips) when mpirun is
# missing.
foreach(case curve zero kill reshard sft device)
  add_test(NAME train.mpi_${case}
           COMMAND ${DEBIAN_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/mpi_test.py $<TARGET_FILE:veritas> ${case})
  set_tests_properties(train.mpi_${case} PROPERTIES TIMEOUT 180 RUN_SERIAL TRUE)
endforeach()
