# `veritas selfplay` end to end through the binary: a tiny model trained in the test,
# determinism, SIGKILL + --resume, expert iteration, the model proposer, errors.
add_test(NAME selfplay_cli COMMAND ${DEBIAN_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/cli_selfplay.py ${VERITAS_BIN})
set_tests_properties(selfplay_cli PROPERTIES TIMEOUT 300)

# Data-parallel self-play under mpirun -np 2 on loopback (tests/selfplay/mpi_selfplay.py):
# one round on 2 ranks vs 1 process, and runs killed and resumed on another rank count.
# Fails (never skips) when mpirun is missing.
foreach(case round resume)
  add_test(NAME selfplay.mpi_${case}
           COMMAND ${DEBIAN_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/mpi_selfplay.py ${VERITAS_BIN} ${case})
  set_tests_properties(selfplay.mpi_${case} PROPERTIES TIMEOUT 400 RUN_SERIAL TRUE)
endforeach()

# `veritas self-improve` end to end: rounds, filters, --rounds 1 + --resume and SIGKILL +
# --resume give the uninterrupted run's weights, errors.
add_test(NAME self_improve_cli COMMAND ${DEBIAN_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/cli_self_improve.py ${VERITAS_BIN})
set_tests_properties(self_improve_cli PROPERTIES TIMEOUT 300)
