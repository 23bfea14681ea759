# veritas serve end to end through the binary, on a tiny model trained once (fixture):
# the official openai client, hostile clients, SIGTERM/SIGKILL, and the chat page in a
# real headless browser (Debian's chromium + chromedriver, driven by selenium).
set(SERVE_MODEL ${PROJECT_BINARY_DIR}/serve-test-model)
add_test(NAME serve_model COMMAND ${DEBIAN_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/make_model.py ${VERITAS_BIN} ${SERVE_MODEL})
set_tests_properties(serve_model PROPERTIES FIXTURES_SETUP serve_model TIMEOUT 180)
foreach(t openai_client hostile lifecycle browser)
  add_test(NAME serve_${t} COMMAND ${VENV_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/${t}.py ${VERITAS_BIN} ${SERVE_MODEL})
  set_tests_properties(serve_${t} PROPERTIES FIXTURES_REQUIRED serve_model TIMEOUT 180)
endforeach()
