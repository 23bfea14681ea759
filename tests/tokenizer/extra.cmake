# Tokenizer stage extras:
# - test_tok_shards: token shards + DataLoader (data/shards.hpp, links veritas_data) and
#   `veritas tokenize` end to end;
# - tokenizer_parity_gpt3_encoder: token-for-token parity with the gpt-3-encoder npm
#   package (installed into a temp folder at test time; SKIP when npm is unreachable).
add_executable(test_tok_shards ${CMAKE_CURRENT_LIST_DIR}/shards/shards_test.cpp)
target_link_libraries(test_tok_shards PRIVATE veritas_data GTest::gtest GTest::gtest_main)
gtest_discover_tests(test_tok_shards DISCOVERY_TIMEOUT 60
  PROPERTIES ENVIRONMENT "VERITAS_BIN=${PROJECT_BINARY_DIR}/veritas")

add_test(NAME tokenizer_parity_gpt3_encoder
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/parity.sh ${PROJECT_BINARY_DIR}/veritas)
set_tests_properties(tokenizer_parity_gpt3_encoder PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 120)
