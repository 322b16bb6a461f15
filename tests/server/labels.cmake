# The server tests' labels (tests/server/CMakeLists.txt says what each means), included by
# ctest after the discovered tests (server_tests_TESTS). Per suite: its labels, and which of
# its cases are quick (every other case of an integration suite is labelled slow: each
# starts servers, worker processes or clusters, 2-45 s on the Emerald Rapids host).
set(pt_server_groups
  "^(JobLifecycle|JobRequest|RunState)[.]"   "unit,db,xgboost"                          "."
  "^(MeasureQueue|WireFormat)[.]"            "unit"                                     "."
  "^(TuningService|AuthenticatedService)[.]" "integration,workers,llvm,db,torch"        "^(AuthenticatedService[.]RejectsBadRequests|TuningService[.]AJobWithoutAStrategy)"
  "^EndToEnd[.]"                             "integration,workers,cli,llvm,db,xgboost,torch" "^EndToEnd[.]AWorkloadOverTheMemoryCap"
  "^Faults[.]"                               "integration,workers,llvm"                 "^Faults[.](AWorkerOnlyMeasuresCandidatesForItsOwnTarget|AnUnknownOpFromTheQueue)"
  "^Fuzz[.]"                                 "integration,fuzz,cli,llvm"                "^$"
  "^ModelDeploy[.]"                          "integration,model,cli,llvm,db"            "^$"
  "^TwoServers[.]"                           "integration,postgres,workers,llvm,db"     "^$"
  "^Slurm[.]"                                "integration,slurm,root,workers,llvm"      "^$"
  "^TuningServiceAcrossHosts[.]"             "integration,netns,root,workers,llvm,db"   "^$"
)
list(LENGTH pt_server_groups pt_n)
foreach(pt_test IN LISTS server_tests_TESTS)
  set(pt_labels "server;unlabelled")  # a suite not listed above: give it a line
  set(pt_i 0)
  while(pt_i LESS pt_n)
    list(GET pt_server_groups ${pt_i} pt_suite)
    math(EXPR pt_j "${pt_i} + 1")
    list(GET pt_server_groups ${pt_j} pt_group_labels)
    math(EXPR pt_j "${pt_i} + 2")
    list(GET pt_server_groups ${pt_j} pt_quick)
    if(pt_test MATCHES "${pt_suite}")
      set(pt_labels "server;${pt_group_labels}")
      string(REPLACE "," ";" pt_labels "${pt_labels}")
      if(NOT pt_test MATCHES "${pt_quick}")
        list(APPEND pt_labels slow)
      endif()
      break()
    endif()
    math(EXPR pt_i "${pt_i} + 3")
  endwhile()
  set_tests_properties("${pt_test}" PROPERTIES LABELS "${pt_labels}")
endforeach()
