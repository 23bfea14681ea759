# Tokenizer stage extras:
# - test_tok_shards: token shards + DataLoader (data/shards.hpp, links veritas_data) and
#   `veritas tokenize` end to end;
# - tokenizer_parity_tiktoken: token-for-token parity with tiktoken on GPT-2's own files
#   (>= 1 MB of mixed text, plus invalid UTF-8), from the project's .venv. A missing
#   package or interpreter fails the test.
add_executable(test_tok_shards ${CMAKE_CURRENT_LIST_DIR}/shards/shards_test.cpp)
target_link_libraries(test_tok_shards PRIVATE veritas_data GTest::gtest GTest::gtest_main)
gtest_discover_tests(test_tok_shards DISCOVERY_TIMEOUT 60
  PROPERTIES ENVIRONMENT "VERITAS_BIN=${PROJECT_BINARY_DIR}/veritas")

add_test(NAME tokenizer_parity_tiktoken
  COMMAND ${VENV_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/parity.py ${PROJECT_BINARY_DIR}/veritas
  WORKING_DIRECTORY ${CMAKE_CURRENT_LIST_DIR})
set_tests_properties(tokenizer_parity_tiktoken PROPERTIES TIMEOUT 120)
