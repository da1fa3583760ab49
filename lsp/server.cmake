# mtpc_lsp: transport (stdio, TCP), JSON-RPC framing, protocol structs,
# position conversion, server and completion service. Torch-free sources;
# the engine comes in through mtpc_inference.
find_package(Boost REQUIRED)
set(MTPC_LSP_CORE_SOURCES
  ${CMAKE_CURRENT_SOURCE_DIR}/framing.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/text.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/protocol.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/log.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/completion_service.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/server.cpp)
# The fuzzer (tests/lsp/server.cmake) compiles the same core with clang.
set(MTPC_LSP_CORE_SOURCES ${MTPC_LSP_CORE_SOURCES} PARENT_SCOPE)
add_library(mtpc_lsp STATIC ${MTPC_LSP_CORE_SOURCES}
  ${CMAKE_CURRENT_SOURCE_DIR}/engine_model.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/transport.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/server_process.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/replay_benchmark.cpp)
target_include_directories(mtpc_lsp PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(mtpc_lsp PUBLIC mtpc_lsp_context mtpc_inference nlohmann_json::nlohmann_json
  Boost::boost Threads::Threads)
