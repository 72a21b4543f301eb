/*
 * shmq serve: the dashboard's files (tools/cli/serve_assets/: index.html, dashboard.css,
 * dashboard.js), embedded in the binary at build time (cmake/embed.cmake), so that the page
 * works on a machine with no internet: it loads nothing from anywhere but this server.
 */
#ifndef SHMQ_CLI_SERVE_ASSETS_H
#define SHMQ_CLI_SERVE_ASSETS_H

#include <stddef.h>

#include "serve_route.h"

struct serve_asset_file {
    const unsigned char *data;
    size_t size;
    const char *content_type;
};

const struct serve_asset_file *serve_asset_get(enum serve_asset which);

#endif /* SHMQ_CLI_SERVE_ASSETS_H */
