/* shmq serve: the embedded dashboard files (see serve_assets.h). */
#include "serve_assets.h"

/* Written by cmake/embed.cmake from tools/cli/serve_assets/ (serve_assets_data.c). */
extern const unsigned char serve_asset_index_html[], serve_asset_dashboard_css[],
    serve_asset_dashboard_js[];
extern const size_t serve_asset_index_html_size, serve_asset_dashboard_css_size,
    serve_asset_dashboard_js_size;

const struct serve_asset_file *serve_asset_get(enum serve_asset which)
{
    static struct serve_asset_file files[3];
    files[SERVE_ASSET_HTML] = (struct serve_asset_file){
        serve_asset_index_html, serve_asset_index_html_size, "text/html; charset=utf-8"};
    files[SERVE_ASSET_CSS] = (struct serve_asset_file){
        serve_asset_dashboard_css, serve_asset_dashboard_css_size, "text/css; charset=utf-8"};
    files[SERVE_ASSET_JS] = (struct serve_asset_file){
        serve_asset_dashboard_js, serve_asset_dashboard_js_size, "text/javascript; charset=utf-8"};
    return &files[which];
}
