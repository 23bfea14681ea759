# Independent cross-checks of the verifiers (tests/verify/*.py): exact arithmetic against
# Python's fractions, algebra against sympy, the unit engine against GNU units, the
# element table against Debian's dict-elements. They drive a small helper linked only
# against veritas_verify, so unrelated stages cannot break them.
add_executable(verify_xcheck ${CMAKE_CURRENT_LIST_DIR}/xcheck/xcheck.cpp)
target_link_libraries(verify_xcheck PRIVATE veritas_verify)
foreach(check arith algebra units elements)
  add_test(NAME verify_xcheck_${check}
           COMMAND ${DEBIAN_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/xcheck_${check}.py $<TARGET_FILE:verify_xcheck>)
  set_tests_properties(verify_xcheck_${check} PROPERTIES TIMEOUT 120
                       ENVIRONMENT "VERITAS_FACTS_DIR=${PROJECT_SOURCE_DIR}/data/facts")
endforeach()
# `veritas tasks generate | check | demos` end to end through the binary.
add_test(NAME verify_cli_tasks COMMAND ${DEBIAN_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/cli_tasks.py ${VERITAS_BIN})
set_tests_properties(verify_cli_tasks PROPERTIES TIMEOUT 120 ENVIRONMENT "VERITAS_FACTS_DIR=${PROJECT_SOURCE_DIR}/data/facts")
