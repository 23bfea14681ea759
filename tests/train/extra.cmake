# AdamW against torch.optim.AdamW: a small tool runs veritas's optimizer, the script
# runs PyTorch's on the same parameters and gradients and compares.
add_executable(train_adamw_tool ${CMAKE_CURRENT_LIST_DIR}/tools/adamw_tool.cpp)
target_link_libraries(train_adamw_tool PRIVATE veritas_train)
add_test(NAME train.adamw_vs_torch
         COMMAND ${DEBIAN_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/adamw_torch.py $<TARGET_FILE:train_adamw_tool>)
