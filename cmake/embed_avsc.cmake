# Writes OUT, a C header with one string constant per schemas/*.avsc file:
# schemas/ddl_event.avsc becomes FERRY_AVSC_DDL_EVENT. Run with
#   cmake -DOUT=<header> -DIN_DIR=<schemas dir> -P embed_avsc.cmake
file(GLOB files "${IN_DIR}/*.avsc")
list(SORT files)
set(text "/* Generated from the .avsc files in schemas/ by cmake/embed_avsc.cmake; do not edit. */\n")
string(APPEND text "#ifndef FERRY_AVSC_H\n#define FERRY_AVSC_H\n\n")
foreach(f ${files})
  get_filename_component(name ${f} NAME_WE)
  string(TOUPPER ${name} upper)
  file(READ ${f} body)
  string(REPLACE "\\" "\\\\" body "${body}")
  string(REPLACE "\"" "\\\"" body "${body}")
  string(REPLACE "\n" "\\n\"\n    \"" body "${body}")
  string(APPEND text "static const char FERRY_AVSC_${upper}[] =\n    \"${body}\";\n\n")
endforeach()
string(APPEND text "#endif\n")
file(WRITE ${OUT}.tmp "${text}")
execute_process(COMMAND ${CMAKE_COMMAND} -E copy_if_different ${OUT}.tmp ${OUT})
