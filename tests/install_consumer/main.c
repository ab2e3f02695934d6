/* The C API from C, built with the flags `pkg-config --cflags --libs sdpp` prints. */
#include <sdpp/sdpp.h>

#include <stdio.h>
#include <string.h>

int main(void) {
    sdpp_model_options mo;
    sdpp_model_options_init(&mo);
    mo.model = "/nonexistent/model.safetensors";
    if (sdpp_engine_new(&mo) != NULL) return 1;
    if (strstr(sdpp_last_error(), "/nonexistent/model.safetensors") == NULL) return 1;
    if (strcmp(sdpp_version(), SDPP_VERSION_STRING) != 0) return 1;
    printf("consumer_c: sdpp %s, error: %s\n", sdpp_version(), sdpp_last_error());
    return 0;
}
