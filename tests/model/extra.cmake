# The PyTorch reference checks itself against other formulations (RoPE as a complex
# rotation, attention as explicit loops); test_model's PyTorchReference.* tests then
# compare the C++ model with it.
add_test(NAME model_reference_selftest
         COMMAND ${DEBIAN_PYTHON} ${PROJECT_SOURCE_DIR}/tests/reference/llama_ref.py selftest)
