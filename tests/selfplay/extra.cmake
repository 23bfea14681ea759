# `veritas selfplay` end to end through the binary: a tiny model trained in the test,
# determinism, SIGKILL + --resume, expert iteration, the model proposer, errors.
add_test(NAME selfplay_cli COMMAND ${DEBIAN_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/cli_selfplay.py ${VERITAS_BIN})
set_tests_properties(selfplay_cli PROPERTIES TIMEOUT 300)
