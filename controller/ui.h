/* The web console's static files (doc/console.md), served at /ui/
 * from one flat directory, the controller's "ui-dir". */
#ifndef CONTROLLER_UI_H
#define CONTROLLER_UI_H 1

struct http_request;

/* Where "make install" puts the console; the default "ui-dir". */
#ifndef UI_DIR_DEFAULT
#define UI_DIR_DEFAULT "/usr/local/share/fabric/ui"
#endif

/* Answers 'req' with file 'name' of directory 'dir': 200 with its bytes,
 * its content type, its caching headers (a name with a content hash is
 * cached for a year, any other is revalidated on every use) and the
 * console's Content-Security-Policy; or 404 for a name that is not a
 * plain file name of a known type ("..", "/", a leading "." or an
 * unknown extension) or that 'dir' does not hold as a regular file. */
void ui_serve(struct http_request *req, const char *dir, const char *name);

/* The headers of every answer under /ui/, 404s included. */
void ui_add_security_headers(struct http_request *req);

#endif /* controller/ui.h */
