/* The OpenAPI 3.0 document of the REST API (controller/openapi.json),
 * compiled into the program so that one binary serves its own contract at
 * /v1/openapi.json.  The build generates the definition from the file. */
#ifndef CONTROLLER_OPENAPI_H
#define CONTROLLER_OPENAPI_H 1

#include <stddef.h>

extern const char openapi_json[];     /* The document, NUL-terminated. */
extern const size_t openapi_json_len; /* Its length without the NUL. */

#endif /* controller/openapi.h */
